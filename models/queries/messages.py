"""The failed messages of exceptions: what detection found, what replays re-send, what was delivered.

An exception groups one or more failed messages (often one per order). Each keeps its own
state here — ``pending`` (not delivered), ``failed`` (its last replay failed) or ``delivered``
— so a replay re-sends exactly the messages still undelivered and the exception resolves only
when none is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.enums import MessageState
from models.queries.writes import set_clause
from models.store.dialect import in_list, zipped
from models.store.tables import exception_messages

#: The marker of a replayed message's own event ids: ``<original>:replay:<n>``.
REPLAY_MARK = ":replay:"
#: delivered_by of a message whose source delivered it by itself (a later ok attempt).
BY_SOURCE = "source"


UNDELIVERED = (MessageState.PENDING, MessageState.FAILED)


def original_id(event_id: str) -> str:
    """The original message id of an event (a replay's event carries ``<original>:replay:<n>``)."""
    return event_id.split(REPLAY_MARK, 1)[0]


def record_failures(conn: Connection, exception_id: int, rows: Sequence[dict[str, Any]]) -> None:
    """Add or refresh failed messages (``event_id``, ``correlation_id``, ``first_at``, ``last_at``,
    ``error``) of one exception. A message that fails again after it was delivered is pending again."""
    if not rows:
        return
    columns = {"event_id": "text", "correlation_id": "text", "first_at": "timestamp", "last_at": "timestamp",
               "error": "text"}  # fmt: skip
    params = {c: [r[c] for r in rows] for c in columns}
    conn.execute(
        sa.text(
            f"""
            INSERT INTO exception_messages (exception_id, event_id, correlation_id, first_failed_at,
                                            last_failed_at, last_error, state, replays)
            SELECT :exception_id, event_id, correlation_id, first_at, last_at, error, 'pending', 0
            FROM ({zipped(conn, columns)}) z
            ON CONFLICT (exception_id, event_id) DO UPDATE SET
                last_failed_at = greatest(exception_messages.last_failed_at, excluded.last_failed_at),
                last_error = CASE WHEN excluded.last_failed_at > exception_messages.last_failed_at
                                  THEN excluded.last_error ELSE exception_messages.last_error END,
                state = CASE WHEN exception_messages.state = 'delivered'
                                  AND excluded.last_failed_at > exception_messages.delivered_at
                             THEN 'pending' ELSE exception_messages.state END,
                delivered_at = CASE WHEN exception_messages.state = 'delivered'
                                         AND excluded.last_failed_at > exception_messages.delivered_at
                                    THEN NULL ELSE exception_messages.delivered_at END
            """
        ),
        {"exception_id": exception_id, **params},
    )


def mark_delivered_by_source(
    conn: Connection, exception_id: int, still_failing: Sequence[str], *, since: datetime, now: datetime
) -> int:
    """Messages of the exception that detection no longer finds failing (their source delivered
    them on a later attempt) become delivered; ones last failing before ``since`` (beyond the
    look-back, so not judged) are left as they are. Returns how many changed."""
    result = conn.execute(
        sa.text(
            f"""
            UPDATE exception_messages SET state = 'delivered', delivered_at = :now, delivered_by = :by
            WHERE exception_id = :exception_id AND state <> 'delivered' AND last_failed_at > :since
              AND NOT ({in_list(conn, "event_id", "failing")})
            """
        ),
        {"exception_id": exception_id, "failing": list(still_failing), "since": since, "now": now, "by": BY_SOURCE},
    )
    return int(result.rowcount or 0)


def set_message(conn: Connection, exception_id: int, event_id: str, **values: Any) -> None:
    """Change one message's state, error, replay count or delivery."""
    conn.execute(
        sa.text(
            f"UPDATE exception_messages SET {set_clause(exception_messages, values)} "
            "WHERE exception_id = :_exception_id AND event_id = :_event_id"
        ),
        {**values, "_exception_id": exception_id, "_event_id": event_id},
    )


def message_counts(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per exception: how many messages in total, delivered, failed (last replay) and pending."""
    if not ids:
        return {}
    rows = conn.execute(
        sa.text(
            f"""
            SELECT exception_id, count(*) AS total,
                   count(*) FILTER (WHERE state = 'delivered') AS delivered,
                   count(*) FILTER (WHERE state = 'failed') AS failed,
                   count(*) FILTER (WHERE state = 'pending') AS pending
            FROM exception_messages WHERE {in_list(conn, "exception_id", "ids")}
            GROUP BY exception_id
            """
        ),
        {"ids": [int(i) for i in ids]},
    ).mappings()
    return {int(r["exception_id"]): {k: int(v) for k, v in r.items() if k != "exception_id"} for r in rows}


def latest_failure(conn: Connection, exception_id: int) -> str | None:
    """The error of the exception's most recently failed replay, if any message's last replay failed."""
    return conn.execute(
        sa.text(
            "SELECT last_error FROM exception_messages WHERE exception_id = :id AND state = 'failed' "
            "ORDER BY last_failed_at DESC, event_id LIMIT 1"
        ),
        {"id": exception_id},
    ).scalar_one_or_none()


def list_messages(conn: Connection, exception_id: int, *, offset: int = 0, limit: int = 200) -> list[dict[str, Any]]:
    """One exception's messages for its detail panel: undelivered first, then by first failure."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text(
                """
                SELECT event_id, correlation_id, first_failed_at, last_failed_at, last_error, state, replays,
                       delivered_at, delivered_by
                FROM exception_messages WHERE exception_id = :id
                ORDER BY CASE state WHEN 'failed' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END,
                         first_failed_at, event_id
                LIMIT :limit OFFSET :offset
                """
            ),
            {"id": exception_id, "limit": limit, "offset": offset},
        ).mappings()
    ]


def backfill_exception_messages(conn: Connection) -> None:
    """Give exceptions stored before messages were kept (schema v6) their one known message;
    detection adds the others it still finds failing on its next pass."""
    conn.execute(
        sa.text(
            """
            INSERT INTO exception_messages (exception_id, event_id, correlation_id, first_failed_at, last_failed_at,
                                            last_error, state, replays, delivered_at, delivered_by)
            SELECT x.exception_id, split_part(x.event_id, :mark, 1), e.correlation_id, x.first_seen, x.last_seen,
                   coalesce(x.last_error, x.first_error),
                   CASE WHEN x.status = 'resolved' THEN 'delivered' ELSE 'pending' END, 0,
                   CASE WHEN x.status = 'resolved' THEN x.resolved_at END,
                   CASE WHEN x.status = 'resolved' THEN 'before v6' END
            FROM exceptions x
            LEFT JOIN (SELECT event_id, min(correlation_id) AS correlation_id FROM business_events
                       GROUP BY event_id) e ON e.event_id = split_part(x.event_id, :mark, 1)
            WHERE x.event_id IS NOT NULL
            ON CONFLICT DO NOTHING
            """
        ),
        {"mark": REPLAY_MARK},
    )
