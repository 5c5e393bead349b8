"""The fingerprint rule table, pinned by a table of (rule, message, normalised) cases."""

from __future__ import annotations

import pytest

from models.detection.fingerprint import RULES, error_class, fingerprint, normalise

CASES = [
    ("uuid", "Request 3f2b8c1e-9a4d-4f6b-8e2a-1c5d7e9f0a3b rejected", "Request <uuid> rejected"),
    ("timestamp", "Shipment at 2026-03-10T14:02:11.123Z not accepted", "Shipment at <ts> not accepted"),
    ("timestamp", "Batch of 2026-03-10 14:02:11+02:00 failed", "Batch of <ts> failed"),
    ("date", "Delivery date 2026-03-10 is in the past", "Delivery date <ts> is in the past"),
    ("clock", "Cut-off 14:30 missed", "Cut-off <ts> missed"),
    ("email", "Customer ops.buyer@acme-industrial.com unknown", "Customer <email> unknown"),
    ("ip", "Connection to 10.20.3.4:5672 refused", "Connection to <ip> refused"),
    (
        "sku",
        "SKU 88-1042-BLK not mapped in Dynamics 365 item master",
        "SKU <sku> not mapped in Dynamics 365 item master",
    ),
    ("sku", "Item SKU-10023 has no price", "Item SKU <sku> has no price"),
    ("stock_key", "Stock for SKU-10023@WMS is negative", "Stock for <sku>@<location> is negative"),
    ("po", "PO-4500123 already acknowledged", "<po> already acknowledged"),
    ("asn", "ASN 778812 references unknown lines", "<asn> references unknown lines"),
    ("order", "Order SHP-1000452 rejected: duplicate", "Order <order> rejected: duplicate"),
    ("order", "Order B2B-3000017 on credit hold", "Order <order> on credit hold"),
    ("order", "Shopify order #10452 has no customer", "Shopify order <order> has no customer"),
    ("document", "Invoice INV-1000452 already posted", "Invoice <doc> already posted"),
    ("tracking", "Tracking 1Z9F3A1B2C3D4E5F60 invalid for UPS", "Tracking <tracking> invalid for UPS"),
    ("tracking", "USPS label 92001901755477000000012345 void", "USPS label <tracking> void"),
    ("prefixed_id", "Message evt_8b109cb31aa11f9e247e6854 dead-lettered", "Message <id> dead-lettered"),
    ("hex", "trace 4bf92f3577b34da6a3ce929d0e0e4736 dropped", "trace <hex> dropped"),
    (
        "number",
        "POST /data/salesorders timed out after 30 s (Dynamics 365 under load)",
        "POST /data/salesorders timed out after <n> s (Dynamics 365 under load)",
    ),
    (
        "number",
        "Upstream 503 Service Unavailable from NorthStar WMS API",
        "Upstream 503 Service Unavailable from NorthStar WMS API",
    ),
    ("number", "qty 12.5 exceeds 10 on line 3", "qty <n> exceeds <n> on line <n>"),
    ("words", "Ship-to postcode missing", "Ship-to postcode missing"),
    ("codes", "3PL-500 from Coastal, ERP-429 throttled", "3PL-500 from Coastal, ERP-429 throttled"),
]


@pytest.mark.parametrize(("rule", "message", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_normalise(rule: str, message: str, expected: str) -> None:
    assert normalise(message) == expected


def test_every_rule_has_a_case() -> None:
    covered = {c[0] for c in CASES}
    assert {r.name for r in RULES} - covered == set()


def test_repeats_share_a_class_and_fingerprint() -> None:
    a = error_class(None, "Order SHP-1000452 rejected at 2026-03-10T10:00:00Z: SKU 88-1042-BLK unknown")
    b = error_class(None, "Order ADB-2000017 rejected at 2026-03-11T09:12:44Z: SKU JN-2210-5L unknown")
    assert a == b == "Order <order> rejected at <ts>: SKU <sku> unknown"
    assert fingerprint("delivery_failed", "f1", a) == fingerprint("delivery_failed", "f1", b)


def test_error_class_prefers_the_code() -> None:
    assert error_class("3PL-503", "Upstream 503 at 10:00") == "3PL-503"
    assert error_class(" ", None) == "unknown"


def test_fingerprint_shape() -> None:
    expected = "dead_letter:3pl_north-d365-shipment:3PL-503"
    assert fingerprint("dead_letter", "3pl_north-d365-shipment", "3PL-503") == expected
    assert fingerprint("queue_backlog", None, "edi.inbound") == "queue_backlog:-:edi.inbound"
    long = fingerprint("delivery_failed", "f", "x" * 100)
    assert long.startswith("delivery_failed:f:h") and len(long) == len("delivery_failed:f:h") + 16
