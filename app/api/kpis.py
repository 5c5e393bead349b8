"""KPI endpoints: thin wrappers over the query layer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from app.deps import Conn, Ctx
from models.queries import overview as q
from models.queries.common import DEFAULT_RANGE, RANGES, Window

router = APIRouter(prefix="/kpis", tags=["kpis"])


@router.get("/overview")
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
