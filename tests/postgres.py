"""A real PostgreSQL for tests: a fresh database per session (or per module), dropped afterwards.

The server is FLOWWATCH_TEST_PG_URL (default: the local one, user postgres). When it cannot be
reached the tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from models.store.db import make_pg_engine
from models.store.schema import create_schema
from models.store.tables import metadata

ADMIN_URL = os.environ.get("FLOWWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _admin() -> Engine:
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = f"PostgreSQL at {make_url(ADMIN_URL).render_as_string()} is not reachable: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return engine


@contextmanager
def pg_database() -> Iterator[str]:
    """A new empty database ``flowwatch_test_<random>``; yields its URL, drops it at the end."""
    admin = _admin()
    name = f"flowwatch_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class PgSession:
    """One migrated database for a whole test session, emptied (not re-created) between tests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_pg_engine(url)
        create_schema(self.engine)
        self._schemas = 0

    def schema(self) -> Engine:
        """An engine on a new, migrated schema of the session's database: a database of its own for a
        module-scoped fixture (~0.5 s, against ~1.5 s for CREATE DATABASE)."""
        self._schemas += 1
        name = f"s{self._schemas}"
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {name}")
        url = make_url(self.url).update_query_dict({"options": f"-csearch_path={name}"})
        engine = make_pg_engine(url.render_as_string(hide_password=False))
        create_schema(engine)
        return engine

    def empty(self) -> Engine:
        """Every table emptied and every sequence restarted: a fresh database in ~60 ms (DELETE of
        small tables beats TRUNCATE's new files, ~250 ms)."""
        with self.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete() if table.name != "schema_meta" else table.delete().where(
                    table.c.key != "schema_version"))  # fmt: skip
            for seq in metadata._sequences:  # the metadata's own registry of sequences
                conn.exec_driver_sql(f"SELECT setval('{seq}', 1, false)")
        return self.engine
