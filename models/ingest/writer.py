"""The ingest writer: the one path by which rows reach the canonical tables.

Rows arrive as Arrow tables (or DataFrames) and are appended in one transaction per
batch through DuckDB's bulk path: row-by-row inserts are 200x slower (PERF-NOTES).
Business events are de-duplicated on ``event_id`` and fold into ``order_facts`` (and the
other flows' steps into ``flow_steps``) in the same transaction, so KPIs never see an event
without its rollup.

De-duplication against what is stored is optimistic: a unique ART index on ``event_id``
rejects a repeated id in O(batch) as the batch is inserted, whereas an anti-join of the batch
against every stored id grows with the table (a 10k batch: ~12 ms into an empty database,
0.94 s at 10.9M events). Repeats are rare (client retries, a replayed write-ahead segment), so
the transaction that meets one is voided (``DuplicateEvents``) and run again with the
anti-join, which keeps the first of each id exactly as before. DuckDB 2.0 plans
``INSERT ... ON CONFLICT DO NOTHING`` as a MERGE with a hash join over the whole table: no
faster than the anti-join, so it is not used.

On PostgreSQL the same entry points hand the batch to ``pg_writer.append_postgres`` (COPY and
``ON CONFLICT DO NOTHING``, which PostgreSQL runs by index), with the same rollup SQL.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models.enums import OVERSELL_CODE_PREFIX, STOCK_HOLD_REASON
from models.ingest.key_aliases import REFERENCE, fold_aliases
from models.ingest.step_rollup import fold_steps
from models.queries.steps import ORDER_STEPS as ORDER_LIFECYCLE
from models.store.dialect import first_by, json_decimal, json_text_or_null, json_timestamp, seconds
from models.store.tables import metadata

#: Event types whose first successful occurrence stamps a column of order_facts.
ORDER_STEPS: dict[str, str] = {
    "order.created": "created_at",
    "order.accepted": "accepted_at",
    "order.released": "released_at",
    "shipment.dispatched": "dispatched_at",
    "invoice.posted": "invoiced_at",
    "order.cancelled": "cancelled_at",
}

_ORDER_TYPES = ", ".join(f"'{t}'" for t in (*ORDER_STEPS, "order.held", "return.received", "refund.issued"))
# An order exists from its first order.created, delivered or not (a rejected order is
# still in flight); every later step counts only once it was delivered ok.
_STEP_COLUMNS = ",\n".join(
    f"min(occurred_at) FILTER (WHERE event_type = '{t}'"
    + ("" if t == "order.created" else " AND status = 'ok'")
    + f") AS {col}"
    for t, col in ORDER_STEPS.items()
)
_MERGE_COLUMNS = ",\n".join(f"{col} = least(order_facts.{col}, excluded.{col})" for col in ORDER_STEPS.values())
#: Step columns whose end event's flow is kept beside them (the sync-lag rollup).
STEP_FLOWS: dict[str, str] = {s.end_col: s.flow_col for s in ORDER_LIFECYCLE}
_TYPE_OF = {col: t for t, col in ORDER_STEPS.items()}


def _flow_columns(dialect: str) -> str:
    ok_end = "event_type = '{}' AND status = 'ok'"
    return ",\n".join(
        f"{first_by(dialect, 'flow_id', 'occurred_at', ok_end.format(_TYPE_OF[col]))} AS {flow}"
        for col, flow in STEP_FLOWS.items()
    )


_FLOW_COLUMNS = _flow_columns("duckdb")
# The flow of the earliest end event wins, as the earliest time does.
_MERGE_FLOWS = ",\n".join(
    f"{flow} = CASE WHEN order_facts.{col} IS NULL OR excluded.{col} < order_facts.{col}"
    f" THEN coalesce(excluded.{flow}, order_facts.{flow}) ELSE order_facts.{flow} END"
    for col, flow in STEP_FLOWS.items()
)


# The order's value: ``total`` of the seeded and live payloads, ``total_price`` of Shopify's; a payload
# that is not JSON, or a total that is not a number, leaves it NULL (never fails the batch).
def _order_value(dialect: str) -> str:
    total = json_decimal(dialect, "payload", ("total", "total_price"))
    return f"max(CASE WHEN event_type = 'order.created' THEN {total} END)"


_ORDER_VALUE = _order_value("duckdb")


# The promise: the customer's tier, and the ship-by, stated (``ship_by``) or relative to creation
# (``ship_within_hours``); like the value, never a failed batch.
def _customer_tier(dialect: str) -> str:
    return (
        f"max(CASE WHEN event_type = 'order.created' THEN {json_text_or_null(dialect, 'payload', 'customer_tier')} END)"
    )


def _ship_by(dialect: str) -> str:
    hours = json_decimal(dialect, "payload", ("ship_within_hours",))
    stated = json_timestamp(dialect, "payload", "ship_by")
    promised = f"occurred_at + {seconds(dialect, f'{hours} * 3600')}"
    return f"min(CASE WHEN event_type = 'order.created' THEN coalesce({stated}, {promised}) END)"


_CUSTOMER_TIER = _customer_tier("duckdb")
_SHIP_BY = _ship_by("duckdb")


def _short_at(dialect: str) -> str:
    """The first stock shortfall of the order: an acceptance failed with a ``STOCK…`` error code, or a
    successful hold whose payload's ``reason`` is ``stock_allocation`` (a payload that is not JSON is
    no such hold, never a failed batch)."""
    reason = json_text_or_null(dialect, "payload", "reason")
    return (
        f"min(occurred_at) FILTER (WHERE (event_type = 'order.accepted' AND status <> 'ok'"
        f" AND error_code LIKE '{OVERSELL_CODE_PREFIX}%')"
        f" OR (event_type = 'order.held' AND status = 'ok' AND {reason} = '{STOCK_HOLD_REASON}'))"
    )


_RETURNED_AT = "min(occurred_at) FILTER (WHERE event_type = 'return.received' AND status = 'ok')"

# Facts fold from the batch alone (O(batch), never a scan of all events): least() of
# the stored and the new step time, failures summed. Only new (non-duplicate) rows count.
_FACTS_MERGE_SQL = """
INSERT INTO order_facts
SELECT correlation_id,
       max(channel) FILTER (WHERE event_type = 'order.created') AS channel,
       max(target) FILTER (WHERE event_type = 'order.accepted' AND status = 'ok') AS erp,
       max(target) FILTER (WHERE event_type = 'order.released' AND status = 'ok') AS fulfiller,
       {step_columns},
       count(*) FILTER (WHERE status IN ('failed', 'dead_lettered'))::INTEGER AS failures,
       max(occurred_at) AS last_event_at,
       {flow_columns},
       {order_value} AS order_value,
       {customer_tier} AS customer_tier,
       {ship_by} AS ship_by,
       {short_at} AS short_at,
       {returned_at} AS returned_at
FROM {source}
WHERE event_type IN ({order_types})
GROUP BY correlation_id
ON CONFLICT (correlation_id) DO UPDATE SET
    channel = coalesce(order_facts.channel, excluded.channel),
    erp = coalesce(order_facts.erp, excluded.erp),
    fulfiller = coalesce(order_facts.fulfiller, excluded.fulfiller),
    {merge_flows},
    {merge_columns},
    failures = order_facts.failures + excluded.failures,
    last_event_at = greatest(order_facts.last_event_at, excluded.last_event_at),
    order_value = coalesce(order_facts.order_value, excluded.order_value),
    customer_tier = coalesce(order_facts.customer_tier, excluded.customer_tier),
    ship_by = coalesce(order_facts.ship_by, excluded.ship_by),
    short_at = least(order_facts.short_at, excluded.short_at),
    returned_at = least(order_facts.returned_at, excluded.returned_at)
"""


def facts_merge(dialect: str) -> str:
    """The order_facts fold of a batch in ``{source}``, for one dialect (one statement, O(batch))."""
    return _FACTS_MERGE_SQL.format(
        step_columns=_STEP_COLUMNS,
        flow_columns=_flow_columns(dialect),
        order_value=_order_value(dialect),
        customer_tier=_customer_tier(dialect),
        ship_by=_ship_by(dialect),
        short_at=_short_at(dialect),
        returned_at=_RETURNED_AT,
        order_types=_ORDER_TYPES,
        merge_flows=_MERGE_FLOWS,
        merge_columns=_MERGE_COLUMNS,
        source="{source}",
    )


_FACTS_MERGE = facts_merge("duckdb")


def backfill_step_flows(conn: Connection) -> None:
    """Fill the step-flow columns of orders stored before the writer kept them (schema v4)."""
    conn.exec_driver_sql(
        f"""
        UPDATE order_facts SET {", ".join(f"{flow} = s.{flow}" for flow in STEP_FLOWS.values())}
        FROM (
            SELECT correlation_id, {_FLOW_COLUMNS}
            FROM business_events
            WHERE event_type IN ({", ".join(f"'{_TYPE_OF[col]}'" for col in STEP_FLOWS)})
            GROUP BY correlation_id
        ) s
        WHERE order_facts.correlation_id = s.correlation_id
        """
    )


def backfill_order_values(conn: Connection) -> None:
    """Fill ``order_value`` of orders stored before the writer kept it (schema v7)."""
    conn.exec_driver_sql(
        f"""
        UPDATE order_facts SET order_value = s.order_value
        FROM (
            SELECT correlation_id, {_ORDER_VALUE} AS order_value
            FROM business_events WHERE event_type = 'order.created'
            GROUP BY correlation_id
        ) s
        WHERE order_facts.correlation_id = s.correlation_id AND order_facts.order_value IS NULL
        """
    )


def backfill_order_promises(conn: Connection) -> None:
    """Fill ``customer_tier`` and ``ship_by`` of orders stored before the writer kept them (schema v8)."""
    conn.exec_driver_sql(
        f"""
        UPDATE order_facts SET customer_tier = s.customer_tier, ship_by = s.ship_by
        FROM (
            SELECT correlation_id, {_CUSTOMER_TIER} AS customer_tier, {_SHIP_BY} AS ship_by
            FROM business_events WHERE event_type = 'order.created'
            GROUP BY correlation_id
        ) s
        WHERE order_facts.correlation_id = s.correlation_id
          AND order_facts.customer_tier IS NULL AND order_facts.ship_by IS NULL
        """
    )


def backfill_order_shortfalls(conn: Connection) -> None:
    """Fill ``short_at`` and ``returned_at`` of orders stored before the writer kept them (schema v9)."""
    dialect = conn.dialect.name
    sql = f"""
        UPDATE order_facts SET short_at = s.short_at, returned_at = s.returned_at
        FROM (
            SELECT correlation_id, {_short_at(dialect)} AS short_at, {_RETURNED_AT} AS returned_at
            FROM business_events WHERE event_type IN ('order.accepted', 'order.held', 'return.received')
            GROUP BY correlation_id
        ) s
        WHERE order_facts.correlation_id = s.correlation_id
          AND (s.short_at IS NOT NULL OR s.returned_at IS NOT NULL)
        """
    conn.execute(sa.text(sql))  # text(): PostgreSQL's driver would read the LIKE patterns' % as placeholders


class DuplicateEvents(Exception):
    """A batch repeats an event_id already stored: its transaction is void; run it again with
    ``check_stored=True`` (``IngestWriter.append`` and the ingest buffer do)."""


@dataclass(frozen=True)
class WriteResult:
    """What one batch did: rows stored and rows skipped as duplicates."""

    written: int
    duplicates: int = 0


class IngestWriter:
    """Appends batches to canonical tables; one writer per process, serialised by a lock."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._names = itertools.count()

    def append(self, table: str, data: pa.Table | pd.DataFrame) -> WriteResult:
        """Append one batch to ``table`` in its own transaction (again, checked, if it repeats stored ids)."""
        try:
            with self.transaction() as conn:
                return self.append_in(conn, table, data)
        except DuplicateEvents:
            with self.transaction() as conn:
                return self.append_in(conn, table, data, check_stored=True)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction, serialised with every other write of this process."""
        with self._lock, self._engine.begin() as conn:
            yield conn

    def append_in(
        self, conn: Connection, table: str, data: pa.Table | pd.DataFrame, *, check_stored: bool = False
    ) -> WriteResult:
        """Append inside the caller's transaction (the edge owns the commit).

        Business events whose id is stored already raise ``DuplicateEvents`` and void the
        transaction, unless ``check_stored`` (slower: it reads every stored id), which skips them.
        """
        if table not in metadata.tables:
            raise ValueError(f"unknown table {table!r}")
        arrow = pa.Table.from_pandas(data, preserve_index=False) if isinstance(data, pd.DataFrame) else data
        if arrow.num_rows == 0:
            return WriteResult(0)
        columns = [c.name for c in metadata.tables[table].columns if c.name in arrow.column_names]
        missing = [
            c.name
            for c in metadata.tables[table].columns
            if not c.nullable and c.name not in arrow.column_names and c.server_default is None
        ]
        if missing:
            raise ValueError(f"batch for {table} lacks required columns: {', '.join(missing)}")
        if conn.dialect.name == "postgresql":
            from models.ingest.pg_writer import append_postgres  # it imports this module's rollup SQL

            return append_postgres(conn, table, arrow.select(columns))
        raw: Any = conn.connection.driver_connection  # the DuckDB connection: Arrow registration
        name = f"_batch_{next(self._names)}"
        raw.register(name, arrow.select(columns))
        try:
            col_list = ", ".join(f'"{c}"' for c in columns)
            if table == "business_events":
                # A batch whose ids are all distinct (the edge already dropped repeats) skips the
                # window that keeps the first of each: ~1 ms to count against ~10 ms to rank.
                distinct = pc.count_distinct(arrow.column("event_id")).as_py() == arrow.num_rows
                refers = pc.any(pc.starts_with(arrow.column("correlation_id"), REFERENCE)).as_py() is True
                return self._append_events(raw, name, col_list, arrow.num_rows, check_stored, distinct, refers)
            raw.execute(f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {name}")
            return WriteResult(arrow.num_rows)
        finally:
            with contextlib.suppress(duckdb.TransactionException):
                raw.unregister(name)

    @staticmethod
    def _append_events(  # type: ignore[no-untyped-def]
        raw, name: str, col_list: str, rows: int, check_stored: bool, distinct: bool, refers: bool
    ) -> WriteResult:
        """Keep the first of each event_id in the batch (unless ``distinct``: no repeats in it);
        against what is stored, the unique index refuses a repeat (``DuplicateEvents``) unless
        ``check_stored`` anti-joins them away first.

        A batch with nothing to drop and no alias reference to rewrite (``refers``) is read where it
        was registered: copying it to a temp table first was a fifth of the writer's time."""
        if distinct and not check_stored and not refers:
            return IngestWriter._insert_events(raw, name, col_list, rows, rows, resolve=False)
        fresh = f"{name}_fresh"
        stored = "AND NOT EXISTS (SELECT 1 FROM business_events e WHERE e.event_id = b.event_id)"
        if distinct and not check_stored:
            raw.execute(f"CREATE OR REPLACE TEMP TABLE {fresh} AS SELECT {col_list} FROM {name}")
        else:
            raw.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE {fresh} AS
                SELECT {col_list} FROM (
                    SELECT *, row_number() OVER (PARTITION BY event_id) AS _n FROM {name}
                ) b
                WHERE _n = 1 {stored if check_stored else ""}
                """
            )
        try:
            written = (
                rows if distinct and not check_stored else raw.execute(f"SELECT count(*) FROM {fresh}").fetchone()[0]
            )
            return IngestWriter._insert_events(raw, fresh, col_list, rows, written, resolve=True)
        finally:
            # After a refused insert the transaction is aborted and takes the temp table with it.
            with contextlib.suppress(duckdb.TransactionException):
                raw.execute(f"DROP TABLE {fresh}")

    @staticmethod
    def _insert_events(raw, source: str, col_list: str, rows: int, written: int, *, resolve: bool) -> WriteResult:  # type: ignore[no-untyped-def]
        """Insert ``source``'s events, folding them into key aliases, order_facts and flow_steps."""
        if written:
            fold_aliases(raw, source, resolve=resolve)
            try:
                raw.execute(f"INSERT INTO business_events ({col_list}) SELECT {col_list} FROM {source}")
            except duckdb.ConstraintException as e:
                raise DuplicateEvents(str(e)) from e
            raw.execute(_FACTS_MERGE.format(source=source))
            fold_steps(raw, source)
        return WriteResult(written, rows - written)
