"""`flowwatch demo` as a user runs it: seeded, served, with live traffic unless --no-live."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx

from tests.live_server import free_port, settled


def _start(*args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "demo", "--port", str(port), "--days", "2", "--orders-per-day", "100", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"demo did not start: {proc.communicate()[0].decode()}")


def _accepted(url: str, source: str) -> float:
    """``flowwatch_ingest_records_total{outcome="accepted",source=...}`` from /metrics, 0 when absent."""
    line = f'flowwatch_ingest_records_total{{outcome="accepted",source="{source}"}} '
    text = httpx.get(f"{url}/metrics").text
    return next((float(row.removeprefix(line)) for row in text.splitlines() if row.startswith(line)), 0.0)


def _interrupt(proc: subprocess.Popen[bytes]) -> str:
    """Ctrl+C, as a user stops it: a clean exit, soon, with the conventional status 130 (128 + SIGINT)."""
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 128 + signal.SIGINT and "Traceback" not in output, output
    return output


def test_demo_with_and_without_live_traffic(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.duckdb")

    proc, url = _start("--db", db, "--no-live")
    quiet = settled(lambda: (_accepted(url, "events"), _accepted(url, "queue_samples"), _accepted(url, "traces")),
                    times=3, every=1.0)  # fmt: skip
    assert quiet == (0, 0, 0)  # with live traffic the first samples arrive as soon as the server answers
    output = _interrupt(proc)
    assert "Seeded in" in output and "Live demo traffic" not in output

    proc, url = _start("--db", db)
    deadline = time.monotonic() + 20
    while _accepted(url, "queue_samples") < 18 and time.monotonic() < deadline:
        time.sleep(0.2)  # the first round of samples goes out as soon as the server answers
    assert _accepted(url, "queue_samples") >= 18
    output = _interrupt(proc)
    assert "already holds the demo" in output and "Live demo traffic: ~6 new orders a minute" in output

    with duckdb.connect(db, read_only=True) as conn:
        anchor = conn.execute("SELECT value FROM schema_meta WHERE key = 'demo_anchor'").fetchone()[0]
        seeded = dict(conn.execute(
            "SELECT queue, depth FROM queue_samples WHERE is_dlq AND depth > 0 AND sampled_at = ?::TIMESTAMP",
            [anchor],
        ).fetchall())  # fmt: skip
        live = dict(conn.execute(
            "SELECT queue, min(depth) FROM queue_samples WHERE is_dlq AND sampled_at > ?::TIMESTAMP GROUP BY 1",
            [anchor],
        ).fetchall())  # fmt: skip
    assert seeded, "the seeded history should leave something in a DLQ"
    assert all(live[queue] >= depth for queue, depth in seeded.items())  # live DLQs continue the seeded backlog
