"""Queue depths from any JSON endpoint, fields located by JSONPath (middleware, cloud brokers)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from collectors.pollers.base import HttpUrl, PollerBase, PollError, fetch, json_body
from collectors.queue_metrics import JsonMapping, QueueParseError, QueueSample, parse_json_samples


class JsonPoller(PollerBase, JsonMapping):
    """``GET url`` and read the queues at ``queues_path``; the mapping fields sit beside ``url``."""

    kind: Literal["json"] = "json"
    url: HttpUrl
    headers: dict[str, str] = Field(default_factory=dict, description="e.g. an Authorization header")


def poll(config: JsonPoller, now: datetime) -> list[QueueSample]:
    """One GET, parsed into samples taken at ``now``."""
    response = fetch(config.url, timeout=config.timeout_seconds, headers=config.headers)
    try:
        return parse_json_samples(json_body(response), config, now)
    except QueueParseError as exc:
        raise PollError(f"GET {config.url}: {exc}") from None
