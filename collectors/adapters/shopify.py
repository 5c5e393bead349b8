"""Shopify webhooks (orders, fulfillments, refunds) mapped to canonical order-lifecycle events.

Correlation: Shopify's order ``name`` (``#1001``) is the number people quote, so orders are
keyed ``SHP-1001`` (``#`` dropped, ``SHP-`` prefixed), the form the ERP and 3PLs carry.
A fulfillment's name is the order's plus a sequence (``#1001.1``). A refund carries only
the numeric ``order_id``: it is keyed by the reference ``@shopify:order:<order_id>``, which
the writer resolves to the order's key through the alias the order's ``orders/create``
registered (``models/ingest/key_aliases.py``), so refunds land on their order, never on a new key.

Fulfillment statuses map faithfully: ``success`` is dispatched; ``pending`` and ``open`` are a
fulfillment created but not yet shipped (``fulfillment.created``); ``cancelled``, ``error`` and
``failure`` are a dispatch that failed. Topics Flowwatch does not use are acknowledged and
counted as ignored (Shopify deletes a subscription whose deliveries keep failing).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from collectors.adapters.base import (
    AdapterAuthError,
    AdapterError,
    AdapterSecrets,
    Event,
    header,
    load_object,
    make_event,
    parse_timestamp,
    require,
    require_str,
)
from models.ingest.key_aliases import reference

TOPIC_HEADER = "X-Shopify-Topic"
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
SOURCE = "shopify"
ERP = "d365"
ORDERS_FLOW = f"{SOURCE}-{ERP}-orders"

_FULFILLMENT_SUFFIX = re.compile(r"\.\d+$")
#: Fulfillment statuses that mean the parcel did not leave.
_FAILED_FULFILLMENT = {"cancelled", "error", "failure"}
#: Fulfillment statuses of a fulfillment that exists but has not shipped yet.
_PENDING_FULFILLMENT = {"pending", "open"}


class ShopifyAdapter:
    """Shopify Admin API webhooks, JSON format."""

    name = "shopify"
    content_types = ("application/json",)

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: AdapterSecrets) -> None:
        """``X-Shopify-Hmac-Sha256`` must be base64(HMAC-SHA256(secret, raw body))."""
        secret = secrets.get(self.name)
        if not secret:
            raise AdapterAuthError("shopify secret not configured")
        given = header(headers, HMAC_HEADER)
        if not given:
            raise AdapterAuthError(f"missing {HMAC_HEADER} header")
        try:
            digest = base64.b64decode(given.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AdapterAuthError(f"{HMAC_HEADER} is not base64") from exc
        expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, digest):
            raise AdapterAuthError(f"{HMAC_HEADER} does not match the body")

    def dedup_key(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """Shopify re-sends a webhook with the same ``X-Shopify-Webhook-Id``."""
        webhook_id = header(headers, WEBHOOK_ID_HEADER)
        return f"shopify:{webhook_id.strip()}" if webhook_id and webhook_id.strip() else None

    def to_events(self, headers: Mapping[str, str], body: bytes, *, received_at: datetime) -> list[Event]:
        """One event per webhook; its id derives from the webhook id so a re-send is a duplicate."""
        topic = (header(headers, TOPIC_HEADER) or "").strip()
        if not topic:
            raise AdapterError(f"shopify: missing {TOPIC_HEADER} header")
        mapper = _MAPPERS.get(topic)
        if mapper is None:  # acknowledged, counted as ignored: a failing subscription gets deleted
            return []
        event_id = self.dedup_key(headers, body)
        if event_id is None:
            raise AdapterError(f"shopify: missing {WEBHOOK_ID_HEADER} header")
        fields = mapper(load_object(body, f"shopify {topic}"), f"shopify {topic}")
        return [make_event(event_id=event_id, source=SOURCE, channel=SOURCE, received_at=received_at, **fields)]


def _order_created(order: dict[str, Any], where: str) -> dict[str, Any]:
    address = order.get("shipping_address") or {}
    customer = order.get("customer") or {}
    return {
        "event_type": "order.created",
        "correlation_id": _order_key(require_str(order, "name", where)),
        "occurred_at": parse_timestamp(require(order, "created_at", where), f"{where} created_at"),
        "target": ERP,
        "flow_id": ORDERS_FLOW,
        # Ship-to region and customer id only: enough to triage, no personal data at rest.
        "payload": {
            "order_id": order.get("id"),
            "name": order["name"],
            "total_price": order.get("total_price"),
            "currency": order.get("currency"),
            "financial_status": order.get("financial_status"),
            "customer_id": customer.get("id"),
            "ship_to": {key: address.get(key) for key in ("city", "province_code", "country_code", "zip")},
            "lines": [
                {"sku": line.get("sku") or None, "quantity": line.get("quantity"), "price": line.get("price")}
                for line in _lines(order, "line_items", where)
            ],
        },
    }


def _order_cancelled(order: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        "event_type": "order.cancelled",
        "correlation_id": _order_key(require_str(order, "name", where)),
        "occurred_at": parse_timestamp(require(order, "cancelled_at", where), f"{where} cancelled_at"),
        "target": ERP,
        "flow_id": ORDERS_FLOW,
        "payload": {
            "order_id": order.get("id"),
            "name": order["name"],
            "cancel_reason": order.get("cancel_reason"),
        },
    }


def _fulfillment(fulfillment: dict[str, Any], where: str) -> dict[str, Any]:
    name = require_str(fulfillment, "name", where)
    status = fulfillment.get("status")
    failed = status in _FAILED_FULFILLMENT
    stamp = "updated_at" if "/update" in where and fulfillment.get("updated_at") else "created_at"
    return {
        "event_type": "fulfillment.created" if status in _PENDING_FULFILLMENT else "shipment.dispatched",
        "correlation_id": _order_key(_FULFILLMENT_SUFFIX.sub("", name)),
        "occurred_at": parse_timestamp(require(fulfillment, stamp, where), f"{where} {stamp}"),
        "status": "failed" if failed else "ok",
        "error_code": f"fulfillment_{status}" if failed else None,
        "payload": {
            "fulfillment_id": fulfillment.get("id"),
            "order_id": fulfillment.get("order_id"),
            "name": name,
            "status": status,
            "tracking_company": fulfillment.get("tracking_company"),
            "tracking_numbers": fulfillment.get("tracking_numbers") or [],
            "lines": [
                {"sku": line.get("sku") or None, "quantity": line.get("quantity")}
                for line in _lines(fulfillment, "line_items", where)
            ],
        },
    }


def _refund_created(refund: dict[str, Any], where: str) -> dict[str, Any]:
    order_id = require(refund, "order_id", where)
    if isinstance(order_id, bool) or not isinstance(order_id, int | str) or not str(order_id).strip():
        raise AdapterError(f"{where}: 'order_id' must be Shopify's numeric order id")
    transactions = [
        t for t in refund.get("transactions") or [] if t.get("kind") == "refund" and t.get("status") == "success"
    ]
    return {
        "event_type": "refund.issued",
        "correlation_id": reference("shopify:order", str(order_id).strip()),
        "occurred_at": parse_timestamp(
            refund.get("processed_at") or require(refund, "created_at", where), f"{where} processed_at"
        ),
        "target": ERP,
        "payload": {
            "refund_id": refund.get("id"),
            "order_id": refund["order_id"],
            "amount": _total(transactions, where),
            "currency": next((t.get("currency") for t in transactions), None),
            "restock": refund.get("restock"),
            "lines": [
                {
                    "sku": (line.get("line_item") or {}).get("sku") or None,
                    "quantity": line.get("quantity"),
                    "subtotal": line.get("subtotal"),
                }
                for line in _lines(refund, "refund_line_items", where)
            ],
        },
    }


def _order_key(name: str) -> str:
    """``#1001`` → ``SHP-1001``."""
    return f"SHP-{name.strip().lstrip('#')}"


def _total(transactions: list[dict[str, Any]], where: str) -> str:
    """Money as a decimal string: float sums drift by cents."""
    try:
        return str(sum((Decimal(str(t.get("amount") or 0)) for t in transactions), Decimal("0.00")))
    except InvalidOperation as exc:
        raise AdapterError(f"{where}: a refund transaction amount is not a number") from exc


def _lines(obj: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    lines = obj.get(key)
    if lines is None:
        return []
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise AdapterError(f"{where}: '{key}' must be a list of objects")
    return lines


_MAPPERS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "orders/create": _order_created,
    "orders/cancelled": _order_cancelled,
    "fulfillments/create": _fulfillment,
    "fulfillments/update": _fulfillment,
    "refunds/create": _refund_created,
}
