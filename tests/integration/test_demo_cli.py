"""`flowwatch demo` as a user runs it: seeded, served, with live traffic unless --no-live."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx

from tests.live_server import free_port, settled


def _start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "demo", "--port", str(port), "--days", "2", "--orders-per-day", "100", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
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


def _accepted(url: str, source: str, headers: dict[str, str] | None = None) -> float:
    """``flowwatch_ingest_records_total{outcome="accepted",source=...}`` from /metrics, 0 when absent."""
    line = f'flowwatch_ingest_records_total{{outcome="accepted",source="{source}"}} '
    text = httpx.get(f"{url}/metrics", headers=headers).text
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


def test_demo_with_auth_prints_one_user_per_role_once_and_its_live_traffic_gets_in(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.duckdb")
    proc, url = _start("--db", db, env={"FLOWWATCH_AUTH": "on"})
    assert proc.stdout is not None
    lines = []
    while not lines or not lines[-1].startswith("  admin"):
        lines.append(proc.stdout.readline().decode().rstrip("\n"))
    creds = dict(re.findall(r"^  (viewer|operator|admin) +(\S+) ", "\n".join(lines), re.M))
    assert sorted(creds) == ["admin", "operator", "viewer"] and all(len(p) >= 16 for p in creds.values())
    assert f"Demo users (log in at {url}/login); these passwords are shown only now:" in lines
    assert httpx.get(f"{url}/metrics").status_code == 401
    answer = httpx.post(f"{url}/login", data={"username": "operator", "password": creds["operator"]},
                        headers={"Origin": url})  # fmt: skip
    assert answer.status_code == 303
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in answer.cookies.items())}
    assert httpx.get(f"{url}/api/v1/me", headers=cookie).json()["role"] == "operator"
    deadline = time.monotonic() + 30
    while _accepted(url, "queue_samples", cookie) < 18 and time.monotonic() < deadline:
        time.sleep(0.2)  # the simulator sends with its own ingest key
    assert _accepted(url, "queue_samples", cookie) >= 18
    output = _interrupt(proc)
    assert creds["admin"] not in output  # shown once: not again in the rest of the log

    proc, url = _start("--db", db, env={"FLOWWATCH_AUTH": "on"})
    output = _interrupt(proc)
    assert "as viewer, operator, admin (passwords were shown when they were made" in output
    assert not any(p in output for p in creds.values())
