"""Read-path benchmark at scale: ``python -m bench.queries [--days 30] [--orders-per-day 55000]``.

Loads a synthetic distributor (:mod:`bench.synthetic`: ~330k business events and ~1M spans
a day at the default size, so 30 days ≈ 10M events and 30M spans) into a temporary DuckDB
file, then times what readers do: the overview KPIs, the full KPI report, an order
timeline, the order search, a detection pass, a flow's signals and a likely cause.
Warm medians and p95s over repeated runs; the issue's targets are overview p95 < 150 ms,
timeline < 20 ms and a detection pass < 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bench.synthetic import load
from models.detection.passes import run_detection
from models.ingest.writer import IngestWriter
from models.queries.common import Window
from models.queries.correlation import flow_signals, likely_cause
from models.queries.kpis import kpi_report
from models.queries.overview import overview, sync_lag_by_flow
from models.queries.timeline import find_orders, order_timeline
from models.store.db import make_engine
from models.store.schema import create_schema

ANCHOR = datetime(2026, 3, 12, 14, 0)


def _quiet(engine: Engine) -> None:
    """No DuckDB progress bars on the benchmark's output."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.execute("SET enable_progress_bar = false")

    engine.dispose()


def _time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, p95) in ms of ``runs`` warm calls (one warm-up call first)."""
    fn()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]


def _sample_orders(conn: Connection, n: int) -> list[str]:
    rows = conn.exec_driver_sql(f"SELECT correlation_id FROM order_facts USING SAMPLE {int(n)} ROWS").all()
    return [r[0] for r in rows]


def measure(engine: Engine, runs: int) -> list[tuple[str, float, float, str]]:
    """Every measured read: (name, median ms, p95 ms, note)."""
    results: list[tuple[str, float, float, str]] = []

    def add(name: str, fn: Callable[[], object], n: int, note: str) -> None:
        results.append((name, *_time(fn, n), note))

    day = Window.named("24h", now=ANCHOR)
    week = Window(ANCHOR - timedelta(days=7), ANCHOR, 3600)
    with engine.connect() as conn:
        add("overview KPIs (24 h)", lambda: overview(conn, now=ANCHOR, window=day), runs,
            "counts, cycle time, sync lag per flow, exceptions, queues")  # fmt: skip
        add("sync lag per flow (24 h)", lambda: sync_lag_by_flow(conn, window=day), runs,
            "part of the overview; from the writer's rollups")  # fmt: skip
        add("KPI report (7 d + previous 7 d)", lambda: kpi_report(conn, window=week), 3,
            "every KPI and the partner scorecard")  # fmt: skip
        sample = _sample_orders(conn, runs * 5 + 1)
        orders = iter(sample)
        add("order timeline, first look-up", lambda: order_timeline(conn, correlation_id=next(orders)), runs * 5,
            "a different random order each run")  # fmt: skip
        orders = iter(sample)
        add("order timeline, again", lambda: order_timeline(conn, correlation_id=next(orders)), runs * 5,
            "the same orders, their blocks now in DuckDB's buffer")  # fmt: skip
        keys = iter(_sample_orders(conn, runs + 1))
        add("order search (exact order number)", lambda: find_orders(conn, query=next(keys)), runs,
            "through the correlation-id index")  # fmt: skip
        add("flow signals (24 h, 15-min buckets)",
            lambda: flow_signals(conn, flow_id="3pl_north-d365-shipment", window=day), 5, "one flow")  # fmt: skip
    with engine.begin() as conn:
        began = time.perf_counter()
        first = run_detection(conn, now=ANCHOR)
        results.append(("detection, first pass", (time.perf_counter() - began) * 1000, float("nan"),
                        f"opened {len(first.opened)}, updated {len(first.updated)}"))  # fmt: skip
    steady = []
    for _ in range(3):
        with engine.begin() as conn:
            began = time.perf_counter()
            report = run_detection(conn, now=ANCHOR)
            steady.append((time.perf_counter() - began) * 1000)
    results.append(("detection, steady pass", statistics.median(steady), max(steady), f"changed: {report.changed}"))
    with engine.connect() as conn:
        dead = conn.exec_driver_sql("SELECT exception_id FROM exceptions WHERE kind = 'dead_letter' LIMIT 1").scalar()
        if dead is not None:
            cause = likely_cause(conn, exception_id=dead)
            add("likely cause (dead letters)", lambda: likely_cause(conn, exception_id=dead), 3,
                (cause or {}).get("text", "none found"))  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--orders-per-day", type=int, default=55_000)
    parser.add_argument("--stock-per-day", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary database goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = Path(folder) / "bench-queries.duckdb"
        engine = make_engine(path)
        _quiet(engine)
        create_schema(engine)
        began = time.perf_counter()
        counts = load(engine, IngestWriter(engine), anchor=ANCHOR, n_days=args.days,
                      orders_per_day=args.orders_per_day, stock_per_day=args.stock_per_day)  # fmt: skip
        loaded = time.perf_counter() - began
        with engine.begin() as conn:
            conn.exec_driver_sql("CHECKPOINT")
        size_gb = path.stat().st_size / 1e9
        print(f"loaded {args.days} days in {loaded:.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
              + f"; file {size_gb:.2f} GB")  # fmt: skip
        results = measure(engine, args.runs)
        engine.dispose()
    print("\n| query | median ms | p95 ms | note |\n| --- | ---: | ---: | --- |")
    for name, median, p95, note in results:
        p95_text = "" if p95 != p95 else f"{p95:.1f}"
        print(f"| {name} | {median:.1f} | {p95_text} | {note} |")


if __name__ == "__main__":
    main()
