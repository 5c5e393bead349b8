"""``[[brokers]]`` entries: which broker, where, and what to consume."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

_NAME = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="a short id: counters and logs name it")


class RabbitConfig(BaseModel):
    """A durable queue (declared if missing), bound to ``exchange`` by each of ``binding_keys``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["rabbitmq"]
    name: Annotated[str, _NAME]
    url: str = Field("amqp://guest:guest@127.0.0.1:5672/%2F", description="AMQP URL")
    queue: str = Field(min_length=1)
    exchange: str | None = Field(None, description="the company's exchange (must exist); none: the queue only")
    binding_keys: list[str] = Field(default_factory=lambda: ["#"])
    dlq: str | None = Field(None, description="where invalid messages go; default '<queue>.dlq'")
    prefetch: int = Field(500, ge=1, le=65_535, description="unacknowledged messages in flight")
    batch_seconds: float = Field(0.05, gt=0, le=5, description="how long a batch gathers before one write")

    @property
    def dead_letters(self) -> str:
        """The dead-letter queue's name."""
        return self.dlq or f"{self.queue}.dlq"


class NatsConfig(BaseModel):
    """A JetStream durable pull consumer on ``subject`` of ``stream`` (the stream is created if missing)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["nats"]
    name: Annotated[str, _NAME]
    url: str = Field("nats://127.0.0.1:4222", description="NATS server URL")
    stream: str = Field(min_length=1)
    subject: str = Field(min_length=1, description="e.g. 'events.>'")
    durable: str = Field("flowwatch", min_length=1, description="the durable consumer's name")
    dlq_subject: str | None = Field(None, description="where invalid messages go; default '<stream>.dlq'")
    batch: int = Field(500, ge=1, le=10_000, description="messages fetched per pull")

    @property
    def dead_letters(self) -> str:
        """The dead-letter subject."""
        return self.dlq_subject or f"{self.stream}.dlq"


BrokerConfig = Annotated[RabbitConfig | NatsConfig, Field(discriminator="kind")]
