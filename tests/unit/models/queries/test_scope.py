"""The global filter in the query layer, on a hand-built estate; every expected number is worked out below.

Estate: storefronts shopify and adobe, ERPs d365 and ns, fulfillers north (3PL) and wms.
Flows: ACC_S shopify → d365 and ACC_A adobe → ns (acceptance), REL_D d365 → north and REL_N ns → wms (release).
Orders, all created today: S1 (shopify, d365, north: accepted in 10 min, released 30 min later),
S2 (shopify, d365: accepted in 20 min, not released), A1 (adobe, ns, wms: accepted in 30 min,
released 60 min later).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from models.queries.common import Window
from models.queries.exceptions import ExceptionFilter, list_exceptions
from models.queries.flows import flows_health, systems
from models.queries.overview import exception_totals, needs_attention, order_counts, queue_current, sync_lag_by_flow
from models.queries.scope import Scope, scope_systems
from models.queries.timeline import find_orders
from models.store.tables import exceptions
from tests.factories import add_flow, add_system, event, events_table, fresh_db

NOW = datetime(2026, 3, 10, 12, 0)
WINDOW = Window.named("24h", now=NOW)
ACC_S, ACC_A, REL_D, REL_N = "acc-shopify", "acc-adobe", "rel-d365", "rel-ns"


def _t(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 10, hour, minute)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    engine, writer = fresh_db(tmp_path_factory.mktemp("scope"))
    for system_id, kind, name in (
        ("shopify", "storefront", "Shopify"), ("adobe", "storefront", "Adobe"), ("d365", "erp", "Dynamics"),
        ("ns", "erp", "NetSuite"), ("north", "3pl", "North"), ("wms", "wms", "Central WMS"),
    ):  # fmt: skip
        add_system(engine, system_id, kind, name)
    add_flow(engine, ACC_S, "order.created", "order.accepted", 900, source_system="shopify", target_system="d365")
    add_flow(engine, ACC_A, "order.created", "order.accepted", 900, source_system="adobe", target_system="ns")
    add_flow(engine, REL_D, "order.accepted", "order.released", 7200, "fulfilment",
             source_system="d365", target_system="north")  # fmt: skip
    add_flow(engine, REL_N, "order.accepted", "order.released", 7200, "fulfilment",
             source_system="ns", target_system="wms")  # fmt: skip
    rows = [
        event("ORD-S1", "order.created", _t(9), flow_id=ACC_S),
        event("ORD-S1", "order.accepted", _t(9, 10), flow_id=ACC_S),
        event("ORD-S1", "order.released", _t(9, 40), flow_id=REL_D, source="d365", target="north"),
        event("ORD-S2", "order.created", _t(10), flow_id=ACC_S),
        event("ORD-S2", "order.accepted", _t(10, 20), flow_id=ACC_S),
        event("ORD-A1", "order.created", _t(8), flow_id=ACC_A, channel="adobe", source="adobe", target="ns"),
        event("ORD-A1", "order.accepted", _t(8, 30), flow_id=ACC_A, channel="adobe", source="adobe", target="ns"),
        event("ORD-A1", "order.released", _t(9, 30), flow_id=REL_N, channel="adobe", source="ns", target="wms"),
    ]
    writer.append("business_events", events_table(rows))
    # (flow, system, status, affected orders)
    for i, (flow, system, status, affected) in enumerate((
        (ACC_A, "adobe", "open", 4),  # X0: adobe's
        (REL_D, "north", "open", 3),  # X1: north's, on the d365 → north flow
        (None, "adobe", "acknowledged", 2),  # X2: adobe's, no flow
        (None, None, "open", 1),  # X3: no flow, no system: everyone's
        (ACC_S, "shopify", "resolved", 9),  # X4: shopify's, not active
    )):  # fmt: skip
        with engine.begin() as conn:
            conn.execute(exceptions.insert().values(
                fingerprint=f"fp{i}", kind="k", title=f"x{i}", severity="high", status=status, flow_id=flow,
                system_id=system, first_seen=NOW - timedelta(hours=1), last_seen=NOW, occurrences=1,
                affected_orders=affected, updated_at=NOW,
            ))  # fmt: skip
    samples = [
        {"broker": "b", "queue": q, "sampled_at": NOW - timedelta(minutes=2), "depth": d, "consumers": 1,
         "oldest_age_seconds": 1.0, "is_dlq": False, "flow_id": f}
        for q, d, f in (("adobe.orders", 5, ACC_A), ("shared", 7, None))
    ]  # fmt: skip
    writer.append("queue_samples", pa.Table.from_pylist(samples))
    return engine


def test_order_counts_follow_the_orders_columns(engine) -> None:  # type: ignore[no-untyped-def]
    cases = {
        Scope(): 3,
        Scope(channel="shopify"): 2,  # S1, S2
        Scope(channel="adobe"): 1,  # A1
        Scope(erp="ns"): 1,  # A1
        Scope(fulfiller="north"): 1,  # S1 (S2 has no fulfiller yet)
        Scope(channel="shopify", erp="ns"): 0,
    }
    with engine.connect() as conn:
        for scope, expected in cases.items():
            counts = order_counts(conn, now=NOW, window=WINDOW, scope=scope)
            assert counts["orders_in_range"] == expected, scope
            assert counts["in_flight"] == expected, scope  # nothing dispatched


def test_sync_lag_keeps_the_flows_and_orders_in_scope(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        everything = sync_lag_by_flow(conn, window=WINDOW).set_index("flow_id")
        shopify = sync_lag_by_flow(conn, window=WINDOW, scope=Scope(channel="shopify")).set_index("flow_id")
        wms = sync_lag_by_flow(conn, window=WINDOW, scope=Scope(fulfiller="wms")).set_index("flow_id")
    assert everything["steps"].to_dict() == {ACC_A: 1, ACC_S: 2, REL_D: 1, REL_N: 1}
    # Adobe's acceptance flow leaves; ns → wms stays (it could carry Shopify's orders) with none of them.
    assert shopify["steps"].to_dict() == {ACC_S: 2, REL_D: 1, REL_N: 0}
    assert shopify.loc[ACC_S, "p95_seconds"] == pytest.approx(600 + 0.95 * 600)  # 10 and 20 min
    # north leaves with its flow; only A1 ships from the WMS.
    assert wms["steps"].to_dict() == {ACC_A: 1, ACC_S: 0, REL_N: 1}
    assert wms.loc[REL_N, "p95_seconds"] == pytest.approx(3600)


def test_exceptions_of_the_scope(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:

        def active(scope: Scope) -> int:
            return int(exception_totals(conn, now=NOW, scope=scope)["open_total"])

        assert active(Scope()) == 4  # X0..X3
        assert active(Scope(channel="shopify")) == 2  # X1, X3: adobe's X0 (flow and system) and X2 leave
        assert active(Scope(fulfiller="wms")) == 3  # X1's flow ends at north
        assert active(Scope(erp="d365")) == 3  # X0's flow ends at ns
        assert list(needs_attention(conn, now=NOW, scope=Scope(channel="shopify"))["title"]) == ["x1", "x3"]
        grid = list_exceptions(conn, ExceptionFilter(channel="shopify"), now=NOW)
        assert sorted(r["title"] for r in grid.items) == ["x1", "x3", "x4"] and grid.total == 3
        # Adobe and d365 leave Shopify and ns out: X0 (its flow ends at ns) and X4 (Shopify's) go.
        both = list_exceptions(conn, ExceptionFilter(channel="adobe", erp="d365"), now=NOW)
        assert sorted(r["title"] for r in both.items) == ["x1", "x2", "x3"]


def test_flows_systems_queues_and_search_of_the_scope(engine) -> None:  # type: ignore[no-untyped-def]
    shopify = Scope(channel="shopify")
    with engine.connect() as conn:
        flows = flows_health(conn, now=NOW, window=WINDOW, scope=shopify)
        assert [f["flow_id"] for f in flows] == [REL_D, REL_N, ACC_S]  # by category, then id
        assert {f["flow_id"]: f["open_exceptions"] for f in flows} == {REL_D: 1, REL_N: 0, ACC_S: 0}
        assert [s["system_id"] for s in systems(conn, shopify)] == ["d365", "north", "ns", "shopify", "wms"]
        assert list(queue_current(conn, now=NOW, scope=shopify)["queue"]) == ["shared"]
        assert list(queue_current(conn, now=NOW)["queue"]) == ["shared", "adobe.orders"]
        assert [r["correlation_id"] for r in find_orders(conn, query="ORD-", scope=Scope(channel="adobe"))] == [
            "ORD-A1"
        ]
        assert [r["correlation_id"] for r in find_orders(conn, query="ORD-")] == ["ORD-A1", "ORD-S1", "ORD-S2"]
        # An exact key is found whatever the filter: someone asked for that order.
        assert [r["correlation_id"] for r in find_orders(conn, query="ORD-S1", scope=Scope(channel="adobe"))] == [
            "ORD-S1"
        ]
        assert scope_systems(conn) == {
            "channel": [{"system_id": "adobe", "name": "Adobe"}, {"system_id": "shopify", "name": "Shopify"}],
            "erp": [{"system_id": "d365", "name": "Dynamics"}, {"system_id": "ns", "name": "NetSuite"}],
            "fulfiller": [{"system_id": "wms", "name": "Central WMS"}, {"system_id": "north", "name": "North"}],
        }
