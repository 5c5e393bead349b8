"""Detection that holds still: messages kept per exception, a hold-down before auto-resolve,
a re-open window, and one exception for a condition that toggles every pass."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from models.detection.passes import DetectionReport, DetectionSettings, run_detection
from tests.factories import add_flow, add_system, event, events_table, fresh_db

NOW = datetime(2026, 3, 10, 12, 0)
M, H = timedelta(minutes=1), timedelta(hours=1)
SHIP = "3pl-erp-shipment"
FP = f"dead_letter:{SHIP}:3PL-503"
DEFAULTS = DetectionSettings(max_attempts=3)  # hold-down: 2 passes and 10 min; re-open window 24 h


def _db(tmp_path):  # type: ignore[no-untyped-def]
    engine, writer = fresh_db(tmp_path)
    for system, kind in (("erp", "erp"), ("3pl", "3pl")):
        add_system(engine, system, kind, name=system.upper())
    add_flow(engine, SHIP, "order.released", "shipment.dispatched", 12 * 3600, "shipment", source_system="3pl",
             target_system="erp")  # fmt: skip
    return engine, writer


def _dead(oid: str, at: datetime, attempt: int = 1) -> dict[str, object]:
    return event(oid, "shipment.dispatched", at, flow_id=SHIP, status="dead_lettered", attempt=attempt,
                 source="3pl", target="erp", error_code="3PL-503", error_message=f"Upstream 503 for {oid}",
                 event_id=f"{oid}-ship-{attempt}")  # fmt: skip


def _ok(oid: str, at: datetime, attempt: int) -> dict[str, object]:
    return event(oid, "shipment.dispatched", at, flow_id=SHIP, attempt=attempt, source="3pl", target="erp",
                 event_id=f"{oid}-ship-{attempt}")  # fmt: skip


def _detect(engine, now: datetime, settings: DetectionSettings = DEFAULTS) -> DetectionReport:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return run_detection(conn, now=now, settings=settings)


def _messages(engine) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT event_id, correlation_id, state FROM exception_messages ORDER BY event_id"))]  # fmt: skip


def _exceptions(engine) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT * FROM exceptions ORDER BY exception_id")).mappings()]


def test_every_failed_message_is_kept_and_those_delivered_by_their_source_are_marked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, writer = _db(tmp_path)
    orders = [f"SO-{n:03d}" for n in range(1, 33)]
    writer.append("business_events", events_table([_dead(o, NOW - 2 * H + n * M) for n, o in enumerate(orders[:20])]))
    assert _detect(engine, NOW - 60 * M).opened == [FP]
    assert len(_messages(engine)) == 20

    # twelve more orders fail while it is open: the same exception grows, messages included
    writer.append("business_events", events_table([_dead(o, NOW - 50 * M + n * M) for n, o in enumerate(orders[20:])]))
    assert _detect(engine, NOW - 30 * M).updated == [FP]
    (x,) = _exceptions(engine)
    assert (x["occurrences"], x["affected_orders"]) == (32, 32)
    assert _messages(engine) == [(f"{o}-ship-1", o, "pending") for o in orders]

    # the 3PL re-sends five of them by itself: those five are delivered, the exception stays open
    writer.append("business_events", events_table([_ok(o, NOW - 20 * M, 2) for o in orders[:5]]))
    assert _detect(engine, NOW - 10 * M).updated == [FP]
    states = dict((e, s) for e, _o, s in _messages(engine))
    assert [states[f"{o}-ship-1"] for o in orders[:5]] == ["delivered"] * 5
    assert list(states.values()).count("pending") == 27
    assert _exceptions(engine)[0]["status"] == "open"


def test_auto_resolve_waits_for_two_clear_passes_and_ten_minutes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, writer = _db(tmp_path)
    writer.append("business_events", events_table([_dead("SO-1", NOW - 60 * M)]))
    assert _detect(engine, NOW - 30 * M).opened == [FP]
    writer.append("business_events", events_table([_ok("SO-1", NOW - 25 * M, 2)]))

    first = _detect(engine, NOW - 20 * M)
    assert (first.resolved, first.clearing) == ([], [FP])
    second = _detect(engine, NOW - 15 * M)  # two passes, but only five minutes clear
    assert (second.resolved, second.clearing) == ([], [FP])
    third = _detect(engine, NOW - 10 * M)  # ten minutes after the first clear pass
    assert (third.resolved, third.clearing) == ([FP], [])
    (x,) = _exceptions(engine)
    assert (x["status"], x["resolved_at"], x["clear_since"]) == ("resolved", NOW - 10 * M, None)
    assert _messages(engine) == [("SO-1-ship-1", "SO-1", "delivered")]


def test_a_condition_toggling_every_pass_for_half_an_hour_is_one_exception_and_never_resolves(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each minute the 3PL's message either fails (a new dead letter) or gets through (a later ok
    attempt), alternately, for half an hour of detection passes every 30 s (three times the hold-down's
    ten minutes)."""
    engine, writer = _db(tmp_path)
    start = NOW - H
    resolves, opens, reopens = 0, 0, 0
    for n in range(60):  # 60 passes, 30 s apart
        at = start + n * timedelta(seconds=30)
        if n % 2 == 0:  # fails on this pass's attempt
            writer.append("business_events", events_table([_dead("SO-7", at - timedelta(seconds=5), n + 1)]))
        else:  # delivered on the next attempt
            writer.append("business_events", events_table([_ok("SO-7", at - timedelta(seconds=5), n + 1)]))
        report = _detect(engine, at)
        resolves += len(report.resolved)
        opens += len(report.opened)
        reopens += len(report.reopened)
    assert (opens, resolves, reopens) == (1, 0, 0)
    (x,) = _exceptions(engine)
    assert x["status"] == "open" and x["occurrences"] == 30


def test_a_recurrence_inside_the_window_reopens_the_same_exception_and_later_opens_a_new_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, writer = _db(tmp_path)
    quick = DetectionSettings(max_attempts=3, resolve_after_passes=1, resolve_after=timedelta(0))
    writer.append("business_events", events_table([_dead("SO-1", NOW - 5 * H)]))
    _detect(engine, NOW - 5 * H + M, quick)
    writer.append("business_events", events_table([_ok("SO-1", NOW - 4 * H, 2)]))
    assert _detect(engine, NOW - 4 * H + M, quick).resolved == [FP]

    # fails again three hours later (inside 24 h): the same exception reopens, occurrences grow
    writer.append("business_events", events_table([_dead("SO-2", NOW - H)]))
    report = _detect(engine, NOW - H + M, quick)
    assert (report.reopened, report.opened) == ([FP], [])
    (x,) = _exceptions(engine)
    assert (x["status"], x["occurrences"]) == ("open", 2)
    assert [m[0] for m in _messages(engine)] == ["SO-1-ship-1", "SO-2-ship-1"]

    # resolved again, then the same failure two days later: a new incident, a new exception
    writer.append("business_events", events_table([_ok("SO-2", NOW - 50 * M, 2)]))
    assert _detect(engine, NOW - 45 * M, quick).resolved == [FP]
    later = NOW + 2 * 24 * H
    writer.append("business_events", events_table([_dead("SO-3", later - 10 * M)]))
    report = _detect(engine, later, quick)
    assert (report.opened, report.reopened) == ([FP], [])
    old, new = _exceptions(engine)
    assert (old["status"], old["fingerprint"]) == ("resolved", f"{FP}#{old['exception_id']}")
    assert (new["status"], new["fingerprint"], new["occurrences"]) == ("open", FP, 1)
    with engine.connect() as conn:
        owned = conn.execute(sa.text("SELECT event_id FROM exception_messages WHERE exception_id = :i"),
                             {"i": new["exception_id"]}).scalars().all()  # fmt: skip
    assert owned == ["SO-3-ship-1"]
