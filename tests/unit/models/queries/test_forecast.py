"""Backlog forecast with rates and cut-offs worked out by hand: one queue draining before its 3PL's
cut-off, one growing that will miss it, with the orders at risk named oldest first."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from models.queries.forecast import backlog_forecast
from models.store.expectations import ExpectationsConfig, sync_expectations
from models.store.tables import queue_samples
from tests.factories import add_flow, event, events_table, fresh_db

NOW = datetime(2026, 3, 10, 12, 0)
M = timedelta(minutes=1)
REL1, REL2 = "erp-3pl-release", "erp2-3pl2-release"


def forecast_world(tmp_path):  # type: ignore[no-untyped-def]
    """Two release queues, their cut-offs, deliveries and waiting orders (also the alert rule's test)."""
    engine, writer = fresh_db(tmp_path)
    add_flow(engine, REL1, "order.accepted", "order.released", 7200, "fulfilment", source_system="erp",
             target_system="3pl", queue="release.3pl")  # fmt: skip
    add_flow(engine, REL2, "order.accepted", "order.released", 7200, "fulfilment", source_system="erp2",
             target_system="3pl2", queue="release.3pl2")  # fmt: skip
    with engine.begin() as conn:
        sync_expectations(conn, ExpectationsConfig(cutoffs={"3pl": "15:00", "3pl2": "12:30"}))
        conn.execute(queue_samples.insert(), [
            {"broker": "mq", "queue": q, "sampled_at": at, "depth": d, "is_dlq": False}
            for q, at, d in (("release.3pl", NOW - 20 * M, 100), ("release.3pl", NOW, 80),
                             ("release.3pl2", NOW - 20 * M, 10), ("release.3pl2", NOW, 15),
                             ("release.3pl", NOW - 40 * M, 500))  # before the window: not read
        ])  # fmt: skip
    rows = [
        event(
            f"R{i:02}",
            "order.released",
            NOW - 29 * M + i * timedelta(seconds=29),
            flow_id=REL1,
            source="erp",
            target="3pl",
        )
        for i in range(60)
    ]  # 60 delivered in the window
    rows += [
        event(f"S{i}", "order.released", NOW - 5 * M, flow_id=REL2, source="erp2", target="3pl2") for i in range(3)
    ]
    rows += [
        event(f"R{i:02}", "order.released", NOW - 45 * M, flow_id=REL1, source="erp", target="3pl")
        for i in range(60, 70)
    ]  # before the window
    rows += [
        event(f"W{i:02}", "order.accepted", datetime(2026, 3, 10, 9, 0) + i * M, source="shop", target="erp2")
        for i in range(1, 16)
    ]  # 15 orders waiting on REL2's release
    writer.append("business_events", events_table(rows))  # fmt: skip
    return engine


@pytest.fixture()
def engine(tmp_path):  # type: ignore[no-untyped-def]
    engine = forecast_world(tmp_path)
    yield engine
    engine.dispose()


def test_drain_clear_time_and_cutoff(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        forecast = {f.queue: f for f in backlog_forecast(conn, now=NOW)}
    fast = forecast["release.3pl"]
    # throughput 60 orders / 30 min = 2/min; depth 100 → 80 in 20 min: slope −1/min; arrivals 2 − 1 = 1/min
    assert (fast.throughput_per_min, fast.arrivals_per_min, fast.depth) == (2.0, 1.0, 80)
    assert fast.clears_at == NOW + 80 * M  # 80 / (2 − 1) minutes: 13:20
    assert fast.cutoff_at == datetime(2026, 3, 10, 15, 0) and fast.misses_cutoff == 0 and fast.orders_at_risk == ()

    slow = forecast["release.3pl2"]
    # 3 / 30 min = 0.1/min out; 10 → 15 in 20 min: +0.25/min; arrivals 0.35/min: growing, never clears
    assert (slow.throughput_per_min, slow.arrivals_per_min) == (0.1, 0.35) and slow.clears_at is None
    # 30 min to the 12:30 cut-off at 0.1/min: 3 more get through, 15 − 3 = 12 miss it
    assert slow.cutoff == "12:30" and slow.misses_cutoff == 12
    assert slow.orders_at_risk == tuple(f"W{i:02}" for i in range(4, 16))

    with engine.connect() as conn:  # after the cut-off nothing is "at risk today" any more
        later = {f.queue: f for f in backlog_forecast(conn, now=NOW + 31 * M, window=timedelta(minutes=61))}
    assert later["release.3pl2"].cutoff_at is None and later["release.3pl2"].misses_cutoff == 0
