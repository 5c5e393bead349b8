"""Look-ups the ingest edge needs before acknowledging."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.tables import business_events


def stored_event_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are already stored (re-sent events are answered as duplicates)."""
    if not ids:
        return set()
    found = conn.execute(
        sa.select(business_events.c.event_id).where(business_events.c.event_id.in_(list(set(ids))))
    )
    return {row[0] for row in found}
