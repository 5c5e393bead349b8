"""Backlog forecast builder: per queue when it clears and what misses today's cut-off (Flows page)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from dash import dcc, html

from dashboards.components.format import fmt_duration, fmt_int
from models.queries.forecast import QueueForecast

#: Orders at risk named per queue before "and N more".
AT_RISK_LINKS = 5


def clears_text(f: QueueForecast, *, now: datetime) -> str:
    """'clear', 'in 1.3 h (13:20)' or 'not draining'."""
    if f.depth == 0:
        return "clear"
    if f.clears_at is None:
        return "not draining"
    return f"in {fmt_duration((f.clears_at - now).total_seconds())} ({f.clears_at:%H:%M})"


def cutoff_text(f: QueueForecast) -> str:
    """The cut-off and what misses it: '15:00 · all through', '12:30 · 12 miss', '14:00 passed' or '—'."""
    if f.cutoff is None:
        return "—"
    if f.cutoff_at is None:
        return f"{f.cutoff} passed"
    return f"{f.cutoff} · {fmt_int(f.misses_cutoff)} miss" if f.misses_cutoff else f"{f.cutoff} · all through"


def forecast_table(forecasts: Sequence[QueueForecast], *, now: datetime) -> html.Table | html.Div:
    """Queues that miss their cut-off first, then those not draining, then by depth."""
    if not forecasts:
        return html.Div("No queue samples in the last 30 minutes", className="empty-state")
    ordered = sorted(forecasts, key=lambda f: (-f.misses_cutoff, f.clears_at is not None, -f.depth, f.queue))
    rows = []
    for f in ordered:
        at_risk: list[object] = [
            dcc.Link(key, href=f"/orders?id={quote(key)}", className="order-link")
            for key in f.orders_at_risk[:AT_RISK_LINKS]
        ]
        if len(f.orders_at_risk) > AT_RISK_LINKS:
            at_risk.append(html.Span(f"and {fmt_int(len(f.orders_at_risk) - AT_RISK_LINKS)} more"))
        tone = "breach" if f.misses_cutoff else ("warning" if f.clears_at is None and f.depth else "ok")
        rows.append(
            html.Tr(
                className=f"row-{tone}",
                children=[
                    html.Td(f.queue),
                    html.Td(fmt_int(f.depth), className="num"),
                    html.Td(f"{f.arrivals_per_min:g} / {f.throughput_per_min:g}", className="num"),
                    html.Td(clears_text(f, now=now)),
                    html.Td(cutoff_text(f)),
                    html.Td(at_risk, className="fc-at-risk"),
                ],
                **{"data-queue": f.queue},
            )
        )
    head = html.Thead(html.Tr([html.Th("Queue"), html.Th("Depth", className="num"),
                               html.Th("In / out per min", className="num"), html.Th("Clears"),
                               html.Th("Today's cut-off"), html.Th("Orders at risk")]))  # fmt: skip
    return html.Table([head, html.Tbody(rows)], className="data-table fc-table")
