"""The application factory: FastAPI for the API, Dash mounted at / — one process."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import dash
from a2wsgi import WSGIMiddleware
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount
from swagger_ui_bundle import swagger_ui_path

from app.api import (
    access,
    alerts,
    correlation,
    demo,
    detection,
    error_classes,
    exceptions,
    flows,
    forecast,
    health,
    incidents,
    ingest,
    kpis,
    orders,
    reconciliation,
)
from app.auth import OPEN, SECURE_COOKIE, AccessMiddleware, RateLimiter, authorize, check_bind, content_security_policy
from app.context import AppContext, open_context
from app.settings import Settings
from dashboards.app import create_dash
from models.enums import Access

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def create_app(settings: Settings, *, ctx: AppContext | None = None) -> FastAPI:
    """Build the app; the database opens here (or comes in as ``ctx``), never at import.

    Refuses (ValueError) auth off on a non-loopback bind."""
    check_bind(settings)
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
        dependencies=[Depends(authorize)],  # every route's x-access rule, default deny (app/auth.py)
    )
    app.state.ctx = ctx
    app.state.ingest_limiter = RateLimiter(settings.ingest_key_rate_per_second, settings.ingest_key_burst)
    app.include_router(health.router)
    app.include_router(access.pages)
    app.include_router(access.router, prefix=API_PREFIX)
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
    app.include_router(incidents.router, prefix=API_PREFIX)  # issue 15
    _install_docs(app)
    _install_security_schemes(app)
    _install_api_not_found(app)
    _install_error_handlers(app)

    dash_app = create_dash(ctx)
    app.mount("/", WSGIMiddleware(dash_app.server))  # type: ignore[arg-type]
    # The first path segment of every API route: those answer by their own rule; the rest is the pages.
    roots = sorted({"/" + r.path.split("/")[1] for r in app.routes if isinstance(r, APIRoute)})
    app.add_middleware(AccessMiddleware, ctx=ctx, api_prefixes=tuple(roots), csp=_csp_of(dash_app))
    return app


def _csp_of(dash_app: dash.Dash) -> Callable[[], str]:
    """The CSP allowing Dash's inline scripts by hash. Dash adds one (the pages' title updater) at its
    first request, so the policy is recomputed whenever the list of inline scripts grows."""
    cache: dict[int, str] = {}

    def csp() -> str:
        size = len(dash_app._inline_scripts)
        if size not in cache:
            cache.clear()
            cache[size] = content_security_policy(dash_app.csp_hashes())
        return cache[size]

    return csp


def _install_security_schemes(app: FastAPI) -> None:
    """Say in the OpenAPI document how to authenticate (a Bearer API key, or the session cookie), on every
    operation whose rule needs it, so /api/docs offers "Authorize" and clients know what to send."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "an API key (`flowwatch keys create`)"},
            "session": {"type": "apiKey", "in": "cookie", "name": SECURE_COOKIE, "description": "a browser login"},
        }
        for operations in schema["paths"].values():
            for operation in operations.values():
                if operation.get("x-access") not in (str(Access.OPEN), str(Access.SIGNED)):
                    operation["security"] = [{"bearer": []}, {"session": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


DOCS_ASSETS = "/api/docs-assets"


def _install_docs(app: FastAPI) -> None:
    """Interactive API docs at /api/docs with Swagger UI served from the swagger-ui-bundle package."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/api/docs", include_in_schema=False, openapi_extra=OPEN)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=str(app.openapi_url),
            title="Flowwatch API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )
        # Swagger UI starts from one inline script: allow exactly that one, by its hash.
        inline = re.findall(r"<script>(.*?)</script>", bytes(page.body).decode(), re.S)
        hashes = ["'sha256-" + base64.b64encode(hashlib.sha256(i.encode()).digest()).decode() + "'" for i in inline]
        page.headers["content-security-policy"] = content_security_policy(hashes)
        return page


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
        app.add_api_route(
            f"/{root}/{{rest:path}}", not_found, methods=_METHODS, include_in_schema=False, openapi_extra=OPEN
        )


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
