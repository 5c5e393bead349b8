"""The error catalog: real-looking ERP, storefront, WMS and 3PL errors each land in their class, near
misses land in none (or in the right other one); the file is validated naming the key; an admin's
edit survives a restart's sync."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from models.queries.error_classes import known_error, list_error_classes
from models.store.error_catalog import (
    ErrorCatalogError,
    Matcher,
    load_error_catalog,
    match_error,
    sync_error_catalog,
)
from models.store.tables import error_classes
from tests.factories import fresh_db

MATCHERS = [Matcher.of(c) for c in load_error_catalog().classes]
NOW = datetime(2026, 3, 10, 12, 0)

#: (code, message, expected class or None)
CASES = [
    # duplicate external id
    (None, "A record with external ID 'SHP-1000231' already exists.", "duplicate_external_id"),  # NetSuite
    ("DUP_REFERENCE", "Sales order with customer reference PO-88812 already exists", "duplicate_external_id"),
    (None, "Duplicate external id SHP-1002211 for entity SalesOrderHeaderV2", "duplicate_external_id"),  # D365
    (None, "name: has already been taken", "duplicate_external_id"),  # Shopify
    (None, "Order SHP-1000231 ignored as duplicate (idempotent retry)", None),  # near miss: a no-op, not an error
    # credit hold
    (None, "Customer C-10442 is on credit hold; order SO-771002 blocked", "credit_hold"),
    (None, "Order total 18,450.00 exceeds the credit limit of 15,000.00 for account 40021", "credit_hold"),
    (None, "Order SO-771002 released from credit hold", None),  # near miss: good news
    (None, "Credit memo CM-2201 posted for return RMA-442", None),  # near miss: the word credit
    # unmapped SKU
    ("VAL-SKU", "SKU 88-1042-BLK not mapped to a D365 item", "unmapped_sku"),
    (None, "Item 'JN-2210-5L' does not exist in company USMF", "unmapped_sku"),
    (None, "Product PP-0440-CS not found in item master", "unmapped_sku"),
    (None, "SKU 88-1042-BLK mapped to item 1042-BLK", None),  # near miss: a mapping log line
    # invalid address
    ("VAL-ADDR", "Ship-to postcode missing", "invalid_address"),
    (None, "Address validation failed: ZIP 10001 does not match state CA", "invalid_address"),
    (None, "Invalid shipping address: street line 1 is required", "invalid_address"),
    (None, "Invalid email address for customer 40021", None),  # near miss: not a ship-to
    (None, "Billing address missing on invoice INV-3341", None),  # near miss: not a ship-to
    # carrier rejected
    ("CARRIER_REJECTED", "Shipment rejected by carrier", "carrier_rejected"),
    (None, "FedEx rejected the shipment: package exceeds 150 lb limit", "carrier_rejected"),
    (None, "Label creation failed: UPS service 'Ground' not available for destination", "carrier_rejected"),
    (None, "Carrier assigned: UPS Ground, tracking 1Z999AA10123456784", None),  # near miss
    # inventory insufficient
    (None, "Insufficient inventory for SKU-10042 at WMS: requested 12, available 3", "inventory_insufficient"),
    (None, "Cannot allocate line 2: on-hand quantity 0 is less than ordered 5", "inventory_insufficient"),
    ("OUT_OF_STOCK", "Item unavailable", "inventory_insufficient"),
    (None, "SKU-10042 back in stock at WMS (40 units)", None),  # near miss
    # auth expired
    (None, "401 Unauthorized: access token expired", "auth_expired"),
    (None, "OAuth error: invalid_grant (refresh token has been revoked)", "auth_expired"),
    (None, "API key is invalid or has been revoked", "auth_expired"),
    (None, "403 Forbidden: user lacks permission on SalesOrderHeaders", None),  # near miss: not expiry
    (None, "Access token refreshed, valid for 3600 s", None),  # near miss
    # rate limited
    ("ERP-429", "Dynamics 365 throttled the request (429 Too Many Requests)", "rate_limited"),
    (None, "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
     "rate_limited"),  # Shopify REST
    (None, "Shopify API rate limit reached, retry after 2.0 s", "rate_limited"),
    (None, "Shipping rate calculated: 12.40 USD", None),  # near miss
    # target unavailable
    ("3PL-503", "Upstream 503 Service Unavailable from NorthStar WMS API", "target_unavailable"),
    ("ERP-TIMEOUT", "POST /data/salesorders timed out after 30 s (Dynamics 365 under load)", "target_unavailable"),
    (None, "Coastal Fulfilment API returned 500 Internal Server Error on POST /v2/fulfillment-orders",
     "target_unavailable"),
    # nothing known
    (None, "Unexpected field 'gift_wrap' in payload", None),
    (None, None, None),
]  # fmt: skip


@pytest.mark.parametrize(("code", "message", "expected"), CASES)
def test_each_error_lands_in_its_class_and_near_misses_in_none(
    code: str | None, message: str | None, expected: str | None
) -> None:
    found = match_error(MATCHERS, code, message)
    assert (found.class_id if found else None) == expected


def test_every_class_has_a_case_and_what_to_offer() -> None:
    catalog = load_error_catalog()
    assert {c.class_id for c in catalog.classes} == {e for _c, _m, e in CASES if e}
    offered = {c.class_id: c.action for c in catalog.classes}
    assert offered["unmapped_sku"] == "edit_and_replay" and offered["duplicate_external_id"] == "resolve"
    assert offered["rate_limited"] == "replay"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[classes]]\nclass_id = "x"\nname = "x"\nexplanation = "x"\nrunbook = "x"\naction = "replay"',
         "classes.0: give codes or patterns"),
        ('[[classes]]\nclass_id = "x"\nname = "x"\npatterns = ["(unclosed"]\nexplanation = "x"\nrunbook = "x"\n'
         'action = "replay"', "classes.0.patterns: [0] '(unclosed' is not a regular expression"),
        ('[[classes]]\nclass_id = "x"\nname = "x"\ncodes = ["A"]\nexplanation = "x"\nrunbook = "x"\naction = "fix"',
         "classes.0.action: Input should be 'replay', 'edit_and_replay' or 'resolve'"),
        ('[[classes]]\nclass_id = "x"\nname = "x"\ncodes = ["A"]\nexplanation = "x"\nrunbook = "x"\n'
         'action = "edit_and_replay"\nsuggested_patch = "{}"',
         "classes.0.suggested_patch: a JSON Patch is a list of operations"),
    ],
)  # fmt: skip
def test_a_bad_catalogue_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    with pytest.raises(ErrorCatalogError) as err:
        load_error_catalog(path)
    assert message in str(err.value), str(err.value)


def test_an_admins_edit_survives_the_files_sync(tmp_path: Path) -> None:
    engine, _ = fresh_db(tmp_path)
    catalog = load_error_catalog()
    with engine.begin() as conn:
        sync_error_catalog(conn, catalog, now=NOW)
        conn.execute(
            error_classes.update().where(error_classes.c.class_id == "rate_limited")
            .values(runbook="Call the vendor.", updated_by="dana", updated_at=NOW)
        )  # fmt: skip
        assert sync_error_catalog(conn, catalog, now=NOW) == {"classes": 9, "written": 8}
        rows = {r["class_id"]: r for r in list_error_classes(conn)}
        assert rows["rate_limited"]["runbook"] == "Call the vendor." and rows["rate_limited"]["updated_by"] == "dana"
        assert next(r["class_id"] for r in list_error_classes(conn)) == "duplicate_external_id"
        known = known_error(conn, [(None, None), ("ERP-429", "throttled")])
        assert known is not None and known["class_id"] == "rate_limited" and known["runbook"] == "Call the vendor."
        assert conn.execute(sa.select(sa.func.count()).select_from(error_classes)).scalar_one() == 9
