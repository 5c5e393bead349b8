"""Exception workbench API: the grid, the detail panel, every lifecycle action, replay and bulk runs.

Routes only validate the request, open the transaction and call ``app/services``; service
errors become 404 (not found), 409 (refused in this state, with the reason) or 422 (bad input).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.api.schemas import ActionResult, BulkPlanOut, BulkRun, ExceptionDetail, ExceptionPage
from app.auth import ACT, READ
from app.context import AppContext
from app.deps import Conn, Ctx, Who, refusals
from app.services import bulk, lifecycle, replay
from models.queries.exceptions import ExceptionFilter, SortKey, get_exception, list_exceptions

router = APIRouter(tags=["exceptions"])


def _base_url(ctx: AppContext, request: Request) -> str:
    return replay.replay_base_url(ctx.settings, str(request.base_url))


def _split(values: list[str]) -> list[str]:
    """Repeated and comma-separated query values alike (``?status=open,acknowledged``)."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


# -- the grid and the detail panel ---------------------------------------------------------
@router.get(
    "/exceptions",
    response_model=ExceptionPage,
    openapi_extra=READ,
    summary="Exceptions with filters, sorting and server-side paging",
)
def get_exceptions(
    ctx: Ctx,
    conn: Conn,
    status: Annotated[list[str], Query(description="open, acknowledged, resolved, ignored")] = [],  # noqa: B006
    kind: Annotated[list[str], Query()] = [],  # noqa: B006
    flow_id: Annotated[list[str], Query(alias="flow")] = [],  # noqa: B006
    system_id: Annotated[list[str], Query(alias="system")] = [],  # noqa: B006
    severity: Annotated[list[str], Query()] = [],  # noqa: B006
    age_band: Annotated[list[str], Query(description="<1h, 1–4h, 4–24h, 1–3d, >3d")] = [],  # noqa: B006
    assignee: str | None = None,
    unassigned: bool = False,
    text: Annotated[str | None, Query(alias="q", description="title, error, business key or order number")] = None,
    snoozed: bool | None = None,
    seen_since: datetime | None = None,
    min_value: Annotated[float | None, Query(ge=0, description="orders' value at risk at least this")] = None,
    customer_tier: Annotated[list[str], Query(alias="tier", description="key, standard")] = [],  # noqa: B006
    sort: SortKey = "value_at_risk",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """One page of the filtered exceptions (with age, aging band, flow name, business impact; most value at
    risk first by default) and the filtered total."""
    try:
        flt = ExceptionFilter(
            status=_split(status),
            kind=_split(kind),
            flow_id=_split(flow_id),
            system_id=_split(system_id),
            severity=_split(severity),
            age_band=_split(age_band),
            assignee=assignee,
            unassigned=unassigned,
            text=text,
            snoozed=snoozed,
            seen_since=seen_since,
            min_value=min_value,
            customer_tier=_split(customer_tier),
        )
    except ValidationError as exc:
        raise HTTPException(422, "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())) from exc
    page = list_exceptions(conn, flt, now=ctx.now(), sort=sort, descending=order == "desc", offset=offset, limit=limit)
    return {"items": page.items, "total": page.total, "offset": page.offset, "limit": page.limit}


@router.get(
    "/exceptions/{exception_id}",
    response_model=ExceptionDetail,
    openapi_extra=READ,
    summary="One exception: history, payload, affected orders, replays",
)
def get_exception_detail(exception_id: int, ctx: Ctx, conn: Conn) -> dict[str, Any]:
    """Everything the detail panel shows."""
    detail = get_exception(conn, exception_id, now=ctx.now())
    if detail is None:
        raise HTTPException(404, f"exception {exception_id} does not exist")
    return detail


# -- lifecycle actions ---------------------------------------------------------------------
class ActionIn(BaseModel):
    """An action's body. The actor is the authenticated principal, never a field: a body that still
    sends ``actor`` (or any unknown field) is refused with 422 naming it."""

    model_config = ConfigDict(extra="forbid")


class AssignIn(ActionIn):
    assignee: str = Field(min_length=1, max_length=200)


class NoteIn(ActionIn):
    text: str = Field(min_length=1, max_length=10_000)


class ResolveIn(ActionIn):
    resolution: str | None = Field(None, max_length=2_000)


class ReasonIn(ActionIn):
    reason: str | None = Field(None, max_length=2_000)


class SnoozeIn(ActionIn):
    until: datetime = Field(description="ISO 8601; naive means UTC")


class SeverityIn(ActionIn):
    severity: str = Field(examples=["high"])


class ReplayIn(ActionIn):
    payload: Any = Field(None, description="an edited payload (JSON) to send instead of the stored one of one message")
    reason: replay.FixReason | None = Field(None, description="required with an edited payload")
    event_id: str | None = Field(
        None, description="the message the edited payload is for (needed when several are undelivered)"
    )


def _act(ctx: AppContext, exception_id: int, action: lifecycle.Action, actor: str, **change: Any) -> dict[str, Any]:
    """Run one lifecycle action through the action layer; answer the audit states and the new row."""
    with refusals():
        result, row = lifecycle.perform(ctx, action, exception_id, actor=actor, change=lifecycle.Change(**change))
    return {
        "exception_id": exception_id,
        "action": str(result.action),
        "before": result.before,
        "after": result.after,
        "exception": row,
    }


@router.post(
    "/exceptions/{exception_id}/ack",
    response_model=ActionResult,
    openapi_extra=ACT,
    summary="Acknowledge (open → acknowledged)",
)
def ack(exception_id: int, ctx: Ctx, who: Who, body: ActionIn | None = None) -> dict[str, Any]:
    return _act(ctx, exception_id, lifecycle.Action.ACK, who.name)


@router.post(
    "/exceptions/{exception_id}/assign", response_model=ActionResult, openapi_extra=ACT, summary="Assign to a person"
)
def assign(exception_id: int, body: AssignIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    return _act(ctx, exception_id, lifecycle.Action.ASSIGN, who.name, assignee=body.assignee)


@router.post(
    "/exceptions/{exception_id}/note",
    response_model=ActionResult,
    openapi_extra=ACT,
    summary="Add a note to the audit trail",
)
def note(exception_id: int, body: NoteIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    return _act(ctx, exception_id, lifecycle.Action.NOTE, who.name, text=body.text)


@router.post(
    "/exceptions/{exception_id}/resolve",
    response_model=ActionResult,
    openapi_extra=ACT,
    summary="Resolve (open/acknowledged → resolved)",
)
def resolve(exception_id: int, ctx: Ctx, who: Who, body: ResolveIn | None = None) -> dict[str, Any]:
    return _act(ctx, exception_id, lifecycle.Action.RESOLVE, who.name, text=(body or ResolveIn()).resolution)


@router.post(
    "/exceptions/{exception_id}/ignore",
    response_model=ActionResult,
    openapi_extra=ACT,
    summary="Ignore (open/acknowledged → ignored)",
)
def ignore(exception_id: int, ctx: Ctx, who: Who, body: ReasonIn | None = None) -> dict[str, Any]:
    return _act(ctx, exception_id, lifecycle.Action.IGNORE, who.name, text=(body or ReasonIn()).reason)


@router.post(
    "/exceptions/{exception_id}/reopen",
    response_model=ActionResult,
    openapi_extra=ACT,
    summary="Reopen (resolved/ignored → open)",
)
def reopen(exception_id: int, ctx: Ctx, who: Who, body: ReasonIn | None = None) -> dict[str, Any]:
    return _act(ctx, exception_id, lifecycle.Action.REOPEN, who.name, text=(body or ReasonIn()).reason)


@router.post(
    "/exceptions/{exception_id}/snooze",
    response_model=ActionResult,
    openapi_extra=ACT,
    summary="Hide from the default view until a time",
)
def snooze(exception_id: int, body: SnoozeIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    return _act(ctx, exception_id, lifecycle.Action.SNOOZE, who.name, until=body.until)


@router.post(
    "/exceptions/{exception_id}/severity", response_model=ActionResult, openapi_extra=ACT, summary="Change the severity"
)
def severity(exception_id: int, body: SeverityIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    return _act(ctx, exception_id, lifecycle.Action.SET_SEVERITY, who.name, severity=body.severity)


# -- replay ----------------------------------------------------------------------------------
def _outcome(outcome: replay.ReplayOutcome) -> JSONResponse:
    """200 with the result of a replay that ran; 202 for one parked until a second operator approves."""
    return JSONResponse(
        asdict(outcome), status_code=202 if outcome.status is replay.ReplayStatus.PENDING_APPROVAL else 200
    )


@router.post(
    "/exceptions/{exception_id}/replay",
    response_model=replay.ReplayOutcome,
    openapi_extra=ACT,
    summary="Replay every undelivered failed message (one optionally edited)",
)
def replay_exception(
    exception_id: int, ctx: Ctx, request: Request, who: Who, body: ReplayIn | None = None
) -> JSONResponse:
    """Each undelivered message is re-sent at the flow's pace with its own result; the exception resolves
    once all are delivered, else stays open with "n of m delivered"; four-eyes flows answer 202."""
    with refusals():
        body = body or ReplayIn()
        outcome = replay.replay(
            exception_id,
            ctx=ctx,
            actor=who.name,
            payload=body.payload,
            reason=body.reason,
            event_id=body.event_id,
            base_url=_base_url(ctx, request),
        )
    return _outcome(outcome)


@router.post(
    "/exceptions/{exception_id}/approve-replay",
    response_model=replay.ReplayOutcome,
    openapi_extra=ACT,
    summary="Approve a four-eyes replay (another operator)",
)
def approve_replay(
    exception_id: int, ctx: Ctx, request: Request, who: Who, body: ActionIn | None = None
) -> JSONResponse:
    with refusals():
        outcome = replay.approve_replay(exception_id, ctx=ctx, approver=who.name, base_url=_base_url(ctx, request))
    return _outcome(outcome)


@router.post(
    "/exceptions/{exception_id}/reject-replay",
    response_model=replay.ReplayOutcome,
    openapi_extra=ACT,
    summary="Reject (or withdraw) a four-eyes replay",
)
def reject_replay(exception_id: int, ctx: Ctx, who: Who, body: ReasonIn | None = None) -> JSONResponse:
    with refusals(), ctx.writer.transaction() as conn:
        outcome = replay.reject_replay(
            exception_id, conn=conn, actor=who.name, now=ctx.now(), reason=(body or ReasonIn()).reason
        )
    return _outcome(outcome)


# -- bulk ------------------------------------------------------------------------------------
class BulkIn(bulk.Selection):
    """A bulk action over a filter (the whole filtered set) or ids; replays can be dry-run first."""

    action: bulk.BulkAction
    dry_run: bool = False
    canary: int = Field(0, ge=0, description="replay this many first; one failure among them stops the run")
    rate_per_second: float | None = Field(None, gt=0, le=10_000, description="default: the flows' setting")
    include_duplicate_risk: bool = Field(False, description="also replay items the target may already have")
    assignee: str | None = Field(None, min_length=1, max_length=200)
    text: str | None = Field(None, max_length=2_000, description="resolution or ignore reason")


@router.post(
    "/exceptions/bulk",
    response_model=BulkPlanOut | BulkRun,
    openapi_extra=ACT,
    summary="Bulk replay, resolve, ignore or assign (dry run first)",
)
def bulk_action(body: BulkIn, ctx: Ctx, request: Request, who: Who) -> JSONResponse:
    """Dry run: the plan. Replay: starts a paced background run (202). Others: done at once (200)."""
    selection = bulk.Selection(filter=body.filter, ids=body.ids)
    base_url = _base_url(ctx, request)
    with refusals():
        if body.action is bulk.BulkAction.REPLAY:
            with ctx.engine.connect() as conn:
                plan = bulk.plan_bulk_replay(
                    selection, conn=conn, now=ctx.now(), settings=ctx.settings, base_url=base_url
                )
            if body.dry_run:
                return JSONResponse(plan.as_dict(include_duplicate_risk=body.include_duplicate_risk))
            run_id = bulk.start_run(
                plan,
                ctx=ctx,
                actor=who.name,
                canary=body.canary,
                rate_per_second=body.rate_per_second,
                include_duplicate_risk=body.include_duplicate_risk,
                base_url=base_url,
            )
            with ctx.engine.connect() as conn:
                return JSONResponse(jsonable_encoder(bulk.run_report(run_id, conn=conn, limit=0)), status_code=202)
        if body.dry_run:
            with ctx.engine.connect() as conn:
                plan = bulk.plan_bulk_action(body.action, selection, conn=conn, now=ctx.now())
            return JSONResponse(plan.as_dict())
        with ctx.writer.transaction() as conn:
            run_id = bulk.apply_bulk(
                body.action,
                selection,
                conn=conn,
                actor=who.name,
                now=ctx.now(),
                assignee=body.assignee,
                text=body.text,
            )
            report = bulk.run_report(run_id, conn=conn)
    return JSONResponse(jsonable_encoder(report))


@router.get(
    "/bulk-runs/{run_id}",
    response_model=BulkRun,
    openapi_extra=READ,
    summary="A bulk run: status, progress and per-item results",
)
def get_bulk_run(
    run_id: int,
    conn: Conn,
    item_status: Annotated[str | None, Query(alias="status")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=10_000)] = 1000,
) -> dict[str, Any]:
    with refusals():
        return bulk.run_report(run_id, conn=conn, item_status=item_status, offset=offset, limit=limit)


@router.post(
    "/bulk-runs/{run_id}/{command}",
    response_model=BulkRun,
    openapi_extra=ACT,
    summary="Pause, resume or abort a bulk run",
)
def control_bulk_run(
    run_id: int, command: str, ctx: Ctx, request: Request, who: Who, body: ActionIn | None = None
) -> dict[str, Any]:
    """Pause and abort take effect after the item in progress; the answer is the run's state then."""
    runner = ctx.actions.bulk
    with refusals():
        if command == "pause":
            runner.pause(run_id, ctx=ctx)
        elif command == "resume":
            runner.resume(run_id, ctx=ctx, base_url=_base_url(ctx, request))
        elif command == "abort":
            runner.abort(run_id, ctx=ctx, actor=who.name)
        else:
            raise HTTPException(404, f"unknown command {command!r}; use pause, resume or abort")
        with ctx.engine.connect() as conn:
            return bulk.run_report(run_id, conn=conn, limit=0)
