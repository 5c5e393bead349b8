"""FastAPI dependencies as Annotated aliases (the edge owns the connection), and the one translation
of the action layer's refusals into HTTP answers that every router uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.engine import Connection

from app.auth import current_principal
from app.context import AppContext
from app.services.access import Principal
from app.services.errors import Conflict, Forbidden, InvalidRequest, NotFound, ServiceError, Unauthorized

_STATUS = {NotFound: 404, Conflict: 409, InvalidRequest: 422, Unauthorized: 401, Forbidden: 403}


# The dependencies that only read the request are ``async``: FastAPI runs a plain ``def``
# dependency on the thread pool, a hop that cost a look-up as much as one of its queries.
async def get_ctx(request: Request) -> AppContext:
    """The process context stored on the app at start."""
    ctx: AppContext = request.app.state.ctx
    return ctx


async def _principal(request: Request) -> Principal:
    return current_principal(request)


def get_conn(ctx: Annotated[AppContext, Depends(get_ctx)]) -> Iterator[Connection]:
    """A read connection (its own DuckDB cursor) for the length of one request."""
    with ctx.engine.connect() as conn:
        yield conn


Ctx = Annotated[AppContext, Depends(get_ctx)]
Conn = Annotated[Connection, Depends(get_conn)]
#: The authenticated principal: the actor of every action the request takes.
Who = Annotated[Principal, Depends(_principal)]


@contextmanager
def refusals() -> Iterator[None]:
    """Service errors as HTTP errors with the service's own words (401, 403, 404, 409, 422)."""
    try:
        yield
    except ServiceError as exc:
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 409)
        raise HTTPException(status_code=status, detail=str(exc)) from exc
