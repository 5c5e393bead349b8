"""Incidents: simultaneous exceptions grouped under the system that explains them; acknowledge, assign, resolve.

Routes validate the request and call ``app/services/incidents.py``; its refusals become 404 (no such
incident), 409 (not in this status) or 422 (bad input).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas import IncidentActionResult, IncidentDetail, IncidentPage
from app.auth import ACT, READ
from app.context import AppContext
from app.deps import Conn, Ctx, Who, refusals
from app.services import incidents as service
from models.enums import IncidentStatus
from models.queries.incidents import get_incident, list_incidents

router = APIRouter(prefix="/incidents", tags=["incidents"])


@router.get("", response_model=IncidentPage, openapi_extra=READ, summary="Incidents, active ones first")
def get_incidents(
    conn: Conn,
    status: Annotated[list[str], Query(description="open, acknowledged, resolved (repeat or comma-separate)")] = [],  # noqa: B006
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Incidents with their system, counts and business impact: active first, then most value at risk."""
    wanted = [v.strip() for value in status for v in value.split(",") if v.strip()]
    unknown = sorted(set(wanted) - {str(s) for s in IncidentStatus})
    if unknown:
        raise HTTPException(422, f"status: unknown {', '.join(unknown)}; expected open, acknowledged or resolved")
    items, total = list_incidents(conn, status=wanted, offset=offset, limit=limit)
    return {"items": items, "total": total}


@router.get("/{incident_id}", response_model=IncidentDetail, openapi_extra=READ, summary="One incident")
def get_incident_detail(incident_id: int, conn: Conn) -> dict[str, Any]:
    """The incident with its exceptions, flows and timeline."""
    detail = get_incident(conn, incident_id)
    if detail is None:
        raise HTTPException(404, f"incident {incident_id} does not exist")
    return detail


class _Body(BaseModel):
    """An action's body; the actor is the authenticated principal, never a field."""

    model_config = ConfigDict(extra="forbid")


class AssignIn(_Body):
    owner: str = Field(min_length=1, max_length=200)


class ResolveIn(_Body):
    resolution: str | None = Field(None, max_length=2_000)


def _answer(ctx: AppContext, result: service.IncidentResult) -> dict[str, Any]:
    return {**asdict(result), "incident": service.incident_detail(ctx, result.incident_id)}


@router.post("/{incident_id}/ack", response_model=IncidentActionResult, openapi_extra=ACT,
             summary="Acknowledge an incident (and own it if nobody does)")  # fmt: skip
def post_ack(incident_id: int, ctx: Ctx, who: Who, body: _Body | None = None) -> dict[str, Any]:
    """open → acknowledged."""
    with refusals():
        return _answer(ctx, service.acknowledge(ctx, incident_id, actor=who.name))


@router.post("/{incident_id}/assign", response_model=IncidentActionResult, openapi_extra=ACT,
             summary="Give an incident an owner")  # fmt: skip
def post_assign(incident_id: int, body: AssignIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    """Set the owner; the status stays."""
    with refusals():
        return _answer(ctx, service.assign(ctx, incident_id, actor=who.name, owner=body.owner))


@router.post("/{incident_id}/resolve", response_model=IncidentActionResult, openapi_extra=ACT,
             summary="Resolve an incident and its open exceptions")  # fmt: skip
def post_resolve(incident_id: int, ctx: Ctx, who: Who, body: ResolveIn | None = None) -> dict[str, Any]:
    """Resolve it, and each of its exceptions still open or acknowledged (audited one by one)."""
    with refusals():
        return _answer(ctx, service.resolve(ctx, incident_id, actor=who.name,
                                            resolution=body.resolution if body else None))  # fmt: skip
