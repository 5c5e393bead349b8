"""RabbitMQ over AMQP 0-9-1 (pika): a passive ``queue.declare`` answers depth and consumers.

It works on every RabbitMQ without plugins but knows nothing of message ages: configure
the management-API poller for the oldest-message age. One short-lived connection per poll: a poll
runs every tens of seconds, and a held connection would need its own heartbeat thread.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

import pika
import pika.exceptions
from pydantic import Field, SecretStr, field_validator

from collectors.pollers.base import PartialPoll, PollerBase, PollError
from collectors.queue_metrics import DEFAULT_DLQ_PATTERN, QueueSample, RegexPattern


class RabbitMqPoller(PollerBase):
    """Which broker, which queues; DLQs are told by name, flows by ``flow_by_queue``."""

    kind: Literal["rabbitmq"] = "rabbitmq"
    url: SecretStr = Field(description="amqp://user:password@host:5672/vhost (amqps:// for TLS)")
    broker: Annotated[str, Field(min_length=1)]
    queues: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    dlq_pattern: RegexPattern = DEFAULT_DLQ_PATTERN
    flow_by_queue: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _amqp(cls, value: SecretStr) -> SecretStr:
        if not re.match(r"^amqps?://", value.get_secret_value()):
            raise ValueError("must be an amqp:// or amqps:// URL")
        return value


def poll(config: RabbitMqPoller, now: datetime) -> list[QueueSample]:
    """Depth (ready messages) and consumers of each configured queue, at ``now``."""
    params = pika.URLParameters(config.url.get_secret_value())
    params.connection_attempts = 1
    params.socket_timeout = params.stack_timeout = config.timeout_seconds
    params.blocked_connection_timeout = config.timeout_seconds
    where = f"{config.broker} (amqp {params.host}:{params.port} vhost {params.virtual_host!r})"
    try:
        connection = pika.BlockingConnection(params)
    except pika.exceptions.AMQPError as exc:
        raise PollError(f"{where}: cannot connect: {_describe(exc)}") from None
    samples: list[QueueSample] = []
    missing: list[str] = []
    try:
        channel = connection.channel()
        for queue in config.queues:
            try:
                declared = channel.queue_declare(queue=queue, passive=True).method
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 404:
                    raise
                missing.append(queue)
                channel = connection.channel()  # the broker closes a channel on a failed declare
                continue
            samples.append(
                QueueSample(
                    broker=config.broker,
                    queue=queue,
                    sampled_at=now,
                    depth=declared.message_count,
                    consumers=declared.consumer_count,
                    is_dlq=re.search(config.dlq_pattern, queue) is not None,
                    flow_id=config.flow_by_queue.get(queue),
                )
            )
    except pika.exceptions.AMQPError as exc:
        raise PollError(f"{where}: {_describe(exc)}") from None
    finally:
        if connection.is_open:
            connection.close()
    if missing:
        raise PartialPoll(f"{where}: no such queue: {', '.join(missing)}", samples)
    return samples


def _describe(exc: BaseException) -> str:
    """pika's exceptions often have an empty ``str``; the name and args say what happened."""
    text = str(exc) or repr(exc.args)
    return f"{type(exc).__name__}: {text}"
