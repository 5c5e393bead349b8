"""FastAPI dependencies as Annotated aliases: the edge owns the connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Connection

from app.auth import current_principal
from app.context import AppContext
from app.services.access import Principal


def get_ctx(request: Request) -> AppContext:
    """The process context stored on the app at start."""
    return request.app.state.ctx


def get_conn(ctx: Annotated[AppContext, Depends(get_ctx)]) -> Iterator[Connection]:
    """A read connection (its own DuckDB cursor) for the length of one request."""
    with ctx.engine.connect() as conn:
        yield conn


Ctx = Annotated[AppContext, Depends(get_ctx)]
Conn = Annotated[Connection, Depends(get_conn)]
#: The authenticated principal: the actor of every action the request takes.
Who = Annotated[Principal, Depends(current_principal)]
