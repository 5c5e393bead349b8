"""Replay, step three: record one message's result (event, replay row, state, audit) and settle the exception."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from app.services import lifecycle
from app.services.delivery import Delivery
from app.services.replay.plan import Claim
from collectors.events import validate_events
from models.enums import REPLAY_ACTOR, Action, MessageState, ReplayStatus
from models.queries.exceptions import append_actions, get_state, update_exceptions
from models.queries.messages import latest_failure, message_counts, set_message
from models.queries.replays import replays_outstanding, update_replay

if TYPE_CHECKING:
    from app.context import AppContext


@dataclass(frozen=True)
class MessageOutcome:
    """What one message's replay did."""

    event_id: str
    correlation_id: str | None
    replay_id: int
    status: ReplayStatus
    replay_event_id: str | None = None
    target: str | None = None
    error_code: str | None = None
    error: str | None = None
    http_status: int | None = None


def record(
    ctx: AppContext,
    message: dict[str, Any],
    claim: Claim,
    delivery: Delivery,
    *,
    actor: str,
    also: Callable[[Connection, MessageOutcome], None] | None = None,
) -> tuple[MessageOutcome, bool]:
    """Record one message's result: its business event, replay row, message state and audit row,
    then settle the exception (resolved once nothing is left). Returns the outcome and whether
    this resolved the exception.

    ``also`` runs inside the same transaction (a bulk run records its item there, so an item is
    never left with a result but no audit row, or the reverse).
    """
    now = ctx.now()
    exception_id, event_id = message["exception_id"], message["event_id"]
    status = ReplayStatus.DELIVERED if delivery.ok else ReplayStatus.FAILED
    error = None if delivery.ok else f"{delivery.error_code}: {delivery.error}"
    ctx.buffer.submit("business_events", replay_event(message, claim, delivery, now))
    detail = {
        "replay_id": claim.replay_id,
        "event_id": event_id,
        "correlation_id": message["correlation_id"],
        "replay_event_id": claim.replay_event_id,
        **delivery.detail(),
        "edited": claim.edited,
        "reason": claim.reason,
        "diff": claim.diff,
        "requested_by": claim.requested_by,
        "approved_by": claim.approved_by,
    }
    outcome = MessageOutcome(
        event_id, message["correlation_id"], claim.replay_id, status, claim.replay_event_id, delivery.target,
        delivery.error_code, delivery.error, delivery.http_status,
    )  # fmt: skip
    with ctx.writer.transaction() as conn:
        update_replay(conn, claim.replay_id, status=status, finished_at=now, error=error)
        replays = int(message["message_replays"] or 0) + 1
        if delivery.ok:
            set_message(conn, exception_id, event_id, state=MessageState.DELIVERED, delivered_at=now,
                        delivered_by=claim.replay_event_id, replays=replays)  # fmt: skip
        else:
            set_message(conn, exception_id, event_id, state=MessageState.FAILED, last_error=error, replays=replays)
        state = get_state(conn, exception_id) or {}
        append_actions(conn, [audit_row(exception_id, Action.REPLAY, actor, now, state, state, str(status), detail)])
        if also is not None:  # first: a bulk item still pending would keep its exception from settling
            also(conn, outcome)
        resolved = settle(conn, exception_id, now=now, error=error)
    return outcome, resolved


def settle(conn: Connection, exception_id: int, *, now: datetime, error: str | None = None) -> bool:
    """After a message's replay: resolve the exception when every message is delivered and no replay
    has more of them to send (unless someone closed it meanwhile), else, when any replay failed, say
    how many are left and why. Returns True when it resolved the exception.

    Waiting for the other sends matters when an operator reopened an exception whose messages were
    all delivered (the target lost them): they all count as delivered from the first resend on, and
    resolving then would turn the rest of the replay away."""
    counts = message_counts(conn, [exception_id]).get(exception_id)
    state = get_state(conn, exception_id) or {}
    if counts is None:
        return False
    if counts["delivered"] == counts["total"]:
        if lifecycle.refusal(Action.RESOLVE, str(state.get("status"))) is not None:
            return False
        if replays_outstanding(conn, exception_id):
            return False
        noun = "message" if counts["total"] == 1 else f"all {counts['total']} messages"
        changes = {"status": str(lifecycle.S.RESOLVED), "resolved_at": now,
                   "resolution": f"replayed: {noun} delivered", "snoozed_until": None}  # fmt: skip
        update_exceptions(conn, [exception_id], {**changes, "updated_at": now})
        after = {**state, **changes}
        append_actions(
            conn,
            [audit_row(exception_id, Action.RESOLVE, REPLAY_ACTOR, now, state, after, "done", {"messages": counts})],
        )
        return True
    if counts["failed"]:
        summary = progress(counts, error or latest_failure(conn, exception_id))
        update_exceptions(conn, [exception_id], {"last_error": summary, "updated_at": now})
    return False


def progress(counts: dict[str, int], error: str | None = None) -> str:
    """ "29 of 32 delivered, 3 failed: <error>" — how far the exception's replays got."""
    text = f"{counts['delivered']} of {counts['total']} delivered"
    if counts.get("failed"):
        text += f", {counts['failed']} failed"
    if counts.get("pending"):
        text += f", {counts['pending']} not sent yet"
    if error and counts.get("failed"):
        text += f": {error}"
    return text


def audit_row(
    exception_id: int,
    action: str,
    actor: str,
    now: datetime,
    before: dict[str, Any],
    after: dict[str, Any],
    outcome: str,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    """One exception_actions row with the audited state before and after."""
    return {
        "exception_id": exception_id,
        "action": str(action),
        "actor": actor,
        "acted_at": now,
        "before_state": lifecycle.snapshot(before),
        "after_state": lifecycle.snapshot(after),
        "outcome": outcome,
        "detail": detail,
    }


def replay_event(message: dict[str, Any], claim: Claim, delivery: Delivery, now: datetime) -> Any:
    """The replay as a canonical business event (an Arrow batch for the ingest buffer)."""
    record = {
        "event_id": claim.replay_event_id,
        "correlation_id": message["correlation_id"],
        "event_type": message["event_type"],
        "source": message["source"],
        "target": message["target"],
        "flow_id": message["flow_id"],
        "channel": message["channel"],
        "occurred_at": message["occurred_at"],
        "received_at": now,
        "attempt": claim.attempt,
        **_outcome_fields(message, delivery),
        "payload": _json_or_text(claim.body),
    }
    parsed = validate_events([record], received_at=now)
    if parsed.rejected:  # the stored original passed the same validation, so this is a bug
        raise ValueError(f"replay event {claim.replay_event_id} is invalid: {parsed.rejected[0]['error']}")
    return parsed.table


def _outcome_fields(message: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
    """A failed replay leaves the message where it was (still dead-lettered or failed, same error
    class), so detection keeps counting it on the exception the operator is working; what the
    replay itself hit goes into the message."""
    if delivery.ok:
        return {"status": "ok", "error_code": None, "error_message": None}
    return {
        "status": message["message_status"],
        "error_code": message["message_error_code"],
        "error_message": f"replay failed with {delivery.error_code}: {delivery.error}",
    }


def _json_or_text(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body
