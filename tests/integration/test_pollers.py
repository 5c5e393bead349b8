"""Queue pollers against a real RabbitMQ, real HTTP servers, and endpoints that are down."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pika
import pika.exceptions
import pyarrow as pa
import pytest

from app.context import open_context
from app.settings import load_settings
from collectors.pollers import PartialPoll, PollError, PollerRunner, poll
from collectors.pollers.json_endpoint import JsonPoller
from collectors.pollers.prometheus import PrometheusPoller
from collectors.pollers.rabbitmq import RabbitMqPoller
from collectors.pollers.rabbitmq_management import RabbitMqManagementPoller
from dashboards.components.ingest import poller_health
from models.ingest.buffer import Backpressure
from tests.live_server import free_port

# The real RabbitMQ, shared with other test workers (tests/conftest.py: one test restarts it).
pytestmark = pytest.mark.rabbitmq

SAMPLES = Path(__file__).parents[1] / "unit" / "collectors" / "samples"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
NOW = datetime(2024, 5, 1, 10, 0, 0)  # the recorded exporter's head timestamps are 600 s / 3,600 s before


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rabbitmq() -> str:
    """The local broker's URL; skipped (named why) when it is not running, failed under CI."""
    deadline = time.monotonic() + (60 if os.environ.get("CI") == "true" else 0)
    while True:
        try:
            pika.BlockingConnection(pika.URLParameters(AMQP_URL + "?socket_timeout=2&connection_attempts=1")).close()
            return AMQP_URL
        except pika.exceptions.AMQPError as exc:
            reason = f"{type(exc).__name__}: {exc!r}"
        if time.monotonic() >= deadline:
            break
        time.sleep(1)  # under CI the broker may still be booting (rabbitmq-server -detached)
    message = f"RabbitMQ not reachable on 127.0.0.1:5672: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class QueuePair:
    """A work queue dead-lettering into its ``.dlq``, on a channel the test drives."""

    name: str
    dlq: str
    channel: pika.adapters.blocking_connection.BlockingChannel


@pytest.fixture()
def queue_pair(rabbitmq: str) -> Iterator[QueuePair]:
    """Uniquely named queues, deleted afterwards."""
    name = f"fw-test.{uuid.uuid4().hex[:8]}.orders"
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq))
    channel = connection.channel()
    channel.queue_declare(f"{name}.dlq")
    channel.queue_declare(name, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{name}.dlq"})
    try:
        yield QueuePair(name, f"{name}.dlq", channel)
    finally:
        cleanup = connection.channel() if not channel.is_open else channel
        cleanup.queue_delete(name)
        cleanup.queue_delete(f"{name}.dlq")
        connection.close()


@dataclass
class StaticServer:
    """A real HTTP server on a loopback port answering every GET with one body."""

    body: bytes
    content_type: str
    port: int = 0
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


StartServer = Callable[..., StaticServer]


@pytest.fixture()
def http_server() -> Iterator[StartServer]:
    """Start ``StaticServer``s (optionally on a given port); all are stopped at the end."""
    servers: list[ThreadingHTTPServer] = []

    def start(body: bytes, content_type: str, port: int = 0) -> StaticServer:
        static = StaticServer(body, content_type)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                static.requests.append((self.path, self.headers.get("Authorization")))
                self.send_response(200)
                self.send_header("Content-Type", static.content_type)
                self.send_header("Content-Length", str(len(static.body)))
                self.end_headers()
                self.wfile.write(static.body)

            def log_message(self, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        static.port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return static

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def _amqp_poller(pair: QueuePair, **over: object) -> RabbitMqPoller:
    return RabbitMqPoller(
        name="amqp",
        url=AMQP_URL,
        broker="rabbitmq-test",
        queues=[pair.name, pair.dlq],
        flow_by_queue={pair.name: "shopify-d365-orders", pair.dlq: "shopify-d365-orders"},
        **over,
    )


def _by_queue(samples: list) -> dict[str, tuple[int, int | None, bool, str | None]]:
    return {s.queue: (s.depth, s.consumers, s.is_dlq, s.flow_id) for s in samples}


# -- RabbitMQ over AMQP ------------------------------------------------------------------


def test_amqp_depth_consumers_and_dead_letters(queue_pair: QueuePair) -> None:
    pair, channel = queue_pair, queue_pair.channel
    for i in range(7):
        channel.basic_publish("", pair.name, f"order {i}".encode())
    config = _amqp_poller(pair)

    assert _by_queue(poll(config, NOW)) == {
        pair.name: (7, 0, False, "shopify-d365-orders"),
        pair.dlq: (0, 0, True, "shopify-d365-orders"),
    }

    # A consumer rejects three messages without requeue: the broker dead-letters them.
    for _ in range(3):
        method, _, _ = channel.basic_get(pair.name)
        channel.basic_reject(method.delivery_tag, requeue=False)
    assert _by_queue(poll(config, NOW)) == {
        pair.name: (4, 0, False, "shopify-d365-orders"),
        pair.dlq: (3, 0, True, "shopify-d365-orders"),
    }

    # A live consumer is counted; with prefetch 1 one message is unacked, so three are ready.
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(pair.name, on_message_callback=lambda *a: None)
    deadline = time.monotonic() + 5
    while (seen := _by_queue(poll(config, NOW))[pair.name]) != (3, 1, False, "shopify-d365-orders"):
        assert time.monotonic() < deadline, f"consumer never showed up: {seen}"
        time.sleep(0.1)


def test_amqp_missing_queue_keeps_the_others(queue_pair: QueuePair) -> None:
    config = _amqp_poller(queue_pair).model_copy(update={"queues": [queue_pair.name, "fw-test.no-such-queue"]})
    with pytest.raises(PartialPoll, match=r"rabbitmq-test \(amqp 127.0.0.1:5672 vhost '/'\): no such queue: "
                                          r"fw-test.no-such-queue") as caught:  # fmt: skip
        poll(config, NOW)
    assert [(s.queue, s.depth) for s in caught.value.samples] == [(queue_pair.name, 0)]


def test_scheduled_amqp_poller_lands_samples_in_the_database(queue_pair: QueuePair, tmp_path: Path) -> None:
    for _ in range(5):
        queue_pair.channel.basic_publish("", queue_pair.name, b"{}")
    config = _amqp_poller(queue_pair, interval_seconds=1)
    settings = load_settings(db=tmp_path / "fw.duckdb", pollers=[config], ingest_max_delay_seconds=0.05)
    ctx = open_context(settings)
    ctx.start()
    try:
        assert ctx.scheduler.get_job("poll:amqp") is not None
        deadline = time.monotonic() + 15
        while True:
            with ctx.engine.connect() as conn:
                rows = conn.exec_driver_sql(
                    "SELECT queue, depth, consumers, is_dlq, flow_id FROM queue_samples ORDER BY queue LIMIT 2"
                ).fetchall()
            if len(rows) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [tuple(r) for r in rows] == [
            (queue_pair.name, 5, 0, False, "shopify-d365-orders"),
            (queue_pair.dlq, 0, 0, True, "shopify-d365-orders"),
        ]
        status = ctx.pollers.status("amqp")
        assert status.last_ok_at is not None and status.consecutive_failures == 0 and status.last_samples == 2
    finally:
        ctx.close()


def test_amqp_broker_down_is_recorded_not_raised() -> None:
    config = RabbitMqPoller(
        name="down", url=f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F", broker="b", queues=["q"]
    )
    runner = PollerRunner()
    runner.run(config, _refuse_submit, NOW)
    status = runner.status("down")
    assert status.consecutive_failures == 1
    assert "cannot connect" in status.last_error and "Connection refused" in status.last_error
    assert status.next_attempt_at == NOW + timedelta(seconds=30)


def _refuse_submit(table: str, data: pa.Table) -> None:
    raise AssertionError("nothing should be submitted")


# -- HTTP pollers ------------------------------------------------------------------------


def test_prometheus_poller_scrapes_a_real_endpoint(http_server: StartServer) -> None:
    server = http_server((SAMPLES / "rabbitmq_exporter.prom").read_bytes(), "text/plain; version=0.0.4")
    config = PrometheusPoller(
        name="prom",
        url=f"{server.url}/metrics/per-object",
        broker="rabbitmq-prod",
        oldest_age_metric="rabbitmq_queue_head_message_timestamp",
        oldest_is_timestamp=True,
        label_filters={"vhost": "/"},
    )
    samples = poll(config, NOW)
    assert [(s.queue, s.depth, s.consumers, s.oldest_age_seconds, s.is_dlq) for s in samples] == [
        ("inventory_error", 3, 0, None, True),
        ("orders.erp", 1243, 2, 600.0, False),
        ("orders.erp.dlq", 17, 0, 3600.0, True),
        ("shipments.3pl-east", 0, 1, None, False),
    ]
    assert server.requests == [("/metrics/per-object", None)]


def test_json_poller_reads_a_real_endpoint(http_server: StartServer) -> None:
    server = http_server((SAMPLES / "middleware_queues.json").read_bytes(), "application/json")
    config = JsonPoller(
        name="mw",
        url=f"{server.url}/status/queues",
        broker="azure-sb-prod",
        queues_path="data.queues[*]",
        name_field="queue",
        depth_field="stats.active",
        consumers_field="receivers",
        oldest_age_field="stats.oldestSeconds",
        headers={"Authorization": "Bearer t0ken"},
    )
    samples = poll(config, NOW)
    assert [(s.queue, s.depth, s.consumers, s.oldest_age_seconds, s.is_dlq) for s in samples] == [
        ("orders-to-netsuite", 58, 3, 912.5, False),
        ("orders-to-netsuite/$deadletterqueue", 4, 0, 86400.0, True),
        ("asn-from-3pl", 0, 2, None, False),
    ]
    assert server.requests == [("/status/queues", "Bearer t0ken")]


def test_management_api_poller(http_server: StartServer) -> None:
    doc = json.loads((SAMPLES / "rabbitmq_api_queues.json").read_text())
    doc[0]["head_message_timestamp"] = int((NOW - datetime(1970, 1, 1)).total_seconds()) - 90
    server = http_server(json.dumps(doc).encode(), "application/json")
    config = RabbitMqManagementPoller(
        name="mgmt", url=server.url, broker="rabbitmq-prod", username="monitor", password="s3cret"
    )
    samples = poll(config, NOW)
    assert [(s.queue, s.depth, s.consumers, s.oldest_age_seconds, s.is_dlq) for s in samples] == [
        ("orders.erp", 1243, 2, 90.0, False),
        ("orders.erp.dlq", 17, 0, None, True),
        ("shipments.3pl-east", 0, 1, None, False),
    ]  # po.edi-850 reports no depth yet: no sample rather than a fake zero
    path, auth = server.requests[0]
    assert path == "/api/queues/%2F?columns=name%2Cmessages_ready%2Cconsumers%2Chead_message_timestamp"
    assert auth == "Basic " + base64.b64encode(b"monitor:s3cret").decode()

    narrowed = config.model_copy(update={"queues": ["orders.erp.dlq", "po.edi-850"]})
    with pytest.raises(PartialPoll, match=r"no depth reported for queue po\.edi-850") as caught:
        poll(narrowed, NOW)
    assert [s.queue for s in caught.value.samples] == ["orders.erp.dlq"]


def test_garbage_answer_is_a_poll_error(http_server: StartServer) -> None:
    server = http_server(b"<html>login</html>", "text/html")
    config = JsonPoller(name="j", url=server.url, broker="b")
    with pytest.raises(PollError, match=rf"GET {server.url} did not answer JSON"):
        poll(config, NOW)


# -- failures, backoff, recovery ---------------------------------------------------------


def test_dead_endpoint_backs_off_doubling_then_recovers(http_server: StartServer) -> None:
    port = free_port()  # nothing listens here yet
    config = PrometheusPoller(name="flaky", url=f"http://127.0.0.1:{port}/metrics", broker="rabbitmq-prod",
                              interval_seconds=10, timeout_seconds=2, label_filters={"vhost": "/"})  # fmt: skip
    runner = PollerRunner(max_backoff_seconds=60)
    submitted: list[pa.Table] = []

    def submit(table: str, data: pa.Table) -> None:
        assert table == "queue_samples"
        submitted.append(data)

    t = NOW
    delays = []
    for _ in range(5):
        runner.run(config, submit, t)  # never raises
        status = runner.status("flaky")
        assert status.last_attempt_at == t
        assert status.next_attempt_at > t
        delays.append((status.next_attempt_at - t).total_seconds())
        # A tick before the next attempt is skipped: nothing changes.
        runner.run(config, submit, t + timedelta(seconds=delays[-1] - 6))
        assert runner.status("flaky") == status
        t = status.next_attempt_at
    assert delays == [10, 20, 40, 60, 60]  # doubling, capped
    assert status.consecutive_failures == 5
    assert f"GET http://127.0.0.1:{port}/metrics failed: ConnectError" in status.last_error
    assert status.last_ok_at is None and submitted == []

    http_server((SAMPLES / "rabbitmq_exporter.prom").read_bytes(), "text/plain", port=port)
    runner.run(config, submit, t)
    status = runner.status("flaky")
    assert (status.consecutive_failures, status.next_attempt_at, status.last_ok_at, status.last_samples) == (
        0, None, t, 4,
    )  # fmt: skip
    assert status.last_error_at == NOW + timedelta(seconds=10 + 20 + 40 + 60)  # kept for the panel
    assert status.last_error is None
    assert submitted[0].column("depth").to_pylist() == [3, 1243, 17, 0]


def test_a_full_buffer_counts_as_a_failure(http_server: StartServer) -> None:
    server = http_server((SAMPLES / "rabbitmq_exporter.prom").read_bytes(), "text/plain")
    config = PrometheusPoller(name="p", url=server.url, broker="b", label_filters={"vhost": "/"})
    runner = PollerRunner()

    def full(table: str, data: pa.Table) -> None:
        raise Backpressure(1_000_000)

    runner.run(config, full, NOW)
    status = runner.status("p")
    assert status.consecutive_failures == 1
    assert status.last_error == "ingest buffer full (1,000,000 rows pending); retry in 1 s"


def test_a_poller_that_finds_no_queue_is_unhealthy_with_the_reason(http_server: StartServer) -> None:
    """A real exporter answers, but no series has the label the poller filters on: failing, not healthy."""
    server = http_server((SAMPLES / "rabbitmq_exporter.prom").read_bytes(), "text/plain; version=0.0.4")
    config = PrometheusPoller(name="prom-wrong-vhost", url=f"{server.url}/metrics/per-object", broker="mq",
                              label_filters={"vhost": "/prod"})  # fmt: skip
    runner = PollerRunner()
    runner.run(config, _refuse_submit, NOW)
    status = runner.status("prom-wrong-vhost")
    assert (status.consecutive_failures, status.last_ok_at, status.last_samples) == (1, None, 0)
    assert status.last_error == (
        "found no samples for any queue: nothing matched queue_label='queue', label_filters={'vhost': '/prod'}"
    )
    assert poller_health(status.consecutive_failures, status.last_ok_at, status.last_error_at) == "breach"
