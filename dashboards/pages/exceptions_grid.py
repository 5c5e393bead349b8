"""The workbench grid and its filters: options, URL-backed filters, paging on the server, selection, tiles.

Part of the workbench page, not a page of its own (it never calls dash.register_page): Dash runs
each pages-folder module that names register_page once per app it builds, so these callbacks
reach every app, as the page's own would.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, html

from dashboards.app import current_ctx, scope_of
from dashboards.components import workbench as wb
from dashboards.components.tiles import tile_component
from dashboards.workbench_common import FILTERS
from models.queries.exceptions import list_exceptions
from models.queries.flows import flow_definitions
from models.queries.overview import exception_totals


# -- the grid and its filters ----------------------------------------------------------------
@dash.callback(
    Output("ex-f-flow", "options"),
    Output("ex-f-system", "options"),
    Input("ex-f-flow", "id"),
)
def _options(_id: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Flow and system pickers from the flow definitions (once per page load)."""
    with current_ctx().engine.connect() as conn:
        flows = flow_definitions(conn).to_dict("records")
    return wb.filter_options(flows)


@dash.callback(
    Output("ex-filter", "data"),
    Output("ex-scope", "data", allow_duplicate=True),
    *(Input(f"ex-f-{name}", "value") for name in FILTERS),
    State("ex-filter", "data"),
    State("fw-scope", "data"),
    prevent_initial_call=True,
)
def _filters(*values: Any) -> tuple[Any, Any]:
    """The filter bar (and the page's global filter) → the canonical URL query (which the grid reads);
    a new filter drops the selection."""
    query = wb.query_from_controls(dict(zip(FILTERS, values[:-2], strict=True)) | (values[-1] or {}))
    if query == values[-2]:
        return dash.no_update, dash.no_update
    return query, "rows"


@dash.callback(
    *(Output(f"ex-f-{name}", "value", allow_duplicate=True) for name in FILTERS),
    Input("ex-f-reset", "n_clicks"),
    prevent_initial_call=True,
)
def _reset(_clicks: int) -> tuple[Any, ...]:
    """Back to the default view: open and acknowledged, everything else any."""
    values = wb.controls_from_filter(wb.filter_from_query({}))
    return tuple(values[name] for name in FILTERS)


@dash.callback(
    Output("ex-grid", "getRowsResponse"),
    Output("ex-total", "data"),
    Output("ex-grid", "style"),
    Input("ex-grid", "getRowsRequest"),
    State("ex-filter", "data"),
)
def _rows(request: dict[str, Any] | None, query: dict[str, str] | None) -> tuple[Any, Any, Any]:
    """One block of the filtered, sorted exceptions, how many match in all, and a grid that fits them."""
    if not request:
        raise dash.exceptions.PreventUpdate
    ctx = current_ctx()
    offset, limit, sort, descending = wb.page_request(request)
    with ctx.engine.connect() as conn:
        page = list_exceptions(conn, wb.filter_from_query(query or {}), now=ctx.now(), sort=sort,
                               descending=descending, offset=offset, limit=limit)  # fmt: skip
        systems = wb.system_names(flow_definitions(conn).to_dict("records"))
    rows = {"rowData": wb.grid_rows(page.items, systems), "rowCount": page.total}
    return rows, page.total, {"height": f"{wb.grid_height(page.total)}px"}


@dash.callback(
    Output("ex-selection", "children"),
    Output("ex-select-all", "children"),
    Output("ex-select-all", "hidden"),
    Output("ex-bulk-assign", "disabled"),
    Output("ex-bulk-resolve", "disabled"),
    Output("ex-bulk-ignore", "disabled"),
    Output("ex-bulk-replay", "disabled"),
    Input("ex-grid", "selectedRows"),
    Input("ex-scope", "data"),
    Input("ex-total", "data"),
)
def _selection(rows: list[dict[str, Any]] | None, scope: str, total: int) -> tuple[Any, ...]:
    """'N selected / M matching', the select-all-matching switch, and which bulk buttons apply."""
    everything = scope == "all"
    selected = len(rows or [])
    size = wb.selection_size(selected, total or 0, all_matching=everything)
    switch = "Clear selection" if everything else f"Select all {total:,} matching"
    hidden = not everything and (not total or selected >= total)
    return (wb.selection_summary(selected, total or 0, all_matching=everything), switch, hidden,
            *([size == 0] * 4))  # fmt: skip


@dash.callback(
    Output("ex-scope", "data", allow_duplicate=True),
    Output("ex-grid", "deselectAll", allow_duplicate=True),
    Input("ex-select-all", "n_clicks"),
    Input("ex-grid", "selectedRows"),
    State("ex-scope", "data"),
    prevent_initial_call=True,
)
def _scope(_clicks: int | None, _rows: Any, scope: str) -> tuple[Any, Any]:
    """'Select all M matching' widens the selection to the filter; clearing it, or ticking rows, narrows it."""
    if dash.ctx.triggered_id == "ex-select-all":
        return ("rows", True) if scope == "all" else ("all", dash.no_update)
    return ("rows" if scope == "all" else dash.no_update), dash.no_update


@dash.callback(
    Output("ex-tiles", "children"),
    Output("ex-updated", "children"),
    Input("ex-interval", "n_intervals"),
    Input("ex-refresh", "data"),
    State("fw-scope", "data"),
)
def _tiles(_tick: int | None, _refresh: Any, chosen: dict[str, str] | None) -> tuple[list[html.Div], str]:
    """The active counts (of the global filter's scope); they move after every action and with detection."""
    ctx = current_ctx()
    now = ctx.now()
    with ctx.engine.connect() as conn:
        totals = exception_totals(conn, now=now, scope=scope_of(chosen))
    return [tile_component(t) for t in wb.workbench_tiles(totals)], f"Updated {now:%H:%M:%S} UTC"
