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

from dashboards.app import can, current_ctx, page_filters, scope_store
from dashboards.components import workbench as wb
from dashboards.components import workbench_layout as wl
from dashboards.components.filters import DIMENSIONS
from dashboards.components.layout import page_header
from dashboards.workbench_common import exception_id_of
from models.enums import Access

dash.register_page(
    __name__, path="/exceptions", name="Exceptions", title="Exceptions · Flowwatch", order=10,
    filters=("channel", "erp", "fulfiller"),
)  # fmt: skip


def layout(**query: str) -> html.Div:
    """The workbench for a URL query (filters, ``id`` of the open exception); no I/O."""
    filters = page_filters(query)
    flt = wb.filter_from_query({k: v for k, v in query.items() if k not in DIMENSIONS} | filters.scope.chosen())
    can_act = can(Access.ACT)  # a viewer gets no action buttons (and the callbacks refuse them anyway)
    return html.Div(
        className="page ex-page",
        children=[
            dcc.Interval(id="ex-interval", interval=current_ctx().settings.refresh_seconds * 1000),
            dcc.Interval(id="ex-run-poll", interval=1000, disabled=True),
            dcc.Store(id="ex-filter", data=wb.query_from_filter(flt)),
            scope_store(filters),
            dcc.Store(id="ex-open", data=exception_id_of(query.get("id"))),
            dcc.Store(id="ex-scope", data="rows"),
            dcc.Store(id="ex-total", data=0),
            dcc.Store(id="ex-refresh", data=0),
            dcc.Store(id="ex-detail-pending"),
            dcc.Store(id="ex-bulk-pending"),
            dcc.Store(id="ex-plan-selection"),
            dcc.Store(id="ex-run"),
            dcc.ConfirmDialog(id="ex-detail-confirm"),
            wl.bulk_confirmation(),
            page_header(
                "Exceptions",
                "Triage, replay and resolve what the integrations could not deliver",
                [html.Span(id="ex-updated", className="updated", children="loading…")],
            ),
            html.Div(id="ex-tiles", className="tiles ex-tiles"),
            html.Div(
                className="grid",
                children=[
                    wl.bulk_card(),
                    html.Section(
                        className="card span-12 ex-grid-card",
                        children=[
                            wl.filters_bar(wb.controls_from_filter(flt)),
                            wl.bulk_bar(can_act=can_act),
                            wl.grid(),
                        ],
                    ),
                ],
            ),
            wl.drawer(can_act=can_act),
            html.Div(id="ex-toast", className="ex-toast", **{"aria-live": "polite"}),
        ],
    )
