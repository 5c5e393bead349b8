"""Order timeline builders on hand-made timelines: stage colours, spans beside events, search results."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dashboards.components.timeline import (
    event_rows,
    events_table,
    exception_items,
    fmt_at,
    lifecycle,
    lifecycle_strip,
    search_results,
    timeline_tiles,
)
from tests.dash_tree import having, props, text, with_class

T0 = datetime(2026, 3, 2, 8, 0)
NOW = T0 + timedelta(days=2)
SYSTEMS = [
    {"system_id": "shopify", "name": "Shopify storefront", "kind": "storefront"},
    {"system_id": "d365", "name": "Dynamics 365 (main ERP)", "kind": "erp"},
    {"system_id": "3pl", "name": "NorthStar Logistics", "kind": "3pl"},
]


def _at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def _event(
    event_type: str,
    minutes: float,
    *,
    status: str = "ok",
    attempt: int = 1,
    trace: str | None = None,
    source: str = "shopify",
    target: str = "d365",
    error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One event entry as order_timeline returns it."""
    return {
        "at": _at(minutes), "type": "event", "event_id": f"ev-{event_type}-{attempt}-{status}",
        "event_type": event_type, "flow_id": "f", "source": source, "target": target, "channel": "shopify",
        "occurred_at": _at(minutes), "received_at": _at(minutes), "status": status, "attempt": attempt,
        "error_code": error[0] if error else None, "error_message": error[1] if error else None, "trace_id": trace,
        "payload": '{"order_id": "SHP-1"}', "delivery_lag_seconds": 2.0,
        "queues": [{"queue": "orders.shopify", "is_dlq": False, "depth": 4, "consumers": 2},
                   {"queue": "orders.shopify.dlq", "is_dlq": True, "depth": 3, "consumers": None}],
    }  # fmt: skip


def _span(minutes: float, trace: str, name: str, *, error: bool = False) -> dict[str, Any]:
    return {
        "at": _at(minutes), "type": "span", "trace_id": trace, "span_id": f"{trace}-{name}", "name": name,
        "kind": "client", "service_name": "mw-erp-client", "start_time": _at(minutes), "duration_ms": 74.6,
        "status_code": "error" if error else "unset", "status_message": "503 from WMS" if error else None,
    }  # fmt: skip


def _exception(minutes: float, *, status: str = "open", flow: str = "3pl-erp-shipment") -> dict[str, Any]:
    return {
        "at": _at(minutes), "type": "exception", "exception_id": 10, "title": "12 messages dead-lettered",
        "kind": "dead_letter", "severity": "critical", "status": status, "flow_id": flow, "first_seen": _at(minutes),
        "resolved_at": None, "affected_orders": 12,
    }  # fmt: skip


def _step(a: str, b: str, start: float, end: float, sla: int | None) -> dict[str, Any]:
    seconds = (end - start) * 60
    return {"from": a, "to": b, "seconds": seconds, "sla_seconds": sla,
            "within_sla": None if sla is None else seconds <= sla}  # fmt: skip


def _timeline(entries: list[dict[str, Any]], steps: list[dict[str, Any]], kind: str = "order") -> dict[str, Any]:
    return {"correlation_id": "SHP-1", "kind": kind, "systems": SYSTEMS, "services": ["mw-erp-client", "mw-webhooks"],
            "steps": steps, "entries": sorted(entries, key=lambda e: e["at"])}  # fmt: skip


def _dead_lettered() -> dict[str, Any]:
    """Created, accepted in 1 min (SLA 15 min), released after 3 h (SLA 2 h), then a dead-lettered dispatch."""
    return _timeline(
        [
            _event("order.created", 0, trace="t1"),
            _span(0.1, "t1", "POST /data/salesorders"),
            _span(0.2, "t1", "map order"),
            _event("order.accepted", 1, trace="t2"),
            _event("order.released", 181, source="d365", target="3pl", trace="t3"),
            _exception(600),
            _event(
                "shipment.dispatched",
                601,
                status="dead_lettered",
                source="3pl",
                trace="t4",
                error=("3PL-503", "Upstream 503 Service Unavailable"),
            ),
            _span(601.5, "t4", "GET /v2/shipments/{id}", error=True),
            _span(700, "orphan", "retry sweep"),
        ],
        [_step("order.created", "order.accepted", 0, 1, 900), _step("order.accepted", "order.released", 1, 181, 7200)],
    )


def test_a_breached_step_is_coloured_breach_and_a_failed_one_red() -> None:
    stages, legs = lifecycle(_dead_lettered(), now=NOW)
    assert [s.state for s in stages] == ["done", "done", "done", "failed", "pending"]
    assert [(g.text, g.tone) for g in legs] == [
        ("60 s", "ok"),
        ("3.0 h", "breach"),
        ("failed", "breach"),
        ("blocked", "breach"),
    ]
    assert legs[0].detail == "SLA 15 min" and legs[1].detail == "over its 2.0 h SLA"
    assert stages[3].at == T0 + timedelta(minutes=601), "a failed stage shows when it was attempted"


def test_a_skipped_stage_is_missing_and_a_waiting_one_idle() -> None:
    timeline = _timeline(
        [_event("order.created", 0), _event("order.accepted", 5), _event("shipment.dispatched", 300, source="3pl")],
        [
            _step("order.created", "order.accepted", 0, 5, 900),
            _step("order.accepted", "shipment.dispatched", 5, 300, 86400),
        ],
    )
    stages, legs = lifecycle(timeline, now=NOW)
    assert [s.state for s in stages] == ["done", "done", "missing", "done", "pending"]
    assert [g.tone for g in legs] == ["ok", "warning", "warning", "idle"]
    assert legs[3].text == "waiting 43.0 h", "dispatched at 13:00 on the 2nd, now is 08:00 on the 4th"


def test_a_waiting_step_with_an_open_exception_on_its_flow_is_overdue() -> None:
    timeline = _timeline(
        [_event("po.sent", 0, source="d365", target="sup"), _exception(24 * 60, flow="d365-sup-po")], [],
        kind="purchase_order",
    )  # fmt: skip
    _, legs = lifecycle(timeline, now=NOW, flow_steps={"d365-sup-po": ("po.sent", "po.acknowledged")})
    assert (legs[0].text, legs[0].detail, legs[0].tone) == ("waiting 2.0 d", "overdue · exception #10", "breach")
    _, calm = lifecycle(timeline, now=NOW, flow_steps={"d365-sup-po": ("po.acknowledged", "asn.received")})
    assert calm[0].tone == "idle", "an exception on another step says nothing about this one"


def test_cancelled_orders_stop_without_alarm() -> None:
    timeline = _timeline([_event("order.created", 0), _event("order.cancelled", 3)], [])
    stages, legs = lifecycle(timeline, now=NOW)
    assert [s.state for s in stages[1:]] == ["cancelled"] * 4
    assert {g.tone for g in legs} == {"idle"}
    assert timeline_tiles(timeline, stages, legs)[0].value == "Cancelled"


def test_strip_marks_each_stage_and_leg_for_css_and_tests() -> None:
    stages, legs = lifecycle(_dead_lettered(), now=NOW)
    strip = lifecycle_strip(stages, legs)
    assert [props(n)["data-state"] for n in having(strip, "data-state")] == [
        "done",
        "done",
        "done",
        "failed",
        "pending",
    ]
    breached = having(strip, "data-leg", "order.accepted>order.released")[0]
    assert props(breached)["className"] == "or-leg tone-breach"
    assert text(breached) == "3.0 h over its 2.0 h SLA"
    assert "Created Mar 2 08:00:00" in text(strip)
    assert text(lifecycle_strip([], [])) == "This key has no lifecycle steps to measure"


def test_tiles_say_where_the_order_is_and_what_went_wrong() -> None:
    timeline = _dead_lettered()
    stages, legs = lifecycle(timeline, now=NOW)
    tiles = {t.key: t for t in timeline_tiles(timeline, stages, legs)}
    assert (tiles["stage"].value, tiles["stage"].detail, tiles["stage"].tone) == (
        "Released",
        "Dispatched: not delivered",
        "breach",
    )
    assert (tiles["elapsed"].value, tiles["elapsed"].tone) == ("3.0 h", "breach")
    assert (tiles["events"].value, tiles["events"].detail) == ("4", "1 not delivered")
    assert tiles["spans"].detail == "1 with errors · 2 services"
    assert (tiles["exceptions"].detail, tiles["exceptions"].tone) == ("1 open", "breach")
    assert tiles["systems"].detail == "Shopify storefront → Dynamics 365 → NorthStar Logistics"


def test_spans_sit_beside_their_event_and_strays_get_their_own_row() -> None:
    rows = event_rows(_dead_lettered())
    assert [r["kind"] for r in rows] == ["event", "event", "event", "exception", "event", "spans"]
    assert [s["name"] for s in rows[0]["spans"]] == ["POST /data/salesorders", "map order"]
    assert rows[1]["spans"] == []
    assert [s["name"] for s in rows[-1]["spans"]] == ["retry sweep"]


def test_events_table_shows_every_event_its_error_and_the_failed_payload() -> None:
    table = events_table(_dead_lettered())
    events = having(table, "data-event-id")
    assert len(events) == 4
    failed = events[3]
    assert props(failed)["className"] == "or-row-dead_lettered"
    assert "3PL-503: Upstream 503 Service Unavailable" in text(failed)
    assert "NorthStar Logistics → Dynamics 365" in text(failed)
    assert with_class(failed, "is-error") and with_class(failed, "is-dlq")
    assert "Payload" in text(failed) and "Payload" not in text(events[0]), "payloads of failed messages only"
    assert "Exception opened" in text(with_class(table, "or-row-exception"))
    assert "Spans without a business event" in text(table)


def test_exceptions_open_first_with_status_badges() -> None:
    resolved = {**_exception(10, status="resolved"), "exception_id": 9, "resolved_at": _at(60)}
    items = having(exception_items(_timeline([resolved, _exception(600)], [])), "data-exception")
    assert [props(i)["data-exception"] for i in items] == ["10", "9"]
    assert "resolved Mar 2 09:00:00" in text(items[1])
    # each opens in the workbench, where it is acted on
    assert [props(link)["href"] for i in items for link in having(i, "href")] == [
        "/exceptions?id=10",
        "/exceptions?id=9",
    ]
    assert text(exception_items(_timeline([], []))) == "No exception names this key"


def test_search_results_open_on_click_and_say_when_nothing_matched() -> None:
    results = [{"correlation_id": "SHP-1000123", "match": "exact", "matched_on": "message_id", "events": 5,
                "failed_attempts": 1, "first_seen": _at(0), "last_seen": _at(90)}]  # fmt: skip
    listing = search_results(results, "evt_1", limit=25)
    row = with_class(listing, "or-result")[0]
    assert props(row)["id"] == {"type": "or-result", "key": "SHP-1000123"}
    assert text(row) == "SHP-1000123 message id · exact 5 1 Mar 2 08:00:00 Mar 2 09:30:00"
    assert "first 1 matches" in text(search_results(results, "SHP", limit=1))
    assert text(search_results([], "NOPE", limit=25)).startswith("No order matches “NOPE”")


def test_times_keep_the_date_not_the_year() -> None:
    assert fmt_at("2026-03-02T00:18:05.7744") == "Mar 2 00:18:05"
    assert fmt_at(None) == "—"
