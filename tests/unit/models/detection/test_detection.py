"""Detection: each rule opens exactly one exception for its planted condition, counts repeats on
it, resolves it when the condition clears and re-opens it when it returns; clean data opens
nothing, and a second pass on the same data changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest
import sqlalchemy as sa

from models.detection.passes import DetectionReport, DetectionSettings, run_detection
from models.queries.impact import ExceptionImpact, exception_impact
from tests.factories import add_flow, add_system, event, events_table

NOW = datetime(2026, 3, 10, 12, 0)
M, H = timedelta(minutes=1), timedelta(hours=1)
ACC, REL, SHIP = "shop-erp-orders", "erp-3pl-release", "3pl-erp-shipment"
PO, ASN = "erp-sup-po", "sup-erp-asn"


@pytest.fixture()
def backend(request: pytest.FixtureRequest) -> str:
    """DuckDB for every test; those marked ``on_both`` run on PostgreSQL as well (the suite's time budget)."""
    return str(getattr(request, "param", "duckdb"))


on_both = pytest.mark.parametrize("backend", ["duckdb", "postgresql"], indirect=True)


@pytest.fixture()
def db(fresh):  # type: ignore[no-untyped-def]
    engine, writer = fresh
    for system, kind in (("shop", "storefront"), ("erp", "erp"), ("3pl", "3pl"), ("sup", "supplier")):
        add_system(engine, system, kind, name=system.upper())
    add_flow(engine, ACC, "order.created", "order.accepted", 900, source_system="shop", target_system="erp",
             lag_threshold_seconds=600, queue="orders.shop")  # fmt: skip
    add_flow(engine, REL, "order.accepted", "order.released", 2 * 3600, "fulfilment", source_system="erp",
             target_system="3pl")  # fmt: skip
    add_flow(engine, SHIP, "order.released", "shipment.dispatched", 12 * 3600, "shipment", source_system="3pl",
             target_system="erp")  # fmt: skip
    add_flow(engine, PO, "po.sent", "po.acknowledged", 4 * 3600, "supply", source_system="erp", target_system="sup")
    add_flow(engine, ASN, "po.acknowledged", "asn.received", 8 * 3600, "supply", source_system="sup",
             target_system="erp")  # fmt: skip
    yield engine, writer
    engine.dispose()


def order(oid: str, created: datetime, accepted=None, released=None, dispatched=None) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """The ok lifecycle events of one shop → erp → 3pl order."""
    rows = [event(oid, "order.created", created, flow_id=ACC, channel="shop", source="shop", target="erp")]
    for at, etype, flow, source, target in (
        (accepted, "order.accepted", ACC, "shop", "erp"),
        (released, "order.released", REL, "erp", "3pl"),
        (dispatched, "shipment.dispatched", SHIP, "3pl", "erp"),
    ):
        if at is not None:
            rows.append(event(oid, etype, at, flow_id=flow, channel="shop", source=source, target=target))
    return rows


def add(writer, rows: list[dict[str, object]]) -> None:  # type: ignore[no-untyped-def]
    writer.append("business_events", events_table(rows))


#: The rules' own semantics, without the hold-down (tested on its own in test_detection_holddown.py).
RULES_ONLY = DetectionSettings(max_attempts=3, resolve_after_passes=1, resolve_after=timedelta(0))


def detect(engine, now: datetime = NOW) -> DetectionReport:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return run_detection(conn, now=now, settings=RULES_ONLY)


def detect_twice(engine, now: datetime = NOW) -> DetectionReport:  # type: ignore[no-untyped-def]
    """Detect, then prove a second pass on the same data is a no-op."""
    report = detect(engine, now)
    again = detect(engine, now)
    assert not again.changed, again
    return report


def exceptions_(engine) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM exceptions ORDER BY exception_id")).mappings().all()
        links = conn.execute(sa.text("SELECT exception_id, correlation_id FROM exception_orders")).all()
    return [{**r, "orders": sorted(c for i, c in links if i == r["exception_id"])} for r in rows]


def actions(engine) -> list[tuple[str, str, str | None]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT action, actor, after_state FROM exception_actions ORDER BY action_id"))]  # fmt: skip


def only(engine) -> dict[str, object]:  # type: ignore[no-untyped-def]
    rows = exceptions_(engine)
    assert len(rows) == 1, [r["fingerprint"] for r in rows]
    return rows[0]


@on_both
def test_clean_data_opens_nothing(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    add(writer, order("O1", NOW - 20 * H, NOW - 20 * H + M, NOW - 19 * H, NOW - 10 * H))
    add(writer, order("O2", NOW - 30 * M, NOW - 29 * M))  # accepted, release not yet due
    add(writer, [event("PO1", "po.sent", NOW - 5 * H, flow_id=PO, source="erp", target="sup", channel=None),
                 event("PO1", "po.acknowledged", NOW - 4 * H, flow_id=PO, source="sup", target="erp",
                       channel=None)])  # fmt: skip
    writer.append("queue_samples", pa.Table.from_pylist([_sample(NOW - M, depth=3, age=2.0)]))
    report = detect_twice(engine)
    assert report.findings == 0 and not report.changed
    assert exceptions_(engine) == []


FAILURES = [  # (status, attempt, code, message, kind, key, severity)
    ("dead_lettered", 1, "3PL-503", "Upstream 503 for SHP-1", "dead_letter", "3PL-503", "high"),
    ("failed", 1, "ERP-500", "Internal error", "delivery_failed", "ERP-500", "high"),
    ("failed", 3, None, "Timeout after 30 s on order SHP-O1", "retries_exhausted",
     "Timeout after <n> s on order <order>", "high"),
]  # fmt: skip


@on_both
@pytest.mark.parametrize(("status", "attempt", "code", "message", "kind", "key", "severity"), FAILURES,
                         ids=[f[4] for f in FAILURES])  # fmt: skip
def test_failure_rules_lifecycle(db, status, attempt, code, message, kind, key, severity) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db

    def failing(oid: str, at: datetime, n: int = attempt) -> dict[str, object]:
        text = message.replace("O1", f"100000{oid[1:]}")
        return event(oid, "shipment.dispatched", at, flow_id=SHIP, status=status, attempt=n, source="3pl",
                     target="erp", error_code=code, error_message=text)  # fmt: skip

    add(writer, [*order("O1", NOW - 3 * H, NOW - 3 * H, NOW - 2 * H), failing("O1", NOW - 60 * M)])
    first = detect_twice(engine)
    x = only(engine)
    assert first.opened == [f"{kind}:{SHIP}:{key}"]
    assert (x["kind"], x["business_key"], x["status"], x["severity"]) == (kind, key, "open", severity)
    assert (x["occurrences"], x["affected_orders"], x["orders"]) == (1, 1, ["O1"])
    assert x["first_seen"] == NOW - 60 * M and x["event_id"] is not None

    # a repeat: another order fails the same way (its message differs only in volatile tokens)
    add(writer, [*order("O2", NOW - 2 * H, NOW - 2 * H, NOW - 90 * M), failing("O2", NOW - 30 * M)])
    assert detect_twice(engine).updated == [x["fingerprint"]]
    x = only(engine)
    assert (x["occurrences"], x["affected_orders"], x["orders"], x["last_seen"]) == (2, 2, ["O1", "O2"], NOW - 30 * M)

    # cleared: both messages delivered on a later attempt
    add(writer, [event(o, "shipment.dispatched", NOW - 10 * M, flow_id=SHIP, attempt=attempt + 1, source="3pl",
                       target="erp") for o in ("O1", "O2")])  # fmt: skip
    assert detect_twice(engine).resolved == [x["fingerprint"]]
    x = only(engine)
    assert (x["status"], x["resolved_at"]) == ("resolved", NOW)
    assert x["resolution"] and actions(engine)[-1] == ("resolve", "detector", "resolved")

    # it returns: a third order fails after the resolution
    later = NOW + 30 * M
    add(writer, [*order("O3", NOW - H, NOW - H, NOW - 50 * M), failing("O3", NOW + 20 * M, attempt)])
    assert detect_twice(engine, later).reopened == [x["fingerprint"]]
    x = only(engine)
    assert (x["status"], x["resolved_at"], x["occurrences"], x["orders"]) == ("open", None, 3, ["O3"])
    assert actions(engine)[-1] == ("reopen", "detector", "open")


def test_retrying_below_the_budget_is_not_an_exception(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    add(writer, order("O1", NOW - H, NOW - H, NOW - 50 * M))
    add(writer, [event("O1", "shipment.dispatched", NOW - 5 * M, flow_id=SHIP, status="retrying", attempt=1,
                       source="3pl", target="erp", error_code="3PL-502")])  # fmt: skip
    assert detect_twice(engine).findings == 0


def test_data_quality_is_one_exception_per_order(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    bad = "SKU 88-1042-BLK not mapped in ERP item master"

    def rejected(oid: str, at: datetime, attempt: int = 1) -> dict[str, object]:
        return event(oid, "order.created", at, flow_id=ACC, status="failed", attempt=attempt, source="shop",
                     target="erp", error_code="VAL-SKU", error_message=bad)  # fmt: skip

    add(writer, [rejected("O1", NOW - 2 * H)])
    assert detect_twice(engine).opened == [f"delivery_failed:{ACC}:O1"]
    x = only(engine)
    assert x["title"] == f"Order O1 rejected by ERP: {bad}"
    assert (x["error_class"], x["severity"], x["orders"]) == ("VAL-SKU", "medium", ["O1"])
    # fixed and delivered: resolved; no "stuck before acceptance" while it was never delivered
    add(writer, [event("O1", "order.created", NOW - 2 * H, flow_id=ACC, attempt=2, source="shop", target="erp")])
    assert detect_twice(engine).resolved == [x["fingerprint"]]
    # the order is amended and rejected again: the same exception re-opens and counts it
    add(writer, [rejected("O1", NOW + 5 * M, attempt=3)])
    assert detect_twice(engine, NOW + 10 * M).reopened == [x["fingerprint"]]
    assert (only(engine)["status"], only(engine)["occurrences"]) == ("open", 2)


@on_both
def test_order_stuck_before_a_step(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    fp = f"sla_breach:{REL}:release"
    add(writer, order("O1", NOW - 3 * H, NOW - 3 * H))  # accepted 3 h ago, release SLA 2 h
    assert detect_twice(engine).opened == [fp]
    x = only(engine)
    assert (x["first_seen"], x["orders"], x["severity"], x["system_id"]) == (NOW - H, ["O1"], "medium", "3pl")
    add(writer, order("O2", NOW - 150 * M, NOW - 150 * M))  # a second stuck order, overdue since 11:30
    add(writer, order("O3", NOW - 3 * H, NOW - 3 * H))
    add(writer, [event("O3", "order.held", NOW - 170 * M, source="erp", target="shop")])  # held: its SLA waits
    assert detect_twice(engine).updated == [fp]
    x = only(engine)
    assert (x["occurrences"], x["orders"], x["last_seen"]) == (2, ["O1", "O2"], NOW - 30 * M)
    # released before the sync-lag window [11:45, 12:00): their late release is not also a lag breach
    add(writer, [event(o, "order.released", NOW - 20 * M, flow_id=REL, source="erp", target="3pl")
                 for o in ("O1", "O2")])  # fmt: skip
    assert detect_twice(engine).resolved == [fp]
    add(writer, order("O4", NOW - 90 * M, NOW - 90 * M))  # overdue from 12:30
    assert detect_twice(engine, NOW + H).reopened == [fp]
    assert only(engine)["orders"] == ["O4"]


@on_both
def test_missing_ack_and_asn_per_po(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db

    def po(etype: str, at: datetime, source: str, target: str, flow: str = PO) -> dict[str, object]:
        return event("PO1", etype, at, flow_id=flow, source=source, target=target, channel=None)

    add(writer, [po("po.sent", NOW - 5 * H, "erp", "sup")])  # 855 due 1 h ago
    assert detect_twice(engine).opened == [f"missing_ack:{PO}:PO1"]
    x = only(engine)
    assert (x["title"], x["first_seen"], x["orders"]) == ("No 855 from SUP for PO1", NOW - H, ["PO1"])
    add(writer, [po("po.acknowledged", NOW - 30 * M, "sup", "erp")])
    report = detect_twice(engine, NOW + 9 * H)  # the 855 arrived; the ASN is due 8 h after it
    assert report.resolved == [x["fingerprint"]] and report.opened == [f"missing_asn:{ASN}:PO1"]
    add(writer, [po("asn.received", NOW + 9 * H, "sup", "erp", ASN)])
    assert detect_twice(engine, NOW + 10 * H).resolved == [f"missing_asn:{ASN}:PO1"]


def test_sync_lag_over_threshold(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    fp = f"sla_breach:{ACC}:sync-lag"
    add(writer, order("F1", NOW - 20 * M, NOW - 19 * M))  # 60 s, in the 15-min window? no: accepted 11:41
    add(writer, order("S1", NOW - 30 * M, NOW - 10 * M))  # 1200 s > 600 s threshold, accepted 11:50
    assert detect_twice(engine).opened == [fp]
    x = only(engine)
    assert (x["orders"], x["last_seen"], x["severity"]) == (["S1"], NOW - 10 * M, "medium")
    add(writer, order("S2", NOW - 20 * M, NOW + 2 * M))  # window at 12:05 is [11:50, 12:05): S1 and S2
    assert detect_twice(engine, NOW + 5 * M).updated == [fp]
    assert (only(engine)["occurrences"], only(engine)["orders"]) == (2, ["S1", "S2"])
    add(writer, order("F2", NOW + 50 * M, NOW + 51 * M))  # window [12:45, 13:00): only a 60 s step
    assert detect_twice(engine, NOW + H).resolved == [fp]
    add(writer, order("S3", NOW + 70 * M, NOW + 85 * M))  # 900 s, window [13:15, 13:30)
    assert detect_twice(engine, NOW + 90 * M).reopened == [fp]
    assert only(engine)["occurrences"] == 3


def _sample(at: datetime, *, depth: int, age: float, queue: str = "orders.shop", dlq: bool = False) -> dict:  # type: ignore[type-arg]
    return {"broker": "b", "queue": queue, "sampled_at": at, "depth": depth, "consumers": 2,
            "oldest_age_seconds": age, "is_dlq": dlq, "flow_id": ACC}  # fmt: skip


@on_both
def test_queue_backlog(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    fp = f"queue_backlog:{ACC}:orders.shop"

    def samples(*rows: dict) -> None:  # type: ignore[type-arg]
        writer.append("queue_samples", pa.Table.from_pylist(list(rows)))

    samples(_sample(NOW - 3 * M, depth=5, age=10), _sample(NOW - 2 * M, depth=8, age=400),
            _sample(NOW - M, depth=9, age=460))  # fmt: skip
    assert detect_twice(engine).opened == [fp]
    x = only(engine)
    assert (x["occurrences"], x["first_seen"], x["last_seen"], x["severity"]) == (2, NOW - 2 * M, NOW - M, "high")
    samples(_sample(NOW + M, depth=6000, age=20))  # over the depth threshold this time
    assert detect_twice(engine, NOW + M).updated == [fp]
    assert only(engine)["occurrences"] == 3
    samples(_sample(NOW + 2 * M, depth=4, age=3))
    assert detect_twice(engine, NOW + 2 * M).resolved == [fp]
    samples(_sample(NOW + 3 * M, depth=7, age=700))
    assert detect_twice(engine, NOW + 3 * M).reopened == [fp]
    assert only(engine)["occurrences"] == 4
    # a queue that stops reporting is not judged: its exception stays as it is
    assert not detect(engine, NOW + H).changed


def test_dead_letters_waiting_in_a_dlq(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    writer.append("queue_samples", pa.Table.from_pylist([_sample(NOW - M, depth=2, age=900, queue="orders.shop.dlq",
                                                                 dlq=True)]))  # fmt: skip
    assert detect_twice(engine).opened == [f"queue_backlog:{ACC}:orders.shop.dlq"]
    x = only(engine)
    assert (x["error_class"], x["severity"], x["title"]) == ("dlq", "medium", "orders.shop.dlq: dead letters waiting")


def test_ignored_and_operator_resolved_exceptions_are_left_alone(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    add(writer, order("O1", NOW - 3 * H, NOW - 3 * H))
    add(writer, [event("PO1", "po.sent", NOW - 5 * H, flow_id=PO, source="erp", target="sup", channel=None)])
    detect(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE exceptions SET status = 'ignored' WHERE kind = 'sla_breach'"))
        resolve = "UPDATE exceptions SET status = 'resolved', resolved_at = :now WHERE kind = 'missing_ack'"
        conn.execute(sa.text(resolve), {"now": NOW})
    # the stuck order advances (would auto-resolve), the PO is still missing its 855 (would stay open)
    add(writer, [event("O1", "order.released", NOW - 20 * M, flow_id=REL, source="erp", target="3pl")])
    assert not detect(engine, NOW + M).changed
    assert sorted(x["status"] for x in exceptions_(engine)) == ["ignored", "resolved"]


def test_more_than_fifty_orders_is_critical(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    rows = []
    for i in range(51):
        rows += order(f"O{i}", NOW - 3 * H, NOW - 3 * H)
    add(writer, rows)
    detect_twice(engine)
    assert (only(engine)["severity"], only(engine)["affected_orders"]) == ("critical", 51)


@on_both
def test_an_outage_of_thousands_of_orders(db) -> None:  # type: ignore[no-untyped-def]
    """20,000 orders the ERP never accepted make one exception carrying every one of them; a pass on
    the same data writes nothing, and the set follows the orders as they are accepted or added."""
    engine, writer = db
    fp = f"sla_breach:{ACC}:acceptance"
    created = [NOW - 3 * H + timedelta(seconds=i % 3600) for i in range(20_000)]  # 09:00 to 09:59:59
    ids = [f"SHP-{i:05d}" for i in range(20_000)]
    add(writer, [row for oid, at in zip(ids, created, strict=True) for row in order(oid, at)])
    assert detect_twice(engine).opened == [fp]
    x = only(engine)
    # due 15 min after creation: the first at 09:15, the last at 10:14:59
    assert (x["occurrences"], x["affected_orders"], x["severity"]) == (20_000, 20_000, "critical")
    assert (x["first_seen"], x["last_seen"]) == (NOW - 165 * M, NOW - 105 * M - timedelta(seconds=1))
    assert x["orders"] == ids
    assert _impact(engine, x) == ExceptionImpact(orders=20_000)  # no total known yet

    with engine.begin() as conn:  # totals learnt: the stored impact follows at the next pass
        conn.execute(sa.text("UPDATE order_facts SET order_value = 2.5"))
    assert _impact(engine, x) == ExceptionImpact(orders=20_000)

    # accepted before the sync-lag window [11:45, 12:00): their late acceptance is not also a lag breach
    add(writer, [event(o, "order.accepted", NOW - 20 * M, flow_id=ACC, source="shop", target="erp")
                 for o in ids[:5_000]])  # fmt: skip
    assert detect_twice(engine).updated == [fp]
    x = only(engine)
    assert (x["occurrences"], x["affected_orders"], x["orders"]) == (20_000, 15_000, ids[5_000:])
    assert _impact(engine, x) == ExceptionImpact(orders=15_000, value_at_risk=37_500.0, valued_orders=15_000)

    later = [f"SHP-L{i:04d}" for i in range(2_000)]  # created 11:00, overdue since 11:15
    add(writer, [row for oid in later for row in order(oid, NOW - H)])
    assert detect_twice(engine).updated == [fp]
    x = only(engine)
    assert (x["occurrences"], x["affected_orders"], x["last_seen"]) == (22_000, 17_000, NOW - 45 * M)
    assert x["orders"] == sorted(ids[5_000:] + later)
    assert _impact(engine, x) == ExceptionImpact(orders=17_000, value_at_risk=37_500.0, valued_orders=15_000)


def _impact(engine, x: dict[str, object]) -> ExceptionImpact:  # type: ignore[no-untyped-def]
    """The stored impact of exception ``x`` (none stored: no impact)."""
    key = int(str(x["exception_id"]))
    with engine.connect() as conn:
        return exception_impact(conn, [key]).get(key, ExceptionImpact())
