"""Operations overview: is the order flow healthy right now, and if not, where does it hurt?

Shape (STYLE.md #7): register_page, ``layout(**query)`` without I/O, then callbacks
that read the query layer and hand DataFrames to the pure builders in components/.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, State, clientside_callback, dcc, html
from sqlalchemy.engine import Connection

from dashboards.app import current_ctx, page_filters, scope_of, scope_store, shared
from dashboards.components.charts import (
    ALL_FLOWS,
    aging_figure,
    queue_depth_figure,
    sync_lag_figure,
)
from dashboards.components.format import RANGE_LABELS
from dashboards.components.layout import card, graph, keyed_grid, page_header
from dashboards.components.static import static_html
from dashboards.components.tables import ATTENTION_COLUMNS, attention_rows, flow_table, queue_table
from dashboards.components.tiles import (
    TILE_LABELS,
    cycle_time_tile,
    exceptions_tile,
    in_flight_tile,
    orders_today_tile,
    queue_tile,
    skeleton_tile,
    tile_component,
    worst_lag_tile,
)
from models.queries.common import DEFAULT_RANGE, RANGES, Window
from models.queries.overview import (
    cycle_time,
    exception_aging,
    exception_totals,
    needs_attention,
    order_counts,
    queue_current,
    queue_depth_series,
    sync_lag_by_flow,
    sync_lag_series,
)

dash.register_page(
    __name__, path="/", name="Overview", title="Overview · Flowwatch", order=0, filters=("channel", "erp", "fulfiller")
)

CATEGORIES = ("orders", "fulfilment", "shipment", "invoice", "stock", "supply")


def layout(**query: str) -> html.Div:
    """The overview for ``?range=6h|24h|7d|30d`` (anything else falls back to 24h) and the global
    ``?channel=&erp=&fulfiller=``."""
    filters = page_filters(query)
    range_ = filters.range or DEFAULT_RANGE
    category_options = [{"label": "All flows · % of SLA", "value": ALL_FLOWS}] + [
        {"label": c.capitalize(), "value": c} for c in CATEGORIES
    ]
    return html.Div(
        className="page",
        children=[
            # Reading settings is not I/O: the context was built before the first request.
            dcc.Interval(id="ov-interval", interval=current_ctx().settings.refresh_seconds * 1000),
            scope_store(filters),
            page_header(
                "Operations overview",
                "Orders, integrations and exceptions across every system",
                [
                    html.Span(id="ov-updated", className="updated", children="loading…"),
                    dcc.RadioItems(
                        id="ov-range",
                        options=[{"label": k, "value": k} for k in RANGES],
                        value=range_,
                        inline=True,
                        className="segmented",
                    ),
                ],
            ),
            html.Div(
                id="ov-tiles",
                className="tiles",
                children=[skeleton_tile(key) for key in TILE_LABELS],
            ),
            html.Div(
                className="grid",
                children=[
                    card(
                        "Needs attention",
                        "Open exceptions hurting the most orders",
                        keyed_grid(
                            "ov-attention",
                            ATTENTION_COLUMNS,
                            row_id="exception_id",
                            empty_text="No open exceptions",
                        ),
                        span=8,
                    ),
                    card(
                        "Exception aging",
                        "Open and acknowledged, by time since first seen",
                        graph("ov-aging-chart", 340),
                        span=4,
                    ),
                    card(
                        "Sync lag p95 by flow",
                        "Time from one system's event to the next system's, against each flow's SLA",
                        graph("ov-lag-chart", 360),
                        span=12,
                        controls=dcc.Dropdown(
                            id="ov-category",
                            options=category_options,
                            value=ALL_FLOWS,
                            clearable=False,
                            searchable=False,
                            className="category-select",
                        ),
                    ),
                    card(
                        "Flow health",
                        "Steps completed in the range; health compares p95 with the SLA",
                        html.Div(id="ov-flow-table", className="table-wrap"),
                        span=7,
                    ),
                    card(
                        "Queues",
                        "Peak depth per bucket; dead-letter queues below",
                        html.Div([graph("ov-queue-chart", 400), html.Div(id="ov-queue-table")]),
                        span=5,
                    ),
                ],
            ),
        ],
    )


@dash.callback(
    Output("ov-tiles", "children"),
    Output("ov-flow-table", "children"),
    Output("ov-updated", "children"),
    Input("ov-range", "value"),
    Input("ov-interval", "n_intervals"),
    State("fw-scope", "data"),
)
def _refresh_summary(range_: str, _tick: int | None, chosen: dict[str, str] | None) -> tuple[list[html.Div], Any, str]:
    """Tiles and the flow table share one read of sync lag per flow."""
    ctx = current_ctx()
    now = ctx.now()
    window = Window.named(range_, now=now)
    scope = scope_of(chosen)
    with ctx.engine.connect() as conn:
        counts = order_counts(conn, now=now, window=window, scope=scope)
        cycle = cycle_time(conn, window=window, scope=scope)
        lag = sync_lag_by_flow(conn, window=window, scope=scope)
        totals = exception_totals(conn, now=now, scope=scope)
        queues = queue_current(conn, now=now, scope=scope)
    tiles = [
        orders_today_tile(counts, range_label=RANGE_LABELS[range_]),
        in_flight_tile(counts),
        cycle_time_tile(cycle),
        worst_lag_tile(lag),
        exceptions_tile(totals),
        queue_tile(queues),
    ]
    return [tile_component(t) for t in tiles], static_html(flow_table(lag)), f"Updated {now:%H:%M:%S} UTC"


@dash.callback(
    Output("ov-lag-chart", "figure"),
    Input("ov-range", "value"),
    Input("ov-category", "value"),
    Input("ov-interval", "n_intervals"),
    State("fw-scope", "data"),
)
def _refresh_lag(range_: str, category: str, _tick: int | None, chosen: dict[str, str] | None) -> Any:
    """p95 sync lag series of the chosen category against the flows' SLAs."""
    ctx = current_ctx()
    window = Window.named(range_, now=ctx.now())
    scope = scope_of(chosen)
    with ctx.engine.connect() as conn:
        series = sync_lag_series(conn, window=window, scope=scope)
        flows = sync_lag_by_flow(conn, window=window, scope=scope)
    return sync_lag_figure(series, flows, category=category, x_range=(window.since, window.until))


@dash.callback(
    Output("ov-aging-chart", "figure"),
    Output("ov-attention", "rowData"),
    Input("ov-range", "value"),
    Input("ov-interval", "n_intervals"),
    State("fw-scope", "data"),
)
def _refresh_exceptions(
    _range: str, _tick: int | None, chosen: dict[str, str] | None
) -> tuple[Any, list[dict[str, Any]]]:
    """Exceptions are a current state: the range does not filter them, refresh (and the scope) does.
    Shared a minute (read again at once after an operator's action or an exception the detector
    opens, re-opens or resolves): one aging and one ranking of every active exception serve every
    viewer of a scope. The ranking reads each exception's stored impact (``exception_impacts``)."""
    scope = scope_of(chosen)

    def read(conn: Connection, now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
        return exception_aging(conn, now=now, scope=scope), needs_attention(conn, now=now, limit=8, scope=scope)

    _, (aging, attention) = shared(("attention", scope), read)
    return aging_figure(aging), attention_rows(attention)


@dash.callback(
    Output("ov-queue-chart", "figure"),
    Output("ov-queue-table", "children"),
    Input("ov-range", "value"),
    Input("ov-interval", "n_intervals"),
    State("fw-scope", "data"),
)
def _refresh_queues(range_: str, _tick: int | None, chosen: dict[str, str] | None) -> tuple[Any, Any]:
    """Depth trend over the range, and each queue's latest sample."""
    ctx = current_ctx()
    now = ctx.now()
    window = Window.named(range_, now=now)
    scope = scope_of(chosen)
    with ctx.engine.connect() as conn:
        series = queue_depth_series(conn, window=window, scope=scope)
        current = queue_current(conn, now=now, scope=scope)
    return queue_depth_figure(series, x_range=(window.since, window.until)), static_html(queue_table(current))


# The range goes into the URL without a reload: a Dash Location update would make the
# pages router rebuild the whole layout, so the browser history is written directly.
clientside_callback(
    """
    function (value) {
        const params = new URLSearchParams(window.location.search);
        if ((params.get("range") || "DEFAULT_RANGE") === value) { return; }
        params.set("range", value);
        window.fwPushState(window.location.pathname + "?" + params.toString());
    }
    """.replace("DEFAULT_RANGE", DEFAULT_RANGE),
    Input("ov-range", "value"),
)
