"""Queue depths from a Prometheus text-format ``/metrics`` endpoint (e.g. RabbitMQ's plugin)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from collectors.pollers.base import HttpUrl, PollerBase, PollError, fetch
from collectors.queue_metrics import PrometheusMapping, QueueParseError, QueueSample, parse_prometheus


class PrometheusPoller(PollerBase, PrometheusMapping):
    """``GET url`` and map series to queues; the mapping fields sit beside ``url``.

    Example: RabbitMQ's ``rabbitmq_prometheus`` plugin at ``http://mq:15692/metrics/per-object``
    with the default metric names.
    """

    kind: Literal["prometheus"] = "prometheus"
    url: HttpUrl
    headers: dict[str, str] = Field(default_factory=dict, description="e.g. an Authorization header")


def poll(config: PrometheusPoller, now: datetime) -> list[QueueSample]:
    """One scrape, parsed into samples taken at ``now``."""
    response = fetch(config.url, timeout=config.timeout_seconds, headers=config.headers)
    try:
        return parse_prometheus(response.text, config, now)
    except QueueParseError as exc:
        raise PollError(f"GET {config.url}: {exc}") from None
