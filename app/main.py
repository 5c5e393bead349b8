"""The application factory: FastAPI for the API, Dash mounted at / — one process."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount
from swagger_ui_bundle import swagger_ui_path

from app.api import (
    alerts,
    correlation,
    demo,
    detection,
    error_classes,
    exceptions,
    flows,
    forecast,
    health,
    ingest,
    kpis,
    orders,
    reconciliation,
)
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
        docs_url=None,  # served below from the package's own Swagger UI assets: no CDN, works offline
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
    app.include_router(demo.demo_router, prefix=API_PREFIX)
    app.include_router(demo.router)
    app.include_router(alerts.router, prefix=API_PREFIX)  # issue 12
    app.include_router(reconciliation.router, prefix=API_PREFIX)  # issue 15
    app.include_router(error_classes.router, prefix=API_PREFIX)  # issue 15
    app.include_router(forecast.router, prefix=API_PREFIX)  # issue 15
    _install_docs(app)
    _install_api_not_found(app)
    _install_error_handlers(app)

    dash_app = create_dash(ctx)
    app.mount("/", WSGIMiddleware(dash_app.server))  # type: ignore[arg-type]
    return app


DOCS_ASSETS = "/api/docs-assets"


def _install_docs(app: FastAPI) -> None:
    """Interactive API docs at /api/docs with Swagger UI served from the swagger-ui-bundle package."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/api/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=str(app.openapi_url),
            title="Flowwatch API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )


#: Path prefixes that belong to the API: an unknown path under them is a JSON 404, never a page.
API_ROOTS = ("api", "v1")
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _install_api_not_found(app: FastAPI) -> None:
    """Unknown ``/api/…`` and ``/v1/…`` paths answer JSON (404, or 405 naming the allowed methods)
    instead of falling through to the dashboards mounted at ``/``."""

    async def not_found(request: Request) -> JSONResponse:
        routes = [
            r
            for r in app.router.routes  # the endpoints: not this catch-all, not the mounts (pages, assets)
            if getattr(r, "endpoint", None) is not not_found and not isinstance(r, Mount)
        ]
        allowed = [m for m in _METHODS if m not in ("HEAD", "OPTIONS") and any(
            r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes)]  # fmt: skip
        if allowed:
            return JSONResponse(
                {"detail": f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"},
                status_code=405,
                headers={"Allow": ", ".join(allowed)},
            )
        return JSONResponse({"detail": f"no API endpoint at {request.url.path}; see /api/docs"}, status_code=404)

    for root in API_ROOTS:
        app.add_api_route(f"/{root}/{{rest:path}}", not_found, methods=_METHODS, include_in_schema=False)


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
