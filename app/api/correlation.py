"""Technical beside business signals: a flow's aligned series, and an exception's likely cause."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from app.api.schemas import FlowSignals, LikelyCause
from app.auth import READ
from app.deps import Conn, Ctx
from models.queries.common import DEFAULT_RANGE, RANGES, Window, json_number
from models.queries.correlation import flow_signals, likely_cause

router = APIRouter(tags=["correlation"])


@router.get("/flows/{flow_id:path}/signals", response_model=FlowSignals, openapi_extra=READ)
def get_flow_signals(
    ctx: Ctx,
    conn: Conn,
    flow_id: str,
    range_: Annotated[str, Query(alias="range", description=f"one of {', '.join(RANGES)}")] = DEFAULT_RANGE,
) -> dict[str, Any]:
    """Span error rate and p95 latency of the flow's systems, queue depth, sync lag p95 and
    orders stuck, per bucket of one time axis."""
    try:
        window = Window.named(range_, now=ctx.now())
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    try:
        frame = flow_signals(conn, flow_id=flow_id, window=window)
    except KeyError as exc:
        raise HTTPException(status_code=404, detail=f"unknown flow {flow_id!r}") from exc
    return {
        "flow_id": flow_id,
        "window": {
            "since": window.since.isoformat(),
            "until": window.until.isoformat(),
            "bucket_seconds": window.bucket_seconds,
        },
        "axis": [t.isoformat() for t in frame.index],
        "series": {column: [json_number(v) for v in frame[column]] for column in frame.columns},
    }


@router.get("/exceptions/{exception_id}/likely-cause", response_model=LikelyCause, openapi_extra=READ)
def get_likely_cause(conn: Conn, exception_id: int) -> dict[str, Any]:
    """The technical signal that moved first before the exception, or null when none did."""
    try:
        cause = likely_cause(conn, exception_id=exception_id)
    except KeyError as exc:
        raise HTTPException(status_code=404, detail=f"unknown exception {exception_id}") from exc
    return {"exception_id": exception_id, "likely_cause": cause}
