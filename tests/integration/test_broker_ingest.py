"""Canonical events consumed from a real RabbitMQ and a real NATS JetStream.

Each test gets its own exchange/queue or stream/subject. Publishing uses confirms (RabbitMQ) and
JetStream acks, so every event counted as sent was stored by the broker. When a broker is not
reachable the tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pika
import pika.exceptions
import pytest

from app.context import AppContext, open_context
from app.metrics import render
from app.settings import load_settings
from collectors.brokers import NatsConfig, RabbitConfig

# The real RabbitMQ, shared with other test workers (tests/conftest.py: one test restarts it).
pytestmark = pytest.mark.rabbitmq

AMQP_URL = os.environ.get("FLOWWATCH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
NATS_URL = os.environ.get("FLOWWATCH_TEST_NATS_URL", "nats://127.0.0.1:4222")
T0 = datetime(2026, 3, 12, 9, 0)
T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to its end on an event loop of its own thread: the browser tests' Playwright
    keeps an event loop running on the main thread for the whole session."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _event(n: int, prefix: str) -> dict[str, Any]:
    return {"event_id": f"{prefix}-{n:05d}", "correlation_id": f"SO-{n:05d}", "event_type": "order.created",
            "source": "shopify", "target": "d365", "occurred_at": (T0 + timedelta(seconds=n)).isoformat() + "Z",
            "payload": {"total": 10 + n}}  # fmt: skip


def _stored(ctx: AppContext, prefix: str) -> list[str]:
    with ctx.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT event_id FROM business_events WHERE event_id LIKE ? ORDER BY event_id", (f"{prefix}-%",)
        ).fetchall()
    return [r[0] for r in rows]


def _wait(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture()
def started(tmp_path: Path) -> Iterator[Callable[..., AppContext]]:
    """Open and start contexts on one database (``close`` them to restart); all are closed at the end."""
    contexts: list[AppContext] = []

    def start(**brokers: Any) -> AppContext:
        ctx = open_context(load_settings(db=tmp_path / "fw.duckdb", ingest_max_delay_seconds=0.05, **brokers))
        ctx.start()
        contexts.append(ctx)
        return ctx

    yield start
    for ctx in contexts:
        if ctx.scheduler.running:  # not closed by the test already
            ctx.close()


# -- RabbitMQ -------------------------------------------------------------------------------------
@pytest.fixture()
def amqp() -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except pika.exceptions.AMQPError as exc:
        _unavailable(f"RabbitMQ is not reachable at {AMQP_URL}: {exc!r}")
    channel = connection.channel()
    channel.confirm_delivery()
    yield channel
    with contextlib.suppress(pika.exceptions.AMQPError):  # a test may have restarted the broker under it
        connection.close()


@pytest.fixture()
def exchange(amqp: pika.adapters.blocking_connection.BlockingChannel) -> Iterator[str]:
    """The company's topic exchange, and after the test its queues gone."""
    name = f"fw.test.{uuid.uuid4().hex[:10]}"
    amqp.exchange_declare(name, "topic", durable=True)
    yield name
    for queue in (f"{name}.events", f"{name}.events.dlq"):
        with (
            contextlib.suppress(pika.exceptions.AMQPError),
            pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection,
        ):
            connection.channel().queue_delete(queue)
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        connection.channel().exchange_delete(name)


def _rabbit(exchange: str) -> RabbitConfig:
    return RabbitConfig(kind="rabbitmq", name="company", url=AMQP_URL, queue=f"{exchange}.events",
                        exchange=exchange, binding_keys=["orders.#"], batch_seconds=0.05)  # fmt: skip


def _publish(channel: Any, exchange: str, key: str, body: bytes, content_type: str = "application/json") -> None:
    props = pika.BasicProperties(content_type=content_type, delivery_mode=2, headers={"origin": "storefront"})
    channel.basic_publish(exchange, key, body, props, mandatory=False)


def _wait_for_queue(amqp: Any, queue: str) -> None:
    _wait(lambda: _queue_exists(queue), f"the consumer to declare {queue}")


def _queue_exists(queue: str) -> bool:
    try:
        with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
            connection.channel().queue_declare(queue, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False


def test_rabbitmq_events_are_ingested_and_invalid_messages_dead_lettered_with_the_reason(
    amqp: Any, exchange: str, started: Callable[..., AppContext]
) -> None:
    ctx = started(brokers=[_rabbit(exchange)])
    _wait_for_queue(amqp, f"{exchange}.events")

    for n in range(40):  # one event a message
        _publish(amqp, exchange, "orders.created", json.dumps(_event(n, "rb")).encode())
    _publish(amqp, exchange, "orders.created", json.dumps([_event(n, "rb") for n in range(40, 60)]).encode())
    ndjson = "\n".join(json.dumps(_event(n, "rb")) for n in range(60, 70)).encode()
    _publish(amqp, exchange, "orders.bulk", ndjson, "application/x-ndjson")
    mixed = [_event(70, "rb"), {**_event(71, "rb"), "occurred_at": "yesterday"}, _event(72, "rb")]
    _publish(amqp, exchange, "orders.created", json.dumps(mixed).encode())
    _publish(amqp, exchange, "orders.created", b"{not json")
    _publish(amqp, exchange, "orders.created", json.dumps(_event(5, "rb")).encode())  # re-sent: stored once
    _publish(amqp, exchange, "stock.adjusted", json.dumps(_event(99, "rb")).encode())  # not bound: not consumed

    expected = [f"rb-{n:05d}" for n in [*range(71), 72] if n != 71]
    _wait(lambda: (ctx.buffer.flush(), _stored(ctx, "rb"))[1] == expected, "72 events committed")
    # The last messages (the refused one, the re-sent event) may still be counting when the rows are in.
    counts = lambda: (lambda s: (s.is_connected, s.messages, s.accepted, s.refused))(ctx.brokers.statuses()[0])  # noqa: E731
    _wait(lambda: counts() == (True, 45, 73, 2), "the consumer to count all 45 messages", timeout=10)

    dead = []
    for method, props, body in amqp.consume(f"{exchange}.events.dlq", inactivity_timeout=2):
        if method is None:
            break
        dead.append((body, props.headers))
        amqp.basic_ack(method.delivery_tag)
        if len(dead) == 2:
            break
    amqp.cancel()
    assert [body for body, _ in dead] == [json.dumps(mixed).encode(), b"{not json"]
    assert dead[0][1]["origin"] == "storefront"  # the original headers travel with it
    assert dead[0][1]["x-flowwatch-error"].startswith("record 1: occurred_at:")
    assert "not valid JSON" in dead[1][1]["x-flowwatch-error"] or "JSON" in dead[1][1]["x-flowwatch-error"]

    metrics = render(ctx.counters, ctx.buffer, ctx.pollers, ctx.brokers).decode()
    assert 'flowwatch_broker_records_total{broker="company",outcome="accepted"} 73.0' in metrics
    assert 'flowwatch_broker_records_total{broker="company",outcome="dead_lettered"} 2.0' in metrics


@pytest.mark.rabbitmq_restart
def test_rabbitmq_restart_loses_and_doubles_nothing(
    amqp: Any, exchange: str, started: Callable[..., AppContext]
) -> None:
    if shutil.which("rabbitmqctl") is None:
        _unavailable("rabbitmqctl is not installed: the broker cannot be restarted from the test")
    ctx = started(brokers=[_rabbit(exchange)])
    _wait_for_queue(amqp, f"{exchange}.events")
    for n in range(150):
        _publish(amqp, exchange, "orders.created", json.dumps(_event(n, "rr")).encode())
    _wait(lambda: ctx.brokers.statuses()[0].messages >= 50, "the consumer to be busy")

    for command in ("stop_app", "start_app"):  # a real restart: every connection is cut
        subprocess.run(["rabbitmqctl", command], check=True, capture_output=True, timeout=120)
    _wait(lambda: _reachable(), "RabbitMQ back", timeout=60)
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for n in range(150, 300):
            _publish(channel, exchange, "orders.created", json.dumps(_event(n, "rr")).encode())

    expected = [f"rr-{n:05d}" for n in range(300)]
    _wait(lambda: (ctx.buffer.flush(), _stored(ctx, "rr"))[1] == expected, "all 300 events, once each", 90)
    assert ctx.brokers.statuses()[0].is_connected
    assert ctx.brokers.statuses()[0].last_error is not None  # it did see the broker go away


def _reachable() -> bool:
    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)).close()
        return True
    except pika.exceptions.AMQPError:
        return False


# -- NATS JetStream -------------------------------------------------------------------------------
@pytest.fixture()
def jetstream() -> Iterator[tuple[str, str]]:
    """A fresh stream name and subject prefix; both streams are deleted afterwards."""
    import nats

    async def probe() -> None:
        nc = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
        await nc.jetstream().account_info()
        await nc.close()

    try:
        _run(probe())
    except Exception as exc:
        _unavailable(f"NATS JetStream is not reachable at {NATS_URL}: {exc!r}")
    tag = uuid.uuid4().hex[:10]
    stream = f"FWTEST_{tag}"
    yield stream, f"fwtest.{tag}"

    async def drop() -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        for name in (stream, f"{stream}_DLQ"):
            with contextlib.suppress(Exception):
                await js.delete_stream(name)
        await nc.close()

    _run(drop())


def _js_publish(subject: str, bodies: list[tuple[bytes, dict[str, str]]]) -> None:
    import nats

    async def send() -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        for body, headers in bodies:
            await js.publish(subject, body, headers=headers or None)  # returns once the stream stored it
        await nc.close()

    _run(send())


def _js_dead_letters(stream: str) -> list[tuple[bytes, dict[str, str]]]:
    import nats

    async def read() -> list[tuple[bytes, dict[str, str]]]:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        info = await js.stream_info(f"{stream}_DLQ")
        out = []
        for seq in range(1, info.state.messages + 1):
            msg = await js.get_msg(f"{stream}_DLQ", seq)
            out.append((msg.data, dict(msg.headers or {})))
        await nc.close()
        return out

    return _run(read())


def test_nats_events_are_ingested_acknowledged_after_the_write_and_resumed_after_a_restart(
    jetstream: tuple[str, str], started: Callable[..., AppContext]
) -> None:
    stream, prefix = jetstream
    config = NatsConfig(kind="nats", name="jet", url=NATS_URL, stream=stream, subject=f"{prefix}.>", batch=50)
    ctx = started(brokers=[config])
    _wait(lambda: ctx.brokers.statuses()[0].is_connected, "the consumer to create its stream")

    messages = [(json.dumps(_event(n, "js")).encode(), {}) for n in range(80)]
    messages.append(
        (json.dumps([_event(80, "js"), {"event_id": "js-bad"}]).encode(), {"Content-Type": "application/json"})
    )
    messages.append((b"\xff\xfe", {}))
    _js_publish(f"{prefix}.orders", messages)
    _wait(lambda: (ctx.buffer.flush(), _stored(ctx, "js"))[1] == [f"js-{n:05d}" for n in range(81)], "81 events")
    counted = lambda: (lambda s: (s.messages, s.accepted, s.refused))(ctx.brokers.statuses()[0])  # noqa: E731
    _wait(lambda: counted() == (82, 81, 2), "the consumer to count all 82 messages", timeout=10)
    dead = _js_dead_letters(stream)
    assert [body for body, _ in dead] == [messages[80][0], b"\xff\xfe"]
    assert dead[0][1]["Flowwatch-Error"].startswith("record 1: correlation_id:")
    assert dead[1][1]["Flowwatch-Error"] == "body is not valid UTF-8 at byte 0"

    ctx.close()  # the process stops; events keep arriving; the durable consumer resumes where it was
    _js_publish(f"{prefix}.orders", [(json.dumps(_event(n, "js")).encode(), {}) for n in range(81, 120)])
    again = started(brokers=[config])
    _wait(lambda: (again.buffer.flush(), _stored(again, "js"))[1] == [f"js-{n:05d}" for n in range(120)], "120")
    assert again.brokers.statuses()[0].messages == 39  # only the new ones: the first 82 were acknowledged
