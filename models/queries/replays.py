"""Replay ledger: what a replay needs to know about an exception, and the ``replays`` rows it keeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.queries.writes import insert_sql, set_clause
from models.tables import replays

#: One row per exception: its state, its flow's replay settings and the failed message.
#: ``event_id`` is always the original message (the idempotency key), even when detection
#: pointed the exception at one of its replays (``<event_id>:replay:<n>``).
#: ``duplicate_risk``: the target already took a later ok event of that type for that business key.
_SUBJECTS = """
WITH picked AS (
    SELECT *, split_part(event_id, ':replay:', 1) AS original_id
    FROM exceptions WHERE exception_id IN (SELECT unnest(:ids))
)
SELECT x.exception_id, x.status, x.kind, x.title, x.original_id AS event_id, x.flow_id,
       f.replay_kind, f.replay_target, f.queue, f.end_event, f.category,
       f.replay_rate_per_second, f.replay_four_eyes,
       e.correlation_id, e.event_type, e.source, e.target, e.channel, e.occurred_at, e.received_at,
       e.attempt, e.trace_id, e.payload, e.status AS message_status, e.error_code AS message_error_code,
       EXISTS (
           SELECT 1 FROM business_events later
           WHERE later.correlation_id = e.correlation_id AND later.event_type = e.event_type
             AND later.status = 'ok' AND later.received_at > e.received_at
             AND later.target IS NOT DISTINCT FROM e.target
       ) AS duplicate_risk
FROM picked x
LEFT JOIN flows f ON f.flow_id = x.flow_id
LEFT JOIN (
    SELECT * FROM business_events
    WHERE event_id IN (SELECT original_id FROM picked)
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY received_at) = 1
) e ON e.event_id = x.original_id
"""


def replay_subjects(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Exception, flow settings and failed message (with payload) for each id that exists."""
    if not ids:
        return {}
    rows = conn.execute(sa.text(_SUBJECTS), {"ids": [int(i) for i in ids]}).mappings()
    return {int(r["exception_id"]): dict(r) for r in rows}


#: The replay of an exception that blocks another (running or awaiting approval), if any, and how
#: many replays of its message have started (numbers the next one), in one round trip.
_LEDGER = sa.text("""
SELECT r.replay_id, r.status, r.requested_by, r.requested_at, r.started_at, r.payload, r.reason, r.diff,
       s.started
FROM (SELECT count(*) AS started FROM replays WHERE event_id = :event_id AND started_at IS NOT NULL) s
LEFT JOIN (
    SELECT * FROM replays
    WHERE exception_id = :exception_id AND status IN ('pending_approval', 'running')
    ORDER BY replay_id DESC LIMIT 1
) r ON TRUE
""")


def replay_ledger(conn: Connection, exception_id: int, event_id: str) -> tuple[dict[str, Any] | None, int]:
    """The exception's active replay row (running or pending approval) or None, and replays started."""
    row = dict(conn.execute(_LEDGER, {"exception_id": exception_id, "event_id": event_id}).mappings().one())
    started = int(row.pop("started"))
    return (row if row["replay_id"] is not None else None), started


def insert_replay(conn: Connection, **values: Any) -> int:
    """Add a replay row; returns its id."""
    sql = insert_sql(replays, values, sequence="replay_id_seq", returning="replay_id")
    return int(conn.execute(sql, values).scalar_one())


def update_replay(conn: Connection, replay_id: int, **values: Any) -> None:
    """Change a replay row (its status, result, approval)."""
    conn.execute(
        sa.text(f"UPDATE replays SET {set_clause(replays, values)} WHERE replay_id = :_id"),
        {**values, "_id": replay_id},
    )
