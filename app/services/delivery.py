"""Replay transports: re-POST over HTTP, or move a message from a RabbitMQ DLQ back to its exchange.

Pure transport, no database: each returns a :class:`Delivery` saying whether the target
took the message and, when not, why in one line. Neither ever raises for a target that
fails; a failing target is an outcome, not an error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pika
import pika.exceptions

#: Headers RabbitMQ adds when it dead-letters; a republished message starts clean.
_DEATH_HEADERS = (
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
)


@dataclass(frozen=True)
class Delivery:
    """What the target did with one replayed message."""

    ok: bool
    target: str
    error_code: str | None = None
    error: str | None = None
    http_status: int | None = None
    elapsed_ms: float = 0.0

    def detail(self) -> dict[str, Any]:
        """The audit detail of this delivery."""
        return {
            "target": self.target,
            "http_status": self.http_status,
            "error_code": self.error_code,
            "error": self.error,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


def content_type_of(payload: str) -> str:
    """The content type the payload was sent with: stored payloads are JSON, EDI or plain text."""
    try:
        json.loads(payload)
    except ValueError:
        return "application/edi-x12" if payload.lstrip().startswith("ISA") else "text/plain; charset=utf-8"
    return "application/json"


def post_http(client: httpx.Client, url: str, body: str, *, idempotency_key: str, content_type: str) -> Delivery:
    """POST ``body`` with ``Idempotency-Key``; 2xx is delivered, anything else (or no answer) failed."""
    started = time.perf_counter()
    target = f"POST {url}"
    try:
        response = client.post(
            url,
            content=body.encode(),
            headers={"Idempotency-Key": idempotency_key, "Content-Type": content_type},
        )
    except httpx.TimeoutException:
        return Delivery(
            False, target, "TIMEOUT", f"no answer from {url} within {_timeout(client)} s", elapsed_ms=_ms(started)
        )
    except httpx.TransportError as exc:
        return Delivery(False, target, "UNREACHABLE", f"{url} unreachable: {exc}", elapsed_ms=_ms(started))
    elapsed = _ms(started)
    if response.is_success:
        return Delivery(True, target, http_status=response.status_code, elapsed_ms=elapsed)
    text = " ".join(response.text.split())[:300]
    return Delivery(
        False,
        target,
        f"HTTP-{response.status_code}",
        f"{url} answered {response.status_code}: {text}".rstrip(": "),
        http_status=response.status_code,
        elapsed_ms=elapsed,
    )


def _timeout(client: httpx.Client) -> float | None:
    return client.timeout.read


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def republish_from_dlq(
    amqp_url: str, dlq: str, message_id: str, *, body: bytes | None, timeout: float, scan_limit: int = 10_000
) -> Delivery:
    """Take the message ``message_id`` off ``dlq``, publish it (or ``body``) to the exchange and routing
    key it was dead-lettered from, with publisher confirms, and ack it in the DLQ only once confirmed.

    Messages passed over while looking are returned to the DLQ untouched. If the publish is
    not confirmed (nack, unroutable, connection lost) the message stays in the DLQ.
    """
    started = time.perf_counter()
    target = f"amqp {dlq} → original exchange"
    params = pika.URLParameters(amqp_url)
    params.socket_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.connection_attempts = 1
    try:
        connection = pika.BlockingConnection(params)
    except pika.exceptions.AMQPError as exc:
        return Delivery(False, target, "UNREACHABLE", f"broker unreachable: {exc!r}", elapsed_ms=_ms(started))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        skipped: list[int] = []
        try:
            found = _take(channel, dlq, message_id, skipped, scan_limit)
            if found is None:
                return Delivery(
                    False, target, "NOT-IN-DLQ", f"message {message_id} is not in {dlq}", elapsed_ms=_ms(started)
                )
            tag, props, original = found
            exchange, routing_key = _origin(props, dlq)
            target = f"amqp {dlq} → exchange {exchange or '(default)'} / {routing_key}"
            headers = {k: v for k, v in (props.headers or {}).items() if k not in _DEATH_HEADERS}
            props.headers = headers or None
            try:
                channel.basic_publish(
                    exchange, routing_key, body if body is not None else original, props, mandatory=True
                )
            except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
                channel.basic_nack(tag, requeue=True)
                return Delivery(
                    False,
                    target,
                    "NOT-CONFIRMED",
                    f"broker did not confirm the publish: {exc!r}",
                    elapsed_ms=_ms(started),
                )
            channel.basic_ack(tag)
        finally:
            for other in skipped:
                channel.basic_nack(other, requeue=True)
    except pika.exceptions.AMQPError as exc:
        return Delivery(False, target, "AMQP-ERROR", f"{type(exc).__name__}: {exc}", elapsed_ms=_ms(started))
    finally:
        if connection.is_open:
            connection.close()
    return Delivery(True, target, elapsed_ms=_ms(started))


def _take(
    channel: Any, dlq: str, message_id: str, skipped: list[int], scan_limit: int
) -> tuple[int, pika.BasicProperties, bytes] | None:
    """Get messages off ``dlq`` until ``message_id`` (its ``message_id`` property) turns up."""
    for _ in range(scan_limit):
        method, props, body = channel.basic_get(dlq, auto_ack=False)
        if method is None:
            return None
        if props.message_id == message_id or (props.headers or {}).get("event_id") == message_id:
            return method.delivery_tag, props, body
        skipped.append(method.delivery_tag)
    return None


def _origin(props: pika.BasicProperties, dlq: str) -> tuple[str, str]:
    """Exchange and routing key the message was first published to, from RabbitMQ's ``x-death``."""
    deaths = (props.headers or {}).get("x-death") or []
    if not deaths:
        raise pika.exceptions.AMQPError(f"the message in {dlq} has no x-death header: it was not dead-lettered")
    first = deaths[-1]  # newest first; the oldest entry is the original publish
    keys = first.get("routing-keys") or [first.get("queue")]
    return _text(first.get("exchange", "")), _text(keys[0])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Pacer:
    """Spaces starts at least ``1/rate`` seconds apart: the target never sees more than ``rate`` a second."""

    def __init__(
        self, rate: float, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        """Block until the next start is allowed, and book the one after."""
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._interval

    def reset(self) -> None:
        """Forget the schedule (after a pause, the next start may go at once)."""
        self._next = 0.0
