"""Flows: every integration step with its live health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.schemas import FlowList
from app.auth import READ
from app.deps import Conn, Ctx
from models.queries.flows import HEALTH_WINDOW, flows_health

router = APIRouter(prefix="/flows", tags=["flows"])


@router.get("", response_model=FlowList, openapi_extra=READ)
def list_flows(ctx: Ctx, conn: Conn) -> dict[str, Any]:
    """Flows with sync lag p95 against the SLA, failures and open exceptions over the last hour."""
    now = ctx.now()
    return {
        "as_of": now.isoformat(),
        "window_seconds": int(HEALTH_WINDOW.total_seconds()),
        "flows": flows_health(conn, now=now),
    }
