"""What the seeded demo left for its live traffic to continue: DLQ backlogs and orders in flight."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING

from models.queries.in_flight import orders_in_flight as in_flight_rows
from models.queries.overview import queue_current
from seed_data.distributor import BROKER
from seed_data.live_traffic import InFlight

if TYPE_CHECKING:
    from app.context import AppContext


def dlq_backlog(ctx: AppContext) -> dict[str, tuple[int, float | None]]:
    """Depth and oldest age (as of now) of the demo DLQs the seeded history left non-empty."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        latest = queue_current(conn, now=now)
    backlog = {}
    for row in latest[(latest["broker"] == BROKER) & latest["is_dlq"] & (latest["depth"] > 0)].itertuples():
        elapsed = (now - row.sampled_at).total_seconds()
        age = row.oldest_age_seconds
        backlog[row.queue] = (int(row.depth), None if math.isnan(age) else float(age) + elapsed)
    return backlog


def orders_in_flight(ctx: AppContext) -> tuple[InFlight, ...]:
    """The seeded orders still between two steps (the last three days'), for the live traffic to continue."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        rows = in_flight_rows(conn, now=now, since=now - timedelta(days=3))
    return tuple(
        InFlight(r["correlation_id"], r["channel"], r["fulfiller"], r["stage"], (now - r["reached_at"]).total_seconds())
        for r in rows
    )
