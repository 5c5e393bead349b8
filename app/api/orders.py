"""Orders: one business key's timeline across systems, and the search that finds it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from app.api.schemas import OrderSearch, OrderTimeline
from app.auth import READ
from app.deps import Conn
from models.queries.timeline import MIN_SEARCH, find_orders, order_timeline

router = APIRouter(prefix="/orders", tags=["orders"])
SEARCH_HELP = "order or PO number, trace id or message (event) id; exact matches first, then prefix"


@router.get("", response_model=OrderSearch, openapi_extra=READ)
def search_orders(
    conn: Conn,
    q: Annotated[str, Query(min_length=MIN_SEARCH, max_length=200, description=SEARCH_HELP)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Business keys matching ``q``: exact matches first, then prefix matches."""
    return {"query": q, "results": find_orders(conn, query=q, limit=limit)}


@router.get("/{correlation_id:path}", response_model=OrderTimeline, openapi_extra=READ)
def get_order(
    conn: Conn,
    correlation_id: str,
    full: Annotated[bool, Query(description="every payload and span attribute, not only the failed ones")] = False,
) -> dict[str, Any]:
    """Every event, span and exception of one order (or PO, or SKU@location) in time order."""
    timeline = order_timeline(conn, correlation_id=correlation_id, full=full)
    if timeline is None:
        raise HTTPException(status_code=404, detail=f"no events, spans or exceptions are known for {correlation_id!r}")
    return timeline
