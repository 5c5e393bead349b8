"""Operator actions on incidents: acknowledge (optionally taking ownership), assign an owner, resolve.

One function per action, called by the API and the incidents page alike. Each checks the incident's
status, updates it and writes its timeline (audit) row in one writer transaction. Resolving an
incident resolves its still-active exceptions through the lifecycle service's set-based ``apply``
in that same transaction, so one resolve is all or nothing and every exception gets its own audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.services import lifecycle
from app.services.errors import Conflict, InvalidRequest, NotFound
from models.enums import Action, IncidentAction, IncidentStatus
from models.queries.incidents import (
    append_incident_action,
    attached_exception_ids,
    get_incident,
    incident_state,
    update_incident,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from app.context import AppContext

_MAX_TEXT = 2_000


@dataclass(frozen=True)
class IncidentResult:
    """One audited incident action: the state before and after, and exceptions it resolved."""

    incident_id: int
    action: IncidentAction
    before: dict[str, Any]
    after: dict[str, Any]
    resolved_exceptions: int = 0


def _text(value: str | None, name: str, *, required: bool) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise InvalidRequest(f"{name} is required")
    if len(text) > _MAX_TEXT:
        raise InvalidRequest(f"{name} is longer than {_MAX_TEXT} characters")
    return text or None


def _state(conn: Connection, incident_id: int) -> dict[str, Any]:
    row = incident_state(conn, incident_id)
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return row


def _snapshot(row: dict[str, Any]) -> dict[str, Any]:
    return {"status": row["status"], "owner": row["owner"]}


def refusal(action: IncidentAction, status: str) -> str | None:
    """Why ``action`` is refused on an incident in ``status``, or None (the page hides buttons by it)."""
    if status == IncidentStatus.RESOLVED:
        return f"cannot {action} a resolved incident"
    if action is IncidentAction.ACK and status == IncidentStatus.ACKNOWLEDGED:
        return "cannot ack an acknowledged incident; it is already acknowledged"
    return None


def _change(
    ctx: AppContext,
    incident_id: int,
    action: IncidentAction,
    actor: str,
    values_of: Callable[[dict[str, Any], str], dict[str, Any]],
    detail: str | None,
) -> IncidentResult:
    who = _text(actor, "actor", required=True) or ""
    with ctx.writer.transaction() as conn:
        row = _state(conn, incident_id)
        reason = refusal(action, row["status"])
        if reason:
            raise Conflict(reason)
        now = ctx.now()
        values = values_of(row, who)
        after = {**row, **values}
        update_incident(conn, incident_id, {**values, "updated_at": now})
        append_incident_action(conn, incident_id, action, actor=who, now=now, before=_snapshot(row),
                               after=_snapshot(after), detail=detail)  # fmt: skip
        return IncidentResult(incident_id, action, _snapshot(row), _snapshot(after))


def acknowledge(ctx: AppContext, incident_id: int, *, actor: str) -> IncidentResult:
    """Someone is on it: open → acknowledged; the actor becomes the owner when there is none."""
    return _change(
        ctx, incident_id, IncidentAction.ACK, actor,
        lambda row, who: {"status": str(IncidentStatus.ACKNOWLEDGED), "owner": row["owner"] or who}, None,
    )  # fmt: skip


def assign(ctx: AppContext, incident_id: int, *, actor: str, owner: str) -> IncidentResult:
    """Give the incident to ``owner`` (status unchanged)."""
    name = _text(owner, "owner", required=True)
    return _change(ctx, incident_id, IncidentAction.ASSIGN, actor, lambda _row, _who: {"owner": name}, f"owner: {name}")


def resolve(ctx: AppContext, incident_id: int, *, actor: str, resolution: str | None = None) -> IncidentResult:
    """Resolve the incident and, with it, each of its exceptions still open or acknowledged."""
    who = _text(actor, "actor", required=True) or ""
    text = _text(resolution, "resolution", required=False)
    with ctx.writer.transaction() as conn:
        row = _state(conn, incident_id)
        reason = refusal(IncidentAction.RESOLVE, row["status"])
        if reason:
            raise Conflict(reason)
        now = ctx.now()
        why = f"incident #{incident_id} resolved: {text or row['title']}"
        ids = attached_exception_ids(conn, incident_id, active_only=True)
        done, _skipped = lifecycle.apply(
            Action.RESOLVE, ids, conn=conn, actor=who, now=now,
            changes={"resolved_at": now, "resolution": why, "snoozed_until": None},
            detail={"resolution": why, "incident_id": incident_id},
        )  # fmt: skip
        values = {"status": str(IncidentStatus.RESOLVED), "resolved_at": now, "resolution": text or "resolved"}
        update_incident(conn, incident_id, {**values, "updated_at": now})
        after = {**row, **values}
        append_incident_action(
            conn, incident_id, IncidentAction.RESOLVE, actor=who, now=now, before=_snapshot(row),
            after=_snapshot(after), detail=f"{len(done)} exception{'s' * (len(done) != 1)} resolved"
            + (f": {text}" if text else ""),
        )  # fmt: skip
        return IncidentResult(incident_id, IncidentAction.RESOLVE, _snapshot(row), _snapshot(after), len(done))


def incident_detail(ctx: AppContext, incident_id: int) -> dict[str, Any]:
    """The incident as the API and page show it after an action (404 when gone)."""
    with ctx.engine.connect() as conn:
        detail = get_incident(conn, incident_id)
    if detail is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return detail
