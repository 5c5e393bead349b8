"""The broker consumers of one process: a thread each, with a status the Ingest page and /metrics show."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from collectors.brokers.config import NatsConfig, RabbitConfig

log = logging.getLogger(__name__)

#: Hands a table to the ingest buffer (durable when it returns; raises Backpressure when full).
Submit = Callable[[str, pa.Table], None]


@dataclass
class ConsumerStatus:
    """What one consumer has done: connected or not, messages and records, the last error."""

    name: str
    kind: str
    is_connected: bool = False
    messages: int = 0
    accepted: int = 0
    refused: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def connected(self) -> None:
        self.is_connected = True

    def disconnected(self) -> None:
        self.is_connected = False

    def failed(self, error: str) -> None:
        with self._lock:
            self.is_connected, self.last_error = False, error
            self.last_error_at = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, the stored convention

    def consumed(self, messages: int, accepted: int, refused: int) -> None:
        with self._lock:
            self.messages += messages
            self.accepted += accepted
            self.refused += refused


class Consumer:
    """What both consumers share: a status, a stop flag, and the thread's loop that connects, consumes
    until stopped, and on a broker error (``errors``) waits with a doubling backoff and connects again."""

    kind = ""
    errors: tuple[type[BaseException], ...] = ()

    def __init__(self, name: str, submit: Submit, clock: Callable[[], datetime]) -> None:
        self._submit, self._clock = submit, clock
        self.status = ConsumerStatus(name, self.kind)
        self._stop = threading.Event()

    def stop(self) -> None:
        """Finish the batch in hand and leave."""
        self._stop.set()

    def run(self) -> None:
        """The consumer thread."""
        delay = 0.5
        while not self._stop.is_set():
            try:
                self.consume()
                delay = 0.5
            except self.errors as exc:
                self.status.failed(f"{type(exc).__name__}: {exc}")
                log.warning("broker %s: %s; reconnecting in %.1f s", self.status.name, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def consume(self) -> None:
        """Connect and consume until stopped (a broker error ends it)."""
        raise NotImplementedError


class BrokerConsumers:
    """Start a consumer thread per ``[[brokers]]`` entry; stop them with the process."""

    def __init__(self) -> None:
        self._consumers: list[tuple[Consumer, threading.Thread]] = []

    def start(
        self, configs: Sequence[RabbitConfig | NatsConfig], submit: Submit, clock: Callable[[], datetime]
    ) -> None:
        """One thread per consumer (the imports wait until a broker is configured)."""
        for config in configs:
            consumer: Consumer
            if config.kind == "rabbitmq":
                from collectors.brokers.rabbitmq import RabbitConsumer

                consumer = RabbitConsumer(config, submit, clock)
            else:
                from collectors.brokers.nats import NatsConsumer

                consumer = NatsConsumer(config, submit, clock)
            thread = threading.Thread(target=consumer.run, name=f"broker-{config.name}", daemon=True)
            thread.start()
            self._consumers.append((consumer, thread))

    def statuses(self) -> list[ConsumerStatus]:
        """Every consumer's status, in configuration order."""
        return [c.status for c, _ in self._consumers]

    def stop(self, timeout: float = 10) -> None:
        """Stop every consumer after the batch it holds (acknowledged only if written)."""
        for consumer, _ in self._consumers:
            consumer.stop()
        for _, thread in self._consumers:
            thread.join(timeout=timeout)
        self._consumers.clear()
