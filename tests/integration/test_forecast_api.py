"""GET /api/v1/backlog-forecast on a real server with the demo's flow file and cut-offs: Coastal's release
queue growing towards its 14:00 cut-off, worked out by hand; a bad window answered 422 naming it."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from models.store.tables import queue_samples
from tests.factories import event, events_table
from tests.live_server import LiveServer

NOW = datetime(2026, 3, 10, 12, 0)
M = timedelta(minutes=1)
FLOW = "netsuite-3pl_coastal-release"


def test_coastal_backlog_misses_its_cutoff(server: LiveServer) -> None:
    server.ctx.clock = lambda: NOW
    with server.ctx.writer.transaction() as conn:
        conn.execute(queue_samples.insert(), [
            {"broker": "mq", "queue": "release.3pl_coastal", "sampled_at": at, "depth": d, "is_dlq": False}
            for at, d in ((NOW - 20 * M, 10), (NOW, 15))
        ])  # fmt: skip
    rows = [
        event(
            f"B2B-{i}",
            "order.released",
            NOW - 10 * M,
            flow_id=FLOW,
            channel="b2b",
            source="netsuite",
            target="3pl_coastal",
        )
        for i in range(3)
    ]
    rows += [event(f"B2B-W{i:02}", "order.accepted", datetime(2026, 3, 10, 8, 0) + i * M, channel="b2b",
                   source="b2b", target="netsuite") for i in range(1, 16)]  # fmt: skip
    server.ctx.writer.append("business_events", events_table(rows))

    body = httpx.get(f"{server.url}/api/v1/backlog-forecast", timeout=30).json()
    [coastal] = [q for q in body["queues"] if q["queue"] == "release.3pl_coastal"]
    # out: 3 in 30 min = 0.1/min; depth +5 in 20 min = +0.25/min; in 0.35/min: never clears
    assert (coastal["throughput_per_min"], coastal["arrivals_per_min"], coastal["clears_at"]) == (0.1, 0.35, None)
    # 120 min to Coastal's 14:00 cut-off at 0.1/min: 12 of the 15 get through, 3 miss it: the newest 3 waiting
    assert (coastal["cutoff"], coastal["cutoff_at"], coastal["misses_cutoff"]) == ("14:00", "2026-03-10T14:00:00", 3)
    assert coastal["orders_at_risk"] == ["B2B-W13", "B2B-W14", "B2B-W15"]

    bad = httpx.get(f"{server.url}/api/v1/backlog-forecast", params={"window_minutes": 0}, timeout=30)
    assert bad.status_code == 422 and "window_minutes" in bad.text
