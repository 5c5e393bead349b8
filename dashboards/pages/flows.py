"""Flows: the map of the estate, every integration with its health, one flow's signals.

The entry is the flow map (systems as nodes, flows as edges in their health over the range;
hover for numbers, click an edge to open the flow), then the list of flows over the same range.
``?flow=<id>&range=24h`` opens a flow: the target and source systems' API latency and
errors, its queue, its sync lag against the SLA and the orders stuck in it, with the likely
cause of each open exception. Shape (STYLE.md #7): register_page, ``layout(**query)``
without I/O, callbacks that read the query layer and hand the results to pure builders.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_cytoscape as cyto
from dash import Input, Output, State, clientside_callback, dcc, html

from dashboards.app import current_ctx, page_filters, scope_of, scope_store, shared
from dashboards.components.charts import empty_figure
from dashboards.components.flow_map import (
    attention_list,
    edge_info,
    info_placeholder,
    map_elements,
    map_legend,
    map_stylesheet,
    map_summary,
    node_info,
)
from dashboards.components.flows import (
    FLOW_COLUMNS,
    exception_list,
    facts_component,
    flow_facts,
    flow_grid_rows,
    flow_heading,
    flow_status,
    flow_tiles,
    signals_figure,
)
from dashboards.components.forecast import forecast_table
from dashboards.components.format import RANGE_LABELS
from dashboards.components.layout import GRAPH_CONFIG, card, keyed_grid, page_header
from dashboards.components.tiles import tile_component
from dashboards.theme import ACCENT
from models.queries.common import DEFAULT_RANGE, RANGES, Window
from models.queries.correlation import flow_signals, likely_cause
from models.queries.flows import flow_definitions, flow_exceptions, flows_health, systems
from models.queries.forecast import backlog_forecast

dash.register_page(
    __name__, path="/flows", name="Flows", title="Flows · Flowwatch", order=20, filters=("channel", "erp", "fulfiller")
)

#: Open exceptions whose likely cause is looked up (each look-up reads a day of signals).
MAX_EXCEPTIONS = 6


def layout(**query: str) -> html.Div:
    """Every flow; ``?flow=<id>`` opens one, ``?range=6h|24h|7d|30d`` sets its signals' range."""
    filters = page_filters(query)
    range_ = filters.range or DEFAULT_RANGE
    return html.Div(
        className="page",
        children=[
            scope_store(filters),
            dcc.Interval(id="fl-interval", interval=current_ctx().settings.refresh_seconds * 1000),
            dcc.Store(id="fl-flow", data=query.get("flow") or None),
            page_header(
                "Flows",
                "Every integration step and its health over the range; open one to see why",
                [
                    html.Span(id="fl-updated", className="updated", children="loading…"),
                    dcc.RadioItems(
                        id="fl-range", options=list(RANGES), value=range_, inline=True, className="segmented"
                    ),
                ],
            ),
            html.Div(id="fl-tiles", className="tiles"),
            html.Div(
                id="fl-detail",
                className="grid fl-detail",
                hidden=True,
                children=[
                    html.Section(
                        className="card span-8",
                        children=[
                            html.Div(
                                className="card-head",
                                children=[
                                    html.Div([html.H2(id="fl-title"), html.P(id="fl-subtitle", className="card-sub")]),
                                    html.Button("All flows ✕", id="fl-close", className="button-quiet"),
                                ],
                            ),
                            dcc.Loading(
                                dcc.Graph(
                                    id="fl-signals",
                                    figure=empty_figure("Loading…"),
                                    config=GRAPH_CONFIG,
                                    style={"height": "680px"},
                                ),
                                type="dot",
                                color=ACCENT,
                                delay_show=500,
                            ),
                        ],
                    ),
                    html.Div(
                        className="span-4 fl-side",
                        children=[
                            card(
                                "At a glance",
                                "Over the range, and now from its signals",
                                html.Div(id="fl-facts"),
                                span=12,
                            ),
                            card(
                                "Open exceptions",
                                "What this flow's problems hurt, and the signal that moved first",
                                html.Div(id="fl-exceptions"),
                                span=12,
                            ),
                        ],
                    ),
                ],
            ),
            html.Div(
                className="grid fm-row",
                children=[
                    html.Section(
                        className="card span-8 fm-card",
                        children=[
                            html.Div(
                                className="card-head",
                                children=[
                                    html.Div([html.H2("Flow map"), html.P(id="fl-map-summary", className="card-sub")]),
                                ],
                            ),
                            cyto.Cytoscape(
                                id="fl-map",
                                elements=[],
                                layout={"name": "preset", "fit": True, "padding": 28},
                                stylesheet=map_stylesheet(),
                                style={"width": "100%", "height": "440px"},
                                userZoomingEnabled=False,
                                userPanningEnabled=False,
                                boxSelectionEnabled=False,
                                autoungrabify=True,
                                autounselectify=True,
                                responsive=True,
                                className="fm-map",
                            ),
                            map_legend(),
                        ],
                    ),
                    html.Section(
                        className="card span-4 fm-side",
                        children=[
                            html.Div(id="fl-map-info", children=info_placeholder()),
                            html.H2("Needs attention", className="fm-side-head"),
                            html.Div(id="fl-map-attention"),
                        ],
                    ),
                ],
            ),
            html.Div(
                className="grid",
                children=[
                    card(
                        "All flows",
                        "Over the range: steps completed, p95 sync lag against the SLA, deliveries that failed; "
                        "click a flow to open its signals",
                        keyed_grid(
                            "fl-grid",
                            FLOW_COLUMNS,
                            row_id="flow_id",
                            empty_text="No flows configured",
                            row_height=38,
                            class_name="fl-grid",
                            rowSelection={"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
                        ),
                        span=12,
                    ),
                    card(
                        "Backlog forecast",
                        "Per queue over the last 30 min: arrivals against deliveries, when it clears, and which "
                        "orders miss today's cut-off of the 3PL or warehouse (first in, first out)",
                        html.Div(id="fl-forecast", className="table-wrap"),
                        span=12,
                    ),
                ],
            ),
        ],
    )


@dash.callback(Output("fl-forecast", "children"), Input("fl-interval", "n_intervals"))
def _refresh_forecast(_tick: int | None) -> Any:
    """The backlog forecast as of now (its own callback: the flow grid does not wait for it)."""
    # a model fitted over days: once a minute is plenty
    now, forecast = shared(("forecast",), lambda conn, at: backlog_forecast(conn, now=at))
    return forecast_table(forecast, now=now)


@dash.callback(
    Output("fl-tiles", "children"),
    Output("fl-grid", "rowData"),
    Output("fl-updated", "children"),
    Output("fl-map", "elements"),
    Output("fl-map-summary", "children"),
    Output("fl-map-attention", "children"),
    Input("fl-interval", "n_intervals"),
    Input("fl-range", "value"),
    State("fw-scope", "data"),
)
def _refresh_list(_tick: int | None, range_: str, chosen: dict[str, str] | None) -> tuple[Any, ...]:
    """Health of every flow of the global filter's scope over the range, as tiles, map and list.

    The open flow is marked by ``_mark_open`` (no query), never here: a slow refresh that
    started before the flow was closed must not select it again when it lands.
    """
    ctx = current_ctx()
    now = ctx.now()
    range_ = range_ if range_ in RANGES else DEFAULT_RANGE
    with ctx.engine.connect() as conn:
        scope = scope_of(chosen)
        flows = flows_health(conn, now=now, window=Window.named(range_, now=now), scope=scope)
        estate = systems(conn, scope)
    tiles = [tile_component(t) for t in flow_tiles(flows, period=f"in the last {RANGE_LABELS[range_]}")]
    summary = f"{map_summary(flows)} · last {RANGE_LABELS[range_]}"
    rows = flow_grid_rows(flows)
    return tiles, rows, f"Updated {now:%H:%M:%S} UTC", map_elements(estate, flows), summary, attention_list(flows)


@dash.callback(
    Output("fl-grid", "selectedRows"),
    Output("fl-map", "stylesheet"),
    Input("fl-flow", "data"),
    Input("fw-theme", "data"),
)
def _mark_open(flow_id: str | None, theme: str | None) -> tuple[Any, ...]:
    """The open flow selected in the list and outlined on the map, drawn in the reader's theme."""
    return ([{"flow_id": flow_id}] if flow_id else []), map_stylesheet(selected=flow_id, theme=theme)


@dash.callback(
    Output("fl-map-info", "children"),
    Input("fl-map", "mouseoverEdgeData"),
    Input("fl-map", "mouseoverNodeData"),
    Input("fl-map", "tapNodeData"),
    State("fl-range", "value"),
    prevent_initial_call=True,
)
def _hover(edge: dict[str, Any] | None, node: dict[str, Any] | None, tapped: dict[str, Any] | None, range_: str) -> Any:
    """The flow or system under the pointer (or tapped, on a touch screen), in numbers from the
    element's data: no query."""
    if dash.ctx.triggered_id is None:
        return dash.no_update
    prop = dash.ctx.triggered[0]["prop_id"]
    if prop.endswith("tapNodeData"):
        return node_info(tapped)
    if prop.endswith("mouseoverNodeData"):
        return node_info(node)
    return edge_info(edge, RANGE_LABELS.get(range_, range_))


@dash.callback(
    Output("fl-flow", "data"),
    Input("fl-grid", "selectedRows"),
    Input("fl-map", "tapEdgeData"),
    Input("fl-close", "n_clicks"),
    State("fl-flow", "data"),
    prevent_initial_call=True,
)
def _select(
    selected: list[dict[str, Any]] | None, tapped: dict[str, Any] | None, _close: int | None, current: str | None
) -> Any:
    """A clicked row or map edge opens its flow; the close button goes back to the map and list.

    Several inputs can fire in one batch (the grid re-reports its selection when a refresh
    replaces its rows): a close among them wins, then a tap on the map.
    """
    fired = dash.ctx.triggered_prop_ids
    if "fl-close.n_clicks" in fired:
        return None
    if "fl-map.tapEdgeData" in fired:
        flow_id = (tapped or {}).get("flow_id")
    else:
        flow_id = selected[0]["flow_id"] if selected else None
    return dash.no_update if flow_id is None or flow_id == current else flow_id


# Whether the detail shows follows the open flow at once, in the browser: a slow signals refresh
# that started before the flow was closed cannot show it again when its answer lands.
clientside_callback("function (flow) { return !flow; }", Output("fl-detail", "hidden"), Input("fl-flow", "data"))


@dash.callback(
    Output("fl-title", "children"),
    Output("fl-subtitle", "children"),
    Output("fl-signals", "figure"),
    Output("fl-facts", "children"),
    Output("fl-exceptions", "children"),
    Input("fl-flow", "data"),
    Input("fl-range", "value"),
    Input("fl-interval", "n_intervals"),
    State("fw-scope", "data"),
)
def _refresh_detail(
    flow_id: str | None, range_: str, _tick: int | None, chosen: dict[str, str] | None
) -> tuple[Any, ...]:
    """The open flow's signals over the range, and the likely cause of each of its open exceptions; its
    health counts the global filter's orders (all of them when the flow is outside the filter)."""
    if not flow_id:
        return (dash.no_update,) * 5
    ctx = current_ctx()
    now = ctx.now()
    window = Window.named(range_, now=now)
    with ctx.engine.connect() as conn:
        definitions = flow_definitions(conn).set_index("flow_id", drop=False)
        if flow_id not in definitions.index:
            message = f"No flow is configured with the id “{flow_id}”"
            return "Unknown flow", message, empty_figure(message), html.Div(), html.Div()
        health = {f["flow_id"]: f for f in flows_health(conn, now=now, window=window, scope=scope_of(chosen))}
        if flow_id not in health:
            health = {f["flow_id"]: f for f in flows_health(conn, now=now, window=window)}
        signals = flow_signals(conn, flow_id=flow_id, window=window)
        exceptions = flow_exceptions(conn, flow_id=flow_id, now=now, limit=MAX_EXCEPTIONS)
        causes = {int(i): likely_cause(conn, exception_id=int(i)) for i in exceptions["exception_id"]}
    flow = definitions.loc[flow_id].to_dict()
    title, line = flow_heading(flow, flow_status(health[flow_id]))
    figure = signals_figure(signals, flow, x_range=(window.since, window.until), exceptions=exceptions)
    facts = facts_component(flow_facts(health[flow_id], signals, period=range_))
    listing = exception_list(exceptions, causes, total=health[flow_id]["open_exceptions"])
    return title, line, figure, facts, listing


# The flow and range go into the URL without a reload (a Location update would rebuild the
# page); opening a flow from the list below scrolls its signals into view.
clientside_callback(
    """
    function (flow, range) {
        const params = new URLSearchParams(window.location.search);
        const changed = (params.get("flow") || null) !== (flow || null);
        if (!changed && (params.get("range") || "DEFAULT_RANGE") === range) { return; }
        if (flow) { params.set("flow", flow); } else { params.delete("flow"); }
        params.set("range", range);
        window.fwPushState(window.location.pathname + "?" + params.toString());
        if (changed && flow) {
            requestAnimationFrame(() => document.getElementById("fl-detail").scrollIntoView({behavior: "smooth"}));
        }
    }
    """.replace("DEFAULT_RANGE", DEFAULT_RANGE),
    Input("fl-flow", "data"),
    Input("fl-range", "value"),
)
