"""Replay, made safe: re-deliver every failed message of an exception to its flow's target.

An exception groups one or more failed messages (``exception_messages``, often one per
order). Replaying it re-sends each message not yet delivered, each under its own
``Idempotency-Key`` (the message's original event id), paced at the flow's rate. A replay is
three steps: *claim* (one short transaction: the lifecycle allows it, no other replay of the
exception is in flight or awaiting approval, one running ``replays`` row per message),
*deliver* (no transaction: a network call must never hold the single writer), *record* (one
short transaction per message: its replay row, its state, the audit row and the exception's
settlement). So these functions take the process :class:`AppContext` rather than a connection.
The steps live in ``plan.py`` (what may be replayed, where, the claim), ``deliver.py`` (sending at
the flow's pace) and ``record.py`` (recording and settling); this module holds the actions.

- Each result becomes a new business event ``<event_id>:replay:<n>`` (attempt + n, the
  message's own correlation id) through the durable ingest buffer, so each order's timeline
  shows the replay of its own message.
- The exception resolves (audited as ``resolve`` by ``replay``) only once every message is
  delivered; otherwise it stays open and says "29 of 32 delivered, 3 failed: <error>", and the
  next replay sends only what is left.
- Fix and replay edits one chosen message (a reason code is required; the stored original is
  never changed, the diff is audited); the others keep their payload. Four-eyes flows
  (financial documents by default) park the request until a different operator approves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from app.services import lifecycle
from app.services.errors import Conflict, Forbidden, InvalidRequest, NotFound
from app.services.replay.deliver import deliver, rate_of, send
from app.services.replay.plan import (
    FINANCIAL_EVENT_TYPES,
    Claim,
    InFlight,
    Route,
    check,
    chosen,
    claim_all,
    edit_of,
    lease,
    load,
    needs_four_eyes,
    refusal,
    refusal_of,
    release_abandoned,
    replay_base_url,
    replayable,
    route_for,
)
from app.services.replay.record import MessageOutcome, audit_row, progress, record, replay_event, settle
from models.enums import Action, FixReason, ReplayStatus
from models.queries.exceptions import append_actions, get_state
from models.queries.messages import message_counts
from models.queries.replays import active_replays, replays_started, update_replay

if TYPE_CHECKING:
    from app.context import AppContext


@dataclass(frozen=True)
class ReplayOutcome:
    """What a replay request did: parked for approval, or sent each undelivered message.

    ``status`` is delivered when every message it sent was delivered, failed when any failed;
    ``delivered``/``failed``/``total`` count the exception's messages after it (all of them, not
    only the ones sent now), and ``summary`` says it in one line.
    """

    exception_id: int
    status: ReplayStatus
    messages: list[MessageOutcome] = field(default_factory=list)
    total: int = 0
    delivered: int = 0
    failed: int = 0
    resolved: bool = False
    summary: str = ""

    @property
    def sent(self) -> int:
        """Messages sent by this request."""
        return sum(m.status in (ReplayStatus.DELIVERED, ReplayStatus.FAILED) for m in self.messages)


def _actor(actor: str) -> str:
    if not actor or not actor.strip():
        raise InvalidRequest("actor is required: who does this")
    return actor.strip()


def _result(ctx: AppContext, exception_id: int, outcomes: list[MessageOutcome], resolved: bool) -> ReplayOutcome:
    """The request's outcome with the exception's message counts after it."""
    with ctx.engine.connect() as conn:
        counts = message_counts(conn, [exception_id]).get(exception_id, {"total": 0, "delivered": 0, "failed": 0})
    failed = next((o for o in reversed(outcomes) if o.status is ReplayStatus.FAILED), None)
    status = ReplayStatus.FAILED if failed is not None else ReplayStatus.DELIVERED
    error = f"{failed.error_code}: {failed.error}" if failed is not None else None
    return ReplayOutcome(
        exception_id, status, outcomes, counts["total"], counts["delivered"], counts["failed"], resolved,
        progress(counts, error),
    )  # fmt: skip


def replay(
    exception_id: int,
    *,
    ctx: AppContext,
    actor: str,
    payload: Any = None,
    reason: str | None = None,
    event_id: str | None = None,
    base_url: str | None = None,
) -> ReplayOutcome:
    """Replay every undelivered failed message of the exception now (paced), or park the request
    when its flow needs four eyes.

    ``payload`` (a JSON value) replaces the stored payload of one message — ``event_id``, which may
    be left out when only one is undelivered — and needs ``reason`` (a :class:`FixReason`).
    Raises NotFound, IllegalTransition/Conflict (closed, nothing to replay, in flight, awaiting
    approval) or InvalidRequest (bad edit, unknown message).
    """
    actor = _actor(actor)
    with ctx.actions.in_flight.hold(exception_id):
        now = ctx.now()
        with ctx.writer.transaction() as conn:
            state, messages, active = load(conn, exception_id, now=now, settings=ctx.settings)
            check(state, messages, active)
            sendable = [m for m in messages if m["payload"] is not None]
            target = chosen(sendable, event_id, editing=payload is not None)
            edits = {}
            if target is not None:
                body, diff = edit_of(target, payload, reason)
                edits[target["event_id"]] = (body, diff, reason if diff else None)
            if needs_four_eyes(sendable[0]):
                claim_all(conn, sendable, now=now, actor=actor, edits=edits, status=ReplayStatus.PENDING_APPROVAL)
                detail = {"messages": len(sendable), "edited": next(iter(edits), None),
                          "reason": reason, "diff": next(iter(edits.values()))[1] if edits else None,
                          "four_eyes": True}  # fmt: skip
                append_actions(conn, [audit_row(exception_id, "replay_request", actor, now, state, state,
                                             str(ReplayStatus.PENDING_APPROVAL), detail)])  # fmt: skip
                return ReplayOutcome(
                    exception_id,
                    ReplayStatus.PENDING_APPROVAL,
                    total=len(messages),
                    summary=f"{len(sendable)} messages await a second operator's approval",
                )
            claims = claim_all(conn, sendable, now=now, actor=actor, edits=edits)
        outcomes, resolved = send(ctx, sendable, claims, actor=actor, base_url=base_url)
        return _result(ctx, exception_id, outcomes, resolved)


def _parked(active: list[dict[str, Any]], exception_id: int) -> list[dict[str, Any]]:
    """The parked (four-eyes) rows of the exception, or Conflict when none is parked."""
    parked = [r for r in active if r["status"] == ReplayStatus.PENDING_APPROVAL]
    if not parked:
        raise Conflict(f"no replay of exception {exception_id} awaits approval")
    return parked


def approve_replay(exception_id: int, *, ctx: AppContext, approver: str, base_url: str | None = None) -> ReplayOutcome:
    """A second operator approves a parked (four-eyes) replay, which then runs at once.

    The operator who requested it cannot approve it (Forbidden: four eyes are two people).
    """
    approver = _actor(approver)
    with ctx.actions.in_flight.hold(exception_id):
        now = ctx.now()
        with ctx.writer.transaction() as conn:
            state, messages, active = load(conn, exception_id, now=now, settings=ctx.settings)
            lifecycle.next_status(Action.REPLAY, str(state["status"]))
            parked = _parked(active, exception_id)
            requester = parked[0]["requested_by"]
            if requester == approver:
                raise Forbidden(
                    f"four-eyes: {approver} requested this replay and cannot also approve it; "
                    "another operator must approve"
                )
            by_id = {m["event_id"]: m for m in messages}
            rows = [r for r in parked if r["event_id"] in by_id]
            started = replays_started(conn, [r["event_id"] for r in rows])
            for r in parked:
                if r["event_id"] not in by_id:  # delivered meanwhile (e.g. by its source)
                    update_replay(conn, r["replay_id"], status=ReplayStatus.ABANDONED, finished_at=now,
                                  error="the message was delivered before the approval")  # fmt: skip
            sendable, claims = [], []
            for r in rows:
                m = by_id[r["event_id"]]
                n = started.get(r["event_id"], 0) + 1
                replay_event_id = f"{r['event_id']}:replay:{n}"
                update_replay(conn, r["replay_id"], status=ReplayStatus.RUNNING, approved_by=approver,
                              approved_at=now, started_at=now, replay_event_id=replay_event_id)  # fmt: skip
                body = r["payload"] if r["payload"] is not None else m["payload"]
                claims.append(Claim(r["replay_id"], replay_event_id, int(m["attempt"] or 1) + n, body,
                                    r["diff"] is not None, r["reason"], r["diff"], requester, approver))  # fmt: skip
                sendable.append(m)
            detail = {"replay_ids": [r["replay_id"] for r in parked], "requested_by": requester}
            append_actions(conn, [audit_row(exception_id, "replay_approve", approver, now, state, state, "approved",
                                         detail)])  # fmt: skip
        outcomes, resolved = send(ctx, sendable, claims, actor=approver, base_url=base_url)
        return _result(ctx, exception_id, outcomes, resolved)


def reject_replay(
    exception_id: int, *, conn: Connection, actor: str, now: datetime, reason: str | None = None
) -> ReplayOutcome:
    """Turn down (or withdraw) a parked replay; audited, nothing is sent."""
    actor = _actor(actor)
    state = get_state(conn, exception_id)
    if state is None:
        raise NotFound(f"exception {exception_id} does not exist")
    parked = _parked(active_replays(conn, [exception_id])[exception_id], exception_id)
    for r in parked:
        update_replay(conn, r["replay_id"], status=ReplayStatus.REJECTED, approved_by=actor, approved_at=now,
                      finished_at=now, error=reason or f"rejected by {actor}")  # fmt: skip
    detail = {"replay_ids": [r["replay_id"] for r in parked], "requested_by": parked[0]["requested_by"],
              "reason": reason}  # fmt: skip
    append_actions(
        conn, [audit_row(exception_id, "replay_reject", actor, now, state, state, str(ReplayStatus.REJECTED), detail)]
    )
    return ReplayOutcome(exception_id, ReplayStatus.REJECTED, summary=f"replay rejected by {actor}")


__all__ = [
    "FINANCIAL_EVENT_TYPES", "Claim", "FixReason", "InFlight", "MessageOutcome", "ReplayOutcome", "ReplayStatus",
    "Route", "approve_replay", "check", "chosen", "claim_all", "deliver", "edit_of", "lease", "load",
    "needs_four_eyes", "progress", "rate_of", "record", "refusal", "refusal_of", "reject_replay",
    "release_abandoned", "replay", "replay_base_url", "replay_event", "replayable", "route_for", "send", "settle",
]  # fmt: skip
