"""Builders of the Ingest panel: what arrived, what was refused, and whether pollers are healthy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import html

from dashboards.components.charts import empty_figure
from dashboards.components.format import fmt_duration, fmt_int
from dashboards.components.tables import badge
from dashboards.components.tiles import Tile
from dashboards.theme import SERIES_COLORS, TEMPLATE

#: Counter sources in the order a person reads them; webhooks follow, by adapter.
SOURCE_LABELS = {"events": "Events API", "traces": "OTLP traces", "queue_samples": "Queue samples"}


def ingest_tiles(
    counts: Mapping[str, Mapping[str, int]],
    *,
    pending_rows: int,
    lag: tuple[float, int],
    last_flush_seconds: float,
    pollers: Sequence[Any],
) -> list[Tile]:
    """Accepted, rejected, duplicates (since start), rows waiting to commit, delivery lag, pollers."""
    total = {k: sum(c.get(k, 0) for c in counts.values()) for k in ("accepted", "rejected", "duplicates")}
    seen = sum(total.values())
    rejected_share = total["rejected"] / seen if seen else 0.0
    lag_sum, lag_n = lag
    return [
        Tile("accepted", "Accepted", fmt_int(total["accepted"]), "records since this server started", "ok"),
        Tile(
            "rejected",
            "Rejected",
            fmt_int(total["rejected"]),
            f"{rejected_share:.1%} of records received" if seen else "nothing received yet",
            "breach" if rejected_share > 0.05 else "warning" if total["rejected"] else "neutral",
        ),
        Tile("duplicates", "Duplicates", fmt_int(total["duplicates"]), "re-sent, stored once", "neutral"),
        Tile(
            "pending",
            "Waiting to commit",
            fmt_int(pending_rows),
            f"last commit took {last_flush_seconds * 1000:.0f} ms",
            "warning" if pending_rows > 100_000 else "neutral",
        ),
        Tile(
            "delivery_lag",
            "Mean delivery lag",
            fmt_duration(lag_sum / lag_n) if lag_n else "—",
            "received − occurred, events since start",
            "neutral",
        ),
        _pollers_tile(pollers),
    ]


def _pollers_tile(pollers: Sequence[Any]) -> Tile:
    failing = sum(1 for p in pollers if poller_health(p.consecutive_failures, p.last_ok_at) == "breach")
    if not pollers:
        return Tile("pollers", "Queue pollers", "—", "none configured; samples may be pushed", "idle")
    return Tile(
        "pollers",
        "Queue pollers",
        f"{len(pollers) - failing} / {len(pollers)}",
        f"{failing} failing, backing off" if failing else "all polling",
        "breach" if failing else "ok",
    )


def source_table(counts: Mapping[str, Mapping[str, int]]) -> html.Div | html.Table:
    """One row per ingest edge: accepted, rejected, duplicates."""
    if not counts:
        return html.Div("Nothing received since this server started", className="empty-state")
    order = [s for s in SOURCE_LABELS if s in counts] + sorted(s for s in counts if s not in SOURCE_LABELS)
    rows = [
        html.Tr(
            [
                html.Td(_source_label(source)),
                html.Td(fmt_int(counts[source].get("accepted", 0)), className="num"),
                html.Td(fmt_int(counts[source].get("rejected", 0)), className="num"),
                html.Td(fmt_int(counts[source].get("duplicates", 0)), className="num"),
            ]
        )
        for source in order
    ]
    head = [("Source", ""), ("Accepted", "num"), ("Rejected", "num"), ("Duplicates", "num")]
    return html.Table(
        className="data-table",
        children=[html.Thead(html.Tr([html.Th(t, className=c) for t, c in head])), html.Tbody(rows)],
    )


def _source_label(source: str) -> str:
    if source.startswith("webhook:"):
        return f"Webhook · {source.split(':', 1)[1]}"
    return SOURCE_LABELS.get(source, source)


#: What each poller health reads as in the table.
POLLER_STATES = {"ok": "polling", "warning": "partial", "breach": "failing", "idle": "waiting"}


def poller_table(statuses: Sequence[Any], *, now: datetime) -> html.Div | html.Table:
    """Each queue poller: last success, failures in a row, last error, next attempt."""
    if not statuses:
        return html.Div(
            "No queue pollers configured: add [[pollers]] to flowwatch.toml, or push samples to "
            "POST /api/v1/queue-samples",
            className="empty-state",
        )
    rows = []
    for s in statuses:
        health = poller_health(s.consecutive_failures, s.last_ok_at, s.last_error_at)
        rows.append(
            html.Tr(
                className=f"row-{health}",
                children=[
                    html.Td(s.name),
                    html.Td(f"{s.kind} · {s.broker}"),
                    html.Td(badge(POLLER_STATES[health], health)),
                    html.Td(_ago(s.last_ok_at, now), className="num"),
                    html.Td(fmt_int(s.consecutive_failures), className="num"),
                    html.Td(s.last_error or "—", title=s.last_error or "", className="cell-error"),
                    html.Td(_ago(s.next_attempt_at, now, future=True), className="num"),
                ],
            )
        )
    head = [
        ("Poller", ""),
        ("Kind · broker", ""),
        ("State", ""),
        ("Last success", "num"),
        ("Failures", "num"),
        ("Last error", ""),
        ("Next attempt", "num"),
    ]
    return html.Table(
        className="data-table",
        children=[html.Thead(html.Tr([html.Th(t, className=c) for t, c in head])), html.Tbody(rows)],
    )


def broker_table(statuses: Sequence[Any], *, now: datetime) -> html.Div | html.Table:
    """Each broker consumer: connected or not, messages acknowledged, records ingested and dead-lettered."""
    if not statuses:
        return html.Div(
            "No broker consumers configured: add [[brokers]] (RabbitMQ or NATS JetStream) to flowwatch.toml",
            className="empty-state",
        )
    rows = []
    for s in statuses:
        health = "ok" if s.is_connected else ("breach" if s.last_error else "idle")
        rows.append(
            html.Tr(
                className=f"row-{health}",
                children=[
                    html.Td(s.name),
                    html.Td(s.kind),
                    html.Td(badge({"ok": "consuming", "breach": "reconnecting", "idle": "connecting"}[health], health)),
                    html.Td(fmt_int(s.messages), className="num"),
                    html.Td(fmt_int(s.accepted), className="num"),
                    html.Td(fmt_int(s.refused), className="num"),
                    html.Td(
                        f"{s.last_error} ({_ago(s.last_error_at, now)})" if s.last_error else "—",
                        title=s.last_error or "",
                        className="cell-error",
                    ),
                ],
            )
        )
    head = [("Consumer", ""), ("Broker", ""), ("State", ""), ("Messages", "num"), ("Records in", "num"),
            ("Dead-lettered", "num"), ("Last error", "")]  # fmt: skip
    return html.Table(
        className="data-table",
        children=[html.Thead(html.Tr([html.Th(t, className=c) for t, c in head])), html.Tbody(rows)],
    )


def poller_health(consecutive_failures: int, last_ok_at: datetime | None, last_error_at: datetime | None = None) -> str:
    """breach while failing, warning when its last poll found only some of its queues, ok once it has
    succeeded, idle before its first poll."""
    if consecutive_failures:
        return "breach"
    if last_ok_at is not None and last_error_at == last_ok_at:
        return "warning"
    return "ok" if last_ok_at else "idle"


def _ago(when: datetime | None, now: datetime, *, future: bool = False) -> str:
    if when is None:
        return "—"
    seconds = (when - now).total_seconds() if future else (now - when).total_seconds()
    return f"in {fmt_duration(max(seconds, 0))}" if future else f"{fmt_duration(max(seconds, 0))} ago"


def received_figure(
    received: pd.DataFrame,
    *,
    x_range: tuple[datetime, datetime],
    names: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Events received per bucket, stacked by source system (its name, its own colour from
    ``colors``); failed deliveries as a dashed line with × markers, so failure reads without red."""
    if received.empty:
        return empty_figure("No events received in this range")
    names, colors = names or {}, colors or {}
    fig = go.Figure(layout={"template": TEMPLATE})
    for i, (source, part) in enumerate(received.groupby("source", sort=True)):
        fig.add_bar(
            x=part["bucket"],
            y=part["events"],
            name=names.get(str(source), str(source)),
            marker_color=colors.get(str(source), SERIES_COLORS[i % len(SERIES_COLORS)]),
            hovertemplate="%{y:,} events<extra>%{fullData.name}</extra>",
        )
    failed = received.groupby("bucket", as_index=False)["failed"].sum()
    fig.add_scatter(
        x=failed["bucket"],
        y=failed["failed"],
        name="Failed deliveries (×)",
        mode="lines+markers",
        line={"color": "#d93a3a", "width": 2, "dash": "dash"},
        marker={"symbol": "x-thin", "size": 7, "line": {"width": 2, "color": "#d93a3a"}},
    )
    fig.update_layout(
        barmode="stack",
        xaxis={"range": list(x_range), "title": "Received (UTC)"},
        yaxis={"title": "Events"},
        legend={"orientation": "h", "y": -0.3, "x": 0, "yanchor": "top"},
        margin={"l": 56, "r": 16, "t": 16, "b": 48},
    )
    return fig
