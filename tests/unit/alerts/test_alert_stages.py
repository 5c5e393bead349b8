"""Each stage of the alert pipeline and the state step, as tables of cases; rendering within Block Kit's
limits; Slack's request signature."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from alerts import render, slack_signature
from alerts.config import InhibitRule, MaintenanceWindow, parse_duration
from alerts.labels import Matcher
from alerts.stages import Kind, Silence, channel_retry_at, content_hash, decide, in_maintenance, inhibited, silenced_by
from alerts.state import Alert, State, step
from models.queries.alert_signals import Impact

NOW = datetime(2026, 3, 4, 12, 0)  # a Wednesday


def _alert(state: State = State.FIRING, *, count: int | None = 5, series: str = "s1", **times: datetime) -> Alert:
    return Alert("r", series, {"flow": "f"}, state, float(count or 0), 1.0, "x", times.get("active_since"),
                 times.get("firing_since"), times.get("resolved_at"), NOW, "g", count)  # fmt: skip


HOLD, KEEP = timedelta(minutes=5), timedelta(hours=24)
STEPS = [
    # (name, previous, condition holds, now offset, hold, expected state or None (ok))
    ("new, no hold: fires at once", None, True, 0, timedelta(0), State.FIRING),
    ("new, hold: pending", None, True, 0, HOLD, State.PENDING),
    ("pending, hold not over", _alert(State.PENDING, active_since=NOW), True, 4, HOLD, State.PENDING),
    ("pending, hold over", _alert(State.PENDING, active_since=NOW), True, 5, HOLD, State.FIRING),
    ("pending clears: ok, never notified", _alert(State.PENDING, active_since=NOW), False, 1, HOLD, None),
    ("firing stays firing", _alert(active_since=NOW, firing_since=NOW), True, 9, HOLD, State.FIRING),
    ("firing clears: resolved", _alert(active_since=NOW, firing_since=NOW), False, 9, HOLD, State.RESOLVED),
    ("resolved kept while listed", _alert(State.RESOLVED, resolved_at=NOW), False, 60, HOLD, State.RESOLVED),
    ("resolved dropped after retention", _alert(State.RESOLVED, resolved_at=NOW), False, 24 * 60, HOLD, None),
    ("resolved that holds again: pending", _alert(State.RESOLVED, resolved_at=NOW), True, 1, HOLD, State.PENDING),
    ("nothing, still nothing", None, False, 0, HOLD, None),
]


@pytest.mark.parametrize(("name", "previous", "holds", "minutes", "hold", "expected"), STEPS, ids=[s[0] for s in STEPS])
def test_state_step(name: str, previous: Alert | None, holds: bool, minutes: int, hold: timedelta,
                    expected: State | None) -> None:  # fmt: skip
    now = NOW + timedelta(minutes=minutes)
    observed = _alert(State.PENDING, series=previous.series if previous else "s1") if holds else None
    after = step(previous, observed, now=now, hold=hold, retention=KEEP)
    assert (after.state if after else None) == expected
    if expected is State.FIRING and previous is not None and previous.state is State.PENDING:
        assert after is not None and after.active_since == NOW and after.firing_since == now


SILENT = {"kind": "ingest_silence", "system": "3pl_north"}
DOWN = {"kind": "system_down", "system": "d365"}
INHIBIT = [InhibitRule(source=[Matcher.model_validate('kind=~"ingest_silence|system_down"')],
                       target=[Matcher.model_validate('kind!~"ingest_silence|system_down"')])]  # fmt: skip
INHIBITIONS = [
    ("a flow out of the silent system", {"kind": "dead_letter", "source_system": "3pl_north"}, [SILENT], True),
    ("a flow into the down system", {"kind": "sync_lag", "target_system": "d365"}, [DOWN], True),
    ("an exception on the system itself", {"kind": "exceptions", "system": "3pl_north"}, [SILENT], True),
    ("a flow between other systems", {"kind": "dead_letter", "source_system": "wms"}, [SILENT], False),
    ("no source firing", {"kind": "dead_letter", "source_system": "3pl_north"}, [], False),
    ("the source never inhibits itself", SILENT, [SILENT], False),
    ("one source does not inhibit another", {"kind": "ingest_silence", "system": "d365"}, [DOWN], False),
]


@pytest.mark.parametrize(("name", "labels", "sources", "expected"), INHIBITIONS, ids=[c[0] for c in INHIBITIONS])
def test_inhibit(name: str, labels: dict[str, str], sources: list[dict[str, str]], expected: bool) -> None:
    assert inhibited(labels, sources, INHIBIT) is expected


SILENCES = [Silence(7, [Matcher.model_validate('flow="f1"'), Matcher.model_validate('kind=~"dead_.*"')],
                    NOW - timedelta(hours=1), NOW + timedelta(hours=1))]  # fmt: skip
SILENCING = [
    ("every matcher holds", {"flow": "f1", "kind": "dead_letter"}, NOW, 7),
    ("one matcher fails", {"flow": "f1", "kind": "sla_breach"}, NOW, None),
    ("regex is anchored", {"flow": "f1", "kind": "xdead_letter"}, NOW, None),
    ("missing label reads empty", {"kind": "dead_letter"}, NOW, None),
    ("after its end", {"flow": "f1", "kind": "dead_letter"}, NOW + timedelta(hours=1), None),
    ("before its start", {"flow": "f1", "kind": "dead_letter"}, NOW - timedelta(hours=2), None),
]


@pytest.mark.parametrize(("name", "labels", "at", "expected"), SILENCING, ids=[c[0] for c in SILENCING])
def test_silence(name: str, labels: dict[str, str], at: datetime, expected: int | None) -> None:
    assert silenced_by(labels, SILENCES, at) == expected


WINDOWS = [
    MaintenanceWindow.model_validate({"system": "netsuite", "weekdays": ["wed"], "start": "11:00", "end": "13:00"}),
    MaintenanceWindow.model_validate({"system": "wms", "weekdays": ["tue"], "start": "23:00", "end": "02:00"}),
    MaintenanceWindow.model_validate(
        {"system": "d365", "starts_at": "2026-03-04T11:59", "ends_at": "2026-03-04T12:01"}
    ),
]
MAINTENANCE = [
    ("weekly window now", {"target_system": "netsuite"}, NOW, "netsuite"),
    ("weekly window, other day", {"target_system": "netsuite"}, NOW + timedelta(days=1), None),
    ("overnight window past midnight", {"system": "wms"}, datetime(2026, 3, 4, 1, 0), "wms"),
    ("overnight window, next night", {"system": "wms"}, datetime(2026, 3, 5, 1, 0), None),
    ("one-off window", {"source_system": "d365"}, NOW, "d365"),
    ("one-off window over", {"source_system": "d365"}, NOW + timedelta(minutes=1), None),
    ("another system", {"system": "shopify"}, NOW, None),
]


@pytest.mark.parametrize(("name", "labels", "at", "expected"), MAINTENANCE, ids=[c[0] for c in MAINTENANCE])
def test_maintenance(name: str, labels: dict[str, str], at: datetime, expected: str | None) -> None:
    window = in_maintenance(labels, WINDOWS, at)
    assert (window.system if window else None) == expected


A5, A6, B = _alert(count=5), _alert(count=6), _alert(count=1, series="s2")
SENT = [{"kind": "firing", "sent_at": NOW, "content_hash": content_hash([A5])}]
RESOLVED_SENT = [*SENT, {"kind": "resolved", "sent_at": NOW, "content_hash": content_hash([])}]
DECISIONS = [
    # (name, firing, resolved, sent, minutes later, can update, expected kind)
    ("nothing sent, firing", [A5], [], [], 0, True, Kind.FIRING),
    ("nothing sent, nothing firing", [], [A5], [], 0, True, None),
    ("same as sent", [A5], [], SENT, 10, True, None),
    ("count changed", [A6], [], SENT, 10, True, Kind.UPDATE),
    ("alert added", [A5, B], [], SENT, 10, True, Kind.UPDATE),
    ("changed, channel cannot update", [A6], [], SENT, 10, False, None),
    ("changed, cannot update, repeat due", [A6], [], SENT, 4 * 60, False, Kind.REPEAT),
    ("unchanged, repeat due", [A5], [], SENT, 4 * 60, True, Kind.REPEAT),
    ("all resolved", [], [A5], SENT, 10, True, Kind.RESOLVED),
    ("firing ones muted, not resolved", [], [], SENT, 10, True, None),
    ("resolve already sent", [], [A5], RESOLVED_SENT, 10, True, None),
]


@pytest.mark.parametrize(("name", "firing", "resolved", "sent", "minutes", "can_update", "expected"), DECISIONS,
                         ids=[c[0] for c in DECISIONS])  # fmt: skip
def test_dedup(name: str, firing: list[Alert], resolved: list[Alert], sent: list[dict[str, object]], minutes: int,
               can_update: bool, expected: Kind | None) -> None:  # fmt: skip
    decision = decide(firing, resolved, sent, now=NOW + timedelta(minutes=minutes),
                      repeat_interval=timedelta(hours=4), can_update=can_update)  # fmt: skip
    assert decision.kind == expected, decision.reason


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, None), (2, None), (3, timedelta(minutes=2)), (4, timedelta(minutes=4)), (9, timedelta(minutes=15))],
)
def test_failing_channel_rests(failures: int, expected: timedelta | None) -> None:
    retry_at = channel_retry_at(failures, NOW)
    assert retry_at == (NOW + expected if expected else None)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("4h", 14400), ("1d", 86400), ("1h30m", 5400), (90, 90)]
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["5 minutes", "-1", "1w", "", -5])
def test_bad_durations_say_what_is_expected(bad: object) -> None:
    with pytest.raises(ValueError, match=r"is not a duration like 30s, 5m, 4h or 1d|cannot be negative"):
        parse_duration(bad)


def test_a_group_of_5000_orders_renders_within_block_kit_limits() -> None:
    orders = [{"correlation_id": f"SHP-{1_000_000 + n}", "order_value": 5000.0 - n, "exception_id": n}
              for n in range(10)]  # fmt: skip
    exceptions = [{"exception_id": n, "title": f"x {n}"} for n in range(10)]
    view = render.GroupView(
        group_key="g1", episode=3, status="firing", title="Messages dead-lettered · " + "NorthStar Logistics " * 20,
        severity="critical",
        alerts=[render.AlertLine(f"rule {n}", "5,000 open exceptions holding 5,000 orders " * 3, {}, NOW)
                for n in range(300)],
        impact=Impact(exceptions=5000, orders=5000, value_at_risk=1_234_567.891, valued_orders=4990,
                      earliest_ship_by=NOW + timedelta(hours=3), top_exceptions=exceptions, top_orders=orders),
        base_url="http://fw.example", started_at=NOW - timedelta(minutes=12), now=NOW,
        group_labels={"flow": "3pl_north-d365-shipment", "kind": "dead_letter"},
        likely_cause="NorthStar Logistics API errors " * 200,
    )  # fmt: skip
    blocks = render.slack_blocks(view)
    assert len(blocks) <= render.MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) <= 150 and blocks[0]["text"]["text"].endswith("…")
    for block in blocks:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10 and all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "actions":
            assert all(len(e.get("value", "")) <= 2000 and len(e["text"]["text"]) <= 75 for e in block["elements"])
    alerts_text = blocks[1]["text"]["text"]
    assert "…and " in alerts_text and "more — <http://fw.example/alerts|see all in Flowwatch>" in alerts_text
    orders_text = next(b["text"]["text"] for b in blocks if b["type"] == "section" and "Top orders" in str(b))
    assert orders_text.count("|SHP-") == 10  # each order a link to its timeline
    assert (
        "…and 4,990 more — <http://fw.example/exceptions?flow=3pl_north-d365-shipment&kind=dead_letter|" in orders_text
    )
    facts = str(blocks[2])
    assert "$1,234,567.89 (4,990 of 5,000 orders valued)" in facts and "Mar 4 15:00 UTC (in 3 h)" in facts
    assert len(render.fallback_text(view)) <= 3000


def test_slack_signature_cases() -> None:
    body, secret, now = b"payload=%7B%7D", "s3cret", 1_700_000_000
    good = slack_signature.sign(secret, str(now), body)
    assert slack_signature.refusal(secret, str(now), body, good, now=now) is None
    assert slack_signature.refusal(secret, str(now), body, good, now=now + 299) is None
    assert "more than 5 minutes" in str(slack_signature.refusal(secret, str(now), body, good, now=now + 301))
    assert slack_signature.refusal(secret, str(now), body + b"x", good, now=now) == (
        "signature does not match the signing secret"
    )
    assert slack_signature.refusal(secret, None, body, good, now=now) is not None
    assert (
        slack_signature.refusal(secret, "yesterday", body, good, now=now) == "X-Slack-Request-Timestamp is not a number"
    )
