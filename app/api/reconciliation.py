"""Reconciliation: the keyed funnel (storefront → ERP → WMS/3PL → shipped) per day and channel."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from app.api.schemas import ReconciliationReport
from app.auth import READ
from app.deps import Conn, Ctx
from models.queries.reconciliation import as_json, reconcile

router = APIRouter(prefix="/reconciliation", tags=["reconciliation"])


@router.get(
    "",
    openapi_extra=READ,
    response_model=ReconciliationReport,
    summary="Keyed funnel per day and channel, with every missing key",
)
def get_reconciliation(
    ctx: Ctx,
    conn: Conn,
    days: Annotated[int, Query(ge=1, le=31, description="UTC days back, today included")] = 3,
    since: Annotated[datetime | None, Query(alias="from", description="start (overrides days)")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="end (default: now)")] = None,
    channel: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """Per day (of the key's first stage) and channel: keys reached, missing, pending and excluded per stage,
    and each missing key with its source message."""
    now = ctx.now()
    end = until or now
    start = since or datetime(now.year, now.month, now.day) - timedelta(days=days - 1)
    if start >= end:
        raise HTTPException(422, "from: must be before to")
    result = reconcile(conn, since=start, until=end, now=now, channel=channel)
    return {"as_of": now, "since": start, "until": end, "channel": channel, **as_json(result)}
