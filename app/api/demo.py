"""The demo's simulated systems (``/sim/...``) and their incident switches (``/api/v1/demo/faults``)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas import Deliveries, Faults, SimReply
from app.auth import ACT, OPEN, READ
from app.demo_targets import SIM_KINDS
from app.deps import Ctx
from app.services import demo
from app.services.errors import NotFound
from models.enums import FaultMode

router = APIRouter(tags=["demo"])
demo_router = APIRouter(prefix="/demo", tags=["demo"])


@router.post(
    "/sim/{kind}/{system}/{resource}",
    response_model=SimReply,
    openapi_extra=OPEN,
    summary="A simulated ERP, 3PL, WMS, supplier or storefront endpoint",
)
async def sim_endpoint(
    kind: str,
    system: str,
    resource: str,
    request: Request,
    ctx: Ctx,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Accept, reject (500) or stall according to the system's fault; a known key is never delivered twice."""
    if kind not in SIM_KINDS:
        return JSONResponse({"detail": f"unknown system kind {kind!r}; known: {', '.join(sorted(SIM_KINDS))}"}, 404)
    await request.body()
    verdict = ctx.sim.verdict(system)
    if verdict.delay_seconds:
        await asyncio.sleep(verdict.delay_seconds)
    if verdict.mode is FaultMode.ERROR:
        return JSONResponse({"detail": f"{system} failed to process the {resource} message (simulated fault)"}, 500)
    if verdict.mode is FaultMode.TIMEOUT:
        return JSONResponse({"detail": f"{system} gave up on the {resource} message (simulated timeout)"}, 504)
    delivered = ctx.sim.deliver(system, idempotency_key)
    return JSONResponse(
        {"system": system, "resource": resource, "idempotency_key": idempotency_key, "duplicate": not delivered},
        201 if delivered else 200,
    )


class FaultIn(BaseModel):
    """Switch a simulated system's behaviour (an incident, or its end with mode 'ok')."""

    model_config = ConfigDict(extra="forbid")

    system: str = Field(min_length=1, examples=["3pl_north"])
    mode: FaultMode
    error_rate: float = Field(1.0, ge=0.0, le=1.0, description="share of requests the fault hits")
    delay_seconds: float | None = Field(None, ge=0.0, le=300.0, description="hold of slow/timeout modes")


@demo_router.post(
    "/faults",
    response_model=Faults,
    openapi_extra=ACT,
    summary="Switch a simulated system to ok, error, timeout or slow",
)
def set_fault(body: FaultIn, ctx: Ctx) -> JSONResponse:
    """Set one system's fault (its replays and the live traffic touching it); answers every system's state."""
    try:
        state = demo.switch_fault(ctx, body.system, body.mode, error_rate=body.error_rate,
                                  delay_seconds=body.delay_seconds)  # fmt: skip
    except NotFound as exc:
        return JSONResponse({"detail": str(exc)}, 404)
    return JSONResponse({"systems": state})


@demo_router.get(
    "/faults", response_model=Faults, openapi_extra=READ, summary="Faults and delivery counts of the simulated systems"
)
def get_faults(ctx: Ctx) -> dict[str, Any]:
    """Every system with a fault or traffic: mode, error rate, received, delivered, duplicates, failed."""
    return {"systems": ctx.sim.state()}


@demo_router.get(
    "/deliveries",
    response_model=Deliveries,
    openapi_extra=READ,
    summary="Idempotency keys the simulated systems took (replays that got through)",
)
def get_deliveries(ctx: Ctx) -> dict[str, Any]:
    """The demo's live traffic reads this to take replayed messages out of its dead-letter queues."""
    return {"keys": ctx.sim.delivered_keys()}
