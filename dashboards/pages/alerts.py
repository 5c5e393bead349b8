"""Alerts: rules with their state, what is firing, silences, channels (with a test button each) and the
notification log — the same data as ``GET /api/v1/alerts``."""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, dcc, html
from dash import ctx as dash_ctx

from app.services.alerts import overview
from dashboards.app import acts, can, current_ctx
from dashboards.components.alerts import (
    alerts_table,
    channel_cards,
    notifications_table,
    rules_table,
    silences_table,
)
from dashboards.components.layout import card, page_header
from models.enums import Access

dash.register_page(__name__, path="/alerts", name="Alerts", title="Alerts · Flowwatch", order=80)


def layout(**_query: str) -> html.Div:
    """The alerts page (no I/O here: the first refresh fills it)."""
    return html.Div(
        className="page",
        children=[
            dcc.Interval(id="al-interval", interval=current_ctx().settings.refresh_seconds * 1000),
            page_header(
                "Alerts",
                "What on-call is told, through which channel, and what is muted",
                [html.Span(id="al-updated", className="updated", children="loading…")],
            ),
            html.Div(
                className="grid",
                children=[
                    card(
                        "Firing and pending",
                        "Alerts by state",
                        html.Div(id="al-alerts", className="table-wrap"),
                        span=8,
                    ),
                    card(
                        "Channels",
                        "Health from the notification log",
                        html.Div(id="al-channels"),
                        span=4,
                        controls=html.Span(id="al-test-result", className="card-sub"),
                    ),
                    card(
                        "Rules",
                        "TOML and API rules with their state",
                        html.Div(id="al-rules", className="table-wrap"),
                        span=12,
                    ),
                    card(
                        "Silences",
                        "Create with POST /api/v1/alerts/silences (author, comment, end)",
                        html.Div(id="al-silences", className="table-wrap"),
                        span=12,
                    ),
                    card(
                        "Notification log",
                        "Each notification's channel, time, result and content",
                        html.Div(id="al-log", className="table-wrap"),
                        span=12,
                    ),
                ],
            ),
        ],
    )


@dash.callback(
    Output("al-alerts", "children"),
    Output("al-channels", "children"),
    Output("al-rules", "children"),
    Output("al-silences", "children"),
    Output("al-log", "children"),
    Output("al-updated", "children"),
    Input("al-interval", "n_intervals"),
    Input("al-test-result", "children"),
)
def _refresh(_tick: int | None, _tested: Any) -> tuple[Any, ...]:
    ctx = current_ctx()
    with ctx.engine.connect() as conn:
        data = overview(ctx, conn, notifications=50)
    now = data["as_of"]
    return (
        alerts_table(data["alerts"]),
        channel_cards(data["channels"], can_test=can(Access.ADMIN)),
        rules_table(data["rules"]),
        silences_table(data["silences"], now),
        notifications_table(data["notifications"]),
        f"Updated {now:%H:%M:%S} UTC",
    )


@dash.callback(
    Output("al-test-result", "children"),
    Input({"type": "al-test", "channel": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
@acts(Access.ADMIN)
def _send_test(clicks: list[int | None]) -> str:
    """Send a test notification through the channel whose button was pressed."""
    if not any(clicks) or not isinstance(dash_ctx.triggered_id, dict):
        return dash.no_update  # type: ignore[return-value]
    channel = dash_ctx.triggered_id["channel"]
    ctx = current_ctx()
    if ctx.alerts is None:
        return "alerting is not running"
    (result,) = ctx.alerts.send_test(ctx.now(), [channel])
    return f"{channel}: {'delivered' if result['ok'] else 'failed — ' + result['detail']}"
