"""KPI endpoints: thin wrappers over the query layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from app.auth import READ
from app.deps import Conn, Ctx
from models.queries import overview as q
from models.queries.common import DEFAULT_RANGE, RANGES, Window
from models.queries.kpis import DIMENSIONS, kpi_report

#: The longest period one KPI request may cover (and the default when none is given).
MAX_SPAN = timedelta(days=92)
DEFAULT_SPAN = timedelta(days=7)

router = APIRouter(prefix="/kpis", tags=["kpis"])


@router.get("/overview", openapi_extra=READ)
def kpi_overview(
    ctx: Ctx,
    conn: Conn,
    range_: Annotated[str, Query(alias="range", description=f"one of {', '.join(RANGES)}")] = DEFAULT_RANGE,
) -> dict[str, Any]:
    """Orders today and in flight, cycle time, sync lag per flow, exceptions, queues."""
    try:
        window = Window.named(range_, now=ctx.now())
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return q.overview(conn, now=window.until, window=window)


@router.get("", openapi_extra=READ)
def kpis(
    ctx: Ctx,
    conn: Conn,
    from_: Annotated[datetime | None, Query(alias="from", description="ISO datetime; default: to − 7 days")] = None,
    to: Annotated[datetime | None, Query(description="ISO datetime; default: now")] = None,
    group_by: Annotated[str | None, Query(description=f"one of {', '.join(DIMENSIONS)}")] = None,
) -> dict[str, Any]:
    """Every KPI for ``[from, to)`` and the previous period of the same length, per dimension."""
    until = _naive_utc(to) if to else ctx.now()
    since = _naive_utc(from_) if from_ else until - DEFAULT_SPAN
    if since >= until:
        raise HTTPException(status_code=422, detail=f"'from' ({since.isoformat()}) must be before 'to' "
                                                    f"({until.isoformat()})")  # fmt: skip
    if until - since > MAX_SPAN:
        raise HTTPException(status_code=422, detail=f"the period may span at most {MAX_SPAN.days} days")
    if group_by is not None and group_by not in DIMENSIONS:
        raise HTTPException(
            status_code=422, detail=f"unknown group_by {group_by!r}; allowed values: {', '.join(DIMENSIONS)}"
        )
    return kpi_report(conn, window=Window(since, until, 3600), group_by=group_by)


def _naive_utc(value: datetime) -> datetime:
    """Naive UTC, the stored convention (a value without an offset is taken as UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
