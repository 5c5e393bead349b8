"""Queue depth parsing from a RabbitMQ exporter's /metrics and from JSON endpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from collectors.queue_metrics import (
    JsonMapping,
    PrometheusMapping,
    QueueParseError,
    QueueSample,
    parse_json_samples,
    parse_prometheus,
    samples_to_arrow,
)
from models.store.tables import queue_samples

SAMPLES = Path(__file__).parent / "samples"
# 2024-05-01T10:00:00Z; the exporter sample's head timestamps are 600 s and 3,600 s before it
SAMPLED_AT = datetime(2024, 5, 1, 10, 0, 0)
RABBIT = PrometheusMapping(
    broker="rabbitmq-prod",
    oldest_age_metric="rabbitmq_queue_head_message_timestamp",
    oldest_is_timestamp=True,
    label_filters={"vhost": "/"},
    flow_by_queue={"orders.erp": "storefront-erp-orders", "orders.erp.dlq": "storefront-erp-orders"},
)


def exporter_text() -> str:
    return (SAMPLES / "rabbitmq_exporter.prom").read_text()


def test_rabbitmq_exporter_metrics() -> None:
    samples = parse_prometheus(exporter_text(), RABBIT, SAMPLED_AT)

    assert [s.model_dump() for s in samples] == [
        {
            "broker": "rabbitmq-prod",
            "queue": "inventory_error",
            "sampled_at": SAMPLED_AT,
            "depth": 3,
            "consumers": 0,
            "oldest_age_seconds": None,
            "is_dlq": True,
            "flow_id": None,
        },
        {
            "broker": "rabbitmq-prod",
            "queue": "orders.erp",
            "sampled_at": SAMPLED_AT,
            "depth": 1243,
            "consumers": 2,
            "oldest_age_seconds": 600.0,
            "is_dlq": False,
            "flow_id": "storefront-erp-orders",
        },
        {
            "broker": "rabbitmq-prod",
            "queue": "orders.erp.dlq",
            "sampled_at": SAMPLED_AT,
            "depth": 17,
            "consumers": 0,
            "oldest_age_seconds": 3600.0,
            "is_dlq": True,
            "flow_id": "storefront-erp-orders",
        },
        {
            "broker": "rabbitmq-prod",
            "queue": "shipments.3pl-east",
            "sampled_at": SAMPLED_AT,
            "depth": 0,
            "consumers": 1,
            "oldest_age_seconds": None,  # head timestamp 0: the queue is empty
            "is_dlq": False,
            "flow_id": None,
        },
    ]


def test_aware_sampled_at_is_stored_as_naive_utc() -> None:
    local = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    samples = parse_prometheus(exporter_text(), RABBIT, local)
    orders = next(s for s in samples if s.queue == "orders.erp")
    assert orders.sampled_at == SAMPLED_AT
    assert orders.oldest_age_seconds == 600.0


def test_label_filter_selects_the_other_vhost() -> None:
    mapping = RABBIT.model_copy(update={"label_filters": {"vhost": "b2b"}})
    samples = parse_prometheus(exporter_text(), mapping, SAMPLED_AT)
    assert [(s.queue, s.depth, s.consumers) for s in samples] == [("orders.erp", 5, 1)]


def test_queue_name_in_two_series_needs_a_filter() -> None:
    mapping = PrometheusMapping(broker="rabbitmq-prod")
    with pytest.raises(QueueParseError, match=r"queue 'orders.erp' matches two series.*vhost=\"b2b\".*label_filters"):
        parse_prometheus(exporter_text(), mapping, SAMPLED_AT)


def test_missing_depth_metric_is_an_error_but_an_empty_one_is_not() -> None:
    with pytest.raises(QueueParseError, match="metric 'rabbitmq_queue_messages' is not in the exposition"):
        parse_prometheus(
            exporter_text(), RABBIT.model_copy(update={"depth_metric": "rabbitmq_queue_messages"}), SAMPLED_AT
        )
    empty = "# HELP rabbitmq_queue_messages_ready Ready.\n# TYPE rabbitmq_queue_messages_ready gauge\n"
    assert parse_prometheus(empty, RABBIT, SAMPLED_AT) == []


def test_garbage_exposition_is_an_error() -> None:
    with pytest.raises(QueueParseError, match="rabbitmq-prod: not a Prometheus text exposition"):
        parse_prometheus('rabbitmq_queue_messages_ready{queue="a" 12\n', RABBIT, SAMPLED_AT)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "depth must be a whole number ≥ 0, got -1"),
        ("NaN", "depth must be a whole number ≥ 0, got nan"),
    ],
)
def test_impossible_depth_is_an_error(value: str, message: str) -> None:
    text = f'rabbitmq_queue_messages_ready{{queue="orders.erp",vhost="/"}} {value}\n'
    with pytest.raises(QueueParseError, match=f"rabbitmq-prod queue 'orders.erp': {message}"):
        parse_prometheus(text, RABBIT, SAMPLED_AT)


def test_rabbitmq_management_api_json() -> None:
    doc = json.loads((SAMPLES / "rabbitmq_api_queues.json").read_text())
    samples = parse_json_samples(doc, JsonMapping(broker="rabbitmq-prod"), SAMPLED_AT)
    assert [(s.queue, s.depth, s.consumers, s.is_dlq) for s in samples] == [
        ("orders.erp", 1243, 2, False),
        ("orders.erp.dlq", 17, 0, True),
        ("shipments.3pl-east", 0, 1, False),
    ]  # po.edi-850 reports no depth yet: no sample rather than a false zero


def test_generic_json_endpoint_with_nested_fields() -> None:
    doc = json.loads((SAMPLES / "middleware_queues.json").read_text())
    mapping = JsonMapping(
        broker="azure-sb-prod",
        queues_path="data.queues[*]",
        name_field="queue",
        depth_field="stats.active",
        consumers_field="receivers",
        oldest_age_field="stats.oldestSeconds",
        flow_by_queue={"orders-to-netsuite": "storefront-netsuite-orders"},
    )
    samples = parse_json_samples(doc, mapping, SAMPLED_AT)
    assert [(s.queue, s.depth, s.consumers, s.oldest_age_seconds, s.is_dlq, s.flow_id) for s in samples] == [
        ("orders-to-netsuite", 58, 3, 912.5, False, "storefront-netsuite-orders"),
        ("orders-to-netsuite/$deadletterqueue", 4, 0, 86400.0, True, None),
        ("asn-from-3pl", 0, 2, None, False, None),
    ]


def test_json_path_errors_say_where() -> None:
    mapping = JsonMapping(broker="mw", queues_path="data.queues[*]", name_field="queue", depth_field="depth")
    with pytest.raises(QueueParseError, match=r"mw: path 'data.queues\[\*\]' matches nothing"):
        parse_json_samples({"data": {"topics": []}}, mapping, SAMPLED_AT)
    assert parse_json_samples({"data": {"queues": []}}, mapping, SAMPLED_AT) == []
    with pytest.raises(QueueParseError, match=r"mw data.queues\[\*\] #1: field 'queue' must be a non-empty string"):
        parse_json_samples({"data": {"queues": [{"queue": "a", "depth": 1}, {"depth": 2}]}}, mapping, SAMPLED_AT)
    with pytest.raises(QueueParseError, match="mw queue 'a': field 'depth' must be a number, got '12'"):
        parse_json_samples({"data": {"queues": [{"queue": "a", "depth": "12"}]}}, mapping, SAMPLED_AT)


def test_invalid_mapping_is_refused_when_configured() -> None:
    with pytest.raises(ValidationError, match=r"invalid JSONPath 'data.queues\[\*'"):
        JsonMapping(broker="mw", queues_path="data.queues[*")
    with pytest.raises(ValidationError, match="invalid regular expression"):
        PrometheusMapping(broker="mq", dlq_pattern="(unclosed")


def test_pushed_sample_validation() -> None:
    sample = QueueSample.model_validate(
        {
            "broker": "mq",
            "queue": "q.dlq",
            "sampled_at": "2024-05-01T12:00:00+02:00",
            "depth": 4,
            "is_dlq": True,
        }
    )
    assert sample.sampled_at == datetime(2024, 5, 1, 10, 0)
    with pytest.raises(ValidationError, match="depth"):
        QueueSample(broker="mq", queue="q", sampled_at=SAMPLED_AT, depth=-1)
    with pytest.raises(ValidationError, match="oldest_age_seconds"):
        QueueSample(broker="mq", queue="q", sampled_at=SAMPLED_AT, depth=1, oldest_age_seconds=float("inf"))


def test_samples_to_arrow_matches_the_queue_samples_table() -> None:
    samples = parse_prometheus(exporter_text(), RABBIT, datetime(2024, 5, 1, 10, tzinfo=UTC))
    table = samples_to_arrow(samples)
    assert table.schema.names == [c.name for c in queue_samples.columns]
    assert table.schema.field("depth").type == pa.int64()
    assert table.schema.field("consumers").type == pa.int32()
    assert table.schema.field("sampled_at").type == pa.timestamp("us")
    assert table.column("depth").to_pylist() == [3, 1243, 17, 0]
    assert table.column("is_dlq").to_pylist() == [True, False, True, False]
    assert table.column("sampled_at").to_pylist() == [SAMPLED_AT] * 4
    assert samples_to_arrow([]).num_rows == 0
