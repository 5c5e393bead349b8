"""Orders: one business key's timeline across systems, and the search that finds it."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from app.api.schemas import OrderSearch, OrderTimeline
from app.auth import READ
from app.deps import Conn, Ctx
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
async def get_order(
    ctx: Ctx,
    correlation_id: str,
    full: Annotated[bool, Query(description="every payload and span attribute, not only the failed ones")] = False,
) -> Response:
    """Every event, span and exception of one order (or PO, or SKU@location) in time order.

    The most frequent read: one thread-pool hop for the connection and the queries together (a
    ``Conn`` dependency costs two more), and the JSON-ready answer written by orjson as it is
    (``OrderTimeline`` documents it).
    """
    timeline = await run_in_threadpool(_timeline, ctx.engine, correlation_id, full)
    if timeline is None:
        raise HTTPException(status_code=404, detail=f"no events, spans or exceptions are known for {correlation_id!r}")
    # default=str: the order's value is a Decimal, which pydantic also writes as a string
    return Response(orjson.dumps(timeline, default=str), media_type="application/json")


def _timeline(engine: Engine, correlation_id: str, full: bool) -> dict[str, Any] | None:
    with engine.connect() as conn:
        return order_timeline(conn, correlation_id=correlation_id, full=full, engine=engine)
