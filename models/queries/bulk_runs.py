"""Bulk runs and their per-item results, kept after the run so an operator can see what happened."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.queries.writes import set_clause
from models.store.tables import bulk_run_items, bulk_runs, exceptions

_i = bulk_run_items.c


def create_run(
    conn: Connection,
    *,
    action: str,
    actor: str,
    status: str,
    selection: dict[str, Any],
    items: Sequence[dict[str, Any]],
    canary: int,
    rate_per_second: float | None,
    now: datetime,
) -> int:
    """Store a run and its items (position, exception_id, status, duplicate_risk, error); returns its id."""
    run_id = int(
        conn.execute(
            bulk_runs.insert()
            .values(
                action=action,
                actor=actor,
                status=status,
                selection=json.dumps(selection, default=str),
                total=len(items),
                canary=canary,
                rate_per_second=rate_per_second,
                created_at=now,
            )
            .returning(bulk_runs.c.run_id)
        ).scalar_one()
    )
    if items:
        conn.execute(bulk_run_items.insert(), [{**item, "run_id": run_id} for item in items])
    return run_id


def set_run(conn: Connection, run_id: int, **values: Any) -> None:
    """Change a run's status, finish time or detail."""
    conn.execute(bulk_runs.update().where(bulk_runs.c.run_id == run_id).values(**values))


def set_item(conn: Connection, run_id: int, position: int, **values: Any) -> None:
    """Record one item's result."""
    sql = f"UPDATE bulk_run_items SET {set_clause(bulk_run_items, values)} WHERE run_id = :_run AND position = :_pos"
    conn.execute(sa.text(sql), {**values, "_run": run_id, "_pos": position})


def set_items(conn: Connection, run_id: int, positions: Sequence[int], **values: Any) -> None:
    """Record the same result for many items."""
    if positions:
        conn.execute(
            bulk_run_items.update()
            .where(_i.run_id == run_id, _i.position.in_(sa.select(sa.func.unnest(sa.bindparam("positions")))))
            .values(**values),
            {"positions": list(positions)},
        )


def get_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    """A run with its item counts per status."""
    row = conn.execute(sa.select(bulk_runs).where(bulk_runs.c.run_id == run_id)).mappings().first()
    if row is None:
        return None
    counts: dict[Any, Any] = dict(
        conn.execute(sa.select(_i.status, sa.func.count()).where(_i.run_id == run_id).group_by(_i.status)).all()
    )
    run = dict(row)
    run["selection"] = json.loads(run["selection"]) if run["selection"] else None
    run["counts"] = {str(k): int(v) for k, v in counts.items()}
    run["processed"] = run["total"] - run["counts"].get("pending", 0)
    return run


def run_items(
    conn: Connection, run_id: int, *, status: str | None = None, offset: int = 0, limit: int | None = None
) -> list[dict[str, Any]]:
    """A run's items in order, with the exception's title and current status."""
    query = (
        sa.select(bulk_run_items, exceptions.c.title, exceptions.c.status.label("exception_status"))
        .select_from(bulk_run_items.outerjoin(exceptions, exceptions.c.exception_id == _i.exception_id))
        .where(_i.run_id == run_id)
        .order_by(_i.position)
        .offset(offset)
    )
    if status is not None:
        query = query.where(_i.status == status)
    if limit is not None:
        query = query.limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def pending_items(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """Items not yet processed, in order (what a resumed run still has to do)."""
    return [
        dict(r)
        for r in conn.execute(
            sa.select(bulk_run_items).where(_i.run_id == run_id, _i.status == "pending").order_by(_i.position)
        ).mappings()
    ]
