"""Replay from a real RabbitMQ dead-letter queue back to the original queue.

Runs against FLOWWATCH_TEST_AMQP_URL (default: guest on 127.0.0.1:5672). When the broker is
unreachable the tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pika
import pika.exceptions
import pytest
from pika.adapters.blocking_connection import BlockingChannel

from tests.integration.replay_world import actions_of, add_failures, add_flow, workbench_server
from tests.live_server import LiveServer

# The real RabbitMQ, shared with other test workers (tests/conftest.py: one test restarts it).
pytestmark = pytest.mark.rabbitmq

AMQP_URL = os.environ.get("FLOWWATCH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


@pytest.fixture()
def channel() -> Iterator[BlockingChannel]:
    """A channel on the test broker, or a skip (a failure under CI) saying why there is none."""
    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except pika.exceptions.AMQPError as exc:
        reason = f"RabbitMQ is not reachable at {AMQP_URL}: {exc!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield connection.channel()
    connection.close()


@pytest.fixture()
def queue(channel: BlockingChannel) -> Iterator[str]:
    """A unique queue whose rejected messages are dead-lettered to ``<queue>.dlq`` by the broker."""
    name = f"flowwatch.test.{uuid.uuid4().hex[:10]}"
    channel.exchange_declare(f"{name}.dlx", "direct", auto_delete=True)
    channel.queue_declare(f"{name}.dlq")
    channel.queue_bind(f"{name}.dlq", f"{name}.dlx", routing_key=name)
    channel.queue_declare(name, arguments={"x-dead-letter-exchange": f"{name}.dlx"})
    yield name
    for q in (name, f"{name}.dlq"):
        channel.queue_delete(q)
    channel.exchange_delete(f"{name}.dlx")


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with workbench_server(tmp_path, amqp_url=AMQP_URL, replay_timeout_seconds=5.0) as server:
        yield server


def _dead_letter(channel: BlockingChannel, queue: str, message_id: str, body: bytes) -> None:
    """Publish to the queue, then have a consumer reject it so the broker dead-letters it for real."""
    channel.basic_publish("", queue, body, pika.BasicProperties(message_id=message_id, content_type="application/json"))
    for _ in range(100):
        method, props, _body = channel.basic_get(queue, auto_ack=False)
        if method is not None:
            assert props.message_id == message_id
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        time.sleep(0.02)
    raise AssertionError(f"{message_id} never reached {queue}")


def _depth(channel: BlockingChannel, queue: str, expected: int) -> int:
    """The queue's message count once it settles at ``expected`` (or after 3 s)."""
    deadline = time.monotonic() + 3
    while True:
        depth = channel.queue_declare(queue, passive=True).method.message_count
        if depth == expected or time.monotonic() > deadline:
            return depth
        time.sleep(0.05)


def _drain(channel: BlockingChannel, queue: str) -> list[tuple[str | None, bytes, dict]]:
    out = []
    while True:
        method, props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append((props.message_id, body, props.headers or {}))


def _stored_payload(n: int) -> bytes:
    return json.dumps(
        {"order": f"SHP-{1_000_000 + n}", "tracking": f"1Z{n:08d}", "lines": [{"sku": "SKU-10001", "qty": n % 5 + 1}]}
    ).encode()


def _replay(live: LiveServer, exception_id: int) -> httpx.Response:
    return httpx.post(
        f"{live.url}/api/v1/exceptions/{exception_id}/replay", headers=live.auth("dana.okafor"), timeout=30
    )


def test_dead_letter_goes_back_to_its_queue_exactly_once(
    live: LiveServer, channel: BlockingChannel, queue: str
) -> None:
    add_flow(live.ctx, "3pl_north-d365-shipment", target="/sim/erp/d365/shipments", kind="amqp", queue=queue)
    (eid,) = add_failures(live.ctx, "3pl_north-d365-shipment", 1, prefix=f"{queue}-evt")
    message_id = f"{queue}-evt-00001"
    _dead_letter(channel, queue, message_id, _stored_payload(1))
    assert (_depth(channel, queue, 0), _depth(channel, f"{queue}.dlq", 1)) == (0, 1)

    r = _replay(live, eid)

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered" and r.json()["resolved"] is True
    assert r.json()["messages"][0]["target"] == f"amqp {queue}.dlq → exchange (default) / {queue}"
    assert _depth(channel, f"{queue}.dlq", 0) == 0
    assert _depth(channel, queue, 1) == 1
    ((got_id, body, headers),) = _drain(channel, queue)
    assert got_id == message_id and body == _stored_payload(1) and "x-death" not in headers
    assert [(a["action"], a["outcome"]) for a in actions_of(live.ctx, eid)] == [
        ("replay", "delivered"),
        ("resolve", "done"),
    ]

    # Replaying again finds nothing in the DLQ: nothing is published twice.
    httpx.post(f"{live.url}/api/v1/exceptions/{eid}/reopen", headers=live.auth("dana.okafor"), timeout=10)
    again = _replay(live, eid)
    assert again.json()["status"] == "failed" and again.json()["messages"][0]["error_code"] == "NOT-IN-DLQ"
    assert (_depth(channel, queue, 0), _depth(channel, f"{queue}.dlq", 0)) == (0, 0)


def test_other_dead_letters_stay_in_the_dlq(live: LiveServer, channel: BlockingChannel, queue: str) -> None:
    add_flow(live.ctx, "3pl_north-d365-shipment", target="/sim/erp/d365/shipments", kind="amqp", queue=queue)
    first, second = add_failures(live.ctx, "3pl_north-d365-shipment", 2, prefix=f"{queue}-evt")
    _dead_letter(channel, queue, f"{queue}-evt-00001", _stored_payload(1))
    _dead_letter(channel, queue, f"{queue}-evt-00002", _stored_payload(2))
    assert _depth(channel, f"{queue}.dlq", 2) == 2

    assert _replay(live, second).json()["status"] == "delivered"

    assert _depth(channel, queue, 1) == 1 and _depth(channel, f"{queue}.dlq", 1) == 1
    assert [m[0] for m in _drain(channel, queue)] == [f"{queue}-evt-00002"]
    assert [m[0] for m in _drain(channel, f"{queue}.dlq")] == [f"{queue}-evt-00001"]
    assert httpx.get(f"{live.url}/api/v1/exceptions/{first}", timeout=10).json()["status"] == "open"
