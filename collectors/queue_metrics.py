"""Queue depth samples: parse what brokers expose into canonical ``queue_samples`` rows.

Pure parsing, no I/O: the pollers (scheduled by APScheduler) fetch the text or JSON and
call these; ``POST /api/v1/queue-samples`` validates pushed samples with ``QueueSample``.
The Prometheus text format is read by ``prometheus_client``'s parser and JSON paths by
``jsonpath-ng``, both maintained, rather than by hand.

A queue without a depth value yields no sample at all: "not measured" must not be
stored as an empty queue.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, NamedTuple

import pyarrow as pa
from jsonpath_ng import JSONPath
from jsonpath_ng import parse as parse_jsonpath
from jsonpath_ng.exceptions import JSONPathError
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from collectors._arrow import arrow_schema, table_from_rows
from collectors._time import to_naive_utc
from models.store.tables import queue_samples

SCHEMA = arrow_schema(queue_samples)

#: Queue names that are dead-letter queues by the usual conventions: ``orders.dlq``,
#: ``orders-dead-letter``, ``orders.dlx``, Kafka's ``orders.DLT``, MassTransit's ``orders_error``,
#: Azure Service Bus's ``orders/$DeadLetterQueue``.
DEFAULT_DLQ_PATTERN = r"(?i)(^|[._/$-])(dlq|dlx|dlt|dead[._-]?letters?(queue)?|error)$"


class QueueParseError(ValueError):
    """The broker's answer cannot be turned into samples; the message says what and where."""


NaiveUtc = Annotated[datetime, AfterValidator(to_naive_utc)]


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


#: A regular expression checked when the config is read, not when the first queue is matched.
RegexPattern = Annotated[str, AfterValidator(_compiles)]


class QueueSample(BaseModel):
    """Depth, consumers and oldest-message age of one queue (or DLQ) at one time."""

    model_config = ConfigDict(extra="forbid")

    broker: Annotated[str, Field(min_length=1)]
    queue: Annotated[str, Field(min_length=1)]
    sampled_at: NaiveUtc
    depth: Annotated[int, Field(ge=0)]
    consumers: Annotated[int | None, Field(ge=0)] = None
    oldest_age_seconds: Annotated[float | None, Field(ge=0, allow_inf_nan=False)] = None
    is_dlq: bool = False
    flow_id: str | None = None


class _Mapping(BaseModel):
    """What both sources share: which broker, which queues are DLQs, which flow a queue feeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    broker: Annotated[str, Field(min_length=1)]
    dlq_pattern: RegexPattern = DEFAULT_DLQ_PATTERN
    #: Queue name → flow id, as in the ``flows.queue`` column (DLQs included).
    flow_by_queue: dict[str, str] = Field(default_factory=dict)
    #: True when the oldest-age source is the head message's Unix timestamp, not an age.
    oldest_is_timestamp: bool = False

    def sample(
        self,
        queue: str,
        sampled_at: datetime,
        depth: float,
        consumers: float | None,
        oldest: float | None,
        where: str,
    ) -> QueueSample:
        """One sample from raw numbers, checked: counts must be whole and not negative."""
        if oldest is not None:
            oldest = _seconds(oldest, f"{where}: oldest age")
            if self.oldest_is_timestamp:
                # Brokers report 0 for "no head message": an empty queue has no oldest message.
                now = to_naive_utc(sampled_at).replace(tzinfo=UTC).timestamp()
                oldest = None if oldest == 0 else max(0.0, now - oldest)
        return QueueSample(
            broker=self.broker,
            queue=queue,
            sampled_at=sampled_at,
            depth=_count(depth, f"{where}: depth"),
            consumers=None if consumers is None else _count(consumers, f"{where}: consumers"),
            oldest_age_seconds=oldest,
            is_dlq=re.search(self.dlq_pattern, queue) is not None,
            flow_id=self.flow_by_queue.get(queue),
        )


class PrometheusMapping(_Mapping):
    """Which series of a Prometheus text exposition hold a queue's numbers.

    Defaults fit the RabbitMQ Prometheus plugin's per-object metrics; ``label_filters``
    narrows to e.g. one vhost (``{"vhost": "/"}``) when a queue name repeats.
    """

    depth_metric: str = "rabbitmq_queue_messages_ready"
    consumers_metric: str | None = "rabbitmq_queue_consumers"
    oldest_age_metric: str | None = None
    queue_label: str = "queue"
    label_filters: dict[str, str] = Field(default_factory=dict)


class JsonMapping(_Mapping):
    """Where a JSON endpoint lists its queues and which fields hold the numbers.

    Paths are JSONPath (``data.queues[*]``, ``$[*]``; fields may be nested, e.g.
    ``message_stats.ready``). Defaults fit RabbitMQ's management API ``/api/queues``.
    """

    queues_path: str = "$[*]"
    name_field: str = "name"
    depth_field: str = "messages_ready"
    consumers_field: str | None = "consumers"
    oldest_age_field: str | None = None

    @field_validator("queues_path", "name_field", "depth_field", "consumers_field", "oldest_age_field")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            _compile(value)
        return value

    @cached_property
    def paths(self) -> _JsonPaths:
        """Compiled once per mapping: jsonpath-ng takes milliseconds to parse a path."""
        return _JsonPaths(
            _compile(self.queues_path),
            _compile(self.name_field),
            _compile(self.depth_field),
            None if self.consumers_field is None else _compile(self.consumers_field),
            None if self.oldest_age_field is None else _compile(self.oldest_age_field),
        )


class _JsonPaths(NamedTuple):
    queues: JSONPath
    name: JSONPath
    depth: JSONPath
    consumers: JSONPath | None
    oldest_age: JSONPath | None


def parse_prometheus(text: str, mapping: PrometheusMapping, sampled_at: datetime) -> list[QueueSample]:
    """Samples from a Prometheus text exposition, one per queue that has a depth series."""
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:  # the parser's message names the offending line
        raise QueueParseError(f"{mapping.broker}: not a Prometheus text exposition: {exc}") from None
    metrics = (mapping.depth_metric, mapping.consumers_metric, mapping.oldest_age_metric)
    values: dict[str, dict[str, Sample]] = {m: {} for m in metrics if m is not None}
    for family in families:
        for series in family.samples:
            by_queue = values.get(series.name)
            queue = series.labels.get(mapping.queue_label)
            if by_queue is None or not queue or not _selected(series.labels, mapping):
                continue
            if queue in by_queue:
                raise QueueParseError(
                    f"{mapping.broker}: queue {queue!r} matches two series of {series.name}, "
                    f"{_labels(by_queue[queue].labels)} and {_labels(series.labels)}: "
                    "narrow them with label_filters"
                )
            by_queue[queue] = series
    depths = values[mapping.depth_metric]
    if not depths and mapping.depth_metric not in {f.name for f in families}:
        raise QueueParseError(
            f"{mapping.broker}: metric {mapping.depth_metric!r} is not in the exposition "
            f"({len(families)} metric families found)"
        )

    def value(metric: str | None, queue: str) -> float | None:
        found = values[metric].get(queue) if metric else None
        return None if found is None else found.value

    return [
        mapping.sample(
            queue,
            sampled_at,
            depth.value,
            value(mapping.consumers_metric, queue),
            value(mapping.oldest_age_metric, queue),
            f"{mapping.broker} queue {queue!r}",
        )
        for queue, depth in sorted(depths.items())
    ]


def parse_json_samples(doc: Any, mapping: JsonMapping, sampled_at: datetime) -> list[QueueSample]:
    """Samples from a JSON document listing queues, one per queue that reports a depth."""
    paths = mapping.paths
    items = [match.value for match in paths.queues.find(doc)]
    if not items and not _is_empty_list(paths.queues, doc):
        raise QueueParseError(f"{mapping.broker}: path {mapping.queues_path!r} matches nothing in the document")
    samples = []
    for index, item in enumerate(items):
        name = _field(item, paths.name)
        if not isinstance(name, str) or not name:
            raise QueueParseError(
                f"{mapping.broker} {mapping.queues_path} #{index}: "
                f"field {mapping.name_field!r} must be a non-empty string, got {name!r}"
            )
        where = f"{mapping.broker} queue {name!r}"
        depth = _number(item, paths.depth, mapping.depth_field, where)
        if depth is None:
            continue
        consumers = _number(item, paths.consumers, mapping.consumers_field, where)
        oldest = _number(item, paths.oldest_age, mapping.oldest_age_field, where)
        samples.append(mapping.sample(name, sampled_at, depth, consumers, oldest, where))
    return samples


def samples_to_arrow(samples: Iterable[QueueSample]) -> pa.Table:
    """``queue_samples`` rows, columns in table order, ready for the ingest writer."""
    return table_from_rows(SCHEMA, [tuple(getattr(s, name) for name in SCHEMA.names) for s in samples])


def _selected(labels: dict[str, str], mapping: PrometheusMapping) -> bool:
    return all(labels.get(k) == v for k, v in mapping.label_filters.items())


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _count(value: float, what: str) -> int:
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise QueueParseError(f"{what} must be a whole number ≥ 0, got {value}")
    return int(value)


def _seconds(value: float, what: str) -> float:
    if not math.isfinite(value) or value < 0:
        raise QueueParseError(f"{what} must be a number of seconds ≥ 0, got {value}")
    return float(value)


def _compile(path: str) -> JSONPath:
    try:
        return parse_jsonpath(path)
    except JSONPathError as exc:
        raise ValueError(f"invalid JSONPath {path!r}: {exc}") from None


def _is_empty_list(path: JSONPath, doc: Any) -> bool:
    """True when ``a.b[*]`` matched nothing because ``a.b`` is an empty list (no queues)."""
    left = getattr(path, "left", None)
    return left is not None and any(m.value == [] for m in left.find(doc))


def _field(item: Any, path: JSONPath) -> Any:
    matches = path.find(item)
    return matches[0].value if matches else None


def _number(item: Any, path: JSONPath | None, name: str | None, where: str) -> float | None:
    """The number at ``path``; None when it is absent or null (not measured)."""
    value = None if path is None else _field(item, path)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueueParseError(f"{where}: field {name!r} must be a number, got {value!r}")
    return float(value)
