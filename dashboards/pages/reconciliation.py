"""Reconciliation: orders compared key by key from the storefront to the ERP, the WMS/3PL and shipment.

For an operations manager: per day and channel how many orders reached each system, and the gaps —
orders one system has and the next never got — each clickable down to the keys and on to the order
timeline. ``?days=&channel=`` sets the range; ``&day=&in=&stage=`` selects a gap.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dash
from dash import Input, Output, State, dcc, html
from sqlalchemy.engine import Connection

from dashboards.app import page_filters, scope_store, shared
from dashboards.components.layout import card, graph, page_header
from dashboards.components.reconciliation import DAY_CHOICES, funnel_figure, funnel_table, gap_keys
from models.queries.reconciliation import Reconciliation, reconcile

dash.register_page(
    __name__, path="/reconciliation", name="Reconciliation", title="Reconciliation · Flowwatch", order=35,
    filters=("channel",),
    filters_note="The funnel follows each channel's orders through every ERP and 3PL: only the channel narrows it",
)  # fmt: skip

DEFAULT_DAYS = 3


def _days(value: Any) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        return DEFAULT_DAYS
    return days if days in DAY_CHOICES else DEFAULT_DAYS


def layout(**query: str) -> html.Div:
    """The funnel for ``?days=`` and the global ``?channel=``, with the gap ``?day=&in=&stage=`` opened."""
    filters = page_filters(query)
    days = _days(query.get("days"))
    selection = {k: query.get(k) for k in ("day", "in", "stage")} if query.get("stage") else None
    return html.Div(
        className="page",
        children=[
            dcc.Store(id="rc-selection", data=selection),
            scope_store(filters),
            page_header(
                "Reconciliation",
                "Orders compared key by key: storefront → ERP → WMS / 3PL → shipped",
                [
                    html.Span(id="rc-label", className="updated", children="loading…"),
                    dcc.RadioItems(
                        id="rc-days",
                        options=[{"label": f"{d} d", "value": d} for d in DAY_CHOICES],
                        value=days,
                        inline=True,
                        className="segmented",
                    ),
                ],
            ),
            html.Div(
                className="grid",
                children=[
                    card(
                        "Funnel per day and channel",
                        "Orders that reached each stage; a gap lists the orders the next system never got",
                        html.Div(id="rc-funnel", className="table-wrap"),
                        span=8,
                    ),
                    card("Whole range", "Orders reached per stage, by channel", graph("rc-chart", 320), span=4),
                    card(
                        "Missing orders",
                        "Pick a gap above; each order opens its timeline",
                        html.Div(id="rc-keys", children=html.Div("No gap selected", className="empty-state")),
                        span=12,
                    ),
                ],
            ),
        ],
    )


@dash.callback(
    Output("rc-funnel", "children"),
    Output("rc-chart", "figure"),
    Output("rc-keys", "children"),
    Output("rc-label", "children"),
    Input("rc-days", "value"),
    State("fw-scope", "data"),
    State("rc-selection", "data"),
)
def _refresh(days: int, chosen: dict[str, str] | None, selection: dict[str, str] | None) -> tuple[Any, ...]:
    """The funnel of the range (of the global filter's channel), and the selected gap's keys."""
    days = _days(days)
    channel = (chosen or {}).get("channel")

    def read(conn: Connection, now: datetime) -> Reconciliation:
        return reconcile(conn, since=_since(now, days), until=now, now=now, channel=channel)

    now, result = shared(("reconciliation", days, channel), read)
    since = _since(now, days)
    keys: Any = html.Div("No gap selected", className="empty-state")
    if selection and selection.get("stage"):
        keys = gap_keys(result.gaps, day=str(selection.get("day")), channel=str(selection.get("in")),
                        stage=str(selection["stage"]))  # fmt: skip
    label = f"{since:%b %-d} – {now:%b %-d %H:%M} UTC · {len(result.gaps)} orders missing"
    return (
        funnel_table(result.funnel, result.stages, days=days, channel=channel),
        funnel_figure(result.funnel, result.stages),
        keys,
        label,
    )


def _since(now: datetime, days: int) -> datetime:
    """The first of the ``days`` calendar days (UTC) ending today."""
    return datetime(now.year, now.month, now.day) - timedelta(days=days - 1)
