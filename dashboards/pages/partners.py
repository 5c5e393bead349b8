"""Partners: every 3PL and supplier ranked by how it performed over the period, against the one before.

``?period=7d|30d`` sets the period. Each partner opens its own page (``/partners/<id>``, in
partner_detail.py) with its exceptions and orders. Shape (STYLE.md #7): register_page,
``layout(**query)`` without I/O, a callback that reads the query layer and hands the rows to
the pure builders in components/partners.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
from dash import Input, Output, clientside_callback, dcc, html

from dashboards.app import current_ctx, shared
from dashboards.components.layout import card, page_header
from dashboards.components.partners import (
    DEFAULT_PERIOD,
    PERIODS,
    list_tiles,
    partner_list,
    period_of,
    updated_line,
)
from models.queries.common import Window
from models.queries.partner_performance import partner_scorecards

dash.register_page(
    __name__, path="/partners", name="Partners", title="Partners · Flowwatch", order=35,
    filters_note="Partners ranks every 3PL and supplier against the others: open one for its own view",
)  # fmt: skip

#: How each column is measured, as the page explains it (the query module holds the definitions).
READING = (
    ("Event completeness", "of the confirmations due by the end of the period (a 3PL's shipment confirmation, "
     "a supplier's 855), the share that arrived"),
    ("Confirmation lag p95", "hours from hand-over to confirmation, 95th percentile, for confirmations in the period"),
    ("Error rate", "delivery attempts on the partner's flows, in either direction, that did not end ok"),
    ("ASN complete · Ack time", "suppliers only: acknowledged POs due an 856 that got one; median hours 850 → 855"),
    ("Orders · value", "orders first released to a 3PL (with their value), or POs first sent to a supplier"),
    ("Exceptions", "open or acknowledged now, by worst severity (a link to them in the workbench); under them, "
     "those first seen in the period"),
)  # fmt: skip


def layout(**query: str) -> html.Div:
    """The ranked partners for ``?period=``; no I/O."""
    period = period_of(query.get("period") or query.get("range"))  # the global range, when it is a period
    return html.Div(
        className="page",
        children=[
            dcc.Interval(id="pt-interval", interval=current_ctx().settings.refresh_seconds * 1000),
            page_header(
                "Partners",
                "Every 3PL and supplier, worst first, against the period before; open one for its exceptions",
                [
                    html.Span(id="pt-updated", className="updated", children="loading…"),
                    dcc.RadioItems(
                        id="pt-period",
                        options=[{"label": k, "value": k} for k in PERIODS],
                        value=period,
                        inline=True,
                        className="segmented",
                    ),
                ],
            ),
            html.Div(id="pt-tiles", className="tiles"),
            html.Div(
                className="grid",
                children=[
                    card(
                        "Partner scorecards",
                        "Ranked worst first: lowest event completeness, then error rate, then confirmation lag; "
                        "each change is against the previous period of the same length",
                        html.Div(id="pt-list"),
                        span=12,
                    ),
                    card(
                        "How these are measured",
                        "From the partners' own events and the exceptions Flowwatch opened for them",
                        html.Dl(
                            [x for head, text in READING for x in (html.Dt(head), html.Dd(text))],
                            className="pt-reading",
                        ),
                        span=12,
                    ),
                ],
            ),
        ],
    )


@dash.callback(
    Output("pt-tiles", "children"),
    Output("pt-list", "children"),
    Output("pt-updated", "children"),
    Input("pt-period", "value"),
    Input("pt-interval", "n_intervals"),
)
def _refresh(period: str | None, _tick: int | None) -> tuple[Any, ...]:
    """Every partner's scorecard for the period."""
    period = period_of(period)
    now, cards = shared_cards(period)
    return list_tiles(cards, period=period), partner_list(cards, period=period), updated_line(now)


def shared_cards(period: str) -> tuple[datetime, list[dict[str, Any]]]:
    """Every partner's scorecard for the period ending now, and that now (read once a minute for
    the list and every partner's page: :func:`~dashboards.app.shared`)."""
    engine = current_ctx().engine
    return shared(
        ("partners", period),
        lambda conn, now: partner_scorecards(conn, window=Window.named(period, now=now), engine=engine),
    )


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
    Input("pt-period", "value"),
)
