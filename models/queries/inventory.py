"""Inventory reconciliation: what each storefront shows against what the warehouse last adjusted.

Per inventory check (``inventory_checks``, from the expectations file) and key (SKU@location): the
quantity of the latest ok adjusted event against that of the latest ok published event to each system
a flow ending in the published event targets. One scan of those two event types over the lookback,
grouped by key (and target): the demo's stock traffic is a few thousand events a day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.queries.common import read_frame
from models.store.dialect import json_decimal, last_by
from models.store.tables import inventory_checks

GAP_COLUMNS = ["check_id", "flow_id", "target", "key", "on_hand", "available", "adjusted_at", "published_at", "due_at"]


def _gaps_sql(conn: Connection, adjusted_field: str, published_field: str) -> str:
    """The gap query of one check; the quantity fields (validated top-level payload names) are read by
    the dialect's never-failing JSON number form."""

    def quantity(field: str) -> str:
        return last_by(conn, json_decimal(conn, "payload", (field,)), "occurred_at", "TRUE")

    return f"""
WITH adj AS (
    SELECT correlation_id, max(occurred_at) AS adjusted_at, {quantity(adjusted_field)} AS on_hand
    FROM business_events
    WHERE event_type = :adjusted AND status = 'ok' AND occurred_at >= :since AND occurred_at <= :now
    GROUP BY correlation_id
),
pub AS (
    SELECT correlation_id, target, max(occurred_at) AS published_at, {quantity(published_field)} AS available
    FROM business_events
    WHERE event_type = :published AND status = 'ok' AND occurred_at >= :since AND occurred_at <= :now
    GROUP BY correlation_id, target
)
SELECT :check_id AS check_id, t.flow_id, t.target_system AS target, a.correlation_id AS key, a.on_hand,
       p.available, a.adjusted_at, p.published_at
FROM adj a
CROSS JOIN (SELECT flow_id, target_system FROM flows WHERE end_event = :published) t
LEFT JOIN pub p ON p.correlation_id = a.correlation_id AND p.target = t.target_system
WHERE a.adjusted_at <= :due
  AND (p.published_at IS NULL OR p.published_at < a.adjusted_at
       OR (p.available IS NOT NULL AND a.on_hand IS NOT NULL AND p.available <> a.on_hand))
ORDER BY t.flow_id, a.correlation_id
"""


def inventory_gaps(conn: Connection, *, now: datetime) -> pd.DataFrame:
    """Keys whose storefront shows another quantity than the warehouse's latest adjustment, or nothing
    since it, once the check's grace has passed; ``due_at`` is when it became a gap."""
    frames = []
    for check in conn.execute(sa.select(inventory_checks)).mappings().all():
        grace = timedelta(seconds=int(check["grace_seconds"]))
        sql = _gaps_sql(conn, check["adjusted_quantity"].removeprefix("$."),
                        check["published_quantity"].removeprefix("$."))  # fmt: skip
        frame = read_frame(conn, sql, {
            "check_id": check["check_id"], "adjusted": check["adjusted_event"],
            "published": check["published_event"], "now": now, "due": now - grace,
            "since": now - timedelta(seconds=int(check["lookback_seconds"])),
        })  # fmt: skip
        frames.append(frame.assign(due_at=pd.to_datetime(frame["adjusted_at"]) + grace))
    if not frames:
        return pd.DataFrame(columns=GAP_COLUMNS)
    return pd.concat(frames, ignore_index=True)[GAP_COLUMNS]
