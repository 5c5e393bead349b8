"""Flow map builders on hand-made inputs: positions, elements, non-colour cues, hover panels."""

from __future__ import annotations

from typing import Any

from dashboards.components.flow_map import (
    EDGE_STYLE,
    attention_list,
    edge_info,
    health_reasons,
    map_elements,
    map_positions,
    map_stylesheet,
    map_summary,
    node_info,
)
from dashboards.components.flows import flow_tiles
from dashboards.theme import HEALTH_COLORS
from tests.dash_tree import having, props, text, with_class


def _node(system_id: str, kind: str | None, name: str | None = None) -> dict[str, Any]:
    return {"system_id": system_id, "name": name or system_id, "kind": kind, "vendor": None}


def _flow(
    flow_id: str,
    source: str,
    target: str,
    health: str = "healthy",
    *,
    p95: float | None = 300.0,
    sla: int = 900,
    threshold: int = 600,
    steps: int = 10,
    deliveries: int = 10,
    failures: int = 0,
    exceptions: int = 0,
    worst: str | None = None,
) -> dict[str, Any]:
    """One row as flows_health returns it."""
    return {
        "flow_id": flow_id, "name": f"{source} → {target}", "category": "orders", "source_system": source,
        "target_system": target, "start_event": "a", "end_event": "b", "sla_seconds": sla,
        "lag_threshold_seconds": threshold, "sync_lag_p95_seconds": p95, "steps_last_hour": steps,
        "deliveries_last_hour": deliveries, "failures_last_hour": failures, "open_exceptions": exceptions,
        "worst_open_severity": worst, "health": health,
    }  # fmt: skip


def test_positions_put_sources_left_erps_middle_fulfilment_right_with_a_gap_between_kinds() -> None:
    nodes = [_node("s1", "storefront"), _node("s2", "storefront"), _node("p1", "supplier"), _node("e1", "erp"),
             _node("w1", "wms"), _node("t1", "3pl")]  # fmt: skip
    edges = [("s1", "e1"), ("s2", "e1"), ("e1", "t1"), ("t1", "e1"), ("e1", "p1"), ("w1", "s1"), ("e1", "e1")]
    # Left: s1 row 0, s2 row 1, then a 0.6 gap before the supplier: p1 row 2.6. Right: w1 0, t1 1.6.
    # e1 at the mean of its neighbours s1, s2, t1, p1: (0 + 1 + 1.6 + 2.6) / 4 = 1.3. Rows are 72 px.
    assert map_positions(nodes, edges) == {
        "s1": (0, 0), "s2": (0, 72), "p1": (0, 187), "e1": (280, 94), "w1": (560, 0), "t1": (560, 115),
    }  # fmt: skip


def test_positions_reorder_a_column_so_arrows_do_not_cross() -> None:
    nodes = [_node("a", "storefront"), _node("b", "storefront"), _node("c", "storefront"), _node("e1", "erp"),
             _node("e2", "erp")]  # fmt: skip
    # First pass: a 0, b 1, c 2; e1 wants 1 (b), e2 wants (0 + 2) / 2 = 1 → e1 1, e2 pushed to 2.
    # Then the storefronts follow their ERP: b (e1 at 1) above a and c (e2 at 2) → b 0, a 1, c 2;
    # the ERPs again: e1 at b = 0, e2 at (1 + 2) / 2 = 1.5 → 108 px.
    positions = map_positions(nodes, [("a", "e2"), ("b", "e1"), ("c", "e2")])
    assert positions == {"b": (0, 0), "a": (0, 72), "c": (0, 144), "e1": (280, 0), "e2": (280, 108)}


FLOWS = [
    _flow("shop-erp", "shop", "erp", "failing", p95=1800.0, failures=2, deliveries=20, exceptions=3, worst="critical"),
    _flow("erp-3pl", "erp", "3pl", "degraded", p95=720.0, exceptions=1, worst="medium"),
    _flow("3pl-erp", "3pl", "erp"),
    _flow("erp-inv", "erp", "erp", p95=None, steps=0, deliveries=0),
    _flow("x-erp", "legacy", "erp"),
]
SYSTEMS = [_node("shop", "storefront", "Web shop"), _node("erp", "erp", "Dynamics 365 (main ERP)"),
           _node("3pl", "3pl", "NorthStar Logistics"), _node("mw", "middleware")]  # fmt: skip


def test_elements_are_the_systems_that_carry_flows_and_one_edge_per_flow() -> None:
    elements = map_elements(SYSTEMS, FLOWS)
    nodes = {e["data"]["id"]: e for e in elements if "source" not in e["data"]}
    edges = {e["data"]["flow_id"]: e for e in elements if "source" in e["data"]}
    assert set(nodes) == {"shop", "erp", "3pl", "legacy"}, "mw carries no flow; legacy is named by a flow only"
    assert nodes["erp"]["data"]["label"] == "Dynamics 365" and nodes["erp"]["data"]["kind"] == "ERP"
    assert nodes["legacy"]["data"]["name"] == "legacy" and nodes["legacy"]["classes"] == "system kind-other"
    # Open exceptions of the flows touching each system: erp has 3 (shop-erp) + 1 (erp-3pl); a loop counts once.
    assert {k: n["data"]["open_exceptions"] for k, n in nodes.items()} == {"shop": 3, "erp": 4, "3pl": 1, "legacy": 0}
    assert nodes["3pl"]["data"]["partner"] is True and nodes["erp"]["data"]["partner"] is False
    assert [e["classes"] for e in edges.values()] == [
        "flow status-failing", "flow status-degraded", "flow status-healthy", "flow status-idle",
        "flow status-healthy",
    ]  # fmt: skip
    assert [e["data"]["label"] for e in edges.values()] == ["FAILING", "DEGRADED", "", "", ""]
    shop = edges["shop-erp"]["data"]
    assert (shop["source"], shop["target"], shop["deliveries"], shop["failures"]) == ("shop", "erp", 20, 2)
    assert (shop["lag_p95"], shop["sla"], shop["worst"]) == ("30 min", "15 min", "critical")


def test_each_status_differs_by_more_than_colour() -> None:
    cues = {status: (style, width) for status, (style, width, _worded) in EDGE_STYLE.items()}
    assert len(set(cues.values())) == len(cues), "line style and width tell every status apart without colour"
    assert [s for s, (_st, _w, worded) in EDGE_STYLE.items() if worded] == ["failing", "degraded"]
    sheet = {rule["selector"]: rule["style"] for rule in map_stylesheet()}
    assert sheet["edge.status-failing"]["line-color"] == HEALTH_COLORS["breach"]
    assert sheet["edge.status-degraded"]["line-style"] == "dashed"
    assert sheet["edge.status-idle"]["line-style"] == "dotted"
    assert sheet["edge"]["target-label"] == "data(label)"
    assert not any("flow_id" in s for s in sheet), "nothing outlined while no flow is open"
    opened = {r["selector"]: r["style"] for r in map_stylesheet(selected='odd"id')}
    assert opened['edge[flow_id = "odd\\"id"]']["underlay-opacity"] == 0.3, "the open flow outlined, quotes escaped"


def test_summary_counts_flows_by_status() -> None:
    assert map_summary(FLOWS) == "5 flows: 1 failing, 1 degraded, 2 healthy, 1 no traffic"
    assert map_summary([]) == "No flows configured"


def test_edge_panel_says_throughput_failures_and_exceptions_over_the_range() -> None:
    data = next(e["data"] for e in map_elements(SYSTEMS, FLOWS) if e["data"].get("flow_id") == "shop-erp")
    panel = edge_info(data, "24 hours")
    assert props(panel)["data-flow"] == "shop-erp"
    assert text(panel) == (
        "Failing shop → erp Over the last 24 hours Steps completed 10 Deliveries 20 Failed 2 (10.0%) "
        "Sync lag p95 30 min of 15 min SLA Open exceptions 3 · worst critical Open this flow →"
    )
    assert props(with_class(panel, "fm-open")[0])["href"] == "/flows?flow=shop-erp"
    idle = next(e["data"] for e in map_elements(SYSTEMS, FLOWS) if e["data"].get("flow_id") == "erp-inv")
    assert "Failed 0 " in text(edge_info(idle, "6 hours")) + " "


def test_node_panel_links_partners_to_their_scorecard() -> None:
    nodes = {e["data"]["id"]: e["data"] for e in map_elements(SYSTEMS, FLOWS) if "source" not in e["data"]}
    panel = node_info(nodes["3pl"])
    assert text(panel) == "3PL NorthStar Logistics Open exceptions on its flows 1 Partner scorecard →"
    assert props(having(panel, "href")[0])["href"] == "/partners/3pl"
    assert having(node_info(nodes["erp"]), "href") == [], "an ERP has no partner scorecard"
    assert "Point at a flow" in text(node_info(None))


def test_attention_lists_failing_then_degraded_with_the_reasons_of_the_health_rule() -> None:
    listing = attention_list(FLOWS)
    items = having(listing, "data-flow")
    assert [props(i)["data-flow"] for i in items] == ["shop-erp", "erp-3pl"]
    assert text(items[0]) == (
        "Failing shop → erp lag p95 30 min over its 15 min SLA · a critical exception open · 2 failed deliveries"
    )
    assert text(items[1]) == "Degraded erp → 3pl lag p95 12 min, 80% of its 15 min SLA · 1 open exception"
    assert text(attention_list(FLOWS[2:])) == "Every flow is healthy over the range"
    many = [_flow(f"f{i}", "a", "b", "failing", p95=1000.0 + i) for i in range(7)]
    assert text(with_class(attention_list(many, limit=5), "table-note")[0]) == "+2 more in the list below"


def test_health_reasons_of_a_failure_only_flow() -> None:
    assert health_reasons(_flow("f", "a", "b", "degraded", failures=1)) == "1 failed delivery"


def test_tiles_say_the_period_they_count() -> None:
    tiles = {t.key: t for t in flow_tiles(FLOWS, period="in the last 7 days")}
    assert tiles["healthy"].detail == "1 more carried nothing in the last 7 days"
    quiet = {t.key: t for t in flow_tiles([FLOWS[3]], period="in the last 6 hours")}
    assert quiet["failures"].detail == "nothing delivered in the last 6 hours"
