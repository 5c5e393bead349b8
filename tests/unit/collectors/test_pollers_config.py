"""Poller configs: the kinds registry, ``[[pollers]]`` in the TOML file, and refusals."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import load_settings
from collectors.pollers import POLL, PollerConfig
from collectors.pollers.prometheus import PrometheusPoller
from collectors.pollers.rabbitmq import RabbitMqPoller

TOML = """
[[pollers]]
kind = "rabbitmq"
name = "main-amqp"
url = "amqp://monitor:s3cret@127.0.0.1:5672/%2F"
broker = "rabbitmq-main"
queues = ["orders.shopify", "orders.shopify.dlq"]
flow_by_queue = { "orders.shopify" = "shopify-d365-orders" }

[[pollers]]
kind = "prometheus"
name = "main-prom"
url = "http://127.0.0.1:15692/metrics/per-object"
broker = "rabbitmq-main"
interval_seconds = 15
label_filters = { vhost = "/" }
"""


def test_every_config_kind_has_a_poll_function() -> None:
    union = typing.get_args(typing.get_args(PollerConfig)[0])
    kinds = {model.model_fields["kind"].default for model in union}
    assert kinds == set(POLL) == {"rabbitmq", "rabbitmq_management", "prometheus", "json"}


def test_pollers_from_the_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "flowwatch.toml"
    config.write_text(TOML)
    monkeypatch.setenv("FLOWWATCH_CONFIG", str(config))
    amqp, prom = load_settings().pollers
    assert isinstance(amqp, RabbitMqPoller) and isinstance(prom, PrometheusPoller)
    assert (amqp.name, amqp.interval_seconds) == ("main-amqp", 30.0)
    assert amqp.queues == ["orders.shopify", "orders.shopify.dlq"]
    assert amqp.flow_by_queue == {"orders.shopify": "shopify-d365-orders"}
    assert "s3cret" not in repr(amqp)  # the URL carries the password
    assert (prom.interval_seconds, prom.label_filters, prom.depth_metric) == (
        15.0, {"vhost": "/"}, "rabbitmq_queue_messages_ready",
    )  # fmt: skip


def test_duplicate_names_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "flowwatch.toml"
    config.write_text(TOML.replace('"main-prom"', '"main-amqp"'))
    monkeypatch.setenv("FLOWWATCH_CONFIG", str(config))
    with pytest.raises(ValidationError, match="two pollers are named 'main-amqp'"):
        load_settings()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "kafka", "name": "k"}, "does not match any of the expected tags"),
        ({"kind": "rabbitmq", "name": "r", "url": "http://x", "broker": "b", "queues": ["q"]}, "amqp:// or amqps://"),
        ({"kind": "rabbitmq", "name": "r", "url": "amqp://x", "broker": "b", "queues": []}, "at least 1 item"),
        ({"kind": "json", "name": "poll:me", "url": "http://x", "broker": "b"}, "should match pattern"),
        ({"kind": "json", "name": "j", "url": "ftp://x", "broker": "b"}, "should match pattern"),
        (
            {"kind": "json", "name": "j", "url": "http://x", "broker": "b", "interval_seconds": 0},
            "greater than or equal to 1",
        ),
        ({"kind": "prometheus", "name": "p", "url": "http://x", "broker": "b", "depth": "x"}, "Extra inputs"),
    ],
)
def test_bad_entries_are_refused(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_settings(pollers=[entry])
