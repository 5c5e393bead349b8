"""Idempotent schema creation, versioned so /readyz can tell a stale database.

DuckDB (the embedded default) is brought up to date here, by comparing with tables.py: its
files predate Alembic, and DuckDB's ALTER support is too narrow for Alembic's batch
operations. PostgreSQL is migrated by Alembic (``models/store/migrations``, ``upgrade head``
on start, under an advisory lock so replicas starting together migrate once).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models.ingest.step_rollup import backfill_flow_steps, keep_first_ends
from models.ingest.writer import (
    backfill_order_promises,
    backfill_order_shortfalls,
    backfill_order_values,
    backfill_step_flows,
)
from models.queries.impact import refresh_impact, refresh_incident_impact
from models.queries.messages import backfill_exception_messages
from models.store.tables import metadata, schema_meta

#: pg_advisory_xact_lock key of the migration (replicas starting together migrate one at a time).
MIGRATION_LOCK = 7_270_001
#: pg_advisory_xact_lock key of the configuration sync (flows, rules, catalog, targets) on start.
CONFIG_SYNC_LOCK = 7_270_002

SCHEMA_VERSION = 10
#: Alembic's scripts (PostgreSQL only).
MIGRATIONS = Path(__file__).with_name("migrations")


def create_schema(engine: Engine) -> None:
    """Create missing tables, indexes, sequences and (nullable) columns; record the schema version."""
    if engine.dialect.name == "postgresql":
        _upgrade_postgres(engine)
        return
    metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        _add_missing_columns(conn)
        current = schema_version(conn)
        # -- v9 (KPI rollups): flow_steps unique per step, before its unique index is built --
        if current is not None and current < 9:
            keep_first_ends(conn)
        _add_missing_indexes(conn)
        if current is not None and current < 4:
            backfill_step_flows(conn)
        if current is not None and current < 5:
            backfill_flow_steps(conn)
        if current is not None and current < 6:
            backfill_exception_messages(conn)
        # -- v7 (alerts): order_facts.order_value, and the alert tables (created above) --
        if current is not None and current < 7:
            backfill_order_values(conn)
        # -- v8 (business impact): order_facts.customer_tier and ship_by --
        if current is not None and current < 8:
            backfill_order_promises(conn)
        # -- v9 (KPI rollups): order_facts.short_at and returned_at --
        if current is not None and current < 9:
            backfill_order_shortfalls(conn)
        # -- v10 (impact kept per exception and incident): exception_impacts, incident_impacts --
        if current is not None and current < 10:
            refresh_impact(conn)
            refresh_incident_impact(conn)
        if current is None:
            conn.execute(schema_meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
        elif current != SCHEMA_VERSION:
            conn.execute(
                schema_meta.update().where(schema_meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
            )


def _upgrade_postgres(engine: Engine) -> None:
    """``alembic upgrade head`` in one transaction, then record the version /readyz compares."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        _xact_lock(conn, MIGRATION_LOCK)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        if schema_version(conn) is None:
            conn.execute(schema_meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))


def serialize_config_sync(conn: Connection) -> None:
    """Replicas starting together write the same configuration rows (delete, then insert): on
    PostgreSQL they take turns (a transaction-level advisory lock, freed at commit) instead of one
    failing on a duplicate key. Embedded DuckDB has one process by construction."""
    if conn.dialect.name == "postgresql":
        _xact_lock(conn, CONFIG_SYNC_LOCK)


def _xact_lock(conn: Connection, key: int) -> None:
    """Wait for PostgreSQL's transaction-level advisory lock ``key``; it is freed at commit or rollback."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def drop_postgres_schema(engine: Engine) -> None:
    """Drop every Flowwatch table, sequence and function, and Alembic's version (``seed --fresh``)."""
    with engine.begin() as conn:
        _xact_lock(conn, MIGRATION_LOCK)
        metadata.drop_all(conn)
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS fw_json_text(text, text), fw_json_decimal(text, text[])")


def _add_missing_columns(conn: Connection) -> None:
    """Add columns a newer version declares to tables an older one created (new columns are nullable)."""
    listed = conn.execute(sa.text("SELECT table_name, column_name FROM information_schema.columns"))
    present = {(table, column) for table, column in listed}
    for table in metadata.sorted_tables:
        for column in table.columns:
            if (table.name, column.name) not in present:
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')


def _add_missing_indexes(conn: Connection) -> None:
    """Create indexes a newer version declares on tables an older one created (create_all only
    indexes the tables it creates)."""
    for table in metadata.sorted_tables:
        for index in table.indexes:
            conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))


def schema_version(conn: Connection) -> int | None:
    """The version recorded in the database, or None for an empty one."""
    if not sa.inspect(conn).has_table("schema_meta"):
        return None
    value = conn.execute(
        sa.select(schema_meta.c.value).where(schema_meta.c.key == "schema_version")
    ).scalar_one_or_none()
    return int(value) if value is not None else None


def is_current(conn: Connection) -> bool:
    """True when every table exists and the recorded version is this code's."""
    inspector = sa.inspect(conn)
    return schema_version(conn) == SCHEMA_VERSION and all(inspector.has_table(name) for name in metadata.tables)


def set_meta(conn: Connection, key: str, value: str) -> None:
    """Upsert one key of schema_meta (seed anchor, demo checksum)."""
    conn.execute(schema_meta.delete().where(schema_meta.c.key == key))
    conn.execute(schema_meta.insert().values(key=key, value=value))


def get_meta(conn: Connection, key: str) -> str | None:
    """Read one key of schema_meta."""
    return conn.execute(sa.select(schema_meta.c.value).where(schema_meta.c.key == key)).scalar_one_or_none()
