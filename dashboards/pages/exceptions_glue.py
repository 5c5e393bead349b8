"""The workbench's browser-side glue: filters in the URL, grid refreshes, toasts.

Part of the workbench page, not a page of its own (it never calls dash.register_page): Dash runs
each pages-folder module that names register_page once per app it builds, so these callbacks
reach every app, as the page's own would.
"""

from __future__ import annotations

from dash import Input, Output, clientside_callback

# -- browser-side glue -------------------------------------------------------------------------
# Filters and the open exception go into the URL without a reload (a Location update would
# rebuild the page); a new filter empties the grid's cache so it asks the server again.
clientside_callback(
    """
    function (query, open) {
        const parts = Object.entries(query || {}).map(
            ([k, v]) => k + "=" + encodeURIComponent(v).replace(/%2C/g, ","));
        if (open) { parts.push("id=" + open); }
        // The global range is not the workbench's, but a link onwards keeps it.
        const range = new URLSearchParams(window.location.search).get("range");
        if (range) { parts.push("range=" + encodeURIComponent(range)); }
        const next = window.location.pathname + (parts.length ? "?" + parts.join("&") : "");
        if (next !== window.location.pathname + window.location.search) {
            window.fwPushState(next);
        }
    }
    """,
    Input("ex-filter", "data"),
    Input("ex-open", "data"),
)
clientside_callback(
    """
    function (query) {
        dash_ag_grid.getApiAsync("ex-grid").then(api => { api.deselectAll(); api.purgeInfiniteCache(); });
    }
    """,
    Input("ex-filter", "data"),
    prevent_initial_call=True,
)
# After an action (and on the refresh tick) the grid re-reads its loaded blocks: changed rows
# update in place, rows that left the filter go, and the total follows.
clientside_callback(
    """
    function (refresh, tick) {
        dash_ag_grid.getApiAsync("ex-grid").then(api => api.refreshInfiniteCache());
    }
    """,
    Input("ex-refresh", "data"),
    Input("ex-interval", "n_intervals"),
    prevent_initial_call=True,
)
clientside_callback(
    """
    function (n) { return n ? null : dash_clientside.no_update; }
    """,
    Output("ex-toast", "children", allow_duplicate=True),
    Input("ex-toast-close", "n_clicks"),
    prevent_initial_call=True,
)
