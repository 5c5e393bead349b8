"""Mixed load and memory: ingest at a steady rate while people read pages, and the server's peak RSS.

``mixed_load``: one server on the loaded database takes NDJSON events and OTLP spans at fixed
rates (paced, 1,000 records a request, two senders a stream), first alone, then while a reader
loads what the overview and order pages show (the overview KPIs and an order timeline over the
API) every half second. It reports the rates reached against the rates asked (the ratio), the
ingest lag (rows acknowledged but not yet committed, in seconds of the asked rate, sampled from
/metrics), each ingest path's request p99 with the reader against the same without it, and each
read's p95 against the same read on the same server idle just before (the limits).

``demo_rss``: the demo as ``flowwatch demo`` serves it (default history, live traffic on),
each page and the API reads loaded a few times; the server process's peak RSS (VmHWM).
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from bench.ingest import _committed, _start_server
from bench.otlp_decode import make_request
from bench.results import Run, latency, pct, plain, throughput
from tests.live_server import free_port

REQUEST_RECORDS = 1_000
SENDERS = 2
_COUNT = threading.Lock()
PAGES = ("/", "/flows", "/orders", "/exceptions", "/ingest", "/alerts")


def _event_body(n: int) -> bytes:
    steps = ("order.created", "order.accepted", "order.released", "shipment.dispatched")
    common = {"source": "shopify", "target": "d365", "flow_id": "shopify-d365-orders",
              "occurred_at": "2026-05-01T10:00:00Z", "payload": {"total": "120.00"}}  # fmt: skip
    return b"\n".join(
        orjson.dumps(
            {"event_id": f"mixed-{n}-{i}", "correlation_id": f"MIX-{n}-{i // 4}", "event_type": steps[i % 4], **common}
        )
        for i in range(REQUEST_RECORDS)
    )


def _paced(url: str, path: str, bodies: list[bytes], headers: dict[str, str], rate: float, stop: threading.Event,
           sent: list[int], took: list[float]) -> None:  # fmt: skip
    """Post one body every ``REQUEST_RECORDS / rate`` seconds until ``stop``; count what was
    acknowledged and keep each request's time (ms)."""
    every = REQUEST_RECORDS / rate
    with httpx.Client(timeout=60) as client:
        due = time.perf_counter()
        for body in bodies:
            if stop.is_set():
                return
            began = time.perf_counter()
            r = client.post(f"{url}{path}", content=body, headers=headers)
            with _COUNT:
                took.append((time.perf_counter() - began) * 1000)
                if r.status_code == 200:
                    sent[0] += REQUEST_RECORDS
            due += every
            time.sleep(max(0.0, due - time.perf_counter()))


def _overview(client: httpx.Client) -> float:
    """One read of the overview KPIs (ms)."""
    began = time.perf_counter()
    client.get("/api/v1/kpis/overview?range=24h").raise_for_status()
    return (time.perf_counter() - began) * 1000


def _timeline(client: httpx.Client, order: str) -> float:
    """One read of an order's timeline (ms)."""
    began = time.perf_counter()
    client.get(f"/api/v1/orders/{order}").raise_for_status()
    return (time.perf_counter() - began) * 1000


@dataclass
class _Phase:
    """What one paced-ingest phase measured."""

    events_rate: float = 0.0
    spans_rate: float = 0.0
    ndjson_ms: list[float] = field(default_factory=list)  # each NDJSON request's time
    otlp_ms: list[float] = field(default_factory=list)
    overview_ms: list[float] = field(default_factory=list)
    timeline_ms: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)  # seconds of the asked rate acknowledged, not committed
    server_cores: float = 0.0  # the server process's CPU time over the phase's wall time
    bench_cores: float = 0.0  # this process's (the senders' and the reader's), on the same machine


def _phase(url: str, pid: int, client: httpx.Client, bodies: tuple[list[bytes], list[bytes]],
           rates: tuple[float, float], seconds: float, orders: list[str] | None) -> _Phase:  # fmt: skip
    """Ingest at ``rates`` (events/s, spans/s) for ``seconds``; with ``orders``, a reader loads the
    overview KPIs and an order timeline every half second meanwhile."""
    events_per_s, spans_per_s = rates
    out = _Phase()
    stop = threading.Event()
    base = {t: _committed(url, t) for t in ("business_events", "spans")}
    sent_events, sent_spans = [0], [0]
    # Two senders a stream, each at half the rate on its own bodies: one sequential client
    # would cap the rate at one request per server round trip.
    ndjson, protobuf = {"content-type": "application/x-ndjson"}, {"content-type": "application/x-protobuf"}
    streams = (("/api/v1/events", bodies[0], ndjson, events_per_s, sent_events, out.ndjson_ms),
               ("/v1/traces", bodies[1], protobuf, spans_per_s, sent_spans, out.otlp_ms))  # fmt: skip
    workers = [
        threading.Thread(target=_paced, args=(url, path, mine[k::SENDERS], headers, rate / SENDERS, stop, sent, took))
        for path, mine, headers, rate, sent, took in streams
        for k in range(SENDERS)
    ]
    cpu = (_cpu_seconds(pid), resource.getrusage(resource.RUSAGE_SELF))
    began = time.perf_counter()
    for w in workers:
        w.start()
    n = 0
    while time.perf_counter() - began < seconds:
        due = time.perf_counter() + 0.5
        if orders is not None:
            out.overview_ms.append(_overview(client))
            out.timeline_ms.append(_timeline(client, orders[n % len(orders)]))
            n += 1
        behind = sent_events[0] - (_committed(url, "business_events") - base["business_events"])
        behind_spans = sent_spans[0] - (_committed(url, "spans") - base["spans"])
        out.lag.append(max(behind / events_per_s, behind_spans / spans_per_s, 0.0))
        time.sleep(max(0.0, due - time.perf_counter()))
    stop.set()
    elapsed = time.perf_counter() - began
    for w in workers:
        w.join()
    out.events_rate, out.spans_rate = sent_events[0] / elapsed, sent_spans[0] / elapsed
    out.server_cores = (_cpu_seconds(pid) - cpu[0]) / elapsed
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.bench_cores = (usage.ru_utime + usage.ru_stime - cpu[1].ru_utime - cpu[1].ru_stime) / elapsed
    return out


def mixed_load(run: Run, db: Path, orders: list[str], *, events_per_s: float, spans_per_s: float,
               seconds: float) -> None:  # fmt: skip
    """Paced NDJSON + OTLP ingest alone, then beside a page reader, on the loaded database."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_server(db, port)
    n_event_bodies = int(events_per_s * seconds / REQUEST_RECORDS) + 1
    span_body = make_request(REQUEST_RECORDS, 20).SerializeToString()
    spans = [span_body] * (int(spans_per_s * seconds / REQUEST_RECORDS) + 1)
    rates = (events_per_s, spans_per_s)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            for order in orders[:3]:  # warm-up
                _overview(client)
                _timeline(client, order)
            idle_overview = [_overview(client) for _ in range(30)]
            idle_timeline = [_timeline(client, orders[i % len(orders)]) for i in range(30)]
            first = [_event_body(n) for n in range(n_event_bodies)]
            alone = _phase(url, proc.pid, client, (first, spans), rates, seconds, None)
            then = [_event_body(n) for n in range(n_event_bodies, 2 * n_event_bodies)]  # new events
            read = _phase(url, proc.pid, client, (then, spans), rates, seconds, orders)
    finally:
        rss = _peak_rss_mb(proc.pid)
        proc.terminate()
        proc.wait(timeout=60)
    asked = f"asked {events_per_s:,.0f} events/s + {spans_per_s:,.0f} spans/s for {seconds:.0f} s"
    reads = "the reader loads the overview KPIs and an order timeline every 0.5 s"
    run.add(
        throughput("mixed_load", "events/s acknowledged", read.events_rate, "events/s", events_per_s,
                   target="1.0 of the asked rate", note=f"{asked}, while {reads}; limit: the asked rate"),
        throughput("mixed_load", "spans/s acknowledged", read.spans_rate, "spans/s", spans_per_s,
                   target="1.0 of the asked rate"),
        plain("mixed_load", "ingest lag p95 (acked, not committed)", pct(read.lag, 95), "s",
              note=f"max {max(read.lag):.2f} s; sampled from /metrics every 0.5 s"),
        latency("mixed_load", "OTLP request p99 (1,000 spans) with reads", pct(read.otlp_ms, 99), "ms",
                pct(alone.otlp_ms, 99), target="≤ 1.5× the limit",
                note=f"limit: the same ingest {seconds:.0f} s before, without the reader"),
        latency("mixed_load", "NDJSON request p99 (1,000 events) with reads", pct(read.ndjson_ms, 99), "ms",
                pct(alone.ndjson_ms, 99), target="≤ 1.5× the limit"),
        latency("mixed_load", "overview KPIs p95 under load", pct(read.overview_ms, 95), "ms", pct(idle_overview, 95),
                target="≤ 1.5× the limit", note="limit: the same read idle, just before (30 reads)"),
        latency("mixed_load", "order timeline p95 under load", pct(read.timeline_ms, 95), "ms",
                pct(idle_timeline, 95), note="limit: the same read idle, just before (30 reads)"),
        plain("mixed_load", "CPU used, ingest alone", alone.server_cores + alone.bench_cores, "cores",
              note=f"server {alone.server_cores:.2f} + bench senders {alone.bench_cores:.2f}, of the machine's "
                   f"{os.cpu_count()}"),
        plain("mixed_load", "CPU used, ingest with the reader", read.server_cores + read.bench_cores, "cores",
              note=f"server {read.server_cores:.2f} + bench senders and reader {read.bench_cores:.2f}"),
        plain("mixed_load", "server peak RSS", rss, "MB", note="the loaded database served under the mixed load"),
    )  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (/proc/<pid>/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def demo_rss(run: Run, folder: Path | None = None) -> None:
    """Seed the default demo, serve it with live traffic, load every page and the API reads; peak RSS."""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        db = Path(tmp) / "demo.duckdb"
        port = free_port()
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "demo", "--db", str(db), "--port", str(port)],
            env=dict(os.environ, FLOWWATCH_AUTH="off"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(3000):  # seeding the default demo comes first
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            seeded = time.perf_counter() - began
            with httpx.Client(base_url=url, timeout=60) as client:
                found = client.get("/api/v1/orders", params={"q": "SHP", "limit": 20}).json()["results"]
                orders = [r["correlation_id"] for r in found] or ["SHP-1"]
                for _ in range(3):
                    for page in PAGES:
                        client.get(page).raise_for_status()
                    client.get("/api/v1/kpis/overview?range=24h").raise_for_status()
                    client.get("/api/v1/exceptions?limit=50").raise_for_status()
                    for key in random.Random(3).sample(orders, min(5, len(orders))):
                        client.get(f"/api/v1/orders/{key}")
            rss = _peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    run.add(plain("demo_rss", "server peak RSS serving the demo", rss, "MB", target="",
                  note=f"default demo (30 days x 1,500 orders) with live traffic; seeded and up in {seeded:.0f} s; "
                       "pages and API reads loaded 3 times"))  # fmt: skip
