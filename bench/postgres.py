"""Flowwatch on PostgreSQL beside its limits, measured in the same run (issue 16).

``python -m bench postgres [--url postgresql+psycopg://postgres@127.0.0.1/postgres] [--days N] [--orders N]``
makes a database ``flowwatch_bench_<random>`` on that server (dropped at the end), loads ``--days``
of the synthetic distributor into it and into an embedded DuckDB file (``--days 30 --orders 55000``:
10 million events and 30 million spans, the suite's ``10m`` scale), and writes
``bench/results/postgres.{json,md}`` (``python -m bench readme`` puts the table in the README):

- ``pg_ingest``: the writer's events/s into PostgreSQL (COPY to a staging table, ON CONFLICT
  dedup, the order_facts and step rollups), limit: a bare ``COPY`` of the same rows into a table
  of the same columns with no index and no rollup.
- ``pg_writer_append``: one 10k-event batch committed into the loaded database, same limit.
- ``pg_overview_kpis``: the overview (24 h) on PostgreSQL, limit: the same call on DuckDB over
  the same data (ratio = how close PostgreSQL comes to the embedded default).
- ``pg_detection``: one detection pass on each.
- ``pg_replicas_http``: NDJSON over HTTP into the loaded database, first through one ``flowwatch
  serve`` (limit: bare COPY of the same rows), then through two replicas at once, each sent half
  (limit: twice the one-replica figure, i.e. linear scaling).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.ingest import EVENT_BATCH, _committed, _event_bodies, _post_all, _start_server, _wait_committed
from bench.queries import ANCHOR, _quiet
from bench.results import Run, latency, pct, plain, throughput
from bench.synthetic import days, load
from models.detection.passes import run_detection
from models.ingest.pg_writer import _copy
from models.ingest.writer import IngestWriter
from models.queries.common import Window
from models.queries.overview import overview
from models.store.db import make_engine, make_pg_engine
from models.store.schema import create_schema
from tests.live_server import free_port

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _bare_copy(engine: sa.Engine, like: str, table: pa.Table) -> float:
    """Seconds to COPY ``table`` into an index-free, rollup-free table shaped like ``like``."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS bare_{like}")
        conn.exec_driver_sql(f"CREATE TABLE bare_{like} (LIKE {like})")
    began = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:  # type: ignore[union-attr]
            _copy(cur, f"bare_{like}", ", ".join(f'"{c}"' for c in table.column_names), table)
    return time.perf_counter() - began


def _overview_ms(engine: sa.Engine, repeat: int = 12) -> list[float]:
    day = Window.named("24h", now=ANCHOR)
    times = []
    with engine.connect() as conn:
        for _ in range(repeat):
            began = time.perf_counter()
            overview(conn, now=ANCHOR, window=day)
            times.append((time.perf_counter() - began) * 1000)
    return times[2:]  # the first two warm the caches


def _detection_ms(engine: sa.Engine) -> float:
    with engine.begin() as conn:
        run_detection(conn, now=ANCHOR)  # the first pass opens what it finds
    with engine.begin() as conn:
        began = time.perf_counter()
        run_detection(conn, now=ANCHOR)
        return (time.perf_counter() - began) * 1000


def _http_ingest(db_url: str, folder: Path, bodies: list[bytes], replicas: int) -> float:
    """Committed events/s of ``bodies`` sent to ``replicas`` serve processes on one database at once,
    each given its share over 2 clients; counted from each replica's own committed-rows metric."""
    ports = [free_port() for _ in range(replicas)]
    procs = [_start_server(db_url, port, FLOWWATCH_INGEST_WAL_DIR=str(folder / f"wal-{port}")) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        shares = [bodies[i::replicas] for i in range(replicas)]
        before = [_committed(url, "business_events") for url in urls]
        began = time.perf_counter()
        senders = [threading.Thread(target=_post_all, args=(url, "/api/v1/events", share,
                                                            {"content-type": "application/x-ndjson"}, 2))
                   for url, share in zip(urls, shares, strict=True)]  # fmt: skip
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        for url, start, share in zip(urls, before, shares, strict=True):
            expected = start + len(share) * EVENT_BATCH
            _wait_committed(url, "business_events", expected, timeout=600)
            if _committed(url, "business_events") < expected:
                raise SystemExit(f"{url} did not commit its share within 10 minutes")
        return len(bodies) * EVENT_BATCH / (time.perf_counter() - began)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="an admin URL of the PostgreSQL server")
    parser.add_argument("--days", type=int, default=1, help="days of the synthetic distributor to load")
    parser.add_argument("--orders", type=int, default=20_000, help="orders a day")
    parser.add_argument("--bodies", type=int, default=20, help="NDJSON bodies of 10k events sent over HTTP")
    args = parser.parse_args()
    run = Run(scale=f"{args.days} day(s) x {args.orders:,} orders")
    admin = sa.create_engine(args.url, isolation_level="AUTOCOMMIT")
    name = f"flowwatch_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    pg = make_pg_engine(make_url(args.url).set(database=name).render_as_string(hide_password=False))
    folder = Path(tempfile.mkdtemp(prefix="flowwatch-bench-pg-"))
    try:
        create_schema(pg)
        duck = make_engine(folder / "bench.duckdb")
        _quiet(duck)
        create_schema(duck)
        stock = args.orders // 2
        began = time.perf_counter()
        counts = load(pg, IngestWriter(pg), anchor=ANCHOR, n_days=args.days, orders_per_day=args.orders,
                      stock_per_day=stock)  # fmt: skip
        pg_seconds = time.perf_counter() - began
        load(duck, IngestWriter(duck), anchor=ANCHOR, n_days=args.days, orders_per_day=args.orders,
             stock_per_day=stock)  # fmt: skip
        day = next(days(ANCHOR, 1, args.orders))
        bare = _bare_copy(pg, "business_events", day.events) + _bare_copy(pg, "spans", day.spans)
        rows = counts["business_events"] + counts["spans"]
        run.add(
            throughput("pg_ingest", "events + spans loaded/s", rows / pg_seconds, "rows/s",
                       (day.events.num_rows + day.spans.num_rows) / bare,
                       note=f"{counts['business_events']:,} events + {counts['spans']:,} spans, the writer's load "
                            "(index rebuild included); limit: bare COPY of one day's events and spans"),
        )  # fmt: skip
        batch = day.events.slice(0, 10_000)
        fresh_ids = pa.array([f"bench-{i}" for i in range(batch.num_rows)])
        batch = batch.set_column(batch.column_names.index("event_id"), "event_id", fresh_ids)
        began = time.perf_counter()
        IngestWriter(pg).append("business_events", batch)
        append = time.perf_counter() - began
        run.add(
            throughput("pg_writer_append", "10k-event batch commit", batch.num_rows / append, "events/s",
                       batch.num_rows / _bare_copy(pg, "business_events", batch),
                       note="into the loaded database; limit: bare COPY"),
        )  # fmt: skip
        on_pg, on_duck = _overview_ms(pg), _overview_ms(duck)
        run.add(
            latency("pg_overview_kpis", "24 h, median", statistics.median(on_pg), "ms", statistics.median(on_duck),
                    note="limit: the same call on embedded DuckDB, same data"),
            latency("pg_overview_kpis", "24 h, p95", pct(on_pg, 95), "ms", pct(on_duck, 95)),
            latency("pg_detection", "steady pass", _detection_ms(pg), "ms", _detection_ms(duck),
                    note="limit: DuckDB"),
            plain("pg_ingest", "order_facts rows", counts["order_facts"], "rows"),
        )  # fmt: skip
        pg_url = pg.url.render_as_string(hide_password=False)
        # each run sends ids of its own: the writer drops an id it has stored
        one = _http_ingest(pg_url, folder, _event_bodies(args.bodies, prefix="r1"), 1)
        two = _http_ingest(pg_url, folder, _event_bodies(args.bodies, prefix="r2"), 2)
        copy_rate = EVENT_BATCH / _bare_copy(pg, "business_events", batch)
        run.add(
            throughput("pg_replicas_http", "1 replica, committed events/s", one, "events/s", copy_rate,
                       note=f"{args.bodies * EVENT_BATCH:,} NDJSON events over HTTP, 2 clients, into the loaded "
                            "database; limit: bare COPY"),
            throughput("pg_replicas_http", "2 replicas at once, events/s", two, "events/s", 2 * one,
                       note="each replica sent half, 2 clients each; limit: twice one replica (linear scaling)"),
        )  # fmt: skip
        print(f"wrote {run.write(name='postgres')}")
    finally:
        pg.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)  # the DuckDB copy (6 GB at 10M events) and the replicas' WAL
