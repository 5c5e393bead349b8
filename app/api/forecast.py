"""Backlog forecast: per queue when it clears and which orders miss today's cut-off (the Flows page's card)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.schemas import BacklogForecast
from app.auth import READ
from app.deps import Conn, Ctx
from models.queries.forecast import backlog_forecast

router = APIRouter(prefix="/backlog-forecast", tags=["flows"])


@router.get(
    "",
    openapi_extra=READ,
    response_model=BacklogForecast,
    summary="When each queue clears, and what misses today's cut-off",
)
def get_backlog_forecast(
    ctx: Ctx,
    conn: Conn,
    window_minutes: Annotated[float, Query(gt=0, le=24 * 60, description="rates measured over this long")] = 30,
) -> dict[str, Any]:
    """Per queue of one flow: depth, arrivals and throughput per minute, when it clears, the cut-off it misses."""
    now = ctx.now()
    forecasts = backlog_forecast(conn, now=now, window=timedelta(minutes=window_minutes))
    return {"as_of": now, "window_minutes": window_minutes, "queues": [asdict(f) for f in forecasts]}
