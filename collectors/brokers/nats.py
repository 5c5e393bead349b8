"""NATS JetStream: a durable pull consumer, each message acknowledged once its rows are durable.

The stream (and a ``<stream>_DLQ`` stream for the dead-letter subject) is created when missing. A
message with invalid records is published to the dead-letter subject with ``Flowwatch-Error`` and
acknowledged once JetStream has stored that copy; when the buffer is full the batch is nak'ed with
a delay and JetStream redelivers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import nats
import pyarrow as pa
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from collectors.brokers.config import NatsConfig
from collectors.brokers.decode import decode
from collectors.brokers.runner import Consumer, Submit
from models.ingest.buffer import Backpressure

ERROR_HEADER = "Flowwatch-Error"


class NatsConsumer(Consumer):
    """Pull ``config.subject`` from ``config.stream`` until stopped, on an event loop of its thread."""

    kind = "nats"
    errors = (NatsError, OSError)

    def __init__(self, config: NatsConfig, submit: Submit, clock: Callable[[], datetime]) -> None:
        super().__init__(config.name, submit, clock)
        self.config = config

    def consume(self) -> None:
        asyncio.run(self._consume())

    async def _consume(self) -> None:
        c = self.config
        nc = await nats.connect(c.url, connect_timeout=2, max_reconnect_attempts=-1, allow_reconnect=True)
        try:
            js = nc.jetstream()
            await _ensure_stream(js, c.stream, [c.subject])
            await _ensure_stream(js, f"{c.stream}_DLQ", [c.dead_letters])
            sub = await js.pull_subscribe(c.subject, durable=c.durable, stream=c.stream)
            self.status.connected()
            while not self._stop.is_set():
                try:
                    messages = await sub.fetch(c.batch, timeout=0.5)
                except NatsTimeout:
                    continue
                await self._handle(js, messages)
        finally:
            await nc.close()
            self.status.disconnected()

    async def _handle(self, js, messages: list) -> None:  # type: ignore[no-untyped-def]
        now = self._clock()
        decoded = [(m, decode(m.data, (m.headers or {}).get("Content-Type"), now)) for m in messages]
        tables = [d.table for _, d in decoded if d.table.num_rows]
        if tables:
            try:
                self._submit("business_events", pa.concat_tables(tables) if len(tables) > 1 else tables[0])
            except Backpressure as exc:
                self.status.failed(str(exc))
                for m in messages:
                    await m.nak(delay=exc.retry_after)
                return
        for m, d in decoded:
            if d.reason is not None:
                await js.publish(
                    self.config.dead_letters, m.data, headers={**(m.headers or {}), ERROR_HEADER: d.reason}
                )
            await m.ack()
        self.status.consumed(len(messages), sum(t.num_rows for t in tables), sum(d.refused for _, d in decoded))


async def _ensure_stream(js, name: str, subjects: list[str]) -> None:  # type: ignore[no-untyped-def]
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=name, subjects=subjects))
