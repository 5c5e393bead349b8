"""The step rollup of flows that are not order steps (stock, supply): one row per completed step.

Order steps fold into ``order_facts``; the other flows' keys recur (a SKU@location is
adjusted and published all day), so each end event is paired, as it is written, with the
latest successful start of its key at or before it: from the same batch or from
``step_starts`` (the latest start per key and type). O(batch) plus a small table, never a
scan of all events. An end that arrives before its start is not paired. A start keeps its
first end only (a second publication of one adjustment is not a second step): the batch's
ends of one start are reduced to the earliest, and an upsert keeps the earlier of it and the
stored one, so an end arriving late still wins if it came first.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from models.queries.steps import ORDER_STEP_FLOW
from models.store.dialect import latest_before_join
from models.store.tables import flow_steps

_RAW_FLOWS = f"SELECT * FROM flows f WHERE NOT ({ORDER_STEP_FLOW})"

#: One row per step: a start met again (a later batch, a late end) keeps its earliest end.
_FIRST_END = (
    "ON CONFLICT (flow_id, correlation_id, start_at) DO UPDATE SET end_at = least(flow_steps.end_at, excluded.end_at)"
)

_STEPS = f"""
INSERT INTO flow_steps (flow_id, correlation_id, start_at, end_at)
WITH ends AS (
    SELECT b.flow_id, b.correlation_id, b.occurred_at AS end_at, f.start_event
    FROM {{source}} b JOIN ({_RAW_FLOWS}) f ON f.flow_id = b.flow_id AND f.end_event = b.event_type
    WHERE b.status = 'ok'
),
batch_starts AS (
    SELECT correlation_id, event_type, occurred_at FROM {{source}}
    WHERE status = 'ok' AND event_type IN (SELECT start_event FROM ends)
),
paired AS (
    SELECT ends.flow_id, ends.correlation_id, ends.end_at, greatest(
               (SELECT max(s.occurred_at) FROM batch_starts s
                WHERE s.correlation_id = ends.correlation_id AND s.event_type = ends.start_event
                  AND s.occurred_at <= ends.end_at),
               (SELECT t.last_at FROM step_starts t
                WHERE t.correlation_id = ends.correlation_id AND t.event_type = ends.start_event
                  AND t.last_at <= ends.end_at)) AS start_at
    FROM ends
)
SELECT flow_id, correlation_id, start_at, min(end_at) FROM paired WHERE start_at IS NOT NULL
GROUP BY flow_id, correlation_id, start_at
{_FIRST_END}
"""

# PostgreSQL runs the same pairing without the CTEs: it materialises a CTE used twice and would
# scan it once per end event (O(batch²): two minutes for a 30k-event batch); read straight from
# the (indexed) batch, each end finds its start by index, as DuckDB's decorrelation does.
_STEPS_PG = f"""
INSERT INTO flow_steps (flow_id, correlation_id, start_at, end_at)
SELECT flow_id, correlation_id, start_at, min(end_at) FROM (
    SELECT b.flow_id, b.correlation_id, b.occurred_at AS end_at, greatest(
               (SELECT max(s.occurred_at) FROM {{source}} s
                WHERE s.correlation_id = b.correlation_id AND s.event_type = f.start_event AND s.status = 'ok'
                  AND s.occurred_at <= b.occurred_at),
               (SELECT t.last_at FROM step_starts t
                WHERE t.correlation_id = b.correlation_id AND t.event_type = f.start_event
                  AND t.last_at <= b.occurred_at)) AS start_at
    FROM {{source}} b JOIN ({_RAW_FLOWS}) f ON f.flow_id = b.flow_id AND f.end_event = b.event_type
    WHERE b.status = 'ok'
) paired
WHERE start_at IS NOT NULL
GROUP BY flow_id, correlation_id, start_at
{_FIRST_END}
"""

_STARTS = f"""
INSERT INTO step_starts
SELECT correlation_id, event_type, max(occurred_at) FROM {{source}}
WHERE status = 'ok' AND event_type IN (SELECT start_event FROM ({_RAW_FLOWS}) f)
GROUP BY correlation_id, event_type
ON CONFLICT (correlation_id, event_type) DO UPDATE SET last_at = greatest(step_starts.last_at, excluded.last_at)
"""


def fold_steps(raw, source: str, *, postgres: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Pair the batch's end events (``source``, a registered relation) and remember its starts."""
    raw.execute((_STEPS_PG if postgres else _STEPS).format(source=source))
    raw.execute(_STARTS.format(source=source))


def backfill_flow_steps(conn: Connection) -> None:
    """Build the rollup from the stored events (a database from before the writer kept it)."""
    pairing = latest_before_join(
        conn, "ends", "starts", "starts.correlation_id = ends.correlation_id AND starts.event_type = ends.start_event",
        "end_at", "start_at",
    )  # fmt: skip
    conn.exec_driver_sql(
        f"""
        INSERT INTO flow_steps (flow_id, correlation_id, start_at, end_at)
        WITH ends AS (
            SELECT e.flow_id, e.correlation_id, e.occurred_at AS end_at, f.start_event
            FROM business_events e JOIN ({_RAW_FLOWS}) f ON f.flow_id = e.flow_id AND f.end_event = e.event_type
            WHERE e.status = 'ok'
        ),
        starts AS (
            SELECT correlation_id, event_type, occurred_at AS start_at FROM business_events
            WHERE status = 'ok' AND event_type IN (SELECT start_event FROM ends)
        )
        SELECT ends.flow_id, ends.correlation_id, starts.start_at, min(ends.end_at) FROM {pairing}
        GROUP BY ends.flow_id, ends.correlation_id, starts.start_at
        """
    )
    conn.exec_driver_sql(_STARTS.format(source="business_events"))


def keep_first_ends(conn: Connection) -> None:
    """Reduce a rollup written before steps were unique (schema v9) to each start's first end, the rows
    a reader used to group away, and build its unique index."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            """
            DELETE FROM flow_steps a USING flow_steps b
            WHERE a.flow_id = b.flow_id AND a.correlation_id = b.correlation_id AND a.start_at = b.start_at
              AND (b.end_at < a.end_at OR (b.end_at = a.end_at AND b.ctid < a.ctid))
            """
        )
        return
    # DuckDB builds a unique index over deleted rows too (they stay stored until a checkpoint): the
    # table is rebuilt instead, with its index, from the grouped rows.
    conn.exec_driver_sql(
        "CREATE TEMP TABLE first_ends AS SELECT flow_id, correlation_id, start_at, min(end_at) AS end_at "
        "FROM flow_steps GROUP BY flow_id, correlation_id, start_at"
    )
    flow_steps.drop(conn)
    flow_steps.create(conn)
    conn.exec_driver_sql("INSERT INTO flow_steps SELECT * FROM first_ends")
    conn.exec_driver_sql("DROP TABLE first_ends")
