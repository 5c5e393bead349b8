"""Alerts API: rules with their state, alerts, groups, silences, the notification log, channels, test
notifications, Slack account links, and Slack's interactivity endpoint.

Routes validate, call ``app/services/alerts`` and answer; service errors become 404/409/422.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from alerts import slack_signature
from app.api.schemas import (
    AlertChange,
    AlertsOverview,
    EvaluationRun,
    Notification,
    RuleRow,
    Silence,
    SlackAnswer,
    SlackLink,
    TestResults,
)
from app.auth import ACT, ADMIN, READ, SIGNED
from app.context import AppContext
from app.deps import Conn, Ctx, Who, refusals
from app.services import alerts as service
from app.services.errors import Conflict, ServiceError
from collectors.tls import tls_context
from models.queries import alerts as store

log = logging.getLogger(__name__)
router = APIRouter(prefix="/alerts", tags=["alerts"])


def _runtime(ctx: AppContext) -> Any:
    if ctx.alerts is None:
        raise HTTPException(503, "alerting is not running in this process")
    return ctx.alerts


@router.get(
    "",
    response_model=AlertsOverview,
    openapi_extra=READ,
    summary="Rules with their state, firing/pending/resolved alerts, silences, channels, notifications",
)
def get_alerts(ctx: Ctx, conn: Conn, notifications: Annotated[int, Query(ge=0, le=1000)] = 100) -> dict[str, Any]:
    with refusals():
        return jsonable_encoder(service.overview(ctx, conn, notifications=notifications))


@router.post(
    "/evaluate", response_model=EvaluationRun, openapi_extra=ACT, summary="Evaluate every rule now and send what is due"
)
async def evaluate_now(ctx: Ctx) -> dict[str, Any]:
    runtime = _runtime(ctx)
    report, outcomes = await run_in_threadpool(runtime.run, ctx.now())
    return jsonable_encoder({"evaluation": report, "notifications": outcomes})


# -- rules ---------------------------------------------------------------------------------------
class RuleIn(BaseModel):
    """A rule definition (see alerts/default_rules.toml; PATCH: only the fields to change); who saves it is
    the authenticated principal."""

    model_config = ConfigDict(extra="forbid")

    rule: dict[str, Any]


class ActionIn(BaseModel):
    """An action's body: the actor is the authenticated principal, so ``actor`` is refused (422)."""

    model_config = ConfigDict(extra="forbid")


@router.get(
    "/rules",
    response_model=list[RuleRow],
    response_model_exclude_unset=True,
    openapi_extra=READ,
    summary="Every rule with its definition and source (file, edited or api)",
)
def get_rules(conn: Conn) -> list[dict[str, Any]]:
    return jsonable_encoder([{**r, "defined_in": service.rule_source(r)} for r in store.list_rules(conn)])


@router.post(
    "/rules",
    response_model=RuleRow,
    response_model_exclude_unset=True,
    openapi_extra=ADMIN,
    status_code=201,
    summary="Create a rule",
)
def create_rule(body: RuleIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals():
        return jsonable_encoder(service.save_rule(ctx, service.rule_from(body.rule), actor=who.name))


@router.put(
    "/rules/{rule_id}",
    response_model=RuleRow,
    response_model_exclude_unset=True,
    openapi_extra=ADMIN,
    summary="Replace a rule's definition (kept over the file's from then on)",
)
def edit_rule(rule_id: str, body: RuleIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals():
        rule = service.rule_from({"id": rule_id, **body.rule})
        return jsonable_encoder(service.save_rule(ctx, rule, actor=who.name, rule_id=rule_id))


@router.patch(
    "/rules/{rule_id}",
    response_model=RuleRow,
    response_model_exclude_unset=True,
    openapi_extra=ADMIN,
    summary="Change some fields of a rule (e.g. threshold, for, enabled)",
)
def patch_rule(rule_id: str, body: RuleIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals():
        return jsonable_encoder(service.patch_rule(ctx, rule_id, body.rule, actor=who.name))


@router.delete(
    "/rules/{rule_id}",
    response_model=RuleRow,
    response_model_exclude_unset=True,
    openapi_extra=ADMIN,
    summary="Delete an API rule, or take an edited file rule back to the file's",
)
def delete_rule(rule_id: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals():
        return jsonable_encoder(service.delete_rule(ctx, rule_id, actor=who.name))


@router.post(
    "/rules/{rule_id}/{command}",
    response_model=RuleRow,
    response_model_exclude_unset=True,
    openapi_extra=ADMIN,
    summary="Disable or enable a rule",
)
def toggle_rule(rule_id: str, command: str, ctx: Ctx, who: Who, body: ActionIn | None = None) -> dict[str, Any]:
    if command not in ("disable", "enable"):
        raise HTTPException(404, f"unknown command {command!r}; use disable or enable")
    with refusals():
        return jsonable_encoder(service.set_rule_enabled(ctx, rule_id, command == "enable", actor=who.name))


# -- silences --------------------------------------------------------------------------------------
class SilenceIn(BaseModel):
    """Label matchers (``flow="x"``, ``kind=~"a|b"`` or {name, op, value}); comment and end required.
    The author is the authenticated principal."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[Any] = Field(default_factory=list)
    comment: str | None = None
    ends_at: datetime | None = Field(None, description="ISO 8601; naive means UTC")
    starts_at: datetime | None = None


@router.get("/silences", response_model=list[Silence], openapi_extra=READ, summary="Silences, active and ended")
def get_silences(ctx: Ctx, conn: Conn, active: bool = False) -> list[dict[str, Any]]:
    return jsonable_encoder(store.list_silences(conn, now=ctx.now(), active_only=active))


@router.post(
    "/silences",
    response_model=Silence,
    openapi_extra=ADMIN,
    status_code=201,
    summary="Silence the alerts the matchers select until ends_at",
)
def create_silence(body: SilenceIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals():
        silence = service.create_silence(
            ctx,
            matchers=body.matchers,
            ends_at=body.ends_at,
            author=who.name,
            comment=body.comment or "",
            starts_at=body.starts_at,
        )
    return jsonable_encoder(silence)


@router.delete("/silences/{silence_id}", response_model=Silence, openapi_extra=ADMIN, summary="End a silence now")
def expire_silence(silence_id: int, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals():
        return jsonable_encoder(service.expire_silence(ctx, silence_id, actor=who.name))


@router.get(
    "/changes",
    response_model=list[AlertChange],
    openapi_extra=READ,
    summary="The audit trail of admin changes to rules, silences and Slack links",
)
def get_changes(
    conn: Conn, target: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    return jsonable_encoder(store.list_changes(conn, target=target, limit=limit))


# -- notifications, channels, test -----------------------------------------------------------
@router.get(
    "/notifications",
    response_model=list[Notification],
    openapi_extra=READ,
    summary="The notification log: channel, time, payload, delivery result",
)
def get_notifications(
    conn: Conn, channel: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    return jsonable_encoder(store.list_notifications(conn, channel=channel, limit=limit))


@router.post(
    "/test",
    response_model=TestResults,
    openapi_extra=ADMIN,
    summary="Send a test notification to every channel (or ?channel=) and return each result",
)
async def send_test(ctx: Ctx, channel: Annotated[list[str], Query()] = []) -> dict[str, Any]:  # noqa: B006
    runtime = _runtime(ctx)
    unknown = sorted(set(channel) - set(runtime.channels))
    if unknown:
        raise HTTPException(404, f"no channel named {', '.join(unknown)}; configured: {', '.join(runtime.channels)}")
    if not runtime.channels:
        raise HTTPException(
            409, "no channel is configured (FLOWWATCH_SLACK_*, FLOWWATCH_SMTP_* or [[alerts.channels]])"
        )
    results = await run_in_threadpool(runtime.send_test, ctx.now(), channel or None)
    return {"results": results, "ok": all(r["ok"] for r in results)}


# -- Slack accounts ------------------------------------------------------------------------------
class SlackUserIn(ActionIn):
    user_name: str = Field(min_length=1, max_length=200)


@router.get("/slack-users", response_model=dict[str, str], openapi_extra=READ, summary="Slack user id → Flowwatch user")
def get_slack_users(ctx: Ctx) -> dict[str, str]:
    return service.slack_users(ctx)


@router.put(
    "/slack-users/{slack_user_id}",
    response_model=SlackLink,
    openapi_extra=ADMIN,
    summary="Link a Slack user to a Flowwatch user",
)
def put_slack_user(slack_user_id: str, body: SlackUserIn, ctx: Ctx, who: Who) -> dict[str, str]:
    with refusals():
        service.link_slack_user(ctx, slack_user_id, body.user_name, actor=who.name)
    return {"slack_user_id": slack_user_id, "user_name": body.user_name.strip()}


@router.delete("/slack-users/{slack_user_id}", openapi_extra=ADMIN, status_code=204, summary="Unlink a Slack user")
def delete_slack_user(slack_user_id: str, ctx: Ctx, who: Who) -> None:
    with refusals():
        service.unlink_slack_user(ctx, slack_user_id, actor=who.name)


# -- Slack interactivity -------------------------------------------------------------------------
@router.post(
    "/slack/interactivity",
    response_model=SlackAnswer,
    openapi_extra=SIGNED,
    summary="Slack's interactivity requests (buttons of an alert message)",
)
async def slack_interactivity(request: Request, ctx: Ctx, background: BackgroundTasks) -> JSONResponse:
    """Verified (v0 signature, 5-minute window) and answered at once: the action runs after the answer
    and its result comes back to the person through Slack's ``response_url``."""
    secret = ctx.settings.slack_signing_secret
    if not secret:
        raise HTTPException(503, "Slack interactivity is not configured: set FLOWWATCH_SLACK_SIGNING_SECRET")
    body = await request.body()
    reason = slack_signature.refusal(
        secret,
        request.headers.get("X-Slack-Request-Timestamp"),
        body,
        request.headers.get("X-Slack-Signature"),
        now=time.time(),
    )
    if reason is not None:
        raise HTTPException(401, reason)
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
        action = payload["actions"][0]
        action_id, slack_user = str(action["action_id"]), str(payload["user"]["id"])
    except (KeyError, IndexError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(
            400, "expected a form field 'payload' with a block_actions JSON (actions[0], user.id)"
        ) from exc
    response_url = payload.get("response_url")
    if action_id == "fw_open":  # a link button: Slack opened the URL already
        return JSONResponse({})
    if action_id not in service.SLACK_ACTIONS:
        raise HTTPException(400, f"unknown action_id {action_id!r}")
    user = service.slack_users(ctx).get(slack_user)
    if user is None:
        answer = {"response_type": "ephemeral", "replace_original": False,
                  "text": service.LINK_HELP.format(slack_user=slack_user)}  # fmt: skip
        if response_url:
            background.add_task(_respond, response_url, answer)
        return JSONResponse(answer)
    background.add_task(_act, ctx, action_id, str(action.get("value") or ""), user, response_url)
    return JSONResponse({})


def _act(ctx: AppContext, action_id: str, value: str, user: str, response_url: str | None) -> None:
    """Run a Slack button's action after the 200, then tell the person what it did."""
    try:
        result = service.act_from_slack(ctx, action_id, value, actor=user)
        text = result.text
    except (ServiceError, Conflict) as exc:
        text = f"Flowwatch could not do that: {exc}"
    except Exception:
        log.exception("Slack action %s on %s failed", action_id, value)
        text = "Flowwatch could not do that: an internal error was logged"
    if response_url:
        _respond(response_url, {"response_type": "ephemeral", "replace_original": False, "text": text})


def _respond(url: str, body: dict[str, Any]) -> None:
    try:
        httpx.post(url, json=body, timeout=10, verify=tls_context())
    except httpx.HTTPError:
        log.warning("Slack response_url %s did not answer", url)
