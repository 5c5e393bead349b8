"""The kpi_targets table: read every target, save one, bring the configured ones in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.store.tables import kpi_targets


def list_targets(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every stored target by metric name: ``target, direction, origin, updated_at, updated_by``."""
    rows = conn.execute(sa.select(kpi_targets).order_by(kpi_targets.c.kpi)).mappings()
    return {r["kpi"]: dict(r) for r in rows}


def save_target(
    conn: Connection, kpi: str, *, target: float, direction: str, origin: str, now: datetime, by: str | None
) -> None:
    """Insert or replace one metric's target."""
    conn.execute(sa.delete(kpi_targets).where(kpi_targets.c.kpi == kpi))
    conn.execute(
        kpi_targets.insert().values(
            kpi=kpi, target=float(target), direction=str(direction), origin=origin, updated_at=now, updated_by=by
        )
    )


def sync_config_targets(conn: Connection, configured: Sequence[dict[str, Any]], *, now: datetime) -> dict[str, int]:
    """New configured targets added, unedited ones refreshed, unedited ones gone from the file removed;
    a target an admin edited (``updated_by`` set) keeps the admin's value."""
    stored = list_targets(conn)
    wanted = {c["kpi"]: c for c in configured}
    counts = {"added": 0, "refreshed": 0, "removed": 0}
    for kpi, c in wanted.items():
        row = stored.get(kpi)
        if row is None:
            save_target(conn, kpi, target=c["target"], direction=c["direction"], origin="config", now=now, by=None)
            counts["added"] += 1
        elif row["updated_by"] is None and (row["target"], row["direction"]) != (c["target"], c["direction"]):
            save_target(conn, kpi, target=c["target"], direction=c["direction"], origin="config", now=now, by=None)
            counts["refreshed"] += 1
    for kpi, row in stored.items():
        if kpi not in wanted and row["updated_by"] is None and row["origin"] == "config":
            conn.execute(sa.delete(kpi_targets).where(kpi_targets.c.kpi == kpi))
            counts["removed"] += 1
    return counts
