"""KPI tiles: the six numbers an operations manager reads first.

Each builder takes what the query layer returns and gives a tile whose tone (ok,
warning, breach, idle) is decided here, so the colour logic is unit-tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from dash import html

from dashboards.components.format import fmt_duration, fmt_hours, fmt_int, is_missing
from models.queries.flows import lag_status

#: Tile labels by key, in display order; the key is also the tile's ``data-kpi`` attribute.
TILE_LABELS: dict[str, str] = {
    "orders_today": "Orders today",
    "in_flight": "In flight",
    "cycle_time": "Cycle time p50 / p95",
    "sync_lag": "Worst sync lag p95",
    "exceptions": "Open exceptions",
    "queues": "Deepest queue now",
}


@dataclass(frozen=True)
class Tile:
    """What one tile says; ``tone`` picks its accent colour."""

    key: str
    label: str
    value: str
    detail: str
    tone: str = "neutral"


def tile_component(tile: Tile) -> html.Div:
    """Render a tile; ``data-kpi`` lets tests and people find it without positional guessing."""
    return html.Div(
        className=f"tile tone-{tile.tone}",
        **{"data-kpi": tile.key},
        children=[
            html.Div(tile.label, className="tile-label"),
            html.Div(tile.value, className="tile-value"),
            html.Div(tile.detail, className="tile-detail"),
        ],
    )


def skeleton_tile(key: str) -> html.Div:
    """The placeholder shown until the first numbers arrive."""
    return html.Div(
        className="tile tone-neutral is-loading",
        **{"data-kpi": key},
        children=[
            html.Div(TILE_LABELS[key], className="tile-label"),
            html.Div(className="skeleton skeleton-value"),
            html.Div(className="skeleton skeleton-detail"),
        ],
    )


def orders_today_tile(counts: Mapping[str, int], *, range_label: str) -> Tile:
    """Orders created since midnight UTC, with the count for the selected range."""
    today, in_range = counts.get("orders_today", 0), counts.get("orders_in_range", 0)
    if not today and not in_range:
        return Tile("orders_today", TILE_LABELS["orders_today"], "0", "No orders in this range", "idle")
    detail = f"{fmt_int(in_range)} in the last {range_label}"
    return Tile("orders_today", TILE_LABELS["orders_today"], fmt_int(today), detail)


def in_flight_tile(counts: Mapping[str, int]) -> Tile:
    """Orders created but neither shipped nor cancelled."""
    flying = counts.get("in_flight", 0)
    if not flying:
        return Tile("in_flight", TILE_LABELS["in_flight"], "0", "No orders awaiting shipment", "idle")
    return Tile("in_flight", TILE_LABELS["in_flight"], fmt_int(flying), "created, not yet shipped")


def cycle_time_tile(cycle: Mapping[str, Any]) -> Tile:
    """Order cycle time p50 / p95 in hours, for orders created in the range and shipped."""
    shipped = cycle.get("shipped") or 0
    if not shipped or is_missing(cycle.get("p50_hours")):
        return Tile("cycle_time", TILE_LABELS["cycle_time"], "—", "No shipped orders in this range", "idle")
    p50, p95 = fmt_hours(cycle["p50_hours"]), fmt_hours(cycle.get("p95_hours"))
    return Tile(
        "cycle_time",
        TILE_LABELS["cycle_time"],
        f"{p50} / {p95}",
        f"created → dispatched · {fmt_int(shipped)} shipped",
    )


def worst_lag_tile(lag: pd.DataFrame) -> Tile:
    """The flow whose p95 sync lag is furthest over (or closest to) its SLA."""
    active = lag[(lag["steps"] > 0) & lag["p95_seconds"].notna()] if not lag.empty else lag
    if active.empty:
        return Tile("sync_lag", TILE_LABELS["sync_lag"], "—", "No completed steps in this range", "idle")
    ratio = active["p95_seconds"].astype(float) / active["sla_seconds"].astype(float)
    worst = active.loc[ratio.idxmax()]
    share = ratio.max()
    return Tile(
        "sync_lag",
        TILE_LABELS["sync_lag"],
        fmt_duration(worst["p95_seconds"]),
        f"{_times(share)} its {fmt_duration(worst['sla_seconds'])} SLA · {worst['name']}",
        lag_status(worst["p95_seconds"], worst["sla_seconds"]),
    )


def _times(share: float) -> str:
    """How a lag compares with its SLA: '85% of' below 10×, '12× ' from there (no 19460%)."""
    return f"{share:.0%} of" if share < 10 else f"{share:,.0f}×"


def exceptions_tile(totals: Mapping[str, Any]) -> Tile:
    """Open and acknowledged exceptions, with the critical count and the oldest age."""
    total = totals.get("open_total") or 0
    if not total:
        return Tile("exceptions", TILE_LABELS["exceptions"], "0", "Nothing needs attention", "ok")
    critical = totals.get("critical") or 0
    tone = "breach" if critical else ("warning" if totals.get("high") else "neutral")
    oldest = totals.get("oldest_hours")
    detail = f"{fmt_int(critical)} critical"
    if not is_missing(oldest):
        detail += f" · oldest {fmt_duration(float(oldest) * 3600)}"
    return Tile("exceptions", TILE_LABELS["exceptions"], fmt_int(total), detail, tone)


def queue_tile(queues: pd.DataFrame) -> Tile:
    """The deepest live queue (messages waiting, and which queue), and how many messages wait in
    dead-letter queues: two numbers said in words rather than an unexplained "55 / 101"."""
    if queues.empty:
        return Tile("queues", TILE_LABELS["queues"], "—", "No queue samples in the last hour", "idle")
    is_dlq = queues["is_dlq"].astype(bool)
    dlq_total = int(queues.loc[is_dlq, "depth"].sum())
    live = queues[~is_dlq]
    dlq_text = f"{fmt_int(dlq_total)} dead-lettered (in DLQs)" if dlq_total else "no messages dead-lettered"
    tone = "warning" if dlq_total else "ok"
    if live.empty:
        return Tile("queues", TILE_LABELS["queues"], "—", f"No live queue sampled · {dlq_text}", tone)
    deepest = live.loc[live["depth"].astype(float).idxmax()]
    return Tile(
        "queues",
        TILE_LABELS["queues"],
        f"{fmt_int(deepest['depth'])} msgs",
        f"waiting in {deepest['queue']} · {dlq_text}",
        tone,
    )
