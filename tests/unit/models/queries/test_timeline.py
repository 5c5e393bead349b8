"""The order timeline and the order search on a hand-built order, its spans, an exception and queues."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from models.queries.timeline import find_orders, order_timeline
from tests.factories import add_flow, add_system, event, events_table

T0 = datetime(2026, 3, 10, 9, 0)
M, S = timedelta(minutes=1), timedelta(seconds=1)
ACC, SHIP = "shop-erp-orders", "3pl-erp-shipment"


def span(trace: str, span_id: str, name: str, start: datetime, ms: float, service: str, *,
         status: str = "unset", correlation_id: str | None = None) -> dict[str, object]:  # fmt: skip
    return {"trace_id": trace, "span_id": span_id, "parent_span_id": None, "name": name, "kind": "client",
            "service_name": service, "start_time": start, "end_time": start + timedelta(milliseconds=ms),
            "duration_ms": ms, "status_code": status, "status_message": None, "correlation_id": correlation_id,
            "attributes": '{"peer.service":"erp"}'}  # fmt: skip


def sample(queue: str, at: datetime, depth: int, *, flow: str | None = ACC, dlq: bool = False) -> dict[str, object]:
    return {"broker": "b", "queue": queue, "sampled_at": at, "depth": depth, "consumers": 1,
            "oldest_age_seconds": 1.0, "is_dlq": dlq, "flow_id": flow}  # fmt: skip


@pytest.fixture(scope="module")
def db(fresh_module):  # type: ignore[no-untyped-def]
    """Built once per backend; the tests read it (but the flow-config sync test, last in the module)."""
    engine, writer = fresh_module()
    add_system(engine, "shop", "storefront", "Shop")
    add_system(engine, "erp", "erp", "The ERP")
    add_system(engine, "3pl", "3pl", "The 3PL")
    add_flow(engine, ACC, "order.created", "order.accepted", 900, source_system="shop", target_system="erp",
             queue="orders.shop")  # fmt: skip
    add_flow(engine, SHIP, "order.released", "shipment.dispatched", 3600, "shipment", source_system="3pl",
             target_system="erp", queue="shipments")  # fmt: skip
    kw = {"channel": "shop"}
    writer.append("business_events", events_table([
        event("SHP-1001", "order.created", T0, flow_id=ACC, source="shop", target="erp", event_id="evt-a",
              trace_id="trace-a", **kw),
        event("SHP-1001", "order.accepted", T0 + 10 * M, flow_id=ACC, source="shop", target="erp",
              event_id="evt-b", trace_id="trace-b", received_at=T0 + 10 * M + 2 * S, **kw),
        event("SHP-1001", "order.released", T0 + 40 * M, source="erp", target="3pl", event_id="evt-c", **kw),
        event("SHP-1001", "shipment.dispatched", T0 + 3 * 60 * M, flow_id=SHIP, source="3pl", target="erp",
              status="dead_lettered", error_code="3PL-503", event_id="evt-d", trace_id="trace-d", **kw),
        event("SHP-1001", "shipment.dispatched", T0 + 4 * 60 * M, flow_id=SHIP, source="3pl", target="erp",
              attempt=2, event_id="evt-e", trace_id="trace-e", **kw),
        event("SHP-1002", "order.created", T0, flow_id=ACC, source="shop", target="erp", event_id="evt-x", **kw),
        event("PO-4500001", "po.sent", T0, source="erp", target="sup", channel=None, event_id="evt-po"),
    ]))  # fmt: skip
    writer.append("spans", pa.Table.from_pylist([
        span("trace-a", "s1", "POST /orders", T0 + 2 * S, 120, "mw-erp-client"),
        span("trace-b", "s2", "map status", T0 + 10 * M + S, 5, "mw-transform"),
        span("trace-d", "s3", "GET /shipments", T0 + 3 * 60 * M + S, 30000, "mw-3pl-client", status="error"),
        span("trace-e", "s4", "POST /shipments", T0 + 4 * 60 * M + S, 200, "mw-erp-client"),
        # the release came without a trace id: its span is found by the key it carries
        span("trace-z", "s5", "POST /releases", T0 + 40 * M + S, 80, "mw-wms-client", correlation_id="SHP-1001"),
        span("trace-q", "s6", "other order", T0 + 40 * M, 10, "mw-erp-client", correlation_id="SHP-1002"),
    ]))  # fmt: skip
    writer.append("exceptions", pa.Table.from_pylist([
        {"exception_id": 7, "fingerprint": "dead_letter:3pl-erp-shipment:3PL-503", "kind": "dead_letter",
         "flow_id": SHIP, "title": "dead letters", "severity": "high", "status": "resolved",
         "first_seen": T0 + 3 * 60 * M + 30 * S, "last_seen": T0 + 3 * 60 * M + 30 * S, "occurrences": 1,
         "affected_orders": 1, "resolved_at": T0 + 4 * 60 * M, "updated_at": T0 + 4 * 60 * M},
    ]))  # fmt: skip
    writer.append("exception_orders", pa.Table.from_pylist([{"exception_id": 7, "correlation_id": "SHP-1001"}]))
    writer.append("queue_samples", pa.Table.from_pylist([
        sample("orders.shop", T0 - 4 * M, 40), sample("orders.shop", T0 + 2 * M, 12),  # nearest to 09:00 is 09:02
        sample("orders.shop", T0 + 20 * M, 99),  # 10 min after the acceptance: too far
        sample("orders.shop.dlq", T0 + M, 0, dlq=True),
        sample("shipments", T0 + 3 * 60 * M - M, 250, flow=None),  # the flow's named queue, sampled untagged
    ]))  # fmt: skip
    yield engine
    engine.dispose()


def test_timeline_entries_in_time_order(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        tl = order_timeline(conn, correlation_id="SHP-1001")
    assert tl is not None and tl["kind"] == "order"
    assert tl["counts"] == {"events": 5, "spans": 5, "exceptions": 1}
    kinds = [(e["type"], e.get("event_type") or e.get("name") or e.get("title")) for e in tl["entries"]]
    assert kinds == [
        ("event", "order.created"), ("span", "POST /orders"),
        ("event", "order.accepted"), ("span", "map status"),
        ("event", "order.released"), ("span", "POST /releases"),
        ("event", "shipment.dispatched"), ("span", "GET /shipments"), ("exception", "dead letters"),
        ("event", "shipment.dispatched"), ("span", "POST /shipments"),
    ]  # fmt: skip
    accepted = tl["entries"][2]
    assert accepted["delivery_lag_seconds"] == pytest.approx(2.0)
    assert tl["entries"][7]["status_code"] == "error" and tl["entries"][7]["attributes"] == {"peer.service": "erp"}
    assert [s["system_id"] for s in tl["systems"]] == ["shop", "erp", "3pl"]
    assert tl["systems"][1]["name"] == "The ERP"
    assert tl["services"] == ["mw-3pl-client", "mw-erp-client", "mw-transform", "mw-wms-client"]
    assert tl["order"]["dispatched_at"] == (T0 + 4 * 60 * M).isoformat()


def test_payloads_and_attributes_only_where_they_help_unless_full(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        lean = order_timeline(conn, correlation_id="SHP-1001")["entries"]  # type: ignore[index]
        full = order_timeline(conn, correlation_id="SHP-1001", full=True)["entries"]  # type: ignore[index]
    events = {e["event_id"]: e for e in lean if e["type"] == "event"}
    assert events["evt-d"]["payload"] == "{}"  # the dead-lettered message, to replay
    assert "payload" not in events["evt-a"]
    spans = {e["span_id"]: e for e in lean if e["type"] == "span"}
    assert spans["s3"]["attributes"] == {"peer.service": "erp"} and "attributes" not in spans["s1"]
    assert all("payload" in e for e in full if e["type"] == "event")
    assert all(e["attributes"] == {"peer.service": "erp"} for e in full if e["type"] == "span")


def test_timeline_steps_use_first_successful_events(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        steps = order_timeline(conn, correlation_id="SHP-1001")["steps"]  # type: ignore[index]
    got = [(s["from"], s["to"], s["seconds"], s["flow_id"], s["within_sla"]) for s in steps]
    assert got == [
        ("order.created", "order.accepted", 600.0, ACC, True),
        ("order.accepted", "order.released", 1800.0, None, None),  # no flow on the event: no SLA to judge
        ("order.released", "shipment.dispatched", 12000.0, SHIP, False),  # the ok retry at 13:00; SLA 1 h
    ]


def test_queue_depth_around_each_hop(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        entries = order_timeline(conn, correlation_id="SHP-1001")["entries"]  # type: ignore[index]
    by_event = {e["event_id"]: e["queues"] for e in entries if e["type"] == "event"}
    assert [(q["queue"], q["depth"]) for q in by_event["evt-a"]] == [("orders.shop", 12), ("orders.shop.dlq", 0)]
    assert by_event["evt-b"] == []  # nearest sample is 10 min away
    assert by_event["evt-c"] == []  # no flow on the event
    assert [(q["queue"], q["depth"]) for q in by_event["evt-d"]] == [("shipments", 250)]


def test_unknown_key_has_no_timeline(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        assert order_timeline(conn, correlation_id="SHP-9999") is None
        assert order_timeline(conn, correlation_id="SHP-9999", engine=db) is None


@pytest.mark.parametrize("full", [False, True])
def test_reads_side_by_side_give_the_same_timeline(db, full: bool) -> None:  # type: ignore[no-untyped-def]
    """The API reads spans beside the rest (exceptions, queues, facts, payloads): the same answer."""
    with db.connect() as conn:
        alone = order_timeline(conn, correlation_id="SHP-1001", full=full)
        side = order_timeline(conn, correlation_id="SHP-1001", full=full, engine=db)
    assert side == alone
    assert side is not None and side["counts"] == {"events": 5, "spans": 5, "exceptions": 1}
    payloads = [e.get("payload") for e in side["entries"] if e["type"] == "event"]
    assert payloads.count("{}") == (5 if full else 1), "the dead-lettered message's payload (every one when full)"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SHP-1001", [("SHP-1001", "exact", "correlation_id")]),
        ("PO-4500001", [("PO-4500001", "exact", "correlation_id")]),
        ("evt-d", [("SHP-1001", "exact", "message_id")]),
        ("trace-e", [("SHP-1001", "exact", "trace_id")]),
        ("trace-q", [("SHP-1002", "exact", "trace_id")]),  # a span's key, no event carries the trace
        ("SHP-10", [("SHP-1001", "prefix", "correlation_id"), ("SHP-1002", "prefix", "correlation_id")]),
        ("PO-45", [("PO-4500001", "prefix", "correlation_id")]),
        ("evt-p", [("PO-4500001", "prefix", "message_id")]),
        ("SH", []),  # too short to search
        ("100%", []),  # LIKE wildcards are literal
    ],
)
def test_find_orders(db, query: str, expected: list[tuple[str, str, str]]) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        found = find_orders(conn, query=query, limit=5)
    assert [(f["correlation_id"], f["match"], f["matched_on"]) for f in found] == expected


def test_find_orders_summary_and_limit(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        (hit,) = find_orders(conn, query="SHP-1001")
        limited = find_orders(conn, query="SHP-", limit=1)
    assert (hit["events"], hit["failed_attempts"], hit["first_seen"]) == (5, 1, T0.isoformat())
    assert [f["correlation_id"] for f in limited] == ["SHP-1001"]


def test_a_flow_config_sync_reaches_the_cached_systems_and_slas(db) -> None:  # type: ignore[no-untyped-def]
    # The timeline caches systems and flows per engine; syncing the flow file must show at once.
    from models.store.flow_config import FlowConfig, sync_flow_config

    with db.connect() as conn:
        before = order_timeline(conn, correlation_id="SHP-1001")
    assert before is not None
    assert [s["name"] for s in before["systems"]][:2] == ["Shop", "The ERP"]
    assert before["steps"][0]["sla_seconds"] == 900  # created -> accepted, on the storefront flow
    config = FlowConfig.model_validate({
        "systems": [{"system_id": "shop", "name": "Shop 2", "kind": "storefront"},
                    {"system_id": "erp", "name": "The ERP", "kind": "erp"}],
        "flows": [{"flow_id": ACC, "name": "orders", "category": "orders", "source_system": "shop",
                   "target_system": "erp", "start_event": "order.created", "end_event": "order.accepted",
                   "sla_seconds": 1200, "lag_threshold_seconds": 600}],
    })  # fmt: skip
    with db.begin() as conn:
        sync_flow_config(conn, config)
    with db.connect() as conn:
        after = order_timeline(conn, correlation_id="SHP-1001")
    assert after is not None
    assert [s["name"] for s in after["systems"]][:2] == ["Shop 2", "The ERP"]
    assert after["steps"][0]["sla_seconds"] == 1200
    assert after["steps"][0]["within_sla"] is True  # 10 minutes against 20
