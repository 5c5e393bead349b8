"""3PL shipment confirmations and ASNs: signature, mapping, partner routing, dedup."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.adapters import AdapterAuthError, AdapterError, build_adapters
from collectors.adapters.threepl import ThreePLAdapter
from seed_data.distributor import EDI_PARTNERS

ADAPTERS = build_adapters(EDI_PARTNERS)

SAMPLES = Path(__file__).parent / "samples" / "adapters"
RECEIVED = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
threepl = ADAPTERS["3pl"]


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_bytes())


def body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def test_shipment_confirmation_maps_to_shipment_dispatched() -> None:
    raw = (SAMPLES / "threepl_shipment.json").read_bytes()

    assert threepl.to_events({}, raw, received_at=RECEIVED) == [
        {
            "event_id": "3pl:3pl_north:shipment:NSL-778812:confirmed",
            "correlation_id": "SHP-1001",
            "event_type": "shipment.dispatched",
            "source": "3pl_north",
            "target": "d365",
            "flow_id": "3pl_north-d365-shipment",
            "channel": "shopify",
            "occurred_at": datetime(2026, 5, 15, 20, 42),  # 16:42-04:00
            "received_at": datetime(2026, 5, 20, 12, 0),
            "status": "ok",
            "attempt": 1,
            "error_code": None,
            "error_message": None,
            "trace_id": None,
            "payload": {
                "shipment_id": "NSL-778812",
                "order_number": "SHP-1001",
                "warehouse": "NSL-CHI-01",
                "carrier": "UPS",
                "service": "GROUND",
                "tracking_number": "1Z999AA10123456784",
                "lines": [
                    {"line": 1, "sku": "NW-10021", "quantity": 2},
                    {"line": 2, "sku": "NW-10455", "quantity": 4},
                ],
            },
        }
    ]


def test_exception_is_a_failed_dispatch_into_the_partners_erp() -> None:
    [event] = threepl.to_events({}, body(sample("threepl_shipment_exception.json")), received_at=RECEIVED)

    assert (event["source"], event["target"], event["flow_id"]) == (
        "3pl_coastal",
        "netsuite",
        "3pl_coastal-netsuite-shipment",
    )
    assert (event["correlation_id"], event["channel"]) == ("B2B-40077", "b2b")
    assert event["occurred_at"] == datetime(2026, 5, 15, 16, 10)  # 09:10-07:00
    assert (event["status"], event["error_code"]) == ("failed", "SHORT_PICK")
    assert event["error_message"] == "NW-20310: 12 ordered, 0 on hand in CF-OAK-02"


def test_asn_maps_to_asn_received_keyed_by_po() -> None:
    [event] = threepl.to_events({}, body(sample("threepl_asn.json")), received_at=RECEIVED)

    assert (event["event_type"], event["correlation_id"]) == ("asn.received", "PO-4500123")
    assert (event["source"], event["target"], event["flow_id"], event["channel"]) == (
        "3pl_north",
        "d365",
        None,
        None,
    )
    assert event["occurred_at"] == datetime(2026, 5, 16, 15, 22)
    assert event["payload"]["supplier"] == "sup_acme"
    assert [line["quantity"] for line in event["payload"]["lines"]] == [120, 30]


def test_traceparent_header_becomes_the_trace_id() -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    [event] = threepl.to_events(
        {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
        body(sample("threepl_shipment.json")),
        received_at=RECEIVED,
    )

    assert event["trace_id"] == trace


def test_dedup_key_is_stable_and_equals_the_event_id() -> None:
    doc = sample("threepl_shipment.json")
    [event] = threepl.to_events({}, body(doc), received_at=RECEIVED)
    reformatted = json.dumps(doc, indent=2).encode()

    assert threepl.dedup_key({}, body(doc)) == threepl.dedup_key({}, reformatted) == event["event_id"]
    assert threepl.dedup_key({}, body({**doc, "status": "exception"})) != event["event_id"]
    assert threepl.dedup_key({}, b"not json") is None


def test_partner_map_is_configurable() -> None:
    adapter = ThreePLAdapter(partner_erp={"3pl_east": "d365"})
    doc = {**sample("threepl_shipment.json"), "partner": "3pl_east"}

    [event] = adapter.to_events({}, body(doc), received_at=RECEIVED)

    assert event["flow_id"] == "3pl_east-d365-shipment"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"partner": "3pl_south"}, "unknown partner '3pl_south'"),
        ({"type": "return"}, "3pl 3pl_north: type 'return' is not one of shipment, asn"),
        ({"status": "done"}, "status 'done' is not one of confirmed, exception"),
        ({"order_number": None}, "3pl 3pl_north: missing 'order_number'"),
        ({"shipped_at": "2026-05-15 16:42"}, "shipped_at: timestamp '2026-05-15 16:42' has no UTC offset"),
        ({"lines": [{"sku": "NW-1"}]}, r"lines\[0\]: missing 'quantity'"),
        ({"error": "boom"}, "'error' must be an object"),
    ],
    ids=["partner", "type", "status", "order-number", "naive-time", "line", "error"],
)
def test_bad_messages_say_what_and_where(change: dict[str, Any], message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        threepl.to_events({}, body({**sample("threepl_shipment.json"), **change}), received_at=RECEIVED)


def test_signed_body_is_accepted_and_anything_else_refused() -> None:
    raw = body(sample("threepl_shipment.json"))
    signature = "sha256=" + hmac.new(b"3pl-secret", raw, hashlib.sha256).hexdigest()

    threepl.verify({"X-Flowwatch-Signature": signature}, raw, {"3pl": "3pl-secret"})
    with pytest.raises(AdapterAuthError, match="does not match"):
        threepl.verify({"X-Flowwatch-Signature": signature}, raw + b" ", {"3pl": "3pl-secret"})
    with pytest.raises(AdapterAuthError, match="missing X-Flowwatch-Signature"):
        threepl.verify({}, raw, {"3pl": "3pl-secret"})
    with pytest.raises(AdapterAuthError, match="3pl secret not configured"):
        threepl.verify({"X-Flowwatch-Signature": signature}, raw, {})
