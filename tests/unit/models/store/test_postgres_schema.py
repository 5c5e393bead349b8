"""The PostgreSQL schema is Alembic's: its revisions build exactly what tables.py declares."""

from __future__ import annotations

import threading
from datetime import datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models.store.flow_config import load_flow_config, sync_flow_config
from models.store.schema import create_schema, is_current, serialize_config_sync
from models.store.tables import metadata, systems
from tests.postgres import PgSession


def test_the_migrations_build_what_tables_py_declares_and_run_again_as_a_no_op(pg_session: PgSession) -> None:
    with pg_session.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0005"  # the newest revision
        assert is_current(conn)
    create_schema(pg_session.engine)  # a second replica starting: nothing to do
    with pg_session.engine.connect() as conn:
        decimals = (
            "SELECT fw_json_decimal('{\"total_price\": \"12.5\"}', 'total', 'total_price'), "
            "fw_json_decimal('{\"total\": \"n/a\", \"total_price\": 3}', 'total', 'total_price'), "
            "fw_json_decimal('not json', 'total')"
        )
        assert conn.exec_driver_sql(decimals).one() == (12.5, None, None)  # as DuckDB's TRY_CAST(coalesce(...))
        stamps = (
            "SELECT fw_json_timestamp('{\"ship_by\": \"2026-03-05T17:00:00+02:00\"}', 'ship_by'), "
            "fw_json_timestamp('{\"ship_by\": \"soon\"}', 'ship_by'), fw_json_timestamp('{', 'ship_by')"
        )
        assert conn.exec_driver_sql(stamps).one() == (datetime(2026, 3, 5, 15, 0), None, None)  # UTC, never an error
        assert conn.exec_driver_sql("SELECT fw_json_text('{\"total\": 7}', 'total'), fw_json_text('{', 'x')").one() == (
            "7",
            None,
        )


def test_replicas_starting_together_sync_the_flow_file_in_turn(pg_session: PgSession) -> None:
    """The second replica's sync waits for the first one's commit, then rewrites the same rows; without
    the turn, its insert met the first one's new rows (duplicate key) and the replica exited."""
    config = load_flow_config()
    engine = pg_session.schema()
    done: list[str] = []

    def second() -> None:
        with engine.begin() as conn:
            serialize_config_sync(conn)
            sync_flow_config(conn, config)
        done.append("second")

    with engine.begin() as conn:
        serialize_config_sync(conn)
        sync_flow_config(conn, config)
        other = threading.Thread(target=second)
        other.start()
        other.join(timeout=1.0)
        assert other.is_alive() and done == []  # waiting for this transaction's turn
        done.append("first")
    other.join(timeout=10)
    assert done == ["first", "second"]
    with engine.connect() as conn:
        names = conn.execute(sa.select(systems.c.system_id)).scalars().all()
    assert sorted(names) == sorted(s.system_id for s in config.systems)  # each once
    engine.dispose()
