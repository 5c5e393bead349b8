"""order_facts.short_at and returned_at: an order's first stock shortfall and first return, folded by the
ingest writer (and backfilled for databases written before it kept them). The perfect order's "in full"
and "damage-free" read these columns, so every way an event can count, or not, is here."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from models.ingest.writer import IngestWriter
from models.store.schema import MIGRATIONS, SCHEMA_VERSION, create_schema, schema_version, set_meta
from tests.factories import event, events_table, fresh_db
from tests.postgres import PgSession

T0 = datetime(2026, 3, 1, 9, 0)
FLOW = "shopify-d365-orders"


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _held(order: str, minutes: int, payload: object, status: str = "ok") -> dict[str, object]:
    row = event(order, "order.held", _at(minutes), flow_id=FLOW, status=status)
    row["payload"] = payload if isinstance(payload, str) else json.dumps(payload)
    return row


def _accept_failed(order: str, minutes: int, code: str | None) -> dict[str, object]:
    return event(order, "order.accepted", _at(minutes), flow_id=FLOW, status="failed", error_code=code)


def _returned(order: str, minutes: int, status: str = "ok") -> dict[str, object]:
    return event(order, "return.received", _at(minutes), flow_id=FLOW, status=status)


def _created(order: str) -> dict[str, object]:
    return event(order, "order.created", T0, flow_id=FLOW)


def _batches() -> tuple[list[dict[str, object]], list[dict[str, object]], dict[str, tuple[datetime | None, ...]]]:
    """Two batches over 40 orders, and each order's (short_at, returned_at) computed by hand."""
    first: list[dict[str, object]] = []
    second: list[dict[str, object]] = []
    expected: dict[str, tuple[datetime | None, ...]] = {}
    for i in range(40):
        order = f"SHP-{i:03d}"
        first.append(_created(order))
        kind = i % 8
        if kind == 0:  # acceptance failed for stock: short at that attempt
            first.append(_accept_failed(order, 10 + i, "STOCK_UNAVAILABLE"))
            expected[order] = (_at(10 + i), None)
        elif kind == 1:  # failed for another reason: never short
            first.append(_accept_failed(order, 10 + i, "AUTH_EXPIRED"))
            expected[order] = (None, None)
        elif kind == 2:  # held for stock, then held again later in the next batch: the first hold counts
            first.append(_held(order, 20 + i, {"reason": "stock_allocation"}))
            second.append(_held(order, 90 + i, {"reason": "stock_allocation"}))
            expected[order] = (_at(20 + i), None)
        elif kind == 3:  # held for credit, and a hold whose payload is not JSON: never short, never an error
            first.append(_held(order, 20 + i, {"reason": "credit_check"}))
            second.append(_held(order, 30 + i, "<hold reason='stock_allocation'/>"))
            expected[order] = (None, None)
        elif kind == 4:  # a stock hold that was not delivered ok does not count
            first.append(_held(order, 20 + i, {"reason": "stock_allocation"}, status="failed"))
            expected[order] = (None, None)
        elif kind == 5:  # returned twice; the earlier return arrives in the later batch and wins
            first.append(_returned(order, 300 + i))
            second.append(_returned(order, 200 + i))
            expected[order] = (None, _at(200 + i))
        elif kind == 6:  # a return that failed to post, then one that did
            first.append(_returned(order, 200 + i, status="failed"))
            second.append(_returned(order, 250 + i))
            expected[order] = (None, _at(250 + i))
        else:  # short for stock in the later batch and returned in the first
            first.append(_returned(order, 400 + i))
            second.append(_accept_failed(order, 15 + i, "STOCK"))
            expected[order] = (_at(15 + i), _at(400 + i))
    return first, second, expected


def _stored(engine: sa.Engine) -> dict[str, tuple[datetime | None, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT correlation_id, short_at, returned_at FROM order_facts")).all()
    return {key: (short, returned) for key, short, returned in rows}


def test_the_writer_keeps_each_orders_first_shortfall_and_return(fresh) -> None:  # type: ignore[no-untyped-def]
    engine, writer = fresh
    first, second, expected = _batches()
    writer.append("business_events", events_table(first))
    writer.append("business_events", events_table(second))
    stored = _stored(engine)
    assert len(stored) == 40
    assert stored == expected
    assert sum(short is not None for short, _ in expected.values()) == 15  # kinds 0, 2, 7: 5 orders each
    assert sum(returned is not None for _, returned in expected.values()) == 15  # kinds 5, 6, 7


def test_an_older_database_gets_its_shortfalls_and_returns_backfilled(tmp_path: Path) -> None:
    engine, writer = fresh_db(tmp_path)
    first, second, expected = _batches()
    writer.append("business_events", events_table(first))
    writer.append("business_events", events_table(second))
    with engine.begin() as conn:  # as schema version 8 left it: the columns empty
        conn.execute(sa.text("UPDATE order_facts SET short_at = NULL, returned_at = NULL"))
        set_meta(conn, "schema_version", "8")

    create_schema(engine)

    assert _stored(engine) == expected
    with engine.connect() as conn:
        assert schema_version(conn) == SCHEMA_VERSION
    create_schema(engine)  # idempotent
    assert _stored(engine) == expected


def test_postgres_migration_0004_backfills_the_orders_already_stored(pg_session: PgSession) -> None:
    """Down to 0003 (the columns and flow_steps' unique index dropped) and up again: the migration fills
    the columns from the stored events, and keeps each step's first end before it indexes the steps."""
    engine = pg_session.schema()
    first, second, expected = _batches()
    writer = IngestWriter(engine)
    writer.append("business_events", events_table(first))
    writer.append("business_events", events_table(second))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
        columns = {c["name"] for c in sa.inspect(conn).get_columns("order_facts")}
        assert "short_at" not in columns and "returned_at" not in columns
        ends = [(f"SKU-{k % 3}", _at(60 + 7 * k % 11)) for k in range(12)]  # 3 starts, 4 ends each, as v8 kept them
        conn.execute(
            sa.text("INSERT INTO flow_steps VALUES ('stock', :key, :start, :end)"),
            [{"key": key, "start": T0, "end": end} for key, end in ends],
        )
        command.upgrade(config, "head")
        steps = conn.execute(sa.text("SELECT correlation_id, end_at FROM flow_steps")).all()
    assert sorted(steps) == [(key, min(end for k, end in ends if k == key)) for key in ("SKU-0", "SKU-1", "SKU-2")]
    assert _stored(engine) == expected
    engine.dispose()
