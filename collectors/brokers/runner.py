"""The broker consumers of one process: a thread each, with a status the Ingest page and /metrics show."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from collectors.brokers.config import NatsConfig, RabbitConfig

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


class _Consumer(Protocol):
    status: ConsumerStatus

    def run(self) -> None: ...

    def stop(self) -> None: ...


class BrokerConsumers:
    """Start a consumer thread per ``[[brokers]]`` entry; stop them with the process."""

    def __init__(self) -> None:
        self._consumers: list[tuple[_Consumer, threading.Thread]] = []

    def start(
        self, configs: Sequence[RabbitConfig | NatsConfig], submit: Submit, clock: Callable[[], datetime]
    ) -> None:
        """One thread per consumer (the imports wait until a broker is configured)."""
        for config in configs:
            consumer: _Consumer
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
