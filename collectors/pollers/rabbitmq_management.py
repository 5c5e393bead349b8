"""RabbitMQ's management HTTP API (``/api/queues/<vhost>``): depth, consumers, oldest age.

Unlike AMQP it lists every queue of the vhost, DLQs included, and reports
``head_message_timestamp`` (the ``timestamp`` property of the oldest message, when the
publishers set it), from which the oldest-message age follows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr

from collectors.pollers.base import HttpUrl, PartialPoll, PollerBase, PollError, fetch, json_body
from collectors.queue_metrics import JsonMapping, QueueParseError, QueueSample, parse_json_samples


class RabbitMqManagementPoller(PollerBase, JsonMapping):
    """The management API of one vhost; ``queues`` narrows it to named queues."""

    kind: Literal["rabbitmq_management"] = "rabbitmq_management"
    url: HttpUrl = Field(description="base URL of the management API, e.g. http://mq:15672")
    vhost: str = "/"
    username: Annotated[str, Field(min_length=1)]
    password: SecretStr
    queues: list[str] | None = Field(None, description="only these queues (default: every queue)")
    oldest_age_field: str | None = "head_message_timestamp"
    oldest_is_timestamp: bool = True


def poll(config: RabbitMqManagementPoller, now: datetime) -> list[QueueSample]:
    """One ``GET /api/queues/<vhost>`` for the fields the mapping reads, at ``now``."""
    url = f"{config.url.rstrip('/')}/api/queues/{quote(config.vhost, safe='')}"
    fields = (config.name_field, config.depth_field, config.consumers_field, config.oldest_age_field)
    columns = ",".join(dict.fromkeys(f.split(".")[0] for f in fields if f))  # keeps a large broker's answer small
    response = fetch(
        url,
        timeout=config.timeout_seconds,
        auth=(config.username, config.password.get_secret_value()),
        params={"columns": columns},
    )
    try:
        samples = parse_json_samples(json_body(response), config, now)
    except QueueParseError as exc:
        raise PollError(f"GET {url}: {exc}") from None
    if config.queues is None:
        return samples
    wanted = set(config.queues)
    samples = [s for s in samples if s.queue in wanted]
    missing = sorted(wanted - {s.queue for s in samples})
    if missing:
        where = f"{config.broker} vhost {config.vhost!r}"
        raise PartialPoll(f"{where}: no depth reported for queue {', '.join(missing)}", samples)
    return samples
