"""A 2xx is a promise: kill the server before it flushes, restart it, the data is there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.live_server import free_port

EVENTS = [
    {
        "event_id": f"crash-{i}",
        "correlation_id": f"SHP-{7000 + i}",
        "event_type": "order.created",
        "source": "shopify",
        "occurred_at": "2026-05-01T10:00:00Z",
    }
    for i in range(25)
]


def _start(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, FLOWWATCH_INGEST_MAX_DELAY_SECONDS="60", FLOWWATCH_INGEST_BATCH_ROWS="1000000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--db", str(db), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stdout.read().decode() if proc.stdout else ''}")


def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "crash.duckdb"
    port = free_port()
    proc = _start(db, port)
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/events", json=EVENTS)
        assert r.status_code == 200 and r.json()["accepted"] == 25
        kpis = httpx.get(f"http://127.0.0.1:{port}/api/v1/kpis/overview?range=30d").json()
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown hook, no flush
        proc.wait(timeout=10)
    assert kpis["orders"]["orders_in_range"] == 0  # nothing was committed before the kill

    proc = _start(db, port)
    try:
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert "flowwatch_ingest_recovered_rows_total 25.0" in metrics
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    import duckdb

    with duckdb.connect(str(db), read_only=True) as conn:
        stored = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM business_events").fetchone()
    assert stored == (25, 25)
