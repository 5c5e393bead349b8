"""Replay ledger: what a replay needs to know about an exception, and the ``replays`` rows it keeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.queries.writes import insert_sql, set_clause
from models.store.tables import replays

#: One row per failed message of the selected exceptions: the exception's state, its flow's replay
#: settings, the message's own state and the original stored event (with payload).
#: ``duplicate_risk``: the target already took a later ok event of that type for that business key.
_MESSAGES = """
WITH m AS (
    SELECT * FROM exception_messages
    WHERE exception_id IN (SELECT unnest(:ids)) {only}
)
SELECT x.exception_id, x.status, x.kind, x.title, x.flow_id,
       f.replay_kind, f.replay_target, f.queue, f.end_event, f.category,
       f.replay_rate_per_second, f.replay_four_eyes,
       m.event_id, m.state AS message_state, m.replays AS message_replays,
       coalesce(e.correlation_id, m.correlation_id) AS correlation_id,
       e.event_type, e.source, e.target, e.channel, e.occurred_at, e.received_at,
       e.attempt, e.trace_id, e.payload, e.status AS message_status, e.error_code AS message_error_code,
       EXISTS (
           SELECT 1 FROM business_events later
           WHERE later.correlation_id = e.correlation_id AND later.event_type = e.event_type
             AND later.status = 'ok' AND later.received_at > e.received_at
             AND later.target IS NOT DISTINCT FROM e.target
       ) AS duplicate_risk
FROM m
JOIN exceptions x ON x.exception_id = m.exception_id
LEFT JOIN flows f ON f.flow_id = x.flow_id
LEFT JOIN (
    SELECT * FROM (
        SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY received_at) AS _first
        FROM business_events WHERE event_id IN (SELECT event_id FROM m)
    ) ranked WHERE _first = 1
) e ON e.event_id = m.event_id
ORDER BY x.exception_id, m.first_failed_at, m.event_id
"""


def replay_messages(
    conn: Connection, ids: Sequence[int], *, undelivered_only: bool = True, event_ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The failed messages of the exceptions ``ids`` with what a replay needs (oldest failure first);
    only the undelivered ones by default, only ``event_ids`` when given."""
    if not ids:
        return []
    only = " AND state <> 'delivered'" if undelivered_only else ""
    params: dict[str, Any] = {"ids": [int(i) for i in ids]}
    if event_ids is not None:
        only += " AND event_id IN (SELECT unnest(:event_ids))"
        params["event_ids"] = list(event_ids)
    return [dict(r) for r in conn.execute(sa.text(_MESSAGES.format(only=only)), params).mappings()]


def active_replays(conn: Connection, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Every running or parked (four-eyes) replay row of each exception, one per message."""
    rows = conn.execute(
        sa.text(
            "SELECT * FROM replays WHERE exception_id IN (SELECT unnest(:ids)) "
            "AND status IN ('pending_approval', 'running') ORDER BY replay_id"
        ),
        {"ids": [int(i) for i in ids]},
    ).mappings()
    found: dict[int, list[dict[str, Any]]] = {int(i): [] for i in ids}
    for r in rows:
        found[int(r["exception_id"])].append(dict(r))
    return found


def replays_started(conn: Connection, event_ids: Sequence[str]) -> dict[str, int]:
    """How many replays of each message have started (numbers the next ``<id>:replay:<n>``)."""
    if not event_ids:
        return {}
    rows = conn.execute(
        sa.text(
            "SELECT event_id, count(*) AS n FROM replays "
            "WHERE event_id IN (SELECT unnest(:ids)) AND started_at IS NOT NULL GROUP BY event_id"
        ),
        {"ids": list(event_ids)},
    )
    return {str(e): int(n) for e, n in rows}


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
