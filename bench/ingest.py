"""Sustained ingest through a real server: NDJSON events/s, OTLP spans/s, p99 under reads.

Run: ``python -m bench ingest [--event-batches 60] [--otlp-requests 400] [--clients 2]``.
The server runs as its own process (``python -m app serve``) on a temp database; the
clients send pre-encoded bodies (PERF-NOTES: the SDK exporter itself tops out near 6.5k
spans/s, so it cannot load the server), while a reader thread polls the overview KPIs
the dashboard shows. Rates count what the server acknowledged; the committed figure is
read from its /metrics once the buffer has drained.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

from bench.otlp_decode import make_request
from tests.live_server import free_port

EVENT_BATCH = 10_000


def _event_bodies(batches: int, prefix: str = "bench") -> list[bytes]:
    """``batches`` NDJSON bodies of ``EVENT_BATCH`` order.created events, ids ``<prefix>-<body>-<line>``."""
    bodies = []
    for b in range(batches):
        lines = [
            orjson.dumps(
                {
                    "event_id": f"{prefix}-{b}-{i}",
                    "correlation_id": f"SHP-{b * EVENT_BATCH + i}",
                    "event_type": "order.created",
                    "source": "shopify",
                    "target": "d365",
                    "flow_id": "shopify-d365-orders",
                    "channel": "shopify",
                    "occurred_at": "2026-05-01T10:00:00Z",
                    "trace_id": f"{b:016x}{i:016x}",
                    "payload": {"lines": [{"sku": "JAN-1001", "qty": 2}], "total": "120.00"},
                }
            )
            for i in range(EVENT_BATCH)
        ]
        bodies.append(b"\n".join(lines))
    return bodies


def _start_server(db: Path | str, port: int, **extra_env: str) -> subprocess.Popen[bytes]:
    # Auth off: the bench measures the ingest path, not key look-ups (one per request either way).
    env = {**os.environ, "FLOWWATCH_AUTH": "off", "FLOWWATCH_INGEST_BATCH_ROWS": "100000",
           "FLOWWATCH_INGEST_MAX_DELAY_SECONDS": "0.5", **extra_env}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--db", str(db), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def _committed(url: str, table: str) -> int:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(f'flowwatch_ingest_committed_rows_total{{table="{table}"}}'):
            return int(float(line.split()[-1]))
    return 0


def _post_all(url: str, path: str, bodies: list[bytes], headers: dict[str, str], clients: int) -> list[float]:
    """Send every body once, ``clients`` at a time; retry on 503; return request latencies."""
    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(enumerate(bodies))

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    _, body = queue.pop()
                while True:
                    started = time.perf_counter()
                    r = client.post(f"{url}{path}", content=body, headers=headers)
                    if r.status_code == 503:
                        time.sleep(float(r.headers.get("retry-after", "1")))
                        continue
                    r.raise_for_status()
                    with lock:
                        latencies.append(time.perf_counter() - started)
                    break

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def _wait_committed(url: str, table: str, expected: int, timeout: float = 300) -> float:
    started = time.perf_counter()
    while _committed(url, table) < expected and time.perf_counter() - started < timeout:
        time.sleep(0.1)
    return time.perf_counter() - started


def _otlp_while_reading(
    url: str, bodies: list[bytes], headers: dict[str, str], clients: int, every: float
) -> tuple[list[float], list[float], float]:
    """Send ``bodies`` while a reader polls the overview KPIs every ``every`` seconds."""
    stop = threading.Event()
    reads: list[float] = []

    def reader() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                t0 = time.perf_counter()
                client.get(f"{url}/api/v1/kpis/overview?range=24h").raise_for_status()
                reads.append(time.perf_counter() - t0)
                stop.wait(every)

    read_thread = threading.Thread(target=reader)
    read_thread.start()
    started = time.perf_counter()
    lat = _post_all(url, "/v1/traces", bodies, headers, clients)
    elapsed = time.perf_counter() - started
    stop.set()
    read_thread.join()
    return reads, lat, len(bodies) * 1000 / elapsed


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--event-batches", type=int, default=60, help="NDJSON bodies of 10,000 events")
    parser.add_argument("--otlp-requests", type=int, default=400, help="OTLP requests of 1,000 spans")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument(
        "--read-every",
        type=float,
        nargs="+",
        default=[2.0, 0.5],
        help="seconds between overview reads during the latency runs (2 s ≈ 8 people on 15 s refresh)",
    )
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    bodies = _event_bodies(args.event_batches)
    otlp = make_request(1000, 20).SerializeToString()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start_server(Path(tmp) / "bench.duckdb", port)
        try:
            events = len(bodies) * EVENT_BATCH
            started = time.perf_counter()
            lat = _post_all(url, "/api/v1/events", bodies, {"content-type": "application/x-ndjson"}, args.clients)
            acked = time.perf_counter() - started
            drain = _wait_committed(url, "business_events", events)
            print(
                f"events NDJSON: {events:,} events in {acked:.1f} s = {events / acked:,.0f} events/s acknowledged; "
                f"all committed {drain:.1f} s later = {events / (acked + drain):,.0f} events/s committed; "
                f"request p50 {_pct(lat, 50) * 1000:.0f} ms, p99 {_pct(lat, 99) * 1000:.0f} ms"
            )

            spans = args.otlp_requests * 1000
            bodies_otlp = [otlp] * args.otlp_requests
            headers = {"content-type": "application/x-protobuf"}
            started = time.perf_counter()
            lat = _post_all(url, "/v1/traces", bodies_otlp, headers, args.clients)
            acked = time.perf_counter() - started
            drain = _wait_committed(url, "spans", spans)
            print(
                f"OTLP protobuf: {spans:,} spans in {acked:.1f} s = {spans / acked:,.0f} spans/s acknowledged; "
                f"committed {drain:.1f} s later = {spans / (acked + drain):,.0f} spans/s committed; "
                f"1,000-span request p50 {_pct(lat, 50) * 1000:.0f} ms, p99 {_pct(lat, 99) * 1000:.0f} ms"
            )

            for sent, every in enumerate(args.read_every, start=2):  # OTLP batches sent so far, this one included
                reads, lat, rate = _otlp_while_reading(url, bodies_otlp, headers, args.clients, every)
                _wait_committed(url, "spans", spans * sent)
                print(
                    f"OTLP while the overview KPIs are read every {every:g} s ({len(reads)} reads, p50 "
                    f"{_pct(reads, 50) * 1000:.0f} ms): {rate:,.0f} spans/s; 1,000-span request "
                    f"p50 {_pct(lat, 50) * 1000:.0f} ms, p99 {_pct(lat, 99) * 1000:.0f} ms"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
