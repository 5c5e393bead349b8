"""Flows page builders on hand-made inputs: order of the list, tiles, the shared-axis figure, causes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dashboards.components.flows import (
    NO_CAUSE,
    exception_list,
    facts_component,
    flow_facts,
    flow_grid_rows,
    flow_heading,
    flow_status,
    flow_tiles,
    signals_figure,
)
from dashboards.theme import SEVERITY_COLORS
from models.queries.correlation import SIGNALS
from tests.dash_tree import having, props, text, with_class

T0 = datetime(2026, 3, 4, 12, 0)


def _health(
    flow_id: str,
    health: str,
    *,
    p95: float | None = 600.0,
    sla: int = 900,
    steps: int = 10,
    deliveries: int = 10,
    failures: int = 0,
    exceptions: int = 0,
    worst: str | None = None,
) -> dict[str, Any]:
    """One row as flows_health returns it."""
    return {
        "flow_id": flow_id, "name": flow_id.replace("-", " → "), "category": "orders", "start_event": "order.created",
        "end_event": "order.accepted", "sla_seconds": sla, "sync_lag_p95_seconds": p95, "steps_last_hour": steps,
        "deliveries_last_hour": deliveries, "failures_last_hour": failures, "open_exceptions": exceptions,
        "worst_open_severity": worst, "health": health,
    }  # fmt: skip


FLOWS = [
    _health("shop-erp", "healthy", p95=300.0),
    _health("erp-3pl", "failing", p95=1800.0, failures=2, exceptions=1, worst="critical"),
    _health("wms-shop", "degraded", p95=750.0, exceptions=2, worst="medium"),
    _health("sup-erp", "healthy", p95=None, steps=0, deliveries=0),
    _health("b2b-erp", "failing", p95=2700.0),
]

FLOW = {
    "flow_id": "3pl-erp", "name": "NorthStar → D365 shipment confirmation", "source_system": "3pl",
    "source_name": "NorthStar Logistics", "target_system": "erp", "target_name": "Dynamics 365 (main ERP)",
    "start_event": "order.released", "end_event": "shipment.dispatched", "sla_seconds": 7200,
    "queue": "shipments.3pl",
}  # fmt: skip


def _signals(hours: int = 6, *, stuck: bool = True) -> pd.DataFrame:
    """A frame shaped like flow_signals: hourly buckets, an outage in hour 3."""
    index = pd.DatetimeIndex([T0 + timedelta(hours=h) for h in range(hours)], name="bucket")
    frame = pd.DataFrame(index=index, columns=list(SIGNALS), dtype=float)
    frame["target_calls"] = 20.0
    frame["target_errors"] = [0, 0, 0, 8, 1, 0][:hours]
    frame["target_error_rate"] = frame["target_errors"] / frame["target_calls"]
    frame["target_p95_ms"] = [300, 320, 310, 4000, 900, 300][:hours]
    frame["source_calls"] = 10.0
    frame["source_errors"] = 0.0
    frame["source_error_rate"] = 0.0
    frame["source_p95_ms"] = 200.0
    frame["queue_depth"] = [0, 1, 0, 40, 12, 2][:hours]
    frame["dlq_depth"] = [0, 0, 0, 5, 5, 3][:hours]
    frame["sync_lag_p95_seconds"] = [1200, 1500, np.nan, 9000, 8000, 3000][:hours]
    frame["orders_stuck"] = [0, 0, 0, 4, 6, 2][:hours] if stuck else np.nan
    return frame


def test_a_quiet_healthy_flow_is_idle_not_fine() -> None:
    assert flow_status(FLOWS[3]) == "idle"
    assert flow_status(FLOWS[0]) == "healthy"
    assert flow_status(FLOWS[1]) == "failing"


def test_grid_lists_failing_first_worst_lag_first() -> None:
    rows = flow_grid_rows(FLOWS)
    assert [r["flow_id"] for r in rows] == ["b2b-erp", "erp-3pl", "wms-shop", "shop-erp", "sup-erp"]
    b2b = rows[0]
    assert (b2b["status_kind"], b2b["status_label"]) == ("breach", "Failing")
    assert b2b["lag_pct"] == 300.0 and b2b["lag_health"] == "breach"
    assert b2b["lag_p95"] == "45 min" and b2b["sla"] == "15 min"
    assert rows[2]["lag_health"] == "warning", "750 s is 83% of a 900 s SLA"
    assert rows[-1]["status_label"] == "No traffic" and rows[-1]["lag_pct"] is None and rows[-1]["lag_p95"] == "—"


def test_tiles_count_flows_by_status_and_name_the_worst() -> None:
    tiles = {t.key: t for t in flow_tiles(FLOWS)}
    assert (tiles["failing"].value, tiles["failing"].tone) == ("2", "breach")
    assert tiles["failing"].detail == "worst: b2b → erp"
    assert (tiles["degraded"].value, tiles["healthy"].value) == ("1", "1")
    assert tiles["healthy"].detail == "1 more carried nothing this hour"
    assert (tiles["failures"].value, tiles["failures"].detail) == ("2", "of 40 deliveries")
    assert (tiles["exceptions"].value, tiles["exceptions"].tone) == ("3", "breach")


def test_tiles_are_calm_when_nothing_fails() -> None:
    tiles = {t.key: t for t in flow_tiles([FLOWS[0]])}
    assert tiles["failing"].tone == "ok" and tiles["failing"].detail == "no flow over its SLA"
    assert tiles["exceptions"].detail == "nothing needs attention"


def test_heading_names_systems_step_and_sla() -> None:
    title, line = flow_heading(FLOW, "failing")
    assert text(title) == "NorthStar → D365 shipment confirmation Failing"
    assert props(title[1])["className"] == "badge badge-breach"
    assert line == ("NorthStar Logistics → Dynamics 365 (main ERP) · order.released → shipment.dispatched"
                    " · SLA 2.0 h · queue shipments.3pl")  # fmt: skip


def test_signals_share_one_time_axis_with_the_sla_line() -> None:
    window = (T0, T0 + timedelta(hours=6))
    fig = signals_figure(_signals(), FLOW, x_range=window)
    axes = [k for k in fig.layout.to_plotly_json() if k.startswith("yaxis")]
    assert len(axes) == 5, "latency, errors, queue, sync lag, orders stuck"
    assert {fig.layout[f"xaxis{i}"].matches for i in ("", 2, 3, 4)} == {"x5"}, "every panel on the bottom x axis"
    names = [t.name for t in fig.data]
    assert names[:2] == ["Dynamics 365 (target)", "Dynamics 365 (target)"]
    assert "NorthStar Logistics (source)" in names and "dead-letter queue" in names
    sla = next(t for t in fig.data if t.name == "SLA 2.0 h")
    lag = next(t for t in fig.data if t.name == "sync lag p95")
    assert list(sla.y) == [2.0, 2.0] and lag.yaxis == sla.yaxis == "y4", "lag and SLA in hours on one panel"
    assert lag.y[3] == pytest.approx(2.5)
    errors = next(t for t in fig.data if t.yaxis == "y2" and t.name.endswith("(target)"))
    assert errors.y[3] == pytest.approx(40.0), "error rate in %"
    stuck = next(t for t in fig.data if t.name == "orders past SLA")
    assert stuck.type == "bar" and list(stuck.y) == [0, 0, 0, 4, 6, 2]
    assert list(fig.layout.xaxis.range) == list(window)


def test_signals_of_a_non_order_flow_have_no_stuck_panel_and_one_system() -> None:
    same = {**FLOW, "source_system": "erp", "source_name": "Dynamics 365 (main ERP)"}
    fig = signals_figure(_signals(stuck=False), same, x_range=(T0, T0 + timedelta(hours=6)))
    assert len([k for k in fig.layout.to_plotly_json() if k.startswith("yaxis")]) == 4
    assert not any("(source)" in (t.name or "") for t in fig.data)


def test_open_exceptions_are_marked_where_first_seen() -> None:
    exceptions = pd.DataFrame({"exception_id": [7, 8], "severity": ["critical", "medium"],
                               "first_seen": [T0 + timedelta(hours=3), T0 - timedelta(days=2)]})  # fmt: skip
    fig = signals_figure(_signals(), FLOW, x_range=(T0, T0 + timedelta(hours=6)), exceptions=exceptions)
    assert len(fig.layout.shapes) == 1, "the exception before the range is not drawn"
    assert fig.layout.shapes[0].line.color == SEVERITY_COLORS["critical"]
    assert fig.layout.annotations[-1].text == "#7"


def test_empty_signals_say_so() -> None:
    fig = signals_figure(pd.DataFrame(columns=list(SIGNALS)), FLOW, x_range=(T0, T0))
    assert fig.layout.annotations[0].text == "No signals for this flow in the range"


def test_facts_read_now_from_the_last_sample() -> None:
    facts = {f.key: f for f in flow_facts(FLOWS[1], _signals())}
    assert (facts["lag"].value, facts["lag"].tone) == ("30 min", "breach")
    assert (facts["deliveries"].detail, facts["deliveries"].tone) == ("2 failed", "breach")
    assert (facts["stuck"].value, facts["stuck"].detail) == ("2", "peak 6 in the range")
    assert (facts["dlq"].value, facts["dlq"].tone) == ("3", "warning")
    assert facts["errors"].detail == "5.0% of 180 calls"
    assert facts["latency"].value == "4,000 ms"
    assert len(having(facts_component(list(facts.values())), "data-fact")) == 6


def test_exceptions_show_their_orders_and_likely_cause() -> None:
    frame = pd.DataFrame({
        "exception_id": [10, 11], "title": ["12 messages dead-lettered", "Lag breach"], "kind": ["dead_letter", "x"],
        "severity": ["critical", "medium"], "status": ["open", "acknowledged"], "affected_orders": [12, 0],
        "occurrences": [12, 1], "age_seconds": [7200.0, 600.0], "orders": [["SHP-1", "SHP-2"], []],
    })  # fmt: skip
    cause = {"text": "Dynamics 365 API latency (mw-erp-client) rose 4.1× 12 min before the lag breach"}
    listing = exception_list(frame, {10: cause, 11: None})
    items = having(listing, "data-exception")
    assert [props(i)["data-exception"] for i in items] == ["10", "11"]
    first = text(items[0])
    assert "12 messages dead-lettered" in first and "first seen 2.0 h ago" in first and "+10 more" in first
    assert cause["text"] in first
    assert [props(a)["href"] for a in with_class(items[0], "order-link")] == ["/orders?id=SHP-1", "/orders?id=SHP-2"]
    assert NO_CAUSE in text(items[1]) and with_class(items[1], "is-none")
    assert text(exception_list(frame.iloc[0:0], {})) == "No open exceptions on this flow"
    assert "The 2 most severe and oldest of 9 open" in text(exception_list(frame, {}, total=9))
    assert "most severe" not in text(exception_list(frame, {}, total=2))
