"""order_facts.order_value: the order's total, folded by the ingest writer from its order.created payload
(and backfilled for databases written before it was kept)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from models.store.schema import SCHEMA_VERSION, create_schema, schema_version, set_meta
from seed_data import seed_demo
from tests.factories import event, events_table, fresh_db

T0 = datetime(2026, 3, 1, 9, 0)


def _created(
    order: str, payload: object, *, minutes: int = 0, status: str = "ok", source: str = "shopify"
) -> dict[str, object]:
    at = T0 + timedelta(minutes=minutes)
    row = event(order, "order.created", at, flow_id="shopify-d365-orders", status=status, source=source)
    row["payload"] = payload if isinstance(payload, str) else json.dumps(payload)
    return row


def _values(engine: sa.Engine) -> dict[str, Decimal | None]:
    """As Decimal on both backends (PostgreSQL's NUMERIC loads as float, models/store/db.py)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT correlation_id, order_value FROM order_facts")).all()
    return {key: None if v is None else Decimal(str(v)).quantize(Decimal("0.01")) for key, v in rows}


def test_order_value_from_each_payload_shape_and_never_a_failed_batch(fresh) -> None:  # type: ignore[no-untyped-def]
    engine, writer = fresh
    writer.append(
        "business_events",
        events_table(
            [
                _created("SHP-1", {"order_id": "SHP-1", "total": 19.99}),
                _created("SHP-2", {"name": "#1002", "total_price": "120.50"}),  # Shopify's string money
                _created("ADB-3", "this is not JSON", source="adobe"),
                _created("SHP-4", {"total": "n/a"}),
                _created("SHP-5", {"lines": []}),
                # sent twice: the first attempt failed, both carry the same total
                _created("SHP-6", {"total": 1234.5}, status="failed"),
                _created("SHP-6", {"total": 1234.5}, minutes=3),
            ]
        ),
    )
    # a later batch: a step of SHP-1 (no total) and a second order.created with another total keep the first
    later = event("SHP-1", "order.accepted", T0 + timedelta(minutes=5), flow_id="shopify-d365-orders")
    writer.append("business_events", events_table([later, _created("SHP-1", {"total": 5.0}, minutes=9)]))

    assert _values(engine) == {
        "SHP-1": Decimal("19.99"),
        "SHP-2": Decimal("120.50"),
        "ADB-3": None,
        "SHP-4": None,
        "SHP-5": None,
        "SHP-6": Decimal("1234.50"),
    }
    with engine.connect() as conn:  # hand-computed: 19.99 + 120.50 + 1234.50
        total = conn.execute(sa.text("SELECT sum(order_value) FROM order_facts")).scalar_one()
        assert Decimal(str(total)) == Decimal("1374.99")


def test_an_older_database_gets_its_order_values_backfilled(tmp_path: Path) -> None:
    engine, writer = fresh_db(tmp_path)
    writer.append("business_events", events_table([_created("A-1", {"total": 40.25}), _created("A-2", {"total": 7})]))
    with engine.begin() as conn:  # as schema version 6 left it: the column empty
        conn.execute(sa.text("UPDATE order_facts SET order_value = NULL"))
        set_meta(conn, "schema_version", "6")

    create_schema(engine)

    assert _values(engine) == {"A-1": Decimal("40.25"), "A-2": Decimal("7.00")}
    with engine.connect() as conn:
        assert schema_version(conn) == SCHEMA_VERSION
    create_schema(engine)  # idempotent
    assert _values(engine) == {"A-1": Decimal("40.25"), "A-2": Decimal("7.00")}


def test_seeded_orders_carry_the_total_and_promise_of_their_payload(tmp_path: Path) -> None:
    engine, writer = fresh_db(tmp_path)
    seed_demo(engine, writer, days=2, orders_per_day=60, seed=3, anchor=datetime(2026, 3, 5, 12, 0))
    with engine.connect() as conn:
        payloads = conn.execute(
            sa.text(
                "SELECT correlation_id, arg_min(payload, occurred_at) FROM business_events "
                "WHERE event_type = 'order.created' GROUP BY correlation_id"
            )
        ).all()
    expected = {key: Decimal(str(json.loads(text)["total"])).quantize(Decimal("0.01")) for key, text in payloads}
    stored = _values(engine)
    assert len(expected) > 100 and stored == expected
    # and their promise: key accounts (every B2B customer) within 24 h of creation, the rest within 48 h
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT channel, customer_tier, epoch(ship_by - created_at) / 3600 FROM order_facts")
        ).all()
    assert {(tier, hours) for _, tier, hours in rows} == {("key", 24), ("standard", 48)}
    assert all(tier == "key" for channel, tier, _ in rows if channel == "b2b")


def _promises(engine: sa.Engine) -> dict[str, tuple[str | None, datetime | None]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT correlation_id, customer_tier, ship_by FROM order_facts")).all()
    return {key: (tier, ship_by) for key, tier, ship_by in rows}


def test_customer_tier_and_ship_by_from_the_payload_null_where_unknown(tmp_path: Path) -> None:
    engine, writer = fresh_db(tmp_path)
    writer.append(
        "business_events",
        events_table(
            [
                _created("K-1", {"customer_tier": "key", "ship_within_hours": 24}),
                _created("S-2", {"customer_tier": "standard", "ship_by": "2026-03-03T17:00:00Z"}, minutes=2),
                _created("S-3", {"ship_by": "2026-03-02T12:00:00+02:00"}),  # an offset: 10:00 UTC
                _created("U-4", {"total": 3}),  # Shopify's: no promise
                _created("U-5", "not JSON", source="adobe"),
                _created("U-6", {"ship_within_hours": "soon", "ship_by": "tomorrow"}),
            ]
        ),
    )
    assert _promises(engine) == {
        "K-1": ("key", datetime(2026, 3, 2, 9, 0)),  # T0 + 24 h
        "S-2": ("standard", datetime(2026, 3, 3, 17, 0)),
        "S-3": (None, datetime(2026, 3, 2, 10, 0)),
        "U-4": (None, None),
        "U-5": (None, None),
        "U-6": (None, None),
    }
