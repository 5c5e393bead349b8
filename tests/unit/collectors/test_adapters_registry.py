"""The adapter registry and the canonical shape every adapter returns."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.adapters import build_adapters
from seed_data.distributor import EDI_PARTNERS

ADAPTERS = build_adapters(EDI_PARTNERS)

SAMPLES = Path(__file__).parent / "samples" / "adapters"
CANONICAL_KEYS = {
    "event_id",
    "correlation_id",
    "event_type",
    "source",
    "target",
    "flow_id",
    "channel",
    "occurred_at",
    "received_at",
    "status",
    "attempt",
    "error_code",
    "error_message",
    "trace_id",
    "payload",
}
SHOPIFY = {"X-Shopify-Webhook-Id": "wh-1"}
VALID = [
    ("shopify", {**SHOPIFY, "X-Shopify-Topic": "orders/create"}, "shopify_orders_create.json"),
    ("shopify", {**SHOPIFY, "X-Shopify-Topic": "orders/cancelled"}, "shopify_orders_cancelled.json"),
    ("shopify", {**SHOPIFY, "X-Shopify-Topic": "fulfillments/create"}, "shopify_fulfillments_create.json"),
    ("shopify", {**SHOPIFY, "X-Shopify-Topic": "refunds/create"}, "shopify_refunds_create.json"),
    ("3pl", {}, "threepl_shipment.json"),
    ("3pl", {}, "threepl_shipment_exception.json"),
    ("3pl", {}, "threepl_asn.json"),
    ("erp", {}, "erp_status_released.json"),
    ("erp", {}, "erp_status_rejected.json"),
    ("edi", {}, "edi_850_po.x12"),
    ("edi", {}, "edi_855_ack.x12"),
    ("edi", {}, "edi_856_asn.x12"),
]


def test_registry_is_keyed_by_adapter_name() -> None:
    assert sorted(ADAPTERS) == ["3pl", "edi", "erp", "shopify"]
    for name, adapter in ADAPTERS.items():
        assert adapter.name == name
        assert adapter.content_types


@pytest.mark.parametrize(("name", "headers", "sample"), VALID, ids=[v[2] for v in VALID])
def test_every_sample_maps_to_canonical_events(name: str, headers: dict[str, str], sample: str) -> None:
    received_at = datetime(2026, 5, 20, 14, 0, tzinfo=UTC)

    events = ADAPTERS[name].to_events(headers, (SAMPLES / sample).read_bytes(), received_at=received_at)

    assert events
    for event in events:
        assert set(event) == CANONICAL_KEYS
        assert event["occurred_at"].tzinfo is None
        assert event["received_at"] == datetime(2026, 5, 20, 14, 0)
        assert event["status"] in {"ok", "failed"}
        assert event["attempt"] == 1
        assert isinstance(event["payload"], dict)
