"""Exception workbench: triage, replay and resolve what the integrations could not deliver.

The grid pages, sorts and filters on the server (AG Grid's infinite row model asks for one
block at a time and ``list_exceptions`` answers it); the filters, the open exception and
the selection live in the URL and in small stores of ids and filters, never rows. Actions
go through ``app/services`` (lifecycle and bulk functions inside a writer transaction,
replays with the process context), then the grid refreshes its block and a toast says
what happened. Shape (STYLE.md #7): register_page, ``layout(**query)`` without I/O,
callbacks that call the query layer or the services and hand the results to pure builders.

The callbacks live beside this page, one module per panel (``exceptions_grid``,
``exceptions_detail``, ``exceptions_bulk``, ``exceptions_glue``): Dash runs every module of
the pages folder for each app it builds, so each app gets them.
"""

from __future__ import annotations

import dash
from dash import dcc, html

from dashboards.app import current_ctx
from dashboards.components import workbench as wb
from dashboards.components import workbench_layout as wl
from dashboards.components.layout import page_header
from dashboards.workbench_common import DEFAULT_ACTOR, exception_id_of

dash.register_page(__name__, path="/exceptions", name="Exceptions", title="Exceptions · Flowwatch", order=10)


def layout(**query: str) -> html.Div:
    """The workbench for a URL query (filters, ``id`` of the open exception); no I/O."""
    flt = wb.filter_from_query(query)
    return html.Div(
        className="page ex-page",
        children=[
            dcc.Interval(id="ex-interval", interval=current_ctx().settings.refresh_seconds * 1000),
            dcc.Interval(id="ex-run-poll", interval=1000, disabled=True),
            dcc.Store(id="ex-filter", data=wb.query_from_filter(flt)),
            dcc.Store(id="ex-open", data=exception_id_of(query.get("id"))),
            dcc.Store(id="ex-scope", data="rows"),
            dcc.Store(id="ex-total", data=0),
            dcc.Store(id="ex-refresh", data=0),
            dcc.Store(id="ex-actor-store", storage_type="local"),
            dcc.Store(id="ex-detail-pending"),
            dcc.Store(id="ex-bulk-pending"),
            dcc.Store(id="ex-plan-selection"),
            dcc.Store(id="ex-run"),
            dcc.ConfirmDialog(id="ex-detail-confirm"),
            wl.bulk_confirmation(),
            page_header(
                "Exceptions",
                "Triage, replay and resolve what the integrations could not deliver",
                [
                    html.Span(id="ex-updated", className="updated", children="loading…"),
                    html.Label(
                        [
                            "Acting as",
                            dcc.Input(
                                id="ex-actor", value=DEFAULT_ACTOR, debounce=True, className="ex-input ex-input-sm"
                            ),
                        ],
                        className="ex-actor",
                    ),
                ],
            ),
            html.Div(id="ex-tiles", className="tiles ex-tiles"),
            html.Div(
                className="grid",
                children=[
                    wl.bulk_card(),
                    html.Section(
                        className="card span-12 ex-grid-card",
                        children=[wl.filters_bar(wb.controls_from_filter(flt)), wl.bulk_bar(), wl.grid()],
                    ),
                ],
            ),
            wl.drawer(),
            html.Div(id="ex-toast", className="ex-toast", **{"aria-live": "polite"}),
        ],
    )
