"""The step rollup of flows that are not order steps (stock, supply): one row per completed step.

Order steps fold into ``order_facts``; the other flows' keys recur (a SKU@location is
adjusted and published all day), so each end event is paired, as it is written, with the
latest successful start of its key at or before it: from the same batch or from
``step_starts`` (the latest start per key and type). O(batch) plus a small table, never a
scan of all events. An end that arrives before its start is not paired.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from models.queries.steps import ORDER_STEP_FLOW
from models.store.dialect import latest_before_join

_RAW_FLOWS = f"SELECT * FROM flows f WHERE NOT ({ORDER_STEP_FLOW})"

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
SELECT flow_id, correlation_id, start_at, end_at FROM paired WHERE start_at IS NOT NULL
"""

# PostgreSQL runs the same pairing without the CTEs: it materialises a CTE used twice and would
# scan it once per end event (O(batch²): two minutes for a 30k-event batch); read straight from
# the (indexed) batch, each end finds its start by index, as DuckDB's decorrelation does.
_STEPS_PG = f"""
INSERT INTO flow_steps (flow_id, correlation_id, start_at, end_at)
SELECT flow_id, correlation_id, start_at, end_at FROM (
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
        SELECT ends.flow_id, ends.correlation_id, starts.start_at, ends.end_at FROM {pairing}
        """
    )
    conn.exec_driver_sql(_STARTS.format(source="business_events"))
