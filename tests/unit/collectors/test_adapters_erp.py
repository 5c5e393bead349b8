"""ERP sales-order status updates: each status to its lifecycle event and flow."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.adapters import AdapterError, build_adapters
from seed_data.distributor import EDI_PARTNERS

ADAPTERS = build_adapters(EDI_PARTNERS)

SAMPLES = Path(__file__).parent / "samples" / "adapters"
RECEIVED = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
erp = ADAPTERS["erp"]


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_bytes())


def map_one(doc: dict[str, Any]) -> dict[str, Any]:
    [event] = erp.to_events({}, json.dumps(doc).encode(), received_at=RECEIVED)
    return event


def test_released_maps_to_order_released_on_the_release_flow() -> None:
    raw = (SAMPLES / "erp_status_released.json").read_bytes()

    assert erp.to_events({}, raw, received_at=RECEIVED) == [
        {
            "event_id": "erp:d365:SO-0012345:released:2026-05-14T14:03:27+01:00",
            "correlation_id": "SHP-1001",
            "event_type": "order.released",
            "source": "d365",
            "target": "3pl_north",
            "flow_id": "d365-3pl_north-release",
            "channel": "shopify",
            "occurred_at": datetime(2026, 5, 14, 13, 3, 27),  # 14:03:27+01:00
            "received_at": datetime(2026, 5, 20, 12, 0),
            "status": "ok",
            "attempt": 1,
            "error_code": None,
            "error_message": None,
            "trace_id": None,
            "payload": {
                "document_id": "SO-0012345",
                "order_number": "SHP-1001",
                "status": "released",
                "fulfilment_node": "3pl_north",
            },
        }
    ]


def test_rejected_is_a_failed_acceptance_with_the_erp_error() -> None:
    event = map_one(sample("erp_status_rejected.json"))

    assert (event["event_type"], event["status"]) == ("order.accepted", "failed")
    assert (event["error_code"], event["error_message"]) == (
        "ITEM_INACTIVE",
        "Item NW-99001 is inactive in subsidiary US-West",
    )
    assert (event["source"], event["flow_id"], event["channel"]) == ("netsuite", "b2b-netsuite-orders", "b2b")
    assert event["occurred_at"] == datetime(2026, 5, 14, 15, 30)


@pytest.mark.parametrize(
    ("change", "event_type", "flow_id", "target"),
    [
        ({"status": "accepted"}, "order.accepted", "shopify-d365-orders", None),
        ({"status": "held"}, "order.held", "shopify-d365-orders", None),
        ({"status": "released", "fulfilment_node": "wms"}, "order.released", "d365-wms-release", "wms"),
        ({"status": "invoiced", "invoice_number": "INV-88123"}, "invoice.posted", "d365-invoice", None),
        ({"status": "cancelled"}, "order.cancelled", None, None),
        ({"status": "accepted", "order_number": "ADB-500012"}, "order.accepted", "adobe-d365-orders", None),
        ({"status": "accepted", "order_number": "X-1"}, "order.accepted", None, None),
    ],
    ids=["accepted", "held", "released", "invoiced", "cancelled", "adobe", "unknown-channel"],
)
def test_each_status_maps_to_its_event_and_flow(
    change: dict[str, Any], event_type: str, flow_id: str | None, target: str | None
) -> None:
    event = map_one({**sample("erp_status_released.json"), "fulfilment_node": None, **change})

    assert (event["event_type"], event["flow_id"], event["target"], event["status"]) == (
        event_type,
        flow_id,
        target,
        "ok",
    )


def test_invoice_number_is_kept_in_the_payload() -> None:
    event = map_one({**sample("erp_status_released.json"), "status": "invoiced", "invoice_number": "INV-88123"})

    assert event["payload"]["invoice_number"] == "INV-88123"


def test_dedup_key_is_stable_and_a_later_status_is_a_new_event() -> None:
    doc = sample("erp_status_released.json")
    later = {**doc, "status": "invoiced", "timestamp": "2026-05-15T09:00:00Z"}

    assert erp.dedup_key({}, json.dumps(doc).encode()) == map_one(doc)["event_id"]
    assert erp.dedup_key({}, json.dumps(doc, indent=1).encode()) == map_one(doc)["event_id"]
    assert erp.dedup_key({}, json.dumps(later).encode()) != map_one(doc)["event_id"]
    assert erp.dedup_key({}, b"{}") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"erp": "sap"}, "erp: unknown erp 'sap'"),
        ({"status": "shipped"}, "erp d365: status 'shipped' is not one of accepted"),
        ({"fulfilment_node": None}, "status 'released' needs 'fulfilment_node'"),
        ({"order_number": ""}, "erp d365: missing 'order_number'"),
        ({"timestamp": None}, "erp d365: missing 'timestamp'"),
    ],
    ids=["erp", "status", "node", "order-number", "timestamp"],
)
def test_bad_updates_say_what_and_where(change: dict[str, Any], message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        map_one({**sample("erp_status_released.json"), **change})
