"""RabbitMQ: a durable queue bound to the company's exchange, consumed with manual acks.

Messages gather for ``batch_seconds`` (or up to ``prefetch``), their valid rows go to the buffer in
one submit, then one multiple-ack covers the batch: nothing is acknowledged before it is durable.
A message with invalid records is copied, with its headers and ``x-flowwatch-error``, to the
dead-letter queue (a persistent publish confirmed by the broker) before the batch is acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pika
import pyarrow as pa
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from collectors.brokers.config import RabbitConfig
from collectors.brokers.decode import decode
from collectors.brokers.runner import Consumer, Submit
from models.ingest.buffer import Backpressure

ERROR_HEADER = "x-flowwatch-error"


class RabbitConsumer(Consumer):
    """Consume ``config.queue`` until stopped; reconnects with backoff when the broker goes away."""

    kind = "rabbitmq"
    errors = (AMQPError,)

    def __init__(self, config: RabbitConfig, submit: Submit, clock: Callable[[], datetime]) -> None:
        super().__init__(config.name, submit, clock)
        self.config = config

    def consume(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self.config.url))
        try:
            channel = connection.channel()
            self._declare(channel)
            channel.confirm_delivery()  # dead letters are confirmed before the originals are acked
            channel.basic_qos(prefetch_count=self.config.prefetch)
            self.status.connected()
            while not self._stop.is_set():
                batch = self._gather(channel)
                if batch:
                    self._handle(channel, batch)
        finally:
            if connection.is_open:
                connection.close()
            self.status.disconnected()

    def _declare(self, channel: BlockingChannel) -> None:
        c = self.config
        channel.queue_declare(c.dead_letters, durable=True)
        channel.queue_declare(c.queue, durable=True)
        if c.exchange:
            for key in c.binding_keys:
                channel.queue_bind(c.queue, c.exchange, routing_key=key)

    def _gather(self, channel: BlockingChannel) -> list[tuple[int, pika.BasicProperties, bytes]]:
        """Up to ``prefetch`` messages, or what arrived within ``batch_seconds``."""
        batch: list[tuple[int, pika.BasicProperties, bytes]] = []
        for method, properties, body in channel.consume(
            self.config.queue, inactivity_timeout=self.config.batch_seconds
        ):
            if method is None:
                break
            batch.append((method.delivery_tag, properties, body))
            if len(batch) >= self.config.prefetch:
                break
        return batch

    def _handle(self, channel: BlockingChannel, batch: list[tuple[int, pika.BasicProperties, bytes]]) -> None:
        now = self._clock()
        decoded = [(properties, body, decode(body, properties.content_type, now)) for _, properties, body in batch]
        tables = [d.table for _, _, d in decoded if d.table.num_rows]
        last = batch[-1][0]
        if tables:
            try:
                self._submit("business_events", pa.concat_tables(tables) if len(tables) > 1 else tables[0])
            except Backpressure as exc:  # the buffer is full: hand the batch back and wait
                channel.basic_nack(last, multiple=True, requeue=True)
                self.status.failed(str(exc))
                self._stop.wait(exc.retry_after)
                return
        for properties, body, d in decoded:
            if d.reason is not None:
                headers = {**(properties.headers or {}), ERROR_HEADER: d.reason}
                channel.basic_publish(
                    "",
                    self.config.dead_letters,
                    body,
                    pika.BasicProperties(content_type=properties.content_type, headers=headers, delivery_mode=2),
                )
        channel.basic_ack(last, multiple=True)
        self.status.consumed(len(batch), sum(t.num_rows for t in tables), sum(d.refused for _, _, d in decoded))
