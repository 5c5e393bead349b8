"""One partner's scorecard (``/partners/<id>?period=7d|30d``): every measure against the period
before, its flows, its open exceptions (and a link to them in the workbench) and the orders or
purchase orders it was handed, waiting ones first. Not in the top bar: reached from /partners,
the flow map and links. Shape (STYLE.md #7): register_page, ``layout(**query)`` without I/O,
one callback that reads the query layer and hands the results to components/partners.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import dash
from dash import Input, Output, State, clientside_callback, dcc, html
from sqlalchemy.engine import Connection

from dashboards.app import current_ctx, shared
from dashboards.components.layout import card
from dashboards.components.partners import (
    DEFAULT_PERIOD,
    PERIODS,
    confirm_sla,
    partner_exceptions,
    partner_flows,
    partner_heading,
    partner_orders_table,
    partner_tiles,
    period_of,
    updated_line,
)
from dashboards.components.workbench import filter_from_query
from dashboards.pages.partners import shared_cards
from models.queries.common import Window, read_each
from models.queries.exceptions import list_exceptions
from models.queries.flows import flows_health
from models.queries.partner_performance import partner_orders

dash.register_page(
    __name__,
    path_template="/partners/<partner>",
    name="Partner",
    title="Partner · Flowwatch",
    order=36,
    filters_note="One partner's own view: its flows, exceptions and orders",
    nav=False,
)

#: Open exceptions and orders listed on the page (the workbench and the order search hold the rest).
MAX_EXCEPTIONS, MAX_ORDERS = 8, 25


def layout(partner: str | None = None, **query: str) -> html.Div:
    """The partner named in the path, for ``?period=``; no I/O."""
    period = period_of(query.get("period") or query.get("range"))  # the global range, when it is a period
    return html.Div(
        className="page",
        children=[
            dcc.Interval(id="pd-interval", interval=current_ctx().settings.refresh_seconds * 1000),
            dcc.Store(id="pd-partner", data=partner),
            html.Div(
                className="page-header",
                children=[
                    html.Div(
                        [
                            dcc.Link(
                                "← All partners", href=f"/partners?period={period}", className="pd-back", id="pd-back"
                            ),
                            html.H1(id="pd-title", children=partner or "Partner"),
                            html.P(id="pd-subtitle", className="page-sub"),
                        ]
                    ),
                    html.Div(
                        className="page-controls",
                        children=[
                            html.Span(id="pd-updated", className="updated", children="loading…"),
                            dcc.RadioItems(
                                id="pd-period",
                                options=[{"label": k, "value": k} for k in PERIODS],
                                value=period,
                                inline=True,
                                className="segmented",
                            ),
                        ],
                    ),
                ],
            ),
            html.Div(id="pd-tiles", className="tiles pt-tiles"),
            html.Div(id="pd-missing"),
            html.Div(
                id="pd-body",
                className="grid pd-body",
                children=[
                    card(
                        "Open exceptions",
                        "Open and acknowledged now, most severe first; each opens in the workbench",
                        html.Div(id="pd-exceptions"),
                        span=7,
                    ),
                    card(
                        "Its flows",
                        "Health over the period of every flow to or from this partner",
                        html.Div(id="pd-flows"),
                        span=5,
                    ),
                    card(
                        "Handed over in the period",
                        "Waiting for the partner first (longest first), then the latest; each opens its timeline",
                        html.Div(id="pd-orders"),
                        span=12,
                    ),
                ],
            ),
        ],
    )


@dash.callback(
    Output("pd-title", "children"),
    Output("pd-subtitle", "children"),
    Output("pd-tiles", "children"),
    Output("pd-exceptions", "children"),
    Output("pd-flows", "children"),
    Output("pd-orders", "children"),
    Output("pd-updated", "children"),
    Output("pd-back", "href"),
    Output("pd-body", "hidden"),
    Output("pd-missing", "children"),
    Input("pd-period", "value"),
    Input("pd-interval", "n_intervals"),
    State("pd-partner", "data"),
)
def _refresh(period: str | None, _tick: int | None, partner: str | None) -> tuple[Any, ...]:
    """The partner's measures, flows, open exceptions and handed-over orders for the period."""
    ctx = current_ctx()
    period = period_of(period)
    now, scored = shared_cards(period)  # the list's read: one a minute for every partner's page
    back = f"/partners?period={period}"
    found = {c["partner"]: c for c in scored}.get(partner or "")
    if found is None:
        message = html.Section(
            html.Div(
                [f"No 3PL or supplier has the id “{partner}”. ", dcc.Link("See every partner", href=back)],
                className="empty-state",
            ),
            className="card",
        )
        return "Unknown partner", "", [], None, None, None, updated_line(now), back, True, message
    pid = found["partner"]
    flt = filter_from_query({"system": pid})  # the workbench's own view of the link
    kind = found["kind"]

    def period_reads(conn: Connection, at: datetime) -> list[Any]:
        """The partner's flows and the orders handed to it over the period (shared like the list)."""
        w = Window.named(period, now=at)
        reads: list[Callable[[Connection], Any]] = [
            lambda c: flows_health(c, now=at, window=w, system=pid),  # this partner's flows only
            lambda c: partner_orders(c, partner=pid, kind=kind, window=w, now=at, limit=MAX_ORDERS),
        ]
        return read_each(conn, reads, ctx.engine)

    _, (flows, orders) = shared(("partner", pid, period), period_reads)
    with ctx.engine.connect() as conn:  # its open exceptions: live, as the workbench shows them
        page = list_exceptions(conn, flt, now=ctx.now(), sort="severity", limit=MAX_EXCEPTIONS)
    title, subtitle = partner_heading(found)
    return (
        title,
        subtitle,
        partner_tiles(found, period=period),
        partner_exceptions(page.items, total=page.total, partner=found["partner"]),
        partner_flows(flows, found["partner"]),
        partner_orders_table(orders, kind=kind, sla_seconds=confirm_sla(flows, found["partner"], kind)),
        updated_line(now),
        back,
        False,
        None,
    )  # fmt: skip


# The period goes into the URL without a reload, so a pasted link reproduces the view.
clientside_callback(
    """
    function (period) {
        const params = new URLSearchParams(window.location.search);
        if ((params.get("period") || "DEFAULT") === period) { return; }
        params.set("period", period);
        window.fwPushState(window.location.pathname + "?" + params.toString(), true);
    }
    """.replace("DEFAULT", DEFAULT_PERIOD),
    Input("pd-period", "value"),
)
