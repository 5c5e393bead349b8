"""Replay ledger: what a replay needs to know about an exception, and the ``replays`` rows it keeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.queries.messages import original_id
from models.queries.writes import insert_sql, set_clause
from models.store.dialect import in_list
from models.store.tables import replays

#: One row per failed message of the selected exceptions: the exception's state, its flow's replay
#: settings and the message's own state. The stored event is read apart, by its unique id: joined here,
#: the planner scanned business_events for every replay of one message.
_MESSAGES = """
SELECT x.exception_id, x.status, x.kind, x.title, x.flow_id,
       f.replay_kind, f.replay_target, f.queue, f.end_event, f.category,
       f.replay_rate_per_second, f.replay_four_eyes,
       m.event_id, m.state AS message_state, m.delivered_at AS message_delivered_at,
       m.replays AS message_replays, m.correlation_id
FROM exception_messages m
JOIN exceptions x ON x.exception_id = m.exception_id
LEFT JOIN flows f ON f.flow_id = x.flow_id
WHERE {ids} {only}
ORDER BY x.exception_id, m.first_failed_at, m.event_id
"""

#: The original stored event of each message (with payload); event ids are unique, so an index lookup.
_EVENTS = """
SELECT event_id, correlation_id, event_type, source, target, channel, occurred_at, received_at,
       attempt, trace_id, payload, status AS message_status, error_code AS message_error_code
FROM business_events WHERE {event_ids}
"""

#: Every ok event of the given orders, with its id (a message's own replays are told apart by it):
#: through the correlation_id index.
_OK_EVENTS = """
SELECT correlation_id, event_type, target, event_id, received_at
FROM business_events WHERE {correlation_ids} AND status = 'ok'
"""

_EVENT_FIELDS = (
    "event_type", "source", "target", "channel", "occurred_at", "received_at", "attempt", "trace_id", "payload",
    "message_status", "message_error_code",
)  # fmt: skip


def replay_messages(
    conn: Connection,
    ids: Sequence[int],
    *,
    undelivered_only: bool = True,
    event_ids: Sequence[str] | None = None,
    duplicate_risk: bool = False,
) -> list[dict[str, Any]]:
    """The failed messages of the exceptions ``ids`` with what a replay needs (oldest failure first);
    only the undelivered ones by default, only ``event_ids`` when given. With ``duplicate_risk``, each
    says whether the target already took a later ok event of that type for that order (a bulk plan
    flags those)."""
    if not ids:
        return []
    only = " AND m.state <> 'delivered'" if undelivered_only else ""
    params: dict[str, Any] = {"ids": [int(i) for i in ids]}
    if event_ids is not None:
        only += " AND " + in_list(conn, "m.event_id", "event_ids")
        params["event_ids"] = list(event_ids)
    sql = _MESSAGES.format(ids=in_list(conn, "m.exception_id", "ids"), only=only)
    found = [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]
    if not found:
        return []
    events = {
        r["event_id"]: r
        for r in conn.execute(
            sa.text(_EVENTS.format(event_ids=in_list(conn, "event_id", "eids"))),
            {"eids": [m["event_id"] for m in found]},
        ).mappings()
    }
    risky = _at_duplicate_risk(conn, list(events.values())) if duplicate_risk else set()
    for m in found:
        e = events.get(m["event_id"])
        m.update({k: (e[k] if e is not None else None) for k in _EVENT_FIELDS})
        if e is not None and e["correlation_id"] is not None:
            m["correlation_id"] = e["correlation_id"]
        if duplicate_risk:
            m["duplicate_risk"] = m["event_id"] in risky
    return found


def _at_duplicate_risk(conn: Connection, events: list[Any]) -> set[str]:
    """The stored events whose target took a later ok event of the same type for the same order.

    The message's own replays (``<id>:replay:<n>``) are the message, not a later event: a reopened
    exception whose target lost what a replay delivered is sent again, not held as a duplicate."""
    orders = sorted({e["correlation_id"] for e in events if e["correlation_id"] is not None})
    if not orders:
        return set()
    sql = _OK_EVENTS.format(correlation_ids=in_list(conn, "correlation_id", "cids"))
    ok: dict[tuple[str, str, str], list[tuple[str, Any]]] = {}
    for r in conn.execute(sa.text(sql), {"cids": orders}):
        ok.setdefault((r.correlation_id, r.event_type, r.target), []).append((original_id(r.event_id), r.received_at))
    return {
        e["event_id"]
        for e in events
        if any(
            original != e["event_id"] and at > e["received_at"]
            for original, at in ok.get((e["correlation_id"], e["event_type"], e["target"]), ())
        )
    }


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


def replays_outstanding(conn: Connection, exception_id: int) -> int:
    """Messages of the exception a replay has yet to send: its running replay rows, and its pending
    items in bulk runs that are running or paused (settling waits for them)."""
    return int(
        conn.execute(
            sa.text(
                """
                SELECT (SELECT count(*) FROM replays WHERE exception_id = :id AND status = 'running')
                     + (SELECT count(*) FROM bulk_run_items i JOIN bulk_runs r ON r.run_id = i.run_id
                        WHERE i.exception_id = :id AND i.status = 'pending' AND r.status IN ('running', 'paused'))
                """
            ),
            {"id": exception_id},
        ).scalar_one()
    )


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
