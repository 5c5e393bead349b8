"""The poller plugins: one config model and one ``poll`` function per kind.

Adding a kind is one module (a config model with a ``kind`` literal and
``poll(config, now) -> list[QueueSample]``) plus a line in ``POLL`` and in ``PollerConfig``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from collectors.pollers import json_endpoint, prometheus, rabbitmq, rabbitmq_management
from collectors.queue_metrics import QueueSample

PollerConfig = Annotated[
    rabbitmq.RabbitMqPoller
    | rabbitmq_management.RabbitMqManagementPoller
    | prometheus.PrometheusPoller
    | json_endpoint.JsonPoller,
    Field(discriminator="kind"),
]

POLL: dict[str, Callable[[Any, datetime], list[QueueSample]]] = {
    "rabbitmq": rabbitmq.poll,
    "rabbitmq_management": rabbitmq_management.poll,
    "prometheus": prometheus.poll,
    "json": json_endpoint.poll,
}


def poll(config: PollerConfig, now: datetime) -> list[QueueSample]:
    """Run the poller of ``config.kind`` once; raises ``PollError`` when the source fails."""
    return POLL[config.kind](config, now)


def check_unique_names(configs: Sequence[PollerConfig]) -> None:
    """Names are job ids: two pollers with one name would silently replace each other."""
    seen: set[str] = set()
    for config in configs:
        if config.name in seen:
            raise ValueError(f"two pollers are named {config.name!r}: names must be unique")
        seen.add(config.name)
