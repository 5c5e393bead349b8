"""Behaviour over time: the live demo's traffic, on an accelerated clock, keeps the seeded history's
KPIs — order cycle time and per-flow sync lag — and an incident on one system touches only its flows."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from app.context import AppContext, open_context
from app.settings import load_settings
from collectors.events import validate_events
from models.queries.common import Window
from models.queries.overview import cycle_time, sync_lag_by_flow
from seed_data import seed_demo
from seed_data.live_simulator import canonical_event
from seed_data.live_traffic import LiveTraffic, first_order_number

ANCHOR = datetime(2026, 11, 30, 12, 0)
H = 3600.0
INTAKE_HOURS = 12  # live orders arrive for 12 simulated hours …
RUN_HOURS = 40  # … and the clock runs on until (nearly) all have shipped
ORDER_FLOWS = ("orders", "fulfilment", "shipment", "invoice")


def _context(path: Path) -> AppContext:
    return open_context(load_settings(db=path))


def _play(ctx: AppContext, traffic: LiveTraffic, start: datetime, until: float, step: float = 60.0) -> None:
    """Advance the traffic's clock to ``until`` (simulated seconds), writing what it delivers as the
    simulator would post it."""
    t, rows = 0.0, []
    while t < until:
        t = min(t + step, until)
        for delivery in traffic.due(t):
            ended = start + timedelta(seconds=delivery.at)
            started = ended - timedelta(milliseconds=sum(delivery.durations_ms))
            rows.append(canonical_event(delivery, started, ended, "0" * 31 + "1"))
        if len(rows) >= 5000 or t >= until:
            parsed = validate_events(rows, received_at=start + timedelta(seconds=t))
            assert not parsed.rejected, parsed.rejected[:3]
            ctx.writer.append("business_events", parsed.table)
            rows = []


def _order_flow_lags(ctx: AppContext, window: Window) -> pd.Series:
    with ctx.engine.connect() as conn:
        lags = sync_lag_by_flow(conn, window=window)
    lags = lags[lags["category"].isin(ORDER_FLOWS) & (lags["steps"] >= 40)]
    return lags.set_index("flow_id")["p50_seconds"]


def test_twelve_simulated_hours_of_live_traffic_keep_the_historys_kpis(tmp_path: Path) -> None:
    history = _context(tmp_path / "history.duckdb")
    try:
        seed_demo(history.engine, history.writer, days=4, orders_per_day=1500, seed=7, anchor=ANCHOR)
        shipped = Window(ANCHOR - timedelta(days=4), ANCHOR - timedelta(days=2), 3600)
        with history.engine.connect() as conn:
            seeded_cycle = cycle_time(conn, window=shipped)
        seeded_lags = _order_flow_lags(history, Window(ANCHOR - timedelta(days=4), ANCHOR, 3600))
    finally:
        history.close()

    live = _context(tmp_path / "live.duckdb")
    try:
        traffic = LiveTraffic(seed=7, orders_per_minute=1.5, first_number=first_order_number(0), start=0.0)
        _play(live, traffic, ANCHOR, INTAKE_HOURS * H)
        traffic.mean_gap = float("inf")  # intake stops; the clock runs on so the last orders can ship
        _play(live, traffic, ANCHOR, RUN_HOURS * H)
        intake = Window(ANCHOR, ANCHOR + timedelta(hours=INTAKE_HOURS), 3600)
        with live.engine.connect() as conn:
            live_cycle = cycle_time(conn, window=intake)
        live_lags = _order_flow_lags(live, Window(ANCHOR, ANCHOR + timedelta(hours=RUN_HOURS), 3600))
    finally:
        live.close()

    assert live_cycle["shipped"] > 900 and seeded_cycle["shipped"] > 2000
    ratio = live_cycle["p50_hours"] / seeded_cycle["p50_hours"]
    assert 0.8 <= ratio <= 1.2, (live_cycle, seeded_cycle)
    common = sorted(set(live_lags.index) & set(seeded_lags.index))
    assert len(common) >= 8, (list(live_lags.index), list(seeded_lags.index))
    drift = {flow: round(live_lags[flow] / seeded_lags[flow], 3) for flow in common}
    assert all(0.8 <= r <= 1.2 for r in drift.values()), drift
