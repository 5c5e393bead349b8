"""The application factory: FastAPI for the API, Dash mounted at / — one process."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api import correlation, detection, exceptions, flows, health, ingest, kpis, orders, sim
from app.context import AppContext, open_context
from app.settings import Settings
from dashboards.app import create_dash

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def create_app(settings: Settings, *, ctx: AppContext | None = None) -> FastAPI:
    """Build the app; the database opens here (or comes in as ``ctx``), never at import."""
    ctx = ctx or open_context(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.start()
        try:
            yield
        finally:
            ctx.close()

    app = FastAPI(
        title="Flowwatch",
        version="0.1.0",
        summary="Operational observability and exception management for distributors",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.include_router(health.router)
    app.include_router(ingest.otlp_router)
    app.include_router(ingest.router, prefix=API_PREFIX)
    app.include_router(kpis.router, prefix=API_PREFIX)
    app.include_router(orders.router, prefix=API_PREFIX)
    app.include_router(flows.router, prefix=API_PREFIX)
    app.include_router(correlation.router, prefix=API_PREFIX)
    app.include_router(exceptions.router, prefix=API_PREFIX)
    app.include_router(detection.router, prefix=API_PREFIX)
    app.include_router(sim.demo_router, prefix=API_PREFIX)
    app.include_router(sim.router)
    _install_error_handlers(app)

    dash_app = create_dash(ctx)
    app.mount("/", WSGIMiddleware(dash_app.server))  # type: ignore[arg-type]
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Clear JSON errors: where the input was wrong, never a traceback."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"where": ".".join(str(p) for p in err.get("loc", ())), "error": err.get("msg", "invalid")}
            for err in exc.errors()
        ]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)
