"""The foundation against a real server and the real CLI: probes, overview JSON, bad input."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import httpx
import pytest

from app.context import open_context
from app.settings import load_settings
from models.queries.common import Window
from models.queries.overview import overview
from models.store.schema import SCHEMA_VERSION
from seed_data import seed_demo
from tests.live_server import LiveServer, serve

ANCHOR = datetime(2026, 3, 4, 15, 0)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A small seeded demo (6 days × 200 orders) served with the clock pinned at its anchor."""
    settings = load_settings(db=tmp_path_factory.mktemp("demo") / "fw.duckdb", detection_interval_seconds=3600)
    ctx = open_context(settings)
    ctx.clock = lambda: ANCHOR
    seed_demo(ctx.engine, ctx.writer, days=6, orders_per_day=200, seed=11, anchor=ANCHOR)
    with serve(settings, ctx=ctx) as live:
        yield live


def test_probes(demo: LiveServer) -> None:
    assert httpx.get(f"{demo.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{demo.url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "schema_version": SCHEMA_VERSION,
        "expected_schema_version": SCHEMA_VERSION,
    }


@pytest.mark.parametrize("range_", ["6h", "24h", "7d"])
def test_overview_json_is_the_query_layers(demo: LiveServer, range_: str) -> None:
    body = httpx.get(f"{demo.url}/api/v1/kpis/overview", params={"range": range_}).json()
    with demo.ctx.engine.connect() as conn:
        expected = overview(conn, now=ANCHOR, window=Window.named(range_, now=ANCHOR))
    assert body == httpx.Response(200, json=expected).json()  # the same numbers, through JSON
    assert body["orders"]["orders_today"] > 0 and body["orders"]["in_flight"] > 0
    assert body["exceptions"]["open_total"] > 0 and len(body["sync_lag"]) == 19


def test_overview_rejects_an_unknown_range(demo: LiveServer) -> None:
    r = httpx.get(f"{demo.url}/api/v1/kpis/overview", params={"range": "1y"})
    assert r.status_code == 422
    assert r.json()["detail"] == "unknown range '1y'; expected one of 6h, 24h, 7d, 30d"


def test_readyz_reports_an_outdated_schema(tmp_path: Path) -> None:
    settings = load_settings(db=tmp_path / "fw.duckdb")
    with serve(settings) as live:
        with live.ctx.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE schema_meta SET value = '0' WHERE key = 'schema_version'")
        r = httpx.get(f"{live.url}/readyz")
    assert r.status_code == 503 and r.json()["status"] == "schema_outdated"


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def _one_line_error(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr.strip()


def test_port_already_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = _one_line_error(_cli("serve", "--db", str(tmp_path / "fw.duckdb"), "--port", str(port)))
    assert err.startswith(f"flowwatch: error: cannot listen on 127.0.0.1:{port}: ")
    assert "\n" not in err


def test_unwritable_database_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    err = _one_line_error(_cli("seed", "--db", str(blocker / "fw.duckdb"), "--days", "1"))
    assert err.startswith(f"flowwatch: error: cannot create the folder of {blocker / 'fw.duckdb'}")


def test_database_held_by_another_process(tmp_path: Path) -> None:
    db = tmp_path / "fw.duckdb"
    with duckdb.connect(str(db)):
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('held', flush=True); time.sleep(60)",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        err = _one_line_error(_cli("seed", "--db", str(db), "--days", "1"))
        assert (
            err == f"flowwatch: error: {db} is in use by another Flowwatch process (DuckDB allows one); "
            "stop it or use its API"
        )
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("serve", "--port", "70000"), "invalid settings: port: Input should be less than or equal to 65535"),
        (("demo", "--days", "0"), "invalid settings: days: Input should be greater than or equal to 1"),
        (
            ("seed", "--orders-per-day", "-3"),
            "invalid settings: orders_per_day: Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_option_values(args: tuple[str, ...], message: str) -> None:
    assert _one_line_error(_cli(*args)) == f"flowwatch: error: {message}"


def test_malformed_options_are_usage_errors() -> None:
    done = _cli("serve", "--port", "abc")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Invalid value for '--port'" in done.stderr
    done = _cli("launch")
    assert done.returncode == 2 and "No such command 'launch'" in done.stderr


def test_seed_twice_keeps_the_data_and_fresh_reseeds(tmp_path: Path) -> None:
    db = str(tmp_path / "fw.duckdb")
    first = _cli("seed", "--db", db, "--days", "2", "--orders-per-day", "50", "--seed", "3", timeout=300)
    assert first.returncode == 0 and "Seeded in" in first.stdout
    again = _cli("seed", "--db", db, "--days", "2", "--orders-per-day", "50", timeout=300)
    assert again.returncode == 0 and "already holds the demo" in again.stdout
    fresh = _cli("seed", "--db", db, "--days", "2", "--orders-per-day", "50", "--seed", "3", "--fresh", timeout=300)
    assert fresh.returncode == 0 and "Seeded in" in fresh.stdout
    counts = [line.split(": ", 1)[1] for line in (first.stdout + fresh.stdout).splitlines() if "Seeded in" in line]
    assert counts[0] == counts[1]  # the same seed gives the same volumes
