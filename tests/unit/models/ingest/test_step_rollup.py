"""The flow-step rollup the writer keeps for stock and supply flows, and its backfill."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from models.ingest.step_rollup import backfill_flow_steps
from tests.factories import add_flow, event, events_table, fresh_db

T = datetime(2026, 3, 10, 10, 0)
M = timedelta(minutes=1)
STOCK = "wms-shop-inventory"


def adjusted(at: datetime) -> dict[str, object]:
    return event("SKU-1@WMS", "inventory.adjusted", at, source="wms", target=None, channel=None)


def published(at: datetime) -> dict[str, object]:
    return event("SKU-1@WMS", "inventory.published", at, flow_id=STOCK, source="wms", target="shop", channel="shop")


def _steps(engine) -> list[tuple[datetime, datetime]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT start_at, end_at FROM flow_steps ORDER BY end_at")).all()
    return [tuple(r) for r in rows]


def test_each_publication_pairs_with_the_latest_adjustment_before_it(fresh) -> None:  # type: ignore[no-untyped-def]
    engine, writer = fresh  # on DuckDB and PostgreSQL: the rollup SQL is shared
    add_flow(engine, STOCK, "inventory.adjusted", "inventory.published", 300, "stock")
    for batch in (
        [adjusted(T)],  # remembered in step_starts
        [published(T + M)],  # pairs with the stored 10:00
        [adjusted(T + 5 * M), published(T + 6 * M), adjusted(T + 7 * M)],  # pairs within the batch (10:05, not 10:07)
        [published(T + 10 * M)],  # pairs with the stored 10:07
        [published(T - 60 * M)],  # arrived after newer adjustments were stored: not paired
    ):
        writer.append("business_events", events_table(batch))
    assert _steps(engine) == [(T, T + M), (T + 5 * M, T + 6 * M), (T + 7 * M, T + 10 * M)]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT last_at FROM step_starts")).scalar_one() == T + 7 * M


def test_backfill_pairs_stored_events_the_same_way(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, writer = fresh_db(tmp_path)
    rows = [adjusted(T), published(T + M), adjusted(T + 5 * M), published(T + 6 * M), adjusted(T + 7 * M),
            published(T + 10 * M)]  # fmt: skip
    writer.append("business_events", events_table(rows))  # no flow yet: nothing paired
    assert _steps(engine) == []
    add_flow(engine, STOCK, "inventory.adjusted", "inventory.published", 300, "stock")
    with engine.begin() as conn:
        backfill_flow_steps(conn)
    assert _steps(engine) == [(T, T + M), (T + 5 * M, T + 6 * M), (T + 7 * M, T + 10 * M)]


def test_a_reference_by_the_vendors_id_lands_on_the_order_it_names(fresh) -> None:  # type: ignore[no-untyped-def]
    engine, writer = fresh
    created = event("#1001", "order.created", T, source="shopify")
    created["payload"] = '{"order_id": 820982911946154508, "total": "10.00"}'
    early = event("@shopify:order:999", "refund.issued", T, source="shopify")  # its order is not known yet
    writer.append("business_events", events_table([created, early]))
    refund = event("@shopify:order:820982911946154508", "refund.issued", T + M, source="shopify")
    writer.append("business_events", events_table([refund]))
    with engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT event_type, correlation_id FROM business_events ORDER BY occurred_at, "
                                    "event_type")).all()  # fmt: skip
        aliases = conn.execute(sa.text("SELECT alias, correlation_id FROM key_aliases")).all()
    assert [tuple(k) for k in keys] == [("order.created", "#1001"), ("refund.issued", "@shopify:order:999"),
                                        ("refund.issued", "#1001")]  # fmt: skip
    assert [tuple(a) for a in aliases] == [("shopify:order:820982911946154508", "#1001")]
