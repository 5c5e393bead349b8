"""The flow-step rollup the writer keeps for stock and supply flows, and its backfill."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from models.ingest.step_rollup import backfill_flow_steps
from models.store.schema import create_schema, set_meta
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


def _key_events(k: int) -> tuple[list[dict[str, object]], list[dict[str, object]], tuple[datetime, datetime]]:
    """Key ``k``'s two batches and its one step (start, first end), worked out by hand: an adjustment
    published several times; which publication is the first, and when it arrives, varies with ``k``."""
    key = f"SKU-{k:03d}@WMS"
    start = T + k * M

    def pub(minutes: int) -> dict[str, object]:
        return event(key, "inventory.published", start + minutes * M, flow_id=STOCK, source="wms", target="shop",
                     channel="shop")  # fmt: skip

    adjust = event(key, "inventory.adjusted", start, source="wms", target=None, channel=None)
    shape = k % 4
    if shape == 0:  # three publications in one batch: the first is the step's end
        return [adjust, pub(3), pub(1), pub(2)], [], (start, start + M)
    if shape == 1:  # published, then republished in a later batch: the later one is no new step
        return [adjust, pub(2)], [pub(4)], (start, start + 2 * M)
    if shape == 2:  # a later publication stored first, the earlier one arriving late: the earlier wins
        return [adjust, pub(5)], [pub(3)], (start, start + 3 * M)
    return [adjust], [pub(1)], (start, start + M)  # the start stored, its one end in the next batch


def test_each_start_keeps_its_first_end_across_batches_and_late_arrivals(fresh) -> None:  # type: ignore[no-untyped-def]
    """32 keys, each adjusted once and published once or more: one step per adjustment, ending at its
    first publication whichever batch brought it (a republication is not a second sync)."""
    engine, writer = fresh
    add_flow(engine, STOCK, "inventory.adjusted", "inventory.published", 300, "stock")
    keys = [_key_events(k) for k in range(32)]
    writer.append("business_events", events_table([e for first, _, _ in keys for e in first]))
    writer.append("business_events", events_table([e for _, later, _ in keys for e in later]))
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT correlation_id, start_at, end_at FROM flow_steps")).all()
    assert len(rows) == 32
    assert {key: (s, e) for key, s, e in rows} == {f"SKU-{k:03d}@WMS": step for k, (_, _, step) in enumerate(keys)}


def test_an_older_database_keeps_each_starts_first_end_then_indexes_the_steps(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Schema v8 kept every end of a start; the upgrade keeps the first and builds the unique index."""
    engine, writer = fresh_db(tmp_path)
    add_flow(engine, STOCK, "inventory.adjusted", "inventory.published", 300, "stock")
    keys = [_key_events(k) for k in range(32)]
    writer.append("business_events", events_table([e for first, later, _ in keys for e in first + later]))
    with engine.begin() as conn:  # as v8 left it: the index absent, a second end stored beside 8 of the steps
        conn.exec_driver_sql("DROP INDEX ux_flow_steps_step")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO flow_steps SELECT flow_id, correlation_id, start_at, end_at + INTERVAL 10 MINUTE "
            "FROM flow_steps WHERE correlation_id < 'SKU-008'"
        )
        assert conn.exec_driver_sql("SELECT count(*) FROM flow_steps").scalar() == 40
        set_meta(conn, "schema_version", "8")
    create_schema(engine)
    assert sorted(_steps(engine)) == sorted(step for _, _, step in keys)
    with engine.begin() as conn, pytest.raises(sa.exc.DBAPIError, match=r"(?i)duplicate|constraint"):
        conn.exec_driver_sql("INSERT INTO flow_steps SELECT * FROM flow_steps LIMIT 1")  # the index holds


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
