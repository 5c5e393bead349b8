"""Detection through the real server: on demand, and on the scheduler."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx

from app.settings import load_settings
from tests.live_server import LiveServer, serve

FINGERPRINT = "dead_letter:3pl_north-d365-shipment:3PL-503"


def _dead_letter(server: LiveServer) -> dict[str, object]:
    occurred = server.ctx.now().replace(microsecond=0) - timedelta(minutes=5)
    return {
        "event_id": "dl-1",
        "correlation_id": "SHP-5550001",
        "event_type": "shipment.dispatched",
        "source": "3pl_north",
        "target": "d365",
        "flow_id": "3pl_north-d365-shipment",
        "status": "dead_lettered",
        "error_code": "3PL-503",
        "error_message": "Upstream 503 Service Unavailable from NorthStar WMS API",
        "occurred_at": occurred.isoformat() + "Z",
    }


def test_detection_on_demand_opens_once(server: LiveServer) -> None:
    assert httpx.post(f"{server.url}/api/v1/events", json=_dead_letter(server)).json()["accepted"] == 1
    server.ctx.buffer.flush()
    first = httpx.post(f"{server.url}/api/v1/detection/run").json()
    assert first["opened"] == [FINGERPRINT]
    again = httpx.post(f"{server.url}/api/v1/detection/run").json()
    assert (again["opened"], again["updated"], again["resolved"]) == ([], [], [])


def test_scheduled_detection_finds_it_without_being_asked(tmp_path: Path) -> None:
    settings = load_settings(db=tmp_path / "fw.duckdb", detection_interval_seconds=1, ingest_max_delay_seconds=0.05)
    with serve(settings) as live:
        assert live.ctx.scheduler.get_job("detection") is not None
        httpx.post(f"{live.url}/api/v1/events", json=_dead_letter(live)).raise_for_status()
        deadline = time.monotonic() + 15
        found: list[tuple[str, str]] = []
        while time.monotonic() < deadline and not found:
            time.sleep(0.2)
            with live.ctx.engine.connect() as conn:
                found = conn.exec_driver_sql("SELECT fingerprint, status FROM exceptions").fetchall()
        assert [tuple(r) for r in found] == [(FINGERPRINT, "open")]


def test_concurrent_passes_are_serialised_with_the_scheduled_one(tmp_path: Path) -> None:
    """Eight on-demand passes at once, beside the scheduler's own every second: every pass answers,
    one exception is opened in all, and no pass sees another's half-written exception."""
    settings = load_settings(db=tmp_path / "fw.duckdb", detection_interval_seconds=1, ingest_max_delay_seconds=0.05)
    with serve(settings) as live:
        rows = [{**_dead_letter(live), "event_id": f"dl-{n}", "correlation_id": f"SHP-55500{n:02d}"}
                for n in range(32)]  # fmt: skip
        assert httpx.post(f"{live.url}/api/v1/events", json=rows).json()["accepted"] == 32
        live.ctx.buffer.flush()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: httpx.post(f"{live.url}/api/v1/detection/run", timeout=30), range(8)))
        assert [a.status_code for a in answers] == [200] * 8
        opened = [fp for a in answers for fp in a.json()["opened"]]
        assert opened in ([FINGERPRINT], [])  # [] when the scheduled pass got there first
        with live.ctx.engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT x.fingerprint, x.affected_orders, count(m.event_id) FROM exceptions x "
                "JOIN exception_messages m USING (exception_id) GROUP BY ALL"
            ).fetchall()
        assert [tuple(r) for r in found] == [(FINGERPRINT, 32, 32)]
