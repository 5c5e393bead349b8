"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.schemas import Healthz, Readyz
from app.auth import OPEN
from app.deps import Ctx
from models.store.schema import SCHEMA_VERSION, is_current, schema_version

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Healthz, openapi_extra=OPEN)
def healthz() -> dict[str, str]:
    """The process answers: it is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readyz, openapi_extra=OPEN)
def readyz(ctx: Ctx) -> JSONResponse:
    """Ready when the database opens and its schema is this code's version."""
    try:
        with ctx.engine.connect() as conn:
            current = is_current(conn)
            version = schema_version(conn)
    except Exception as exc:  # any driver error means not ready; say which
        return JSONResponse({"status": "unavailable", "error": str(exc).splitlines()[0]}, status_code=503)
    body = {
        "status": "ready" if current else "schema_outdated",
        "schema_version": version,
        "expected_schema_version": SCHEMA_VERSION,
    }
    return JSONResponse(body, status_code=200 if current else 503)
