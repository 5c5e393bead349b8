"""The few SQL pieces that differ between DuckDB and PostgreSQL, one function each."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import Connection


def _is_pg(conn: Connection | str) -> bool:
    """``conn`` is a connection, or a dialect name where SQL is built once per dialect (the writer's)."""
    return (conn if isinstance(conn, str) else conn.dialect.name) == "postgresql"


def percentile(conn: Connection, expr: str, q: float) -> str:
    """Continuous (linearly interpolated) percentile of ``expr``."""
    if _is_pg(conn):
        return f"percentile_cont({q}) WITHIN GROUP (ORDER BY {expr})"
    return f"quantile_cont({expr}, {q})"


def percentiles(conn: Connection, expr: str, qs: tuple[float, ...]) -> list[str]:
    """One column expression per continuous percentile of ``expr``, all reading one aggregate:
    both databases compute identical aggregates once, so the values are selected in one pass
    (two separate percentiles of 2.6M values cost DuckDB 103 ms, one list of both 68 ms)."""
    listed = ", ".join(str(float(q)) for q in qs)
    if _is_pg(conn):
        whole = f"(percentile_cont(ARRAY[{listed}]::float8[]) WITHIN GROUP (ORDER BY {expr}))"
    else:
        whole = f"quantile_cont({expr}, [{listed}])"
    return [f"{whole}[{i}]" for i in range(1, len(qs) + 1)]


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


def json_text(conn: Connection, column: str, key: str) -> str:
    """The text value of top-level ``key`` of the JSON text in ``column`` (NULL when absent).

    ``key`` is a literal from code (attribute names such as ``peer.service``), never input.
    """
    if not key.replace(".", "").replace("_", "").isalnum():
        raise ValueError(f"unexpected JSON key {key!r}")
    if _is_pg(conn):
        return f"(({column})::json ->> '{key}')"
    return f"json_extract_string({column}, '$.\"{key}\"')"


def in_list(conn: Connection, expr: str, param: str) -> str:
    """``expr`` is one of the values of the list parameter ``:param`` (one bind, not one per value)."""
    if _is_pg(conn):
        return f"{expr} = ANY(:{param})"
    return f"{expr} IN (SELECT unnest(:{param}))"


def time_axis(conn: Connection, seconds: int) -> str:
    """A one-column (``bucket``) relation of bucket starts from ``:axis_from`` up to ``:axis_to``."""
    if _is_pg(conn):
        return (
            f"SELECT generate_series(CAST(:axis_from AS timestamp), CAST(:axis_to AS timestamp) "
            f"- interval '1 microsecond', interval '{int(seconds)} seconds') AS bucket"
        )
    return (
        f"SELECT unnest(range(CAST(:axis_from AS TIMESTAMP), CAST(:axis_to AS TIMESTAMP), "
        f"INTERVAL '{int(seconds)} seconds')) AS bucket"
    )


def latest_before_join(conn: Connection, left: str, right: str, equal: str, left_time: str, right_time: str) -> str:
    """Join each ``left`` row to the one ``right`` row with the latest ``right_time`` at or
    before its ``left_time`` among those satisfying ``equal`` (DuckDB ASOF JOIN).

    ``equal`` is a conjunction of equalities between ``left`` and ``right`` columns.
    """
    if _is_pg(conn):
        return (
            f"{left} JOIN LATERAL (SELECT * FROM {right} WHERE {equal} AND {right}.{right_time} <= "
            f"{left}.{left_time} ORDER BY {right}.{right_time} DESC LIMIT 1) {right} ON TRUE"
        )
    return f"{left} ASOF JOIN {right} ON {equal} AND {left}.{left_time} >= {right}.{right_time}"


def zipped(conn: Connection, columns: Mapping[str, str]) -> str:
    """A relation with one row per position of the equally long list parameters ``:<column>``
    (one bind per column, however many rows: bulk upserts without executemany). ``columns`` maps
    each to its SQL type (PostgreSQL cannot type a list of NULLs)."""
    if _is_pg(conn):
        binds = ", ".join(f"CAST(:{c} AS {kind}[])" for c, kind in columns.items())
        return f"SELECT * FROM unnest({binds}) AS z({', '.join(columns)})"
    return "SELECT " + ", ".join(f"unnest(:{c}) AS {c}" for c in columns)


def row_lock(conn: Connection) -> str:
    """The clause that holds the selected rows until the transaction ends, or "" where one process
    writes (DuckDB: the writer's lock already serialises every action)."""
    return " FOR UPDATE" if _is_pg(conn) else ""


def first_by(conn: Connection | str, value: str, order: str, where: str) -> str:
    """Aggregate: ``value`` of the row with the least ``order`` among those matching ``where``."""
    if _is_pg(conn):
        return f"(array_agg({value} ORDER BY {order}) FILTER (WHERE {where}))[1]"
    return f"arg_min({value}, {order}) FILTER (WHERE {where})"


def last_by(conn: Connection | str, value: str, order: str, where: str) -> str:
    """Aggregate: ``value`` of the row with the greatest ``order`` among those matching ``where``."""
    if _is_pg(conn):
        return f"(array_agg({value} ORDER BY {order} DESC) FILTER (WHERE {where}))[1]"
    return f"arg_max({value}, {order}) FILTER (WHERE {where})"


def epoch_us(conn: Connection | str, ts: str) -> str:
    """Microseconds since the epoch of the timestamp ``ts``, a BIGINT."""
    if _is_pg(conn):
        return f"CAST(round(extract(epoch FROM {ts}) * 1000000) AS BIGINT)"
    return f"epoch_us({ts})"


def seconds(conn: Connection | str, expr: str) -> str:
    """An interval of ``expr`` (a number) seconds."""
    if _is_pg(conn):
        return f"make_interval(secs => {expr})"
    return f"to_seconds({expr})"


def json_decimal(conn: Connection | str, column: str, keys: tuple[str, ...]) -> str:
    """The first of top-level ``keys`` present in the JSON text ``column``, as DECIMAL(18, 2); NULL when
    ``column`` is not JSON or that value is not a number (never an error). ``keys`` come from code."""
    if not all(k.replace("_", "").isalnum() for k in keys):
        raise ValueError(f"unexpected JSON keys {keys!r}")
    if _is_pg(conn):  # the LIKE spares the (subtransaction-costly) function the payloads without any key
        mentioned = " OR ".join(f"{column} LIKE '%\"{k}%'" for k in keys)
        listed = ", ".join(f"'{k}'" for k in keys)
        return f"CASE WHEN {mentioned} THEN fw_json_decimal({column}, {listed}) END"  # migration 0001
    values = ", ".join(f"json_extract_string({column}, '$.{k}')" for k in keys)
    return f"CASE WHEN json_valid({column}) THEN TRY_CAST(coalesce({values}) AS DECIMAL(18, 2)) END"


def json_text_or_null(conn: Connection | str, column: str, key: str) -> str:
    """The text of top-level ``key`` of the JSON text ``column``; NULL when absent or when ``column`` is not
    JSON (never an error: the writer reads payloads it did not validate). ``key`` comes from code."""
    if not key.replace("_", "").isalnum():
        raise ValueError(f"unexpected JSON key {key!r}")
    if _is_pg(conn):  # the LIKE spares the (subtransaction-costly) function the payloads without the key
        return f"CASE WHEN {column} LIKE '%\"{key}%' THEN fw_json_text({column}, '{key}') END"  # migration 0001
    return f"CASE WHEN json_valid({column}) THEN json_extract_string({column}, '$.{key}') END"


def json_timestamp(conn: Connection | str, column: str, key: str) -> str:
    """Top-level ``key`` of the JSON text ``column`` as a naive UTC timestamp; NULL when absent, not JSON or
    not a timestamp (never an error). ``key`` comes from code."""
    if not key.replace("_", "").isalnum():
        raise ValueError(f"unexpected JSON key {key!r}")
    if _is_pg(conn):
        return f"CASE WHEN {column} LIKE '%\"{key}%' THEN fw_json_timestamp({column}, '{key}') END"  # migration 0003
    return (f"CASE WHEN json_valid({column}) THEN "
            f"timezone('UTC', TRY_CAST(json_extract_string({column}, '$.{key}') AS TIMESTAMPTZ)) END")  # fmt: skip
