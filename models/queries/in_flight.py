"""Orders in flight: the last lifecycle step each reached, for the live demo to continue them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

#: order_facts columns of the steps, in lifecycle order, with the stage name the live traffic uses.
_STEPS = (("created_at", "created"), ("accepted_at", "accepted"), ("released_at", "released"),
          ("dispatched_at", "dispatched"))  # fmt: skip


def orders_in_flight(conn: Connection, *, now: datetime, since: datetime) -> list[dict[str, Any]]:
    """Orders created after ``since``, neither invoiced nor cancelled and without failed deliveries
    (those wait for an operator), with the last step reached and when."""
    last = "CASE " + " ".join(f"WHEN {col} IS NOT NULL THEN '{stage}'" for col, stage in reversed(_STEPS)) + " END"
    at = "coalesce(" + ", ".join(col for col, _ in reversed(_STEPS)) + ")"
    rows = conn.execute(
        sa.text(
            f"""
            SELECT correlation_id, channel, fulfiller, {last} AS stage, {at} AS reached_at
            FROM order_facts
            WHERE created_at > :since AND created_at <= :now AND invoiced_at IS NULL AND cancelled_at IS NULL
              AND failures = 0 AND channel IS NOT NULL
            ORDER BY reached_at
            """
        ),
        {"since": since, "now": now},
    ).mappings()
    return [dict(r) for r in rows]
