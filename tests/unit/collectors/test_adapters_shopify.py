"""Shopify webhooks: HMAC verification and the mapping of each topic to canonical events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.adapters import AdapterAuthError, AdapterError, build_adapters
from seed_data.distributor import EDI_PARTNERS

ADAPTERS = build_adapters(EDI_PARTNERS)

SAMPLES = Path(__file__).parent / "samples" / "adapters"
SECRET = "shpss_test_secret"
RECEIVED = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
shopify = ADAPTERS["shopify"]


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers(topic: str, webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043") -> dict[str, str]:
    return {"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id}


def test_correct_hmac_is_accepted() -> None:
    body = sample("shopify_orders_create.json")
    shopify.verify({"X-Shopify-Hmac-Sha256": sign(body)}, body, {"shopify": SECRET})


def test_hmac_header_name_is_case_insensitive() -> None:
    body = sample("shopify_orders_create.json")
    shopify.verify({"x-shopify-hmac-sha256": sign(body)}, body, {"shopify": SECRET})


@pytest.mark.parametrize(
    ("request_headers", "secrets", "reason"),
    [
        ({"X-Shopify-Hmac-Sha256": sign(b"{}", "other-secret")}, {"shopify": SECRET}, "does not match"),
        ({"X-Shopify-Hmac-Sha256": "not base64!"}, {"shopify": SECRET}, "not base64"),
        ({}, {"shopify": SECRET}, "missing X-Shopify-Hmac-Sha256"),
        ({"X-Shopify-Hmac-Sha256": sign(b"{}")}, {}, "shopify secret not configured"),
        ({"X-Shopify-Hmac-Sha256": sign(b"{}")}, {"shopify": ""}, "shopify secret not configured"),
    ],
    ids=["wrong-secret", "garbage", "missing-header", "no-secret", "empty-secret"],
)
def test_unproven_requests_are_refused(request_headers: dict[str, str], secrets: dict[str, str], reason: str) -> None:
    with pytest.raises(AdapterAuthError, match=reason):
        shopify.verify(request_headers, b"{}", secrets)


def test_hmac_covers_the_raw_body() -> None:
    body = sample("shopify_orders_create.json")
    tampered = body.replace(b'"quantity": 2', b'"quantity": 20')
    with pytest.raises(AdapterAuthError):
        shopify.verify({"X-Shopify-Hmac-Sha256": sign(body)}, tampered, {"shopify": SECRET})


def test_orders_create_maps_to_order_created() -> None:
    events = shopify.to_events(headers("orders/create"), sample("shopify_orders_create.json"), received_at=RECEIVED)

    assert events == [
        {
            "event_id": "shopify:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            "correlation_id": "SHP-1001",
            "event_type": "order.created",
            "source": "shopify",
            "target": "d365",
            "flow_id": "shopify-d365-orders",
            "channel": "shopify",
            "occurred_at": datetime(2026, 5, 14, 13, 15, 32),  # 09:15:32-04:00
            "received_at": datetime(2026, 5, 20, 12, 0),
            "status": "ok",
            "attempt": 1,
            "error_code": None,
            "error_message": None,
            "trace_id": None,
            "payload": {
                "order_id": 5512345678901,
                "name": "#1001",
                "total_price": "251.40",
                "currency": "USD",
                "financial_status": "paid",
                "customer_id": 7012345678901,
                "ship_to": {"city": "Columbus", "province_code": "OH", "country_code": "US", "zip": "43215"},
                "lines": [
                    {"sku": "NW-10021", "quantity": 2, "price": "48.50"},
                    {"sku": "NW-10455", "quantity": 4, "price": "34.20"},
                ],
            },
        }
    ]


def test_order_payload_keeps_no_personal_data() -> None:
    [event] = shopify.to_events(headers("orders/create"), sample("shopify_orders_create.json"), received_at=RECEIVED)

    text = json.dumps(event["payload"])
    for personal in ("Whitfield", "Harbor", "purchasing@", "614-555"):
        assert personal not in text


def test_orders_cancelled_maps_to_order_cancelled() -> None:
    [event] = shopify.to_events(
        headers("orders/cancelled"), sample("shopify_orders_cancelled.json"), received_at=RECEIVED
    )

    assert (event["event_type"], event["correlation_id"], event["occurred_at"]) == (
        "order.cancelled",
        "SHP-1001",
        datetime(2026, 5, 14, 15, 2),
    )
    assert (event["source"], event["target"], event["flow_id"]) == ("shopify", "d365", "shopify-d365-orders")
    assert event["payload"]["cancel_reason"] == "customer"


def test_fulfillments_create_maps_to_shipment_dispatched() -> None:
    [event] = shopify.to_events(
        headers("fulfillments/create"), sample("shopify_fulfillments_create.json"), received_at=RECEIVED
    )

    assert event["event_type"] == "shipment.dispatched"
    assert event["correlation_id"] == "SHP-1001"  # from the fulfillment name "#1001.1"
    assert event["occurred_at"] == datetime(2026, 5, 15, 20, 42, 10)
    assert (event["source"], event["target"], event["flow_id"], event["status"]) == (
        "shopify",
        None,
        None,
        "ok",
    )
    assert event["payload"]["tracking_numbers"] == ["1Z999AA10123456784"]
    assert event["payload"]["lines"] == [
        {"sku": "NW-10021", "quantity": 2},
        {"sku": "NW-10455", "quantity": 4},
    ]


def test_failed_fulfillment_is_a_failed_dispatch() -> None:
    doc = json.loads(sample("shopify_fulfillments_create.json"))
    doc["status"] = "failure"

    [event] = shopify.to_events(headers("fulfillments/create"), json.dumps(doc).encode(), received_at=RECEIVED)

    assert (event["status"], event["error_code"]) == ("failed", "fulfillment_failure")


def test_refunds_create_maps_to_refund_issued() -> None:
    [event] = shopify.to_events(headers("refunds/create"), sample("shopify_refunds_create.json"), received_at=RECEIVED)

    assert event["event_type"] == "refund.issued"
    # The refund payload has no order name, only the numeric order id.
    # (the writer resolves this reference to the order's key: tests/integration/test_shopify_orders.py)
    assert event["correlation_id"] == "@shopify:order:5512345678901"
    assert event["occurred_at"] == datetime(2026, 5, 18, 14, 5, 1)
    assert event["payload"]["amount"] == "36.77"  # the failed refund transaction is not counted
    assert event["payload"]["lines"] == [{"sku": "NW-10455", "quantity": 1, "subtotal": 34.2}]


def test_dedup_key_and_event_id_come_from_the_webhook_id() -> None:
    body = sample("shopify_orders_create.json")
    first = shopify.to_events(headers("orders/create", "wh-1"), body, received_at=RECEIVED)
    resent = shopify.to_events(headers("orders/create", "wh-1"), body, received_at=datetime(2026, 5, 21))

    assert shopify.dedup_key({"x-shopify-webhook-id": "wh-1"}, body) == "shopify:wh-1"
    assert shopify.dedup_key(headers("orders/create", "wh-1"), b"") == "shopify:wh-1"
    assert first[0]["event_id"] == resent[0]["event_id"] == "shopify:wh-1"
    assert shopify.dedup_key({}, body) is None


def test_missing_webhook_id_is_refused() -> None:
    with pytest.raises(AdapterError, match="X-Shopify-Webhook-Id"):
        shopify.to_events(
            {"X-Shopify-Topic": "orders/create"}, sample("shopify_orders_create.json"), received_at=RECEIVED
        )


@pytest.mark.parametrize(
    ("request_headers", "body", "message"),
    [
        ({"X-Shopify-Webhook-Id": "x"}, b"{}", "missing X-Shopify-Topic"),
        (headers("orders/create"), b"{not json", "shopify orders/create: body is not valid JSON"),
        (headers("orders/create"), b"[]", "must be a JSON object"),
        (headers("orders/create"), b'{"created_at": "2026-05-14T09:15:32-04:00"}', "missing 'name'"),
        (
            headers("orders/create"),
            b'{"name": "#1", "created_at": "2026-05-14T09:15:32"}',
            "has no UTC offset",
        ),
        (headers("orders/create"), b'{"name": "#1", "created_at": "yesterday"}', "not an ISO-8601"),
        (
            headers("orders/create"),
            b'{"name": "#1", "created_at": "2026-05-14T09:15:32Z", "line_items": {}}',
            "'line_items' must be a list",
        ),
    ],
    ids=[
        "no-topic",
        "bad-json",
        "not-object",
        "no-name",
        "naive-time",
        "bad-time",
        "bad-lines",
    ],
)
def test_unmappable_webhooks_say_what_and_where(request_headers: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        shopify.to_events(request_headers, body, received_at=RECEIVED)


def test_topics_flowwatch_does_not_use_are_acknowledged_without_events() -> None:
    for topic in ("products/update", "customers/create", "app/uninstalled"):
        assert shopify.to_events(headers(topic), b"{}", received_at=RECEIVED) == []


@pytest.mark.parametrize(
    ("status", "event_type", "outcome"),
    [
        ("pending", "fulfillment.created", "ok"),
        ("open", "fulfillment.created", "ok"),
        ("success", "shipment.dispatched", "ok"),
        ("cancelled", "shipment.dispatched", "failed"),
        ("error", "shipment.dispatched", "failed"),
        ("failure", "shipment.dispatched", "failed"),
    ],
)
def test_fulfillment_statuses_map_faithfully(status: str, event_type: str, outcome: str) -> None:
    body = json.loads(sample("shopify_fulfillments_create.json"))
    [event] = shopify.to_events(headers("fulfillments/update"), json.dumps({**body, "status": status}).encode(),
                                received_at=RECEIVED)  # fmt: skip
    assert (event["event_type"], event["status"], event["correlation_id"]) == (event_type, outcome, "SHP-1001")
