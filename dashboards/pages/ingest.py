"""Ingest: is data arriving, what was refused, and are the queue pollers healthy?

Counters are this server's since it started (the same numbers as /metrics); the chart
reads what the database received over the chosen range.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboards.app import current_ctx
from dashboards.components.ingest import broker_table, ingest_tiles, poller_table, received_figure, source_table
from dashboards.components.layout import card, graph, page_header
from dashboards.components.tiles import tile_component
from dashboards.theme import system_colors
from models.queries.alert_signals import system_names
from models.queries.common import RANGES, Window
from models.queries.ingest import received_per_bucket

dash.register_page(
    __name__, path="/ingest", name="Ingest", title="Ingest · Flowwatch", order=90,
    filters_note="Ingest counts what reaches Flowwatch, before it is an order of a channel, ERP or 3PL",
)  # fmt: skip

DEFAULT_INGEST_RANGE = "6h"


def layout(**query: str) -> html.Div:
    """The ingest panel for ``?range=6h|24h|7d|30d``."""
    range_ = query.get("range") if query.get("range") in RANGES else DEFAULT_INGEST_RANGE
    return html.Div(
        className="page",
        children=[
            dcc.Interval(id="in-interval", interval=current_ctx().settings.refresh_seconds * 1000),
            page_header(
                "Ingest",
                "Traces, business events, webhooks and queue samples arriving at Flowwatch",
                [
                    html.Span(id="in-updated", className="updated", children="loading…"),
                    dcc.RadioItems(
                        id="in-range", options=list(RANGES), value=range_, inline=True, className="segmented"
                    ),
                ],
            ),
            html.Div(id="in-tiles", className="tiles"),
            html.Div(
                className="grid",
                children=[
                    card(
                        "Events received",
                        "Per source system, each in its own colour; failed deliveries as a dashed line with × marks",
                        graph("in-received-chart", 320),
                        span=8,
                    ),
                    card("By ingest edge", "Since this server started", html.Div(id="in-sources"), span=4),
                    card(
                        "Queue pollers",
                        "Brokers and /metrics endpoints polled on a schedule",
                        html.Div(id="in-pollers", className="table-wrap"),
                        span=12,
                    ),
                    card(
                        "Broker consumers",
                        "Canonical events consumed from RabbitMQ or NATS JetStream; bad messages go to their DLQ",
                        html.Div(id="in-brokers", className="table-wrap"),
                        span=12,
                    ),
                ],
            ),
        ],
    )


@dash.callback(
    Output("in-tiles", "children"),
    Output("in-sources", "children"),
    Output("in-pollers", "children"),
    Output("in-brokers", "children"),
    Output("in-received-chart", "figure"),
    Output("in-updated", "children"),
    Input("in-range", "value"),
    Input("in-interval", "n_intervals"),
)
def _refresh(range_: str, _tick: int | None) -> tuple[Any, ...]:
    """Counters from the process, the received series from the database."""
    ctx = current_ctx()
    now = ctx.now()
    window = Window.named(range_, now=now)
    counts = ctx.counters.snapshot()
    pollers = ctx.pollers.statuses()
    tiles = ingest_tiles(
        counts,
        pending_rows=ctx.buffer.pending_rows,
        lag=ctx.counters.delivery_lag(),
        last_flush_seconds=ctx.buffer.stats.last_flush_seconds,
        pollers=pollers,
    )
    with ctx.engine.connect() as conn:
        received = received_per_bucket(conn, window=window)
        names = system_names(conn)
    return (
        [tile_component(t) for t in tiles],
        source_table(counts),
        poller_table(pollers, now=now),
        broker_table(ctx.brokers.statuses(), now=now),
        received_figure(received, x_range=(window.since, window.until), names=names, colors=system_colors(list(names))),
        f"Updated {now:%H:%M:%S} UTC",
    )
