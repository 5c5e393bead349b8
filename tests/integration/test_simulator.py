"""The live simulator against a real server: events, webhooks, spans and queue samples arrive."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from app.settings import load_settings
from seed_data.live_simulator import LiveSimulator, SimulatorConfig
from seed_data.live_traffic import STAGES
from seed_data.order_hops import HOPS
from tests.integration.conftest import SHOPIFY_SECRET
from tests.live_server import LiveServer, free_port, serve


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = load_settings(
        db=tmp_path / "flowwatch.duckdb", shopify_secret=SHOPIFY_SECRET, ingest_max_delay_seconds=0.05
    )
    with serve(settings) as live:
        yield live


def _rows(server: LiveServer, sql: str) -> list[tuple]:
    with server.ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql).fetchall()]


def test_live_traffic_arrives_through_the_real_ingest_paths(server: LiveServer) -> None:
    simulator = LiveSimulator(
        SimulatorConfig(
            base_url=server.url,
            shopify_secret=SHOPIFY_SECRET,
            orders_per_minute=300,
            speed=20_000.0,  # the history's hours in about a second: created → invoiced within the run
            seed=11,
            tick_seconds=0.2,
            sample_seconds=1,
        )
    )
    simulator.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until every lifecycle step has gone out at least once
        time.sleep(0.2)
        with server.ctx.engine.connect() as conn:
            kinds = conn.exec_driver_sql("SELECT count(DISTINCT event_type) FROM business_events").scalar_one()
        if kinds >= len(STAGES) and simulator.stats.orders > 20 and simulator.stats.samples > 0:
            break
    simulator.stop()  # exports the spans still queued
    server.ctx.buffer.flush()
    stats = simulator.stats
    assert stats.orders > 20 and stats.failed_posts == 0

    # Events: every lifecycle step, from both the events API and signed Shopify webhooks.
    by_type = dict(_rows(server, "SELECT event_type, count(*) FROM business_events GROUP BY 1"))
    assert set(by_type) == {hop.event_type for (stage, _), hop in HOPS.items() if stage in STAGES}
    assert len(by_type) == len(STAGES)
    [(webhooks, canonical)] = _rows(
        server,
        "SELECT count(*) FILTER (WHERE event_id LIKE 'shopify:%'), count(*) FILTER (WHERE event_id LIKE 'evt_live_%') "
        "FROM business_events",
    )
    assert (webhooks, canonical) == (stats.webhooks, stats.events) and webhooks > 0
    assert _rows(server, "SELECT count(*) FROM business_events WHERE NOT regexp_matches(correlation_id, "
                         "'^(SHP|ADB|B2B)-9[0-9]{9}$')") == [(0,)]  # fmt: skip
    counts = server.ctx.counters.snapshot()
    assert counts["events"]["accepted"] == stats.events and counts["webhook:shopify"]["accepted"] == webhooks

    # Spans: from the real OTLP exporter, one trace per delivery, joined to the events.
    [(spans, services)] = _rows(server, "SELECT count(*), count(DISTINCT service_name) FROM spans")
    assert spans == stats.spans and services == 5
    unjoined = _rows(
        server,
        """
        SELECT count(*) FROM business_events e
        WHERE e.trace_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM spans s WHERE s.trace_id = e.trace_id AND s.correlation_id = e.correlation_id)
        """,
    )
    assert unjoined == [(0,)]
    assert _rows(
        server,
        "SELECT count(*) FROM spans s WHERE NOT EXISTS ("
        "SELECT 1 FROM business_events e WHERE e.correlation_id = s.correlation_id)",
    ) == [(0,)]
    failed_spans = _rows(server, "SELECT count(*) FROM spans WHERE status_code = 'error'")[0][0]
    failed_events = _rows(server, "SELECT count(*) FROM business_events WHERE status <> 'ok'")[0][0]
    assert failed_spans == failed_events  # each failed delivery ends in one error span

    # Queue samples for the demo broker's queues, pushed every second.
    queues = dict(_rows(server, "SELECT queue, max(consumers) FROM queue_samples WHERE broker = 'rabbitmq-main' "
                                "GROUP BY 1"))  # fmt: skip
    assert queues["orders.shopify"] == 6 and queues["orders.shopify.dlq"] == 0
    assert _rows(server, "SELECT count(*) FROM queue_samples")[0][0] == stats.samples


class _Busy(BaseHTTPRequestHandler):
    """A server under back-pressure: the first events POST gets 503 with Retry-After: 1."""

    posts: ClassVar[list[tuple[str, float]]] = []

    def do_GET(self) -> None:
        self._answer(200)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        busy = self.path == "/api/v1/events" and not any(p == self.path for p, _ in self.posts)
        self.posts.append((self.path, time.monotonic()))
        self._answer(503 if busy else 200, {"Retry-After": "1"} if busy else {})

    def _answer(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_backs_off_on_503_with_retry_after_and_stops_cleanly() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _Busy.posts = []
    simulator = LiveSimulator(
        SimulatorConfig(
            base_url=f"http://127.0.0.1:{httpd.server_address[1]}",
            shopify_secret="s",
            orders_per_minute=600,
            speed=600.0,
            tick_seconds=0.1,
            sample_seconds=60,
        )
    )
    try:
        simulator.start()
        deadline = time.monotonic() + 10
        while sum(p == "/api/v1/events" for p, _ in _Busy.posts) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        simulator.stop()
        httpd.shutdown()
        httpd.server_close()
    first, second = [t for p, t in _Busy.posts if p == "/api/v1/events"][:2]
    assert second - first >= 0.95  # the same batch again, after Retry-After
    assert simulator.stats.retries >= 1 and simulator.stats.failed_posts == 0
    assert not simulator.running


def test_stops_promptly_when_the_server_never_came_up() -> None:
    simulator = LiveSimulator(SimulatorConfig(base_url=f"http://127.0.0.1:{free_port()}", shopify_secret="s"))
    simulator.start()
    assert simulator.running  # it waits for a server that never answers
    started = time.monotonic()
    simulator.stop()
    assert time.monotonic() - started < 3 and not simulator.running
    assert simulator.stats.orders == 0 and simulator.stats.failed_posts == 0
