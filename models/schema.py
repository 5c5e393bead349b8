"""Idempotent schema creation, versioned so /readyz can tell a stale database."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models.tables import metadata, schema_meta

SCHEMA_VERSION = 2


def create_schema(engine: Engine) -> None:
    """Create missing tables, indexes and sequences; record the schema version."""
    metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        current = schema_version(conn)
        if current is None:
            conn.execute(schema_meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
        elif current != SCHEMA_VERSION:
            conn.execute(
                schema_meta.update()
                .where(schema_meta.c.key == "schema_version")
                .values(value=str(SCHEMA_VERSION))
            )


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
    return schema_version(conn) == SCHEMA_VERSION and all(
        inspector.has_table(name) for name in metadata.tables
    )


def set_meta(conn: Connection, key: str, value: str) -> None:
    """Upsert one key of schema_meta (seed anchor, demo checksum)."""
    conn.execute(schema_meta.delete().where(schema_meta.c.key == key))
    conn.execute(schema_meta.insert().values(key=key, value=value))


def get_meta(conn: Connection, key: str) -> str | None:
    """Read one key of schema_meta."""
    return conn.execute(sa.select(schema_meta.c.value).where(schema_meta.c.key == key)).scalar_one_or_none()
