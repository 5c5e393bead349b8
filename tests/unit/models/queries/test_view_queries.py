"""Query-layer pieces the flows, orders and scorecard pages read: KPI totals, a flow's open exceptions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy.engine import Engine

from models.queries.common import Window
from models.queries.flows import flow_definitions, flow_exceptions, flows_health, systems
from models.queries.kpis import kpi_breakdown
from tests.factories import add_flow, add_system, event, events_table, fresh_db

W = Window(datetime(2026, 3, 10), datetime(2026, 3, 11), 3600)
NOW = datetime(2026, 3, 11)


def _t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    """Two shopify orders and one b2b order accepted this period (lags 10, 30 and 5 min), one last
    period (20 min); three open exceptions on the acceptance flow and a resolved one."""
    engine, writer = fresh_db(tmp_path)
    for system, kind, name in (("shop", "storefront", "Web shop"), ("b2b", "storefront", "B2B portal"),
                               ("erp", "erp", "Main ERP")):  # fmt: skip
        add_system(engine, system, kind, name)
    add_flow(engine, "shop-erp", "order.created", "order.accepted", 900, source_system="shop", target_system="erp")
    add_flow(engine, "b2b-erp", "order.created", "order.accepted", 1800, source_system="b2b", target_system="erp")
    rows = []
    for oid, channel, created, minutes in (("S1", "shop", _t(10, 1), 10), ("S2", "shop", _t(10, 2), 30),
                                           ("B1", "b2b", _t(10, 3), 5), ("S0", "shop", _t(9, 4), 20)):  # fmt: skip
        flow = f"{channel}-erp"
        rows.append(event(oid, "order.created", created, flow_id=flow, channel=channel, source=channel, target="erp"))
        rows.append(event(oid, "order.accepted", created.replace(minute=minutes), flow_id=flow, channel=channel,
                          source=channel, target="erp"))  # fmt: skip
    writer.append("business_events", events_table(rows))
    exceptions = [  # id, severity, status, first seen, orders
        (1, "medium", "open", _t(10, 5), ["S2"]),
        (2, "critical", "acknowledged", _t(10, 8), ["S1", "S2", "S0"]),
        (3, "medium", "open", _t(10, 1), []),
        (4, "critical", "resolved", _t(10, 0), ["S1"]),
    ]
    writer.append("exceptions", pa.Table.from_pylist([
        {"exception_id": xid, "fingerprint": f"fp{xid}", "kind": "sla_breach", "flow_id": "shop-erp",
         "title": f"exception {xid}", "severity": severity, "status": status, "first_seen": first,
         "last_seen": first, "occurrences": 1, "affected_orders": len(orders), "updated_at": first}
        for xid, severity, status, first, orders in exceptions
    ]))  # fmt: skip
    writer.append("exception_orders", pa.Table.from_pylist(
        [{"exception_id": xid, "correlation_id": o} for xid, *_, orders in exceptions for o in orders]
    ))  # fmt: skip
    yield engine
    engine.dispose()


def test_kpi_breakdown_totals_compare_with_the_previous_period(db: Engine) -> None:
    with db.connect() as conn:
        report = kpi_breakdown(conn, window=W)
    by_name = {k["kpi"]: k for k in report["kpis"]}
    assert report["not_applicable"] == ["sync_lag"], "sync lag exists per flow only"
    (adherence,) = by_name["sla_adherence"]["rows"]
    # This period: 600 s and 1800 s against 900 s, 300 s against 1800 s → 2 of 3; last period: 1200 s > 900 s → 0.
    assert adherence["group"] is None
    assert adherence["value"] == pytest.approx(2 / 3)
    assert adherence["previous"] == 0.0
    assert adherence["change"] == pytest.approx(2 / 3)


def test_kpi_breakdown_per_channel_lists_kpis_without_that_grouping(db: Engine) -> None:
    with db.connect() as conn:
        report = kpi_breakdown(conn, window=W, group_by="channel")
        with pytest.raises(ValueError, match="unknown group_by"):
            kpi_breakdown(conn, window=W, group_by="colour")
    first_pass = next(k for k in report["kpis"] if k["kpi"] == "first_pass_sync_success")
    assert {r["group"] for r in first_pass["rows"]} == {"shop", "b2b"}
    assert {"sync_lag", "sla_adherence", "mttr"} <= set(report["not_applicable"])


def test_kpi_breakdown_of_named_kpis_only(db: Engine) -> None:
    with db.connect() as conn:
        full = kpi_breakdown(conn, window=W, group_by="flow")
        some = kpi_breakdown(conn, window=W, group_by="flow", only=("sla_adherence", "sync_lag"))
        with pytest.raises(ValueError, match="unknown KPI colour; allowed: order_cycle_time"):
            kpi_breakdown(conn, window=W, only=("sla_adherence", "colour"))
    assert [k["kpi"] for k in some["kpis"]] == ["sla_adherence", "sync_lag_p50_seconds", "sync_lag_p95_seconds"]
    assert all(k in full["kpis"] for k in some["kpis"]), "the same rows as in the whole breakdown"
    adherence = {r["group"]: r["value"] for r in some["kpis"][0]["rows"]}
    assert adherence["shop-erp"] == pytest.approx(1 / 2)  # 600 s within 900 s, 1800 s beyond


def test_flow_exceptions_most_severe_then_oldest_with_their_orders(db: Engine) -> None:
    with db.connect() as conn:
        frame = flow_exceptions(conn, flow_id="shop-erp", now=NOW, orders=2)
        none = flow_exceptions(conn, flow_id="b2b-erp", now=NOW)
    assert frame["exception_id"].tolist() == [2, 3, 1], "critical first, then medium oldest first; resolved left out"
    assert frame["orders"].tolist() == [["S0", "S1"], [], ["S2"]]
    assert frame.loc[0, "age_seconds"] == 16 * 3600
    assert none.empty and "orders" in none.columns


def test_flow_definitions_carry_the_sla(db: Engine) -> None:
    with db.connect() as conn:
        flows = flow_definitions(conn).set_index("flow_id")
    assert flows.loc["b2b-erp", "sla_seconds"] == 1800
    assert flows.loc["shop-erp", "source_system"] == "shop"
    assert flows.loc["shop-erp", ["source_name", "target_name"]].tolist() == ["Web shop", "Main ERP"]


def test_flows_health_counts_over_the_window_it_is_given(db: Engine) -> None:
    """The Flows page's range: day 10 holds S1 (10 min) and S2 (30 min) on shop-erp and B1 (5 min) on b2b-erp;
    the default hour before NOW holds nothing; day 9 holds S0 (20 min)."""
    with db.connect() as conn:
        day = {f["flow_id"]: f for f in flows_health(conn, now=NOW, window=W)}
        hour = {f["flow_id"]: f for f in flows_health(conn, now=NOW)}
        before = {f["flow_id"]: f for f in flows_health(conn, now=NOW, window=Window(_t(9, 0), _t(10, 0), 3600))}
    shop = day["shop-erp"]
    # p95 of [600, 1800] s, linear: 600 + 0.95 × 1200 = 1740 s, over the 900 s SLA.
    assert (shop["steps_last_hour"], shop["deliveries_last_hour"], shop["sync_lag_p95_seconds"]) == (2, 4, 1740.0)
    assert (shop["open_exceptions"], shop["worst_open_severity"], shop["health"]) == (3, "critical", "failing")
    assert (day["b2b-erp"]["steps_last_hour"], day["b2b-erp"]["sync_lag_p95_seconds"]) == (1, 300.0)
    assert day["b2b-erp"]["health"] == "healthy"
    assert (hour["shop-erp"]["steps_last_hour"], hour["shop-erp"]["sync_lag_p95_seconds"]) == (0, None)
    assert hour["shop-erp"]["open_exceptions"] == 3, "open exceptions are those open now, whatever the window"
    assert (before["shop-erp"]["steps_last_hour"], before["shop-erp"]["sync_lag_p95_seconds"]) == (1, 1200.0)
    assert before["b2b-erp"]["deliveries_last_hour"] == 0


def test_systems_are_the_estate_in_id_order(db: Engine) -> None:
    with db.connect() as conn:
        estate = systems(conn)
    assert [(s["system_id"], s["kind"], s["name"]) for s in estate] == [
        ("b2b", "storefront", "B2B portal"), ("erp", "erp", "Main ERP"), ("shop", "storefront", "Web shop"),
    ]  # fmt: skip
    assert estate[0]["vendor"] is None
