"""Look-ups the ingest edge needs before acknowledging."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def stored_event_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are already stored (re-sent events are answered as duplicates)."""
    if not ids:
        return set()
    # One list parameter, not one bind per id: 10k binds cost ~400 ms, the list ~20 ms.
    found = conn.execute(
        sa.text("SELECT event_id FROM business_events WHERE event_id IN (SELECT unnest(:ids))"),
        {"ids": list(set(ids))},
    )
    return {row[0] for row in found}
