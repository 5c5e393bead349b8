"""Order timeline: find an order (or PO, trace, message) and follow it across every system.

``?id=SHP-1000123`` opens a key's timeline; ``?q=SHP-10001`` repeats a search. Shape
(STYLE.md #7): register_page, ``layout(**query)`` without I/O, callbacks that read the
query layer and hand its dicts to the pure builders in components/timeline.py.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, clientside_callback, dcc, html

from dashboards.app import current_ctx, page_filters, scope_of, scope_store
from dashboards.components.layout import card, page_header
from dashboards.components.tiles import tile_component
from dashboards.components.timeline import (
    KIND_LABELS,
    events_table,
    exception_items,
    lifecycle,
    lifecycle_strip,
    no_match,
    search_results,
    timeline_tiles,
)
from models.queries.flows import flow_definitions
from models.queries.timeline import MIN_SEARCH, find_orders, order_timeline

dash.register_page(
    __name__, path="/orders", name="Orders", title="Order timeline · Flowwatch", order=30,
    filters=("channel", "erp", "fulfiller"),
)  # fmt: skip

SEARCH_LIMIT = 25
HINT = (
    "Search by order number (SHP-1000123, ADB-2000045, B2B-3000012), PO number (PO-4500013), "
    "the trace id of a span or the id of a message; a prefix of three characters or more lists every match."
)


def layout(**query: str) -> html.Div:
    """The timeline of ``?id=``, and the search box holding ``?q=``."""
    key = query.get("id") or None
    text = query.get("q") or ""
    return html.Div(
        className="page",
        children=[
            scope_store(page_filters(query)),
            dcc.Store(id="or-key", data=key),
            dcc.Store(id="or-submitted", data=text or None),
            page_header(
                "Order timeline",
                "One order's story across storefront, ERP, warehouse and 3PL: events, spans, exceptions, queues",
                [
                    html.Div(
                        className="or-search",
                        children=[
                            dcc.Input(
                                id="or-search",
                                type="search",
                                value=text,
                                debounce=True,
                                autoFocus=not key,
                                placeholder="Order, PO, trace or message id",
                                autoComplete="off",
                                className="or-search-input",
                            ),
                            html.Button("Find", id="or-find", className="button-primary"),
                        ],
                    ),
                ],
            ),
            html.Div(
                id="or-results-card",
                className="grid or-block",
                hidden=True,
                children=[
                    card("Search results", "Click a key to open its timeline", html.Div(id="or-results"), span=12)
                ],
            ),
            html.Div(id="or-empty", className="grid or-block", hidden=bool(key)),
            html.Div(
                id="or-pending",
                className="or-pending",
                hidden=not key,
                role="status",
                children=[
                    html.Div(
                        id="or-pending-text",
                        className="or-pending-text",
                        children=f"Loading the timeline of {key}…" if key else "",
                    ),
                    html.Div([html.Div(className="tile skeleton-tile") for _ in range(4)], className="tiles"),
                    html.Div(className="card skeleton-card"),
                ],
            ),
            html.Div(
                id="or-view",
                hidden=True,
                children=[
                    html.Div(id="or-tiles", className="tiles"),
                    html.Div(
                        className="grid",
                        children=[
                            html.Section(
                                className="card span-8",
                                children=[
                                    html.Div(
                                        [html.H2(id="or-title"), html.P(id="or-route", className="card-sub")],
                                        className="card-head",
                                    ),
                                    html.Div(id="or-strip"),
                                ],
                            ),
                            card(
                                "Exceptions",
                                "Raised on this key, open ones first",
                                html.Div(id="or-exceptions"),
                                span=4,
                            ),
                            card(
                                "Events and spans",
                                "Business events in time order; beside each, the spans of its "
                                "trace and the depth of its flow's queues at that moment",
                                html.Div(id="or-events", className="table-wrap"),
                                span=12,
                            ),
                        ],
                    ),
                ],
            ),
        ],
    )


@dash.callback(
    Output("or-results", "children"),
    Output("or-results-card", "hidden"),
    Output("or-key", "data", allow_duplicate=True),
    Output("or-submitted", "data"),
    Input("or-search", "value"),
    Input("or-find", "n_clicks"),
    Input({"type": "or-result", "key": ALL}, "n_clicks"),
    State("or-key", "data"),
    State("fw-scope", "data"),
    prevent_initial_call="initial_duplicate",
)
def _search(
    text: str | None, _find: int | None, clicks: list[int | None], key: str | None, chosen: dict[str, str] | None
) -> tuple[Any, ...]:
    """Search on Enter or Find; a single exact match opens at once, a clicked result opens its key."""
    trigger = dash.ctx.triggered_id
    if isinstance(trigger, dict):  # a result row
        if not any(clicks):
            return dash.no_update, dash.no_update, dash.no_update, dash.no_update
        return dash.no_update, True, trigger["key"], dash.no_update
    query = (text or "").strip()
    if not query or (trigger is None and key):  # first load of a timeline: keep the box, skip the list
        return [], True, dash.no_update, query or None
    if len(query) < MIN_SEARCH:
        return html.Div(f"Type at least {MIN_SEARCH} characters", className="empty-state"), False, None, None
    with current_ctx().engine.connect() as conn:
        results = find_orders(conn, query=query, limit=SEARCH_LIMIT, scope=scope_of(chosen))
    exact = {r["correlation_id"] for r in results if r["match"] == "exact"}
    found = search_results(results, query, limit=SEARCH_LIMIT)
    if len(exact) == 1:
        return found, True, exact.pop(), query
    # A new search closes the previous order: its timeline must not stay under the new results.
    return found, False, None, query


@dash.callback(
    Output("or-view", "hidden"),
    Output("or-empty", "hidden"),
    Output("or-empty", "children"),
    Output("or-tiles", "children"),
    Output("or-title", "children"),
    Output("or-route", "children"),
    Output("or-strip", "children"),
    Output("or-exceptions", "children"),
    Output("or-events", "children"),
    Output("or-view", "className", allow_duplicate=True),
    Output("or-pending", "hidden", allow_duplicate=True),
    Input("or-key", "data"),
    prevent_initial_call="initial_duplicate",
)
def _timeline(key: str | None) -> tuple[Any, ...]:
    """The key's events, spans, exceptions and queues, or why there is nothing to show."""
    if not key:
        hint = card("Find an order", "Every event, span and exception of one business key", html.P(HINT), span=12)
        return True, False, hint, *([dash.no_update] * 6), "", True
    ctx = current_ctx()
    with ctx.engine.connect() as conn:
        timeline = order_timeline(conn, correlation_id=key)
        flows = flow_definitions(conn)
    if timeline is None:
        empty = html.Section(no_match(key), className="card span-12")
        return True, False, empty, *([dash.no_update] * 6), "", True
    flow_steps = {f.flow_id: (f.start_event, f.end_event) for f in flows.itertuples()}
    stages, legs = lifecycle(timeline, now=ctx.now(), flow_steps=flow_steps)
    route = " → ".join(s["name"] for s in timeline["systems"])
    return (
        False,
        True,
        dash.no_update,
        [tile_component(t) for t in timeline_tiles(timeline, stages, legs)],
        [html.Span(key, className="or-key"), html.Span(KIND_LABELS[timeline["kind"]], className="or-facts")],
        f"Systems touched: {route}" if route else "No system recorded",
        lifecycle_strip(stages, legs),
        exception_items(timeline),
        events_table(timeline),
        "",
        True,
    )


# While a key loads, the previous order's timeline is put away at once and a loading state
# names the key being fetched; the timeline callback clears both when it answers. (On or-key
# alone: a callback that also listened to the timeline's output would wait for it.)
clientside_callback(
    """
    function (key) {
        return [key ? "or-stale" : "", !key, key ? "Loading the timeline of " + key + "…" : ""];
    }
    """,
    Output("or-view", "className"),
    Output("or-pending", "hidden"),
    Output("or-pending-text", "children"),
    Input("or-key", "data"),
)


# The key and the search go into the URL without a reload (a Location update would rebuild the page).
clientside_callback(
    """
    function (key, query) {
        const params = new URLSearchParams(window.location.search);
        if ((params.get("id") || null) === (key || null) && (params.get("q") || null) === (query || null)) { return; }
        if (key) { params.set("id", key); } else { params.delete("id"); }
        if (query) { params.set("q", query); } else { params.delete("q"); }
        const search = params.toString();
        window.fwPushState(window.location.pathname + (search ? "?" + search : ""));
        if (key) { window.scrollTo({top: 0, behavior: "smooth"}); }
    }
    """,
    Input("or-key", "data"),
    Input("or-submitted", "data"),
)
