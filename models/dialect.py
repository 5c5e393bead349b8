"""The few SQL pieces that differ between DuckDB and PostgreSQL, one function each."""

from __future__ import annotations

from sqlalchemy.engine import Connection


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def percentile(conn: Connection, expr: str, q: float) -> str:
    """Continuous (linearly interpolated) percentile of ``expr``."""
    if _is_pg(conn):
        return f"percentile_cont({q}) WITHIN GROUP (ORDER BY {expr})"
    return f"quantile_cont({expr}, {q})"


def seconds_between(conn: Connection, start: str, end: str) -> str:
    """``end - start`` in seconds, as a double."""
    if _is_pg(conn):
        return f"extract(epoch FROM ({end} - {start}))"
    return f"epoch({end} - {start})"


def time_bucket(conn: Connection, seconds: int, ts: str) -> str:
    """Start of the ``seconds``-wide bucket holding ``ts``, aligned to the epoch."""
    if _is_pg(conn):
        return f"date_bin(interval '{int(seconds)} seconds', {ts}, timestamp '1970-01-01')"
    return f"time_bucket(INTERVAL '{int(seconds)} seconds', {ts}, TIMESTAMP '1970-01-01')"
