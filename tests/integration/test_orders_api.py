"""Orders, flows, signals and KPIs against a real server: what an API client sends and gets back."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pyarrow as pa
import pytest

from models.store.tables import flows, systems
from tests.factories import event, events_table
from tests.live_server import LiveServer

T0 = datetime(2026, 3, 10, 9, 0)
NOW = datetime(2026, 3, 11, 12, 0)
H = timedelta(hours=1)
ACC = "shop-erp-orders"


@pytest.fixture()
def api(server: LiveServer) -> LiveServer:
    """The server with one flow and three orders: shipped after 10 h and 14 h, and one in flight."""
    ctx = server.ctx
    ctx.clock = lambda: NOW
    with ctx.engine.begin() as conn:
        conn.execute(systems.insert(), [{"system_id": "shop", "name": "Shop", "kind": "storefront"},
                                        {"system_id": "erp", "name": "ERP", "kind": "erp"}])  # fmt: skip
        conn.execute(flows.insert().values(
            flow_id=ACC, name="Shop → ERP orders", source_system="shop", target_system="erp",
            start_event="order.created", end_event="order.accepted", sla_seconds=900, lag_threshold_seconds=600,
            category="orders", queue="orders.shop"))  # fmt: skip
    rows = []
    for oid, shipped_after in (("SHP-1001", 10), ("SHP-1002", 14), ("SHP-1003", None)):
        kw = {"channel": "shop", "source": "shop", "target": "erp"}
        rows += [event(oid, "order.created", T0, flow_id=ACC, event_id=f"{oid}-c", trace_id=f"tr-{oid}", **kw),
                 event(oid, "order.accepted", T0 + timedelta(minutes=5), flow_id=ACC, **kw)]  # fmt: skip
        if shipped_after:
            rows.append(event(oid, "shipment.dispatched", T0 + shipped_after * H, source="3pl", target="erp",
                              channel="shop"))  # fmt: skip
    ctx.writer.append("business_events", events_table(rows))
    ctx.writer.append("spans", pa.Table.from_pylist([{
        "trace_id": "tr-SHP-1001", "span_id": "s1", "parent_span_id": None, "name": "POST /orders",
        "kind": "client", "service_name": "mw-erp-client", "start_time": T0, "end_time": T0 + timedelta(seconds=1),
        "duration_ms": 1000.0, "status_code": "unset", "status_message": None, "correlation_id": "SHP-1001",
        "attributes": '{"peer.service":"erp"}'}]))  # fmt: skip
    return server


def _get(api: LiveServer, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{api.url}/api/v1{path}", params=params, timeout=10)


def test_order_timeline(api: LiveServer) -> None:
    response = _get(api, "/orders/SHP-1001")
    assert response.status_code == 200
    body = response.json()
    assert body["correlation_id"] == "SHP-1001" and body["kind"] == "order"
    assert body["counts"] == {"events": 3, "spans": 1, "exceptions": 0}
    assert [e["type"] for e in body["entries"]] == ["event", "span", "event", "event"]
    assert body["steps"][0] == {"from": "order.created", "to": "order.accepted", "started_at": T0.isoformat(),
                                "ended_at": (T0 + timedelta(minutes=5)).isoformat(), "seconds": 300.0,
                                "flow_id": ACC, "sla_seconds": 900, "within_sla": True}  # fmt: skip


def test_full_timeline_has_every_payload(api: LiveServer) -> None:
    lean = _get(api, "/orders/SHP-1001").json()["entries"]
    full = _get(api, "/orders/SHP-1001", full="true").json()["entries"]
    assert not any("payload" in e for e in lean) and all("payload" in e for e in full if e["type"] == "event")
    assert next(e for e in full if e["type"] == "span")["attributes"] == {"peer.service": "erp"}


def test_unknown_order_is_404_with_a_message(api: LiveServer) -> None:
    response = _get(api, "/orders/SHP-9999")
    assert response.status_code == 404
    assert response.json()["detail"] == "no events, spans or exceptions are known for 'SHP-9999'"


def test_search(api: LiveServer) -> None:
    exact = _get(api, "/orders", q="tr-SHP-1002").json()["results"]
    assert [(r["correlation_id"], r["match"], r["matched_on"]) for r in exact] == [("SHP-1002", "exact", "trace_id")]
    prefix = _get(api, "/orders", q="SHP-100", limit="2").json()["results"]
    assert [r["correlation_id"] for r in prefix] == ["SHP-1001", "SHP-1002"]
    assert _get(api, "/orders", q="SHP-1003-c").json()["results"][0]["matched_on"] == "message_id"
    short = _get(api, "/orders", q="SH")
    assert short.status_code == 422 and short.json()["errors"][0]["where"] == "query.q"


def test_kpis_for_a_period(api: LiveServer) -> None:
    response = _get(api, "/kpis", **{"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00+00:00"})
    assert response.status_code == 200
    body = response.json()
    assert body["period"] == {"from": "2026-03-10T00:00:00", "to": "2026-03-11T00:00:00"}
    assert body["previous_period"] == {"from": "2026-03-09T00:00:00", "to": "2026-03-10T00:00:00"}
    p50 = next(k for k in body["kpis"] if k["kpi"] == "order_cycle_time_p50_hours")["rows"]
    # 12 h against the shipped 8 h target (lower is better): over it by more than 10 % → red
    assert p50 == [{"group": None, "value": 12.0, "previous": None, "change": None, "change_pct": None, "n": 2,
                    "previous_n": 0, "rag": "red"}]  # fmt: skip
    by_channel = _get(api, "/kpis", **{"from": "2026-03-10T00:00:00", "to": "2026-03-11T00:00:00",
                                        "group_by": "channel"}).json()  # fmt: skip
    assert next(k for k in by_channel["kpis"] if k["kpi"] == "order_cycle_time_p95_hours")["rows"][0]["group"] == "shop"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-03-11T00:00:00", "to": "2026-03-10T00:00:00"},
         "'from' (2026-03-11T00:00:00) must be before 'to' (2026-03-10T00:00:00)"),
        ({"from": "2025-01-01T00:00:00", "to": "2026-03-10T00:00:00"}, "the period may span at most 92 days"),
        ({"from": "2026-03-09T00:00:00", "to": "2026-03-10T00:00:00", "group_by": "region"},
         "unknown group_by 'region'; allowed values: channel, flow, erp, fulfiller, supplier"),
    ],
)  # fmt: skip
def test_kpis_reject_bad_parameters(api: LiveServer, params: dict[str, str], message: str) -> None:
    response = _get(api, "/kpis", **params)
    assert response.status_code == 422
    assert response.json()["detail"] == message


def test_kpis_reject_a_malformed_date(api: LiveServer) -> None:
    response = _get(api, "/kpis", **{"from": "yesterday"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["where"] == "query.from"


def test_flows_with_health_and_signals(api: LiveServer) -> None:
    listed = _get(api, "/flows").json()
    health = {f["flow_id"]: f["health"] for f in listed["flows"]}
    assert health[ACC] == "healthy"
    assert len(health) == 20  # this test's flow beside the 19 of the default flow file
    signals = _get(api, f"/flows/{ACC}/signals", range="6h")
    assert signals.status_code == 200
    body = signals.json()
    assert len(body["axis"]) == 72 and set(body["series"]) >= {"target_p95_ms", "queue_depth", "orders_stuck"}
    assert all(len(values) == 72 for values in body["series"].values())
    assert _get(api, "/flows/nope/signals").status_code == 404
    assert _get(api, f"/flows/{ACC}/signals", range="2d").status_code == 422


def test_likely_cause_of_an_unknown_exception_is_404(api: LiveServer) -> None:
    response = _get(api, "/exceptions/12345/likely-cause")
    assert response.status_code == 404 and response.json()["detail"] == "unknown exception 12345"
