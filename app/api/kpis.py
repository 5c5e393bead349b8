"""KPI endpoints: thin wrappers over the query layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas import KpiReport, KpiTarget, KpiTargets, Overview
from app.auth import ADMIN, READ
from app.deps import Conn, Ctx, Who, refusals
from app.services import kpi_targets as targets_service
from models.enums import Direction
from models.queries import overview as q
from models.queries.common import DEFAULT_RANGE, RANGES, Window
from models.queries.kpi_targets import list_targets
from models.queries.kpis import DIMENSIONS, kpi_report
from models.store.kpi_targets import TOLERANCE, judged

#: The longest period one KPI request may cover (and the default when none is given).
MAX_SPAN = timedelta(days=92)
DEFAULT_SPAN = timedelta(days=7)

router = APIRouter(prefix="/kpis", tags=["kpis"])


@router.get("/overview", response_model=Overview, openapi_extra=READ)
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
    return q.overview(conn, now=window.until, window=window, engine=ctx.engine)


@router.get("", response_model=KpiReport, openapi_extra=READ)
def kpis(
    ctx: Ctx,
    conn: Conn,
    from_: Annotated[datetime | None, Query(alias="from", description="ISO datetime; default: to − 7 days")] = None,
    to: Annotated[datetime | None, Query(description="ISO datetime; default: now")] = None,
    group_by: Annotated[str | None, Query(description=f"one of {', '.join(DIMENSIONS)}")] = None,
) -> dict[str, Any]:
    """Every KPI for ``[from, to)`` and the previous period of the same length, per dimension, each
    with its target, direction and every row's RAG status."""
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
    report = kpi_report(conn, window=Window(since, until, 3600), group_by=group_by)
    return judged(report, list_targets(conn))


class TargetIn(BaseModel):
    """A metric's new target (in its unit: shares as 0–1) and which way is better; who sets it is the
    authenticated principal (an admin)."""

    model_config = ConfigDict(extra="forbid")

    target: float = Field(description="in the metric's unit: shares 0–1, *_hours hours, *_seconds seconds")
    direction: Direction


@router.get(
    "/targets",
    response_model=KpiTargets,
    openapi_extra=READ,
    summary="Every KPI metric's target, its direction and who set it",
)
def get_targets(conn: Conn) -> dict[str, Any]:
    """The stored targets and the RAG rule they are judged by."""
    return jsonable_encoder(
        {
            "rule": f"green at or better than target, amber within {TOLERANCE:.0%} of it, red beyond",
            "targets": list(list_targets(conn).values()),
        }
    )


@router.put(
    "/targets/{kpi}",
    response_model=KpiTarget,
    openapi_extra=ADMIN,
    summary="Set one KPI metric's target (kept over the targets file from then on)",
)
def put_target(kpi: str, body: TargetIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals():
        row = targets_service.set_target(ctx, kpi, target=body.target, direction=body.direction, actor=who.name)
    return jsonable_encoder(row)


def _naive_utc(value: datetime) -> datetime:
    """Naive UTC, the stored convention (a value without an offset is taken as UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
