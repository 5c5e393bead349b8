"""The default benchmark set: every path beside its limit, measured in the same run.

Run: ``python -m bench`` (``make bench``) at the small scale, ``python -m bench --scale 10m``
for 10M events. Writes ``bench/results/latest.json`` and ``latest.md``. Each Flowwatch
figure and its reference are measured back to back, so the ratio stays meaningful on a
shared machine even when the absolute figures swing.

Scenarios: decode of NDJSON events (limit: msgspec on the same lines) and of OTLP protobuf
(limit: the bare protobuf parse); ``ingest_ndjson`` over HTTP into an empty database (limit:
DuckDB's Arrow append of the same rows into the same table); ``ingest_ndjson_preloaded``, the
same into a database already holding the scale's events (limit: this run's empty-database
figure); ``ingest_otlp`` over HTTP (limit: in-process parse + append of the same payload);
``detection_backlog``: detection passes once the NDJSON scenarios' orders sit unaccepted (an ERP
outage of 200k orders, 600k at 10M); ``order_timeline`` in-process and over HTTP (limit: the
bare indexed reads of the order's events and spans); ``overview_kpis`` (limit: one bare pass
over the per-order rollup) and a ``detection`` pass; ``page_callbacks`` (``bench/pages.py``):
every page's initial Dash callbacks and a filter change, recorded in Chromium and timed again
(targets: < 500 ms initial, < 250 ms a filter change) against the served default demo at the
small scale, and against the scale's synthetic distributor (anchored at the run's start) at 10M;
``mixed_load`` (events and spans at fixed rates while readers load the overview and order pages:
the rates reached against the rates asked, the ingest lag, and the readers' p95 against the same
reads idle) and ``demo_rss`` (peak RSS of the server serving the default demo with live
traffic); see bench/mixed.py.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pyarrow as pa
import sqlalchemy as sa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.events_decode import make_body
from bench.ingest import EVENT_BATCH, _event_bodies, _post_all, _start_server, _wait_committed
from bench.mixed import demo_rss, mixed_load
from bench.otlp_decode import make_request
from bench.pages import page_callbacks
from bench.queries import _quiet
from bench.results import Run, latency, pct, plain, throughput
from bench.synthetic import load
from collectors.events import parse_events
from collectors.otlp import decode_traces
from models.detection.passes import run_detection
from models.ingest.writer import IngestWriter
from models.queries.common import Window
from models.queries.overview import overview
from models.queries.timeline import order_timeline
from models.store.db import make_engine
from models.store.schema import create_schema
from tests.live_server import free_port

#: scale → (days of the synthetic distributor, orders a day, stock updates a day, NDJSON bodies of 10k, OTLP requests)
SCALES = {
    "small": (2, 55_000, 30_000, 20, 60),
    "10m": (30, 55_000, 30_000, 60, 400),
}
#: The mixed load the issue asks for: events/s, spans/s, seconds.
MIXED = (20_000, 5_000, 20)
RECEIVED_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class _Event(msgspec.Struct):
    """The canonical event's fields, as msgspec would decode them (the decode limit)."""

    event_id: str
    correlation_id: str
    event_type: str
    source: str
    occurred_at: datetime
    target: str | None = None
    flow_id: str | None = None
    channel: str | None = None
    status: str = "ok"
    attempt: int = 1
    trace_id: str | None = None
    payload: msgspec.Raw = msgspec.Raw(b"null")


def _best_median(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def decode_scenarios(run: Run) -> None:
    """Event and OTLP decode per record, each beside its bare-library floor."""
    body = make_body(10_000)
    lines = body.split(b"\n")
    decoder = msgspec.json.Decoder(_Event)
    for _ in range(2):  # interleaved, twice: the second pair is reported
        flow = _best_median(lambda: parse_events(body, content_type="application/x-ndjson", received_at=RECEIVED_AT), 5)
        floor = _best_median(lambda: [decoder.decode(line) for line in lines], 5)
    run.add(latency("events_decode", "decode per event", flow / len(lines) * 1e6, "µs", floor / len(lines) * 1e6,
                    note="NDJSON → Arrow rows; limit: msgspec typed decode of the same lines"))  # fmt: skip
    protobuf = make_request(1000, 20).SerializeToString()
    for _ in range(2):
        flow = _best_median(
            lambda: decode_traces(protobuf, content_type="application/x-protobuf", content_encoding=None,
                                  max_bytes=64 << 20), 9)  # fmt: skip
        floor = _best_median(lambda: ExportTraceServiceRequest.FromString(protobuf), 9)
    run.add(latency("otlp_decode", "decode per span", flow / 1000 * 1e6, "µs", floor / 1000 * 1e6,
                    target="≤ 10 µs/span", note="1,000 spans x 20 attributes; limit: bare protobuf parse"))  # fmt: skip


def _arrow_append_limit(bodies: list[bytes], folder: Path, batch_rows: int = 100_000, name: str = "limit") -> float:
    """Events/s of DuckDB's bare Arrow append of the same rows into the same (empty) table."""
    tables = [parse_events(b, content_type="application/x-ndjson", received_at=RECEIVED_AT).table for b in bodies]
    whole = pa.concat_tables(tables)
    engine = make_engine(folder / f"{name}.duckdb")
    create_schema(engine)
    columns = ", ".join(f'"{c}"' for c in whole.column_names)
    began = time.perf_counter()
    with engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        for start in range(0, whole.num_rows, batch_rows):
            raw.register("_b", whole.slice(start, batch_rows))
            raw.execute("BEGIN")
            raw.execute(f"INSERT INTO business_events ({columns}) SELECT {columns} FROM _b")
            raw.execute("COMMIT")
            raw.unregister("_b")
    rate = whole.num_rows / (time.perf_counter() - began)
    engine.dispose()
    return rate


def _otlp_limit(payload: bytes, requests: int, folder: Path, name: str = "otlp-limit") -> float:
    """Spans/s of in-process decode + Arrow append of the same payload (no HTTP, no buffer)."""
    engine = make_engine(folder / f"{name}.duckdb")
    create_schema(engine)
    writer = IngestWriter(engine)
    per_commit = 100  # the server commits 100k-row batches; so does the limit
    began = time.perf_counter()
    for _ in range(0, requests, per_commit):
        parts = [
            decode_traces(
                payload, content_type="application/x-protobuf", content_encoding=None, max_bytes=64 << 20
            ).table
            for _ in range(min(per_commit, requests))
        ]
        writer.append("spans", pa.concat_tables(parts))
    rate = requests * 1000 / (time.perf_counter() - began)
    engine.dispose()
    return rate


def _post_ndjson(url: str, bodies: list[bytes]) -> tuple[float, list[float]]:
    """Committed events/s of sending ``bodies`` (2 clients), and the request latencies."""
    before = _committed_rows(url, "business_events")
    began = time.perf_counter()
    lat = _post_all(url, "/api/v1/events", bodies, {"content-type": "application/x-ndjson"}, 2)
    _wait_committed(url, "business_events", before + len(bodies) * EVENT_BATCH)
    return len(bodies) * EVENT_BATCH / (time.perf_counter() - began), lat


def _committed_rows(url: str, table: str) -> int:
    from bench.ingest import _committed

    return _committed(url, table)


def ingest_empty(run: Run, bodies: list[bytes], otlp_requests: int, folder: Path) -> float:
    """NDJSON and OTLP over HTTP into an empty database, each beside its in-process limit."""
    # Each limit is measured just before and just after its HTTP run and the mean taken: on a shared
    # machine the load moves between the two, and one side alone made the ratio swing 0.11-0.19.
    before = _arrow_append_limit(bodies, folder, name="limit-before")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_server(folder / "empty.duckdb", port)
    try:
        rate, lat = _post_ndjson(url, bodies)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    after = _arrow_append_limit(bodies, folder, name="limit-after")
    limit = (before + after) / 2
    run.add(
        throughput("ingest_ndjson", "committed events/s", rate, "events/s", limit, target="≥ 0.6 of the limit",
                   note=f"{len(bodies) * EVENT_BATCH:,} events over HTTP, 2 clients; limit: Arrow append, mean of "
                        f"before ({before:,.0f}) and after ({after:,.0f})"),
        plain("ingest_ndjson", "request p99 (10k events)", pct(lat, 99) * 1000, "ms"),
    )  # fmt: skip
    payload = make_request(1000, 20).SerializeToString()
    otlp_before = _otlp_limit(payload, otlp_requests, folder, name="otlp-limit-before")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_server(folder / "empty-otlp.duckdb", port)
    try:
        began = time.perf_counter()
        lat = _post_all(url, "/v1/traces", [payload] * otlp_requests, {"content-type": "application/x-protobuf"}, 2)
        _wait_committed(url, "spans", otlp_requests * 1000)
        spans_rate = otlp_requests * 1000 / (time.perf_counter() - began)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    otlp_after = _otlp_limit(payload, otlp_requests, folder, name="otlp-limit-after")
    limit = (otlp_before + otlp_after) / 2
    run.add(
        throughput("ingest_otlp", "committed spans/s", spans_rate, "spans/s", limit, target="≥ 0.5 of the limit",
                   note=f"1,000-span protobuf requests, 2 clients; limit: in-process decode + append, mean of "
                        f"before ({otlp_before:,.0f}) and after ({otlp_after:,.0f})"),
        plain("ingest_otlp", "request p99 (1,000 spans)", pct(lat, 99) * 1000, "ms", target="< 100 ms"),
    )  # fmt: skip
    return rate


def _bare_timeline(conn: sa.Connection, correlation_id: str) -> None:
    """The floor of a timeline: the indexed reads of the order's events and their traces' spans."""
    events = conn.exec_driver_sql(
        "SELECT event_id, event_type, flow_id, occurred_at, received_at, status, trace_id "
        "FROM business_events WHERE correlation_id = ?",
        (correlation_id,),
    ).all()
    traces = sorted({e[6] for e in events if e[6]})
    if traces:
        marks = ", ".join("?" for _ in traces)
        conn.exec_driver_sql(
            f"SELECT trace_id, span_id, name, start_time, end_time, status_code FROM spans WHERE trace_id IN ({marks})",
            tuple(traces),
        ).all()


def _paired(
    fn: Callable[[str], object], floor: Callable[[str], object], keys: list[str]
) -> tuple[list[float], list[float]]:
    """Time ``fn`` and ``floor`` on each key, alternating, so load swings hit both alike."""
    flow, bare = [], []
    for key in keys:
        began = time.perf_counter()
        fn(key)
        flow.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        floor(key)
        bare.append((time.perf_counter() - began) * 1000)
    return flow, bare


def writer_preloaded(run: Run, engine: sa.Engine, folder: Path, bodies: list[bytes]) -> None:
    """The writer's commit of one 10k-event batch into the loaded database, against the same into an
    empty one, alternating (in-process: no HTTP noise). The de-duplication is what differs."""
    tables = [parse_events(b, content_type="application/x-ndjson", received_at=RECEIVED_AT).table for b in bodies]
    empty = make_engine(folder / "writer-empty.duckdb")
    create_schema(empty)
    loaded_writer = IngestWriter(engine)

    def anti_join(table: pa.Table) -> None:  # the de-duplication before issue 14, for comparison
        with loaded_writer.transaction() as conn:
            loaded_writer.append_in(conn, "business_events", table, check_stored=True)

    appends: dict[str, Callable[[pa.Table], object]] = {
        "loaded": lambda t: loaded_writer.append("business_events", t),
        "empty": lambda t: IngestWriter(empty).append("business_events", t),
        "anti-join": anti_join,
    }
    times: dict[str, list[float]] = {name: [] for name in appends}
    for i, table in enumerate(tables[:10]):
        for name, append in appends.items():
            ids = pa.array([f"{name}-{i}-{k}" for k in range(table.num_rows)])
            began = time.perf_counter()
            append(table.set_column(0, "event_id", ids))
            times[name].append(time.perf_counter() - began)
    empty.dispose()
    loaded, bare, before = (statistics.median(times[n][1:]) for n in ("loaded", "empty", "anti-join"))
    run.add(
        throughput("writer_append_preloaded", "10k-event batch commit", EVENT_BATCH / loaded, "events/s",
                   EVENT_BATCH / bare, target="≥ 0.9 of the empty database",
                   note=f"in-process, median of 9: {loaded * 1e3:.0f} vs {bare * 1e3:.0f} ms"),
        throughput("writer_append_preloaded", "same, old anti-join dedup", EVENT_BATCH / before, "events/s",
                   EVENT_BATCH / bare, note=f"before issue 14: {before * 1e3:.0f} ms a batch"),
    )  # fmt: skip


def timeline_in_process(run: Run, engine: sa.Engine, orders: list[str]) -> float:
    """order_timeline() beside the bare indexed reads, on a first look-up and again."""
    with engine.connect() as conn:
        first, bare_first = _paired(lambda k: order_timeline(conn, correlation_id=k, engine=engine),
                                    lambda k: _bare_timeline(conn, k), orders)  # fmt: skip
        warm, bare_warm = _paired(lambda k: order_timeline(conn, correlation_id=k, engine=engine),
                                  lambda k: _bare_timeline(conn, k), orders)  # fmt: skip
    run.add(
        latency("order_timeline", "query, first look-up (median)", statistics.median(first), "ms",
                statistics.median(bare_first),
                note=f"{len(orders)} random orders, read as the API does; limit: bare indexed reads"),
        latency("order_timeline", "query, warm (median)", statistics.median(warm), "ms", statistics.median(bare_warm)),
        latency("order_timeline", "query, warm (p95)", pct(warm, 95), "ms", pct(bare_warm, 95)),
    )  # fmt: skip
    return statistics.median(bare_warm)


def _bare_rollup(conn: sa.Connection, since: datetime) -> None:
    """The floor of the overview: one pass over the per-order rollup for the window's counts and
    cycle-time percentiles (what the KPIs need at least; no per-flow, queue or exception reads)."""
    conn.exec_driver_sql(
        "SELECT count(*), count(dispatched_at), quantile_cont(epoch(dispatched_at - created_at), [0.5, 0.95]) "
        "FROM order_facts WHERE created_at >= ?",
        (since,),
    ).all()


def overview_and_detection(run: Run, engine: sa.Engine, anchor: datetime) -> None:
    """The overview KPIs (24 h to ``anchor``) beside a bare read of the rollup, and one detection pass."""
    day = Window.named("24h", now=anchor)
    with engine.connect() as conn:
        flow, bare = _paired(lambda _: overview(conn, now=anchor, window=day, engine=engine),
                             lambda _: _bare_rollup(conn, day.since), ["24h"] * 12)  # fmt: skip
    flow, bare = flow[2:], bare[2:]  # the first two warm the caches
    run.add(
        latency("overview_kpis", "24 h, median", statistics.median(flow), "ms", statistics.median(bare),
                note="as the API reads it (six reads, two at a time); limit: one bare pass over order_facts"),
        latency("overview_kpis", "24 h, p95", pct(flow, 95), "ms", pct(bare, 95), target="≤ 50 ms at 10M"),
    )  # fmt: skip
    with engine.begin() as conn:
        began = time.perf_counter()
        run_detection(conn, now=anchor)
        first = (time.perf_counter() - began) * 1000
    with engine.begin() as conn:
        began = time.perf_counter()
        run_detection(conn, now=anchor)
        steady = (time.perf_counter() - began) * 1000
    run.add(plain("detection", "first pass", first, "ms", target="< 5 s at 10M"),
            plain("detection", "steady pass", steady, "ms"))  # fmt: skip


def detection_backlog(run: Run, db: Path, orders: int) -> None:
    """Detection passes once ``orders`` orders sit unaccepted (the NDJSON scenarios' order.created
    events, never followed): what every scheduled pass costs during an ERP outage."""
    engine = make_engine(db)
    _quiet(engine)
    try:
        passes = []
        for _ in range(3):
            with engine.begin() as conn:
                began = time.perf_counter()
                run_detection(conn, now=datetime.now(UTC).replace(tzinfo=None))
                passes.append((time.perf_counter() - began) * 1000)
    finally:
        engine.dispose()
    run.add(plain("detection_backlog", "pass (median of 3)", statistics.median(passes), "ms", target="< 5 s at 10M",
                  note=f"{orders:,} orders stuck before ERP acceptance, one exception linking every one of them; "
                       f"slowest pass {max(passes):,.0f} ms"))  # fmt: skip


def preloaded(run: Run, bodies: list[bytes], empty_rate: float, db: Path, orders: list[str], bare_ms: float) -> None:
    """NDJSON into the loaded database (limit: the empty-database rate), then the timeline over HTTP."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_server(db, port)
    try:
        rate, _ = _post_ndjson(url, bodies)
        run.add(throughput("ingest_ndjson_preloaded", "committed events/s", rate, "events/s", empty_rate,
                           target="≥ 0.9 of the empty database",
                           note="the same bodies into the loaded database; limit: the empty-DB rate"))  # fmt: skip
        with httpx.Client(base_url=url, timeout=30) as client:
            client.get(f"/api/v1/orders/{orders[0]}").raise_for_status()
            look_up = [lambda k=key: client.get(f"/api/v1/orders/{k}").raise_for_status() for key in orders]
            first, warm = ([_timed(call) for call in look_up] for _ in range(2))
            hz = [_timed(lambda: client.get("/healthz").raise_for_status()) for _ in orders]
        floor = bare_ms + statistics.median(hz)
        run.add(
            latency("order_timeline_http", "GET /orders/{id}, first look-up (median)", statistics.median(first), "ms",
                    floor, note="each order's first look-up since the server started: DuckDB reads its index "
                                "nodes and row groups from the file"),
            latency("order_timeline_http", "GET /orders/{id}, warm (median)", statistics.median(warm), "ms", floor,
                    target="≤ 8 ms, ≥ 0.8 of the limit",
                    note="the same orders again; limit: the bare indexed reads + an HTTP round trip (GET /healthz)"),
            latency("order_timeline_http", "GET /orders/{id}, warm (p95)", pct(warm, 95), "ms", floor,
                    target="≤ 12 ms"),
        )  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _timed(call: Callable[[], object]) -> float:
    """Milliseconds ``call`` took."""
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="small")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary databases go")
    parser.add_argument("--only", nargs="*", default=None,
                        help="decode, ingest, timeline, queries, mixed, pages, rss (default: all)")  # fmt: skip
    args = parser.parse_args()
    days, orders_per_day, stock_per_day, batches, otlp_requests = SCALES[args.scale]
    only = set(args.only or ["decode", "ingest", "timeline", "queries", "mixed", "pages", "rss"])
    run = Run(args.scale)
    began = time.perf_counter()
    print(f"bench suite, scale {args.scale}: {run.machine()}", flush=True)
    if "decode" in only:
        decode_scenarios(run)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        # The synthetic distributor, anchored now so that pages served from it show data (the small
        # scale's pages serve the default demo instead).
        anchor = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
        db = folder / "loaded.duckdb"
        pages_loaded = "pages" in only and args.scale != "small"
        if only & {"timeline", "queries", "ingest", "mixed"} or pages_loaded:
            engine = make_engine(db)
            _quiet(engine)
            create_schema(engine)
            t0 = time.perf_counter()
            counts = load(engine, IngestWriter(engine), anchor=anchor, n_days=days, orders_per_day=orders_per_day,
                          stock_per_day=stock_per_day)  # fmt: skip
            with engine.begin() as conn:
                conn.exec_driver_sql("CHECKPOINT")
                keys = [r[0] for r in conn.exec_driver_sql("SELECT correlation_id FROM order_facts").all()]
            orders = random.Random(14).sample(keys, 60)
            rate = counts["business_events"] / (time.perf_counter() - t0)
            run.add(throughput("seed_synthetic", "events loaded/s", rate,
                               "events/s", None, note=", ".join(f"{k} {v:,}" for k, v in counts.items())),
                    plain("seed_synthetic", "database size", db.stat().st_size / 1e6, "MB"))  # fmt: skip
            bare_ms = timeline_in_process(run, engine, orders) if "timeline" in only else 0.0
            if "queries" in only:
                overview_and_detection(run, engine, anchor)
            bodies = _event_bodies(batches)
            if "ingest" in only:
                writer_preloaded(run, engine, folder, bodies)
            engine.dispose()
            if "ingest" in only:
                empty_rate = ingest_empty(run, bodies, otlp_requests, folder)
                preloaded(run, bodies, empty_rate, db, orders, bare_ms)
                detection_backlog(run, db, len(bodies) * EVENT_BATCH)
            if "mixed" in only:
                events_per_s, spans_per_s, seconds = MIXED
                mixed_load(run, db, orders, events_per_s=events_per_s, spans_per_s=spans_per_s, seconds=seconds)
        if "pages" in only:
            page_callbacks(run, folder, db if pages_loaded else None)
    if "rss" in only:
        demo_rss(run, args.dir)
    run.add(plain("bench", "peak RSS of the bench process", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "MB"), plain("bench", "wall time", time.perf_counter() - began, "s"))  # fmt: skip
    name = ("latest" if args.scale == "small" else f"latest-{args.scale}") if args.only is None else "partial"
    print(f"wrote {run.write(name=name)}")  # a partial run never replaces a whole one


if __name__ == "__main__":
    main()
