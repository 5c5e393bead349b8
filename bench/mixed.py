"""Mixed load and memory: ingest at a steady rate while people read pages, and the server's peak RSS.

``mixed_load``: one server on the loaded database takes NDJSON events and OTLP spans at fixed
rates (paced, 1,000 records a request, two senders a stream) while readers fetch what the overview and order pages
show (the overview KPIs and an order timeline over the API). It reports the rates reached
against the rates asked (the ratio), the ingest lag (rows acknowledged but not yet committed,
in seconds of the asked rate, sampled from /metrics), and the readers' p95 against the same
reads on the same server idle just before (the limit).

``demo_rss``: the demo as ``flowwatch demo`` serves it (default history, live traffic on),
each page and the API reads loaded a few times; the server process's peak RSS (VmHWM).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import threading
import time
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
           sent: list[int]) -> None:  # fmt: skip
    """Post one body every ``REQUEST_RECORDS / rate`` seconds until ``stop``; count what was acknowledged."""
    every = REQUEST_RECORDS / rate
    with httpx.Client(timeout=60) as client:
        due = time.perf_counter()
        for body in bodies:
            if stop.is_set():
                return
            r = client.post(f"{url}{path}", content=body, headers=headers)
            if r.status_code == 200:
                with _COUNT:
                    sent[0] += REQUEST_RECORDS
            due += every
            time.sleep(max(0.0, due - time.perf_counter()))


def _reads(client: httpx.Client, orders: list[str], n: int) -> list[float]:
    """``n`` page reads: the overview KPIs and an order timeline, alternately (ms)."""
    out = []
    for i in range(n):
        path = "/api/v1/kpis/overview?range=24h" if i % 2 else f"/api/v1/orders/{orders[i % len(orders)]}"
        began = time.perf_counter()
        client.get(path).raise_for_status()
        out.append((time.perf_counter() - began) * 1000)
    return out


def mixed_load(run: Run, db: Path, orders: list[str], *, events_per_s: float, spans_per_s: float,
               seconds: float) -> None:  # fmt: skip
    """Paced NDJSON + OTLP ingest beside page readers on the loaded database."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_server(db, port)
    stop = threading.Event()
    n_event_bodies = int(events_per_s * seconds / REQUEST_RECORDS) + 1
    event_bodies = [_event_body(n) for n in range(n_event_bodies)]
    span_body = make_request(REQUEST_RECORDS, 20).SerializeToString()
    n_span_bodies = int(spans_per_s * seconds / REQUEST_RECORDS) + 1
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            _reads(client, orders, 6)
            idle = _reads(client, orders, 60)
            base = {t: _committed(url, t) for t in ("business_events", "spans")}
            sent_events, sent_spans = [0], [0]
            # Two senders a stream, each at half the rate on its own bodies: one sequential client
            # would cap the rate at one request per server round trip.
            ndjson, protobuf = {"content-type": "application/x-ndjson"}, {"content-type": "application/x-protobuf"}
            streams = (("/api/v1/events", event_bodies, ndjson, events_per_s, sent_events),
                       ("/v1/traces", [span_body] * n_span_bodies, protobuf, spans_per_s, sent_spans))  # fmt: skip
            workers = [
                threading.Thread(
                    target=_paced, args=(url, path, bodies[k::SENDERS], headers, rate / SENDERS, stop, sent)
                )
                for path, bodies, headers, rate, sent in streams
                for k in range(SENDERS)
            ]
            began = time.perf_counter()
            for w in workers:
                w.start()
            busy: list[float] = []
            lag: list[float] = []
            while time.perf_counter() - began < seconds:
                busy += _reads(client, orders, 2)
                behind = sent_events[0] - (_committed(url, "business_events") - base["business_events"])
                behind_spans = sent_spans[0] - (_committed(url, "spans") - base["spans"])
                lag.append(max(behind / events_per_s, behind_spans / spans_per_s, 0.0))
                time.sleep(0.2)
            stop.set()
            elapsed = time.perf_counter() - began
            for w in workers:
                w.join()
            events_rate, spans_rate = sent_events[0] / elapsed, sent_spans[0] / elapsed
    finally:
        rss = _peak_rss_mb(proc.pid)
        proc.terminate()
        proc.wait(timeout=60)
    asked = f"asked {events_per_s:,.0f} events/s + {spans_per_s:,.0f} spans/s for {seconds:.0f} s"
    run.add(
        throughput("mixed_load", "events/s acknowledged", events_rate, "events/s", events_per_s,
                   target="1.0 of the asked rate", note=f"{asked}; limit: the asked rate"),
        throughput("mixed_load", "spans/s acknowledged", spans_rate, "spans/s", spans_per_s,
                   target="1.0 of the asked rate"),
        plain("mixed_load", "ingest lag p95 (acked, not committed)", pct(lag, 95), "s",
              note=f"max {max(lag):.2f} s; sampled from /metrics every ~0.2 s"),
        latency("mixed_load", "page read p95 under load", pct(busy, 95), "ms", pct(idle, 95),
                note="overview KPIs and order timelines alternately; limit: the same reads idle"),
        plain("mixed_load", "server peak RSS", rss, "MB", note="the loaded database served under the mixed load"),
    )  # fmt: skip


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
