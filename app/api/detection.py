"""Exception detection on demand (it also runs on the scheduler every few seconds)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.api.schemas import DetectionRun
from app.auth import ACT
from app.deps import Ctx
from app.jobs import detect

router = APIRouter(prefix="/detection", tags=["exceptions"])


@router.post("/run", response_model=DetectionRun, openapi_extra=ACT, summary="Run one detection pass now")
async def run_now(ctx: Ctx) -> dict[str, Any]:
    """Open, update, auto-resolve or re-open exceptions from the current data; say what changed."""
    report = await run_in_threadpool(detect, ctx)
    return {
        "opened": report.opened,
        "updated": report.updated,
        "resolved": report.resolved,
        "reopened": report.reopened,
        "clearing": report.clearing,
        "findings": report.findings,
        "elapsed_seconds": round(report.elapsed_seconds, 3),
    }
