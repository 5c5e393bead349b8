"""Engine factory: the process's database (embedded DuckDB, or a PostgreSQL server), opened once from settings."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool


class DatabaseError(RuntimeError):
    """The database file cannot be opened; the message says why in one line."""


def make_engine(path: Path | str, *, checkpoint_threshold: str = "256MB", memory_limit: str | None = None) -> Engine:
    """Open (creating if needed) the DuckDB file at ``path``.

    Every pooled connection is a cursor on the same in-process database, so readers
    never block the writer. A large checkpoint threshold keeps streaming ingest fast
    (PERF-NOTES: 112k → 286k rows/s).
    """
    db_path = Path(path)
    if str(db_path) != ":memory:":
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"cannot create the folder of {db_path}: {exc.strerror}") from exc
        if db_path.parent.exists() and not _writable(db_path):
            raise DatabaseError(f"database path {db_path} is not writable")
    engine = sa.create_engine(
        f"duckdb:///{db_path}",
        poolclass=QueuePool,
        pool_size=8,
        max_overflow=8,
        pool_pre_ping=False,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.execute(f"SET checkpoint_threshold = '{checkpoint_threshold}'")
        dbapi_conn.execute("SET TimeZone = 'UTC'")
        if memory_limit:
            dbapi_conn.execute(f"SET memory_limit = '{memory_limit}'")

    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # duckdb raises IOException for locks and permissions
        engine.dispose()
        first = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        if "lock" in first.lower():
            raise DatabaseError(
                f"{db_path} is in use by another Flowwatch process (DuckDB allows one); stop it or use its API"
            ) from exc
        raise DatabaseError(f"cannot open {db_path}: {first}") from exc
    return engine


def _writable(path: Path) -> bool:
    """True when the file (or, for a new file, its folder) can be written."""
    target = path if path.exists() else path.parent
    return os.access(target, os.W_OK)


def make_pg_engine(url: str, *, pool_size: int = 8) -> Engine:
    """Connect to the PostgreSQL database at ``url`` (``postgresql+psycopg://``); one line when it cannot.

    Sessions run in UTC so naive timestamps mean what they mean in DuckDB, and NUMERIC results
    load as floats: PostgreSQL types ``avg``, ``1.0`` and ``sum(bigint)`` NUMERIC where DuckDB
    answers DOUBLE, and the query layer's callers compute in floats. Strings bind as text. The URL's
    own ``options`` (e.g. ``?options=-csearch_path%3Dflowwatch``: the tables in a schema) are kept.
    """
    from psycopg.types.numeric import FloatLoader
    from psycopg.types.string import StrDumper

    given = sa.engine.make_url(url).query.get("options", "")
    # Server-side keepalives: a replica whose host vanishes (no FIN, unlike a killed process) is
    # noticed within ~30 s, and with its connection goes the scheduler lead it held (lease.py).
    keepalive = "-c tcp_keepalives_idle=15 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
    options = f"-c timezone=UTC {keepalive} {given if isinstance(given, str) else ' '.join(given)}".strip()
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=8,
        pool_pre_ping=True,
        connect_args={"options": options, "connect_timeout": 5},
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.adapters.register_loader("numeric", FloatLoader)
        # Python strings bind as text (psycopg's default is "unknown"), so a list of them is a text[]
        # that unnest(:keys) and = ANY(:keys) can type, as DuckDB's list parameters are.
        dbapi_conn.adapters.register_dumper(str, StrDumper)

    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # psycopg.OperationalError: refused, unknown host, bad password, no database
        engine.dispose()
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        where = sa.engine.make_url(url).render_as_string(hide_password=True)
        raise DatabaseError(f"cannot connect to PostgreSQL at {where}: {first}") from exc
    return engine
