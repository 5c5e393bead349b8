"""The writer's two ways into business_events: a batch with nothing to drop and no alias reference is
read straight from its Arrow relation; one holding a reference (``@namespace:id``) is copied first so
the reference can be rewritten to the order's key. Both fold into order_facts the same way."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from models.ingest.key_aliases import reference
from tests.factories import event, events_table, fresh_db

T0 = datetime(2026, 3, 1, 9, 0)


def test_plain_and_referring_batches_land_on_the_same_order(tmp_path: Path) -> None:
    engine, writer = fresh_db(tmp_path)
    created = event("SHP-1001", "order.created", T0, flow_id="shopify-d365-orders", source="shopify")
    created["payload"] = json.dumps({"order_id": 820982911946154508, "total": "10.00"})
    plain = writer.append("business_events", events_table([created]))  # no reference: the direct path
    refund = event(reference("shopify:order", 820982911946154508), "refund.issued", T0 + timedelta(hours=2),
                   source="shopify")  # fmt: skip
    accepted = event("SHP-1001", "order.accepted", T0 + timedelta(minutes=3), flow_id="shopify-d365-orders")
    referring = writer.append("business_events", events_table([refund, accepted]))  # the copy path
    assert (plain.written, referring.written, referring.duplicates) == (1, 2, 0)
    with engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT event_type, correlation_id FROM business_events ORDER BY occurred_at"))
        assert keys.all() == [("order.created", "SHP-1001"), ("order.accepted", "SHP-1001"),
                              ("refund.issued", "SHP-1001")]  # fmt: skip
        facts = conn.execute(sa.text("SELECT correlation_id, created_at, accepted_at FROM order_facts")).all()
    assert facts == [("SHP-1001", T0, T0 + timedelta(minutes=3))]
