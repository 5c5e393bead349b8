"""Overview builders on hand-made DataFrames: the numbers and colours a person would see."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from dashboards.components.charts import (
    ALL_FLOWS,
    NO_DATA,
    aging_figure,
    queue_depth_figure,
    sync_lag_figure,
)
from dashboards.components.format import fmt_duration, fmt_hours, fmt_int, fmt_pct
from dashboards.components.tables import attention_rows, flow_rows, flow_table, queue_table
from dashboards.components.tiles import (
    cycle_time_tile,
    exceptions_tile,
    in_flight_tile,
    orders_today_tile,
    queue_tile,
    tile_component,
    worst_lag_tile,
)
from dashboards.theme import CONTEXT_GREY, SEVERITY_COLORS
from models.queries.flows import health, lag_status

T0 = datetime(2026, 3, 2, 8, 0)


def _flows() -> pd.DataFrame:
    """Three flows as sync_lag_by_flow returns them: one breaching, one in warning, one fine."""
    return pd.DataFrame(
        {
            "flow_id": ["shopify-orders", "wms-release", "d365-invoice"],
            "name": ["Shopify → D365 orders", "D365 → WMS release", "D365 invoicing"],
            "category": ["orders", "fulfilment", "invoice"],
            "sla_seconds": [900, 7200, 21600],
            "steps": [400, 120, 0],
            "p50_seconds": [300.0, 3000.0, None],
            "p95_seconds": [1800.0, 6000.0, None],
            "over_sla": [60, 2, 0],
        }
    )


def _series() -> pd.DataFrame:
    buckets = [T0 + timedelta(hours=h) for h in range(3)]
    return pd.DataFrame(
        {
            "flow_id": ["shopify-orders"] * 3 + ["wms-release"] * 3,
            "bucket": buckets * 2,
            "p95_seconds": [600.0, 1800.0, 2700.0, 3600.0, 5400.0, 6000.0],
            "steps": [10] * 6,
        }
    )


def _text(component: Any) -> str:
    """All text under a Dash component, in document order."""
    if isinstance(component, str | int | float):
        return str(component)
    children = getattr(component, "children", None)
    if children is None:
        return ""
    if isinstance(children, list | tuple):
        return " ".join(_text(c) for c in children)
    return _text(children)


# ---- formatting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1234, "1,234"), (0, "0"), (1234567.4, "1,234,567"), (None, "—"), (float("nan"), "—")],
)
def test_fmt_int(value: Any, expected: str) -> None:
    assert fmt_int(value) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(45, "45 s"), (2280, "38 min"), (4.2 * 3600, "4.2 h"), (2.1 * 86400, "2.1 d"), (None, "—")],
)
def test_fmt_duration_picks_a_spoken_unit(seconds: float | None, expected: str) -> None:
    assert fmt_duration(seconds) == expected


def test_fmt_hours_and_pct() -> None:
    assert fmt_hours(4.23) == "4.2 h"
    assert fmt_hours(float("nan")) == "—"
    assert fmt_pct(0.0432) == "4.3%"
    assert fmt_pct(0) == "0%"


# ---- tiles --------------------------------------------------------------------------


def test_order_tiles_show_counts_with_separators() -> None:
    counts = {"orders_today": 1234, "orders_in_range": 5678, "in_flight": 321}
    today = orders_today_tile(counts, range_label="7 days")
    assert (today.value, today.detail) == ("1,234", "5,678 in the last 7 days")
    assert in_flight_tile(counts).value == "321"


def test_order_tiles_have_an_empty_state_not_nan() -> None:
    tile = orders_today_tile({"orders_today": 0, "orders_in_range": 0, "in_flight": 0}, range_label="6 hours")
    assert tile.detail == "No orders in this range"
    assert tile.tone == "idle"
    cycle = cycle_time_tile({"shipped": 0, "p50_hours": None, "p90_hours": None, "p95_hours": None})
    assert cycle.value == "—"
    assert "nan" not in (cycle.value + cycle.detail).lower()


def test_cycle_time_tile_shows_p50_and_p95_in_hours() -> None:
    tile = cycle_time_tile({"shipped": 1500, "p50_hours": 4.23, "p90_hours": 9.0, "p95_hours": 18.04})
    assert tile.value == "4.2 h / 18.0 h"
    assert "1,500 shipped" in tile.detail


def test_worst_lag_tile_names_the_flow_furthest_over_its_sla() -> None:
    tile = worst_lag_tile(_flows())
    assert tile.value == "30 min"
    assert tile.detail == "200% of its 15 min SLA · Shopify → D365 orders"
    assert tile.tone == "breach"


def test_worst_lag_tile_says_times_the_sla_when_far_over() -> None:
    far = _flows().assign(p95_seconds=[900.0 * 40, 6000.0, None])
    assert worst_lag_tile(far).detail == "40× its 15 min SLA · Shopify → D365 orders"


def test_worst_lag_tile_without_steps_is_idle() -> None:
    idle = _flows().assign(steps=0, p95_seconds=None)
    assert worst_lag_tile(idle).detail == "No completed steps in this range"


def test_exceptions_tile_counts_critical_and_turns_red() -> None:
    totals = {"open_total": 42, "critical": 7, "high": 3, "oldest_hours": 50.0}
    tile = exceptions_tile(totals)
    assert (tile.value, tile.detail, tile.tone) == ("42", "7 critical · oldest 2.1 d", "breach")
    assert exceptions_tile({"open_total": 0}).detail == "Nothing needs attention"


def test_queue_tile_reports_deepest_live_queue_and_dlq_total() -> None:
    queues = pd.DataFrame(
        {
            "queue": ["orders.shopify", "release.wms", "orders.shopify.dlq", "shipments.3pl.dlq"],
            "is_dlq": [False, False, True, True],
            "depth": [1234, 10, 40, 60],
        }
    )
    tile = queue_tile(queues)
    assert (tile.label, tile.value) == ("Deepest queue now", "1,234 msgs")
    assert (tile.detail, tile.tone) == ("waiting in orders.shopify · 100 dead-lettered (in DLQs)", "warning")
    calm = queue_tile(queues.assign(depth=[5, 1, 0, 0]))
    assert (calm.value, calm.detail, calm.tone) == ("5 msgs", "waiting in orders.shopify · no messages dead-lettered",
                                                    "ok")  # fmt: skip


def test_tile_component_is_findable_by_kpi() -> None:
    component = tile_component(in_flight_tile({"in_flight": 7}))
    assert component.to_plotly_json()["props"]["data-kpi"] == "in_flight"
    assert _text(component) == "In flight 7 created, not yet shipped"


# ---- health and tables --------------------------------------------------------------


@pytest.mark.parametrize(
    ("p95", "sla", "expected"),
    [
        (100, 900, "ok"),
        (720, 900, "warning"),
        (900, 900, "warning"),
        (901, 900, "breach"),
        (None, 900, "idle"),
    ],
)
def test_flow_health_against_sla(p95: float | None, sla: int, expected: str) -> None:
    assert lag_status(p95, sla) == expected


@pytest.mark.parametrize(
    ("p95", "failures", "open_exceptions", "worst", "expected"),
    [
        (100, 0, 0, None, "healthy"),
        (None, 0, 0, None, "healthy"),  # nothing carried: the page calls it idle, the flow is not sick
        (720, 0, 0, None, "degraded"),  # 80 % of the 900 s SLA: warning
        (100, 1, 0, None, "degraded"),
        (100, 0, 2, "high", "degraded"),
        (901, 0, 0, None, "failing"),
        (100, 0, 1, "critical", "failing"),
    ],
)
def test_flow_health_composes_lag_failures_and_exceptions(
    p95: float | None, failures: int, open_exceptions: int, worst: str | None, expected: str
) -> None:
    assert health(p95, 900, failures, open_exceptions, worst) == expected


def test_flow_rows_put_offenders_first_with_share_over_sla() -> None:
    rows = flow_rows(_flows())
    assert rows["flow_id"].tolist() == ["shopify-orders", "wms-release", "d365-invoice"]
    assert rows["health"].tolist() == ["breach", "warning", "idle"]
    assert rows.loc[0, "over_share"] == pytest.approx(60 / 400)


def test_flow_table_row_text() -> None:
    table = flow_table(_flows())
    first_row = table.children[1].children[0]
    # one unit for p50, p95 and SLA, by the largest (6 h SLA → hours): 5 min = 0.08 h, 30 min = 0.50 h
    assert _text(first_row) == "Shopify → D365 orders 400 0.08 0.50 0.25 15.0% Breach"
    assert "p50 (h) p95 (h) SLA (h)" in _text(table)


def test_queue_table_marks_dlqs_and_counts_empty_queues() -> None:
    queues = pd.DataFrame(
        {
            "queue": ["orders.shopify", "orders.shopify.dlq", "release.wms"],
            "is_dlq": [False, True, False],
            "depth": [250, 12, 0],
            "consumers": [0, 0, 3],
            "oldest_age_seconds": [600.0, 7200.0, None],
        }
    )
    out = queue_table(queues)
    text = _text(out)
    assert "Oldest message (h)" in text  # the oldest is 2 h: the column is in hours
    assert "orders.shopify no consumer 250 0 0.17" in text
    assert "orders.shopify.dlq DLQ 12 — 2.0" in text
    assert "1 queues empty" in text
    assert "release.wms" not in text


def test_attention_rows_are_keyed_by_string_id() -> None:
    df = pd.DataFrame(
        {
            "exception_id": [17],
            "title": ["Shipment confirmation dead-lettered"],
            "severity": ["critical"],
            "flow_name": [None],
            "system_id": ["3pl_north"],
            "affected_orders": [312],
            "age_hours": [5.5],
            "value_at_risk": [48210.5],
            "customer_tier": [None],
        }
    )
    assert attention_rows(df) == [
        {
            "exception_id": "17",
            "title": "Shipment confirmation dead-lettered",
            "flow": "3pl_north",
            "severity": "critical",
            "value_at_risk": 48210.5,
            "tier": "—",
            "affected_orders": 312,
            "age": "5.5",  # the column says "Age (h)"
        }
    ]


# ---- figures ------------------------------------------------------------------------


def test_aging_bars_in_band_order_with_counts_per_severity() -> None:
    aging = pd.DataFrame(
        {
            "band": [">3d", "<1h", "1–4h", "<1h", "4–24h"],
            "severity": ["low", "critical", "high", "low", "critical"],
            "exceptions": [4, 2, 3, 5, 1],
        }
    )
    fig = aging_figure(aging)
    assert fig.layout.barmode == "stack"
    bars = {t.name: t for t in fig.data}
    assert list(bars) == ["Critical", "High", "Medium", "Low"]
    for trace in fig.data:
        assert list(trace.x) == ["<1h", "1–4h", "4–24h", "1–3d", ">3d"]
    assert list(bars["Critical"].y) == [2, 0, 1, 0, 0]
    assert list(bars["High"].y) == [0, 3, 0, 0, 0]
    assert list(bars["Medium"].y) == [0, 0, 0, 0, 0]
    assert list(bars["Low"].y) == [5, 0, 0, 0, 4]
    assert bars["Critical"].marker.color == SEVERITY_COLORS["critical"]
    assert fig.layout.yaxis.title.text and fig.layout.xaxis.title.text


def test_aging_without_open_exceptions_says_so() -> None:
    fig = aging_figure(pd.DataFrame(columns=["band", "severity", "exceptions"]))
    assert not fig.data
    assert fig.layout.annotations[0].text == "No open exceptions"


def test_sync_lag_category_draws_sla_line_at_the_flows_sla() -> None:
    fig = sync_lag_figure(_series(), _flows(), category="orders")
    lines = {t.name: t for t in fig.data}
    assert set(lines) == {"Shopify → D365 orders", "SLA 15 min"}
    # 15 min SLA and lags of 10/30/45 min: the axis is in minutes.
    assert list(lines["SLA 15 min"].y) == [15, 15]
    assert lines["SLA 15 min"].line.dash == "dash"
    assert list(lines["Shopify → D365 orders"].y) == [10, 30, 45]
    assert fig.layout.yaxis.title.text == "p95 sync lag (minutes)"


def test_sync_lag_category_in_hours_when_slas_are_hours() -> None:
    fig = sync_lag_figure(_series(), _flows(), category="fulfilment")
    lines = {t.name: t for t in fig.data}
    assert list(lines["SLA 2.0 h"].y) == [2, 2]
    assert list(lines["D365 → WMS release"].y) == [1.0, 1.5, pytest.approx(5 / 3)]
    assert fig.layout.yaxis.title.text == "p95 sync lag (hours)"


def test_sync_lag_all_flows_as_percent_of_sla_with_100_line() -> None:
    fig = sync_lag_figure(_series(), _flows(), category=ALL_FLOWS)
    lines = {t.name: t for t in fig.data}
    assert list(lines["SLA (100%)"].y) == [100, 100]
    assert list(lines["Shopify → D365 orders"].y) == [pytest.approx(v) for v in (200 / 3, 200, 300)]
    assert list(lines["D365 → WMS release"].y) == [50, 75, pytest.approx(250 / 3)]
    assert fig.layout.yaxis.type == "log"
    assert "100%" in fig.layout.yaxis.ticktext


def test_sync_lag_percent_axis_keeps_decades_when_the_range_is_wide() -> None:
    far = _series().assign(p95_seconds=[9.0, 900.0, 900.0 * 2000, 3600.0, 5400.0, 6000.0])
    fig = sync_lag_figure(far, _flows(), category=ALL_FLOWS)
    assert list(fig.layout.yaxis.ticktext) == ["1%", "10%", "100%", "1,000%", "10,000%", "100,000%"]


def test_sync_lag_all_flows_greys_out_flows_within_sla() -> None:
    calm = _flows().assign(p95_seconds=[100.0, 100.0, None])
    fig = sync_lag_figure(_series(), calm, category=ALL_FLOWS)
    flow_traces = [t for t in fig.data if t.name != "SLA (100%)"]
    assert {t.line.color for t in flow_traces} == {CONTEXT_GREY}
    assert [t.showlegend for t in flow_traces].count(True) == 1


def test_sync_lag_empty_category_says_no_data() -> None:
    fig = sync_lag_figure(_series(), _flows(), category="supply")
    assert fig.layout.annotations[0].text == NO_DATA


def test_queue_depth_splits_dlqs_into_their_own_panel() -> None:
    buckets = [T0, T0 + timedelta(hours=1)]
    series = pd.DataFrame(
        {
            "queue": ["orders.shopify"] * 2 + ["orders.shopify.dlq"] * 2 + ["release.wms.dlq"] * 2,
            "is_dlq": [False, False, True, True, True, True],
            "bucket": buckets * 3,
            "depth": [100, 300, 5, 40, 0, 0],
            "oldest_age_seconds": [1.0] * 6,
        }
    )
    fig = queue_depth_figure(series)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"orders.shopify", "orders.shopify.dlq"}  # an always-empty DLQ is left out
    assert by_name["orders.shopify"].yaxis == "y"
    assert by_name["orders.shopify.dlq"].yaxis == "y2"
    assert list(by_name["orders.shopify.dlq"].y) == [5, 40]
    assert fig.layout.yaxis2.title.text == "In DLQ"


def test_queue_depth_empty_range() -> None:
    fig = queue_depth_figure(pd.DataFrame(columns=["queue", "is_dlq", "bucket", "depth"]))
    assert fig.layout.annotations[0].text == NO_DATA


def test_sync_lag_all_flows_colours_at_most_the_worst_six() -> None:
    ids = [f"f{i}" for i in range(8)]
    flows = pd.DataFrame(
        {
            "flow_id": ids,
            "name": [f"Flow {i}" for i in range(8)],
            "category": ["orders"] * 8,
            "sla_seconds": [100] * 8,
            "p95_seconds": [200.0 + i for i in range(8)],  # all breaching; f7 worst
        }
    )
    series = pd.DataFrame({"flow_id": ids, "bucket": [T0] * 8, "p95_seconds": [150.0] * 8})
    fig = sync_lag_figure(series, flows, category=ALL_FLOWS)
    coloured = [t.name for t in fig.data if t.name not in ("SLA (100%)", "Other flows")]
    assert sorted(coloured) == [f"Flow {i}" for i in range(2, 8)]
    assert [t.line.color for t in fig.data if t.name == "Other flows"] == [CONTEXT_GREY] * 2
