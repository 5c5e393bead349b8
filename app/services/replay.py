"""Replay, made safe: re-deliver an exception's failed message to its flow's target.

A replay is three steps: *claim* (one short transaction: the lifecycle allows it, no other
replay of it is in flight or awaiting approval, a ``replays`` row marks it running),
*deliver* (no transaction: a network call must never hold the single writer), *finish*
(one short transaction: the replay row, the exception and the audit trail). So these
functions take the process :class:`AppContext` rather than a connection.

- The ``Idempotency-Key`` is always the original event id, so two replays of one message
  never deliver twice downstream; a second replay while one is in flight is refused
  (an in-process set, then the ``replays`` table for other processes).
- The result becomes a new business event ``<event_id>:replay:<n>`` (attempt + n, same
  correlation id) through the durable ingest buffer, so the timeline shows it.
- Delivered → the exception resolves (audited as ``replay`` then ``resolve`` by ``replay``);
  failed → it stays open with the new error in ``last_error``.
- Fix and replay: an edited JSON payload needs a reason code; the stored original is never
  changed, the unified diff is audited. Four-eyes flows (financial documents by default)
  park the request until a different operator approves it.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.engine import Connection

from app.services import lifecycle
from app.services.delivery import Delivery, content_type_of, post_http, republish_from_dlq
from app.services.errors import Conflict, InvalidRequest, NotFound
from app.services.lifecycle import Action
from collectors.events import validate_events
from models.queries.exceptions import append_actions, get_state, update_exceptions
from models.queries.replays import insert_replay, replay_ledger, replay_subjects, update_replay

if TYPE_CHECKING:
    from app.context import AppContext
    from app.settings import Settings

#: Event types whose replays need a second operator unless the flow says otherwise.
FINANCIAL_EVENT_TYPES = frozenset({"invoice.posted", "refund.issued"})


class ReplayStatus(StrEnum):
    """Status of one ``replays`` row."""

    PENDING_APPROVAL = "pending_approval"
    RUNNING = "running"
    DELIVERED = "delivered"
    FAILED = "failed"
    REJECTED = "rejected"
    ABANDONED = "abandoned"


class FixReason(StrEnum):
    """Why an operator edited a payload before replaying it (required with every edit)."""

    UNMAPPED_SKU = "unmapped_sku"
    INVALID_ADDRESS = "invalid_address"
    DATA_CORRECTION = "data_correction"
    PARTNER_REQUEST = "partner_request"
    OTHER = "other"


@dataclass(frozen=True)
class ReplayOutcome:
    """What a replay request did: parked for approval, delivered (and resolved) or failed."""

    exception_id: int
    replay_id: int
    status: ReplayStatus
    replay_event_id: str | None = None
    target: str | None = None
    error_code: str | None = None
    error: str | None = None
    http_status: int | None = None
    resolved: bool = False


@dataclass(frozen=True)
class Route:
    """Where a replay goes: an HTTP URL, or a RabbitMQ dead-letter queue."""

    kind: str  # http | amqp
    address: str


@dataclass(frozen=True)
class Claim:
    """A replay that has started: its row, the new event's id and attempt, and the body it sends."""

    replay_id: int
    replay_event_id: str
    attempt: int
    body: str
    edited: bool
    reason: str | None
    diff: str | None
    requested_by: str
    approved_by: str | None = None


class InFlight:
    """Exceptions being replayed by this process; a second replay of one of them is refused."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, exception_id: int) -> Iterator[None]:
        """Mark ``exception_id`` in flight for the block; raises :class:`Conflict` when it already is."""
        with self._lock:
            if exception_id in self._ids:
                raise Conflict(f"a replay of exception {exception_id} is already in flight")
            self._ids.add(exception_id)
        try:
            yield
        finally:
            with self._lock:
                self._ids.discard(exception_id)


def default_base_url(settings: Settings) -> str:
    """The server's own base URL, against which relative (``/sim/...``) targets resolve."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def route_for(subject: dict[str, Any], settings: Settings, base_url: str | None = None) -> Route:
    """The flow's replay target. AMQP flows replay from ``<queue>.dlq`` when a broker is configured;
    without one (the demo) they replay to their HTTP target like the others."""
    kind, target = subject["replay_kind"], subject["replay_target"]
    if kind == "amqp" and settings.amqp_url and subject["queue"]:
        return Route("amqp", f"{subject['queue']}.dlq")
    if kind in ("http", "amqp") and target:
        if target.startswith(("http://", "https://")):
            return Route("http", target)
        return Route("http", (base_url or default_base_url(settings)).rstrip("/") + "/" + target.lstrip("/"))
    raise Conflict(f"flow {subject['flow_id'] or '(none)'} has no replay target; the message cannot be replayed")


def needs_four_eyes(subject: dict[str, Any]) -> bool:
    """True when a second operator must approve: the flow says so, or it carries financial documents."""
    if subject["replay_four_eyes"] is not None:
        return bool(subject["replay_four_eyes"])
    return subject["event_type"] in FINANCIAL_EVENT_TYPES or subject["end_event"] in FINANCIAL_EVENT_TYPES


def lease(settings: Settings) -> timedelta:
    """How long a running replay row blocks others before it counts as abandoned (its process died)."""
    return timedelta(seconds=settings.replay_timeout_seconds * 3 + 60)


def load_subject(conn: Connection, exception_id: int) -> dict[str, Any]:
    """The exception, its flow's replay settings and its failed message; refuses what cannot be replayed."""
    subject = replay_subjects(conn, [exception_id]).get(exception_id)
    if subject is None:
        raise NotFound(f"exception {exception_id} does not exist")
    lifecycle.next_status(Action.REPLAY, subject["status"])
    if not subject["event_id"]:
        raise Conflict(f"exception {exception_id} ({subject['kind']}) has no failed message to replay")
    if subject["payload"] is None:
        raise Conflict(f"the message {subject['event_id']} of exception {exception_id} has no stored payload")
    return subject


def edit_of(subject: dict[str, Any], edited: Any, reason: str | None) -> tuple[str, str | None]:
    """The body to send and the unified diff (None without an edit); an edit needs a reason code."""
    original = subject["payload"]
    if edited is None:
        return original, None
    if reason is None:
        raise InvalidRequest(f"an edited payload needs a reason code: one of {', '.join(FixReason)}")
    try:
        FixReason(reason)
    except ValueError as exc:
        raise InvalidRequest(f"unknown reason code {reason!r}; expected one of {', '.join(FixReason)}") from exc
    try:
        before = json.dumps(json.loads(original), indent=2, sort_keys=True) + "\n"
    except ValueError as exc:
        raise InvalidRequest("the stored payload is not JSON, so it cannot be edited; replay it unchanged") from exc
    after = json.dumps(edited, indent=2, sort_keys=True) + "\n"
    if before == after:
        raise InvalidRequest("the edited payload is the same as the original; replay without an edit")
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True), "original", "edited")
    diff = "".join(lines)
    return json.dumps(edited, separators=(",", ":")), diff


def check_ledger(conn: Connection, subject: dict[str, Any], *, now: datetime, settings: Settings) -> int:
    """Refuse while another replay of the exception runs or awaits approval (in any process);
    returns how many replays of its message have started. A running row older than the lease
    belongs to a process that died: it is marked abandoned and no longer blocks."""
    exception_id = subject["exception_id"]
    active, started = replay_ledger(conn, exception_id, subject["event_id"])
    if active is None:
        return started
    if active["status"] == ReplayStatus.PENDING_APPROVAL:
        raise Conflict(
            f"a replay of exception {exception_id} requested by {active['requested_by']} awaits "
            "approval by a second operator"
        )
    if active["started_at"] < now - lease(settings):
        update_replay(
            conn,
            active["replay_id"],
            status=ReplayStatus.ABANDONED,
            finished_at=now,
            error="the replaying process stopped before it finished",
        )
        return started
    raise Conflict(f"a replay of exception {exception_id} is already in flight")


def start(
    conn: Connection,
    subject: dict[str, Any],
    *,
    now: datetime,
    actor: str,
    body: str,
    diff: str | None,
    reason: str | None,
    started: int,
    bulk_run_id: int | None = None,
) -> Claim:
    """Insert the running ``replays`` row; the new event is the message's replay number ``started + 1``."""
    n = started + 1
    replay_event_id = f"{subject['event_id']}:replay:{n}"
    replay_id = insert_replay(
        conn,
        exception_id=subject["exception_id"],
        event_id=subject["event_id"],
        status=ReplayStatus.RUNNING,
        requested_by=actor,
        requested_at=now,
        payload=body if diff else None,
        reason=reason,
        diff=diff,
        bulk_run_id=bulk_run_id,
        replay_event_id=replay_event_id,
        started_at=now,
    )
    return Claim(replay_id, replay_event_id, int(subject["attempt"]) + n, body, diff is not None, reason, diff, actor)


def deliver(
    route: Route, subject: dict[str, Any], claim: Claim, *, settings: Settings, client: httpx.Client | None = None
) -> Delivery:
    """Send the claimed body to the route (HTTP with the original event id as Idempotency-Key, or AMQP)."""
    if route.kind == "amqp":
        assert settings.amqp_url is not None  # route_for only picks amqp with a broker
        return republish_from_dlq(
            settings.amqp_url,
            route.address,
            subject["event_id"],
            body=claim.body.encode() if claim.edited else None,
            timeout=settings.replay_timeout_seconds,
        )
    own = client is None
    client = client or httpx.Client(timeout=httpx.Timeout(settings.replay_timeout_seconds))
    try:
        return post_http(
            client,
            route.address,
            claim.body,
            idempotency_key=subject["event_id"],
            content_type=content_type_of(subject["payload"]),
        )
    finally:
        if own:
            client.close()


def finish(
    ctx: AppContext,
    subject: dict[str, Any],
    claim: Claim,
    delivery: Delivery,
    *,
    actor: str,
    also: Callable[[Connection, ReplayOutcome], None] | None = None,
) -> ReplayOutcome:
    """Record the result: new business event, replay row, audit rows, and resolve or keep open.

    ``also`` runs inside the same transaction (a bulk run records its item there, so an
    item is never left with a result but no audit row, or the reverse).
    """
    now = ctx.now()
    exception_id = subject["exception_id"]
    status = ReplayStatus.DELIVERED if delivery.ok else ReplayStatus.FAILED
    error = None if delivery.ok else f"{delivery.error_code}: {delivery.error}"
    ctx.buffer.submit("business_events", replay_event(subject, claim, delivery, now))
    detail = {
        "replay_id": claim.replay_id,
        "event_id": subject["event_id"],
        "replay_event_id": claim.replay_event_id,
        **delivery.detail(),
        "edited": claim.edited,
        "reason": claim.reason,
        "diff": claim.diff,
        "requested_by": claim.requested_by,
        "approved_by": claim.approved_by,
    }
    resolution = f"replayed: delivered as {claim.replay_event_id}"
    with ctx.writer.transaction() as conn:
        update_replay(conn, claim.replay_id, status=status, finished_at=now, error=error)
        state = get_state(conn, exception_id) or {}
        # Delivered resolves it unless someone closed it meanwhile; failed keeps it open with the error.
        resolved = delivery.ok and lifecycle.refusal(Action.RESOLVE, str(state.get("status"))) is None
        if resolved:
            changes = {
                "status": str(lifecycle.S.RESOLVED),
                "resolved_at": now,
                "resolution": resolution,
                "snoozed_until": None,
            }
        else:
            changes = {} if delivery.ok else {"last_error": error}
        if changes or not delivery.ok:
            update_exceptions(conn, [exception_id], {**changes, "updated_at": now})
        replayed = {**state, **({} if resolved else changes)}
        audit = [_audit(exception_id, Action.REPLAY, actor, now, state, replayed, str(status), detail)]
        if resolved:
            audit.append(
                _audit(
                    exception_id,
                    Action.RESOLVE,
                    "replay",
                    now,
                    replayed,
                    {**state, **changes},
                    "done",
                    {"replay_id": claim.replay_id, "replay_event_id": claim.replay_event_id},
                )
            )
        append_actions(conn, audit)
        outcome = ReplayOutcome(
            exception_id,
            claim.replay_id,
            status,
            claim.replay_event_id,
            delivery.target,
            delivery.error_code,
            delivery.error,
            delivery.http_status,
            resolved,
        )
        if also is not None:
            also(conn, outcome)
    return outcome


def _audit(
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


def replay_event(subject: dict[str, Any], claim: Claim, delivery: Delivery, now: datetime) -> Any:
    """The replay as a canonical business event (an Arrow batch for the ingest buffer)."""
    record = {
        "event_id": claim.replay_event_id,
        "correlation_id": subject["correlation_id"],
        "event_type": subject["event_type"],
        "source": subject["source"],
        "target": subject["target"],
        "flow_id": subject["flow_id"],
        "channel": subject["channel"],
        "occurred_at": subject["occurred_at"],
        "received_at": now,
        "attempt": claim.attempt,
        **_outcome_fields(subject, delivery),
        "payload": _json_or_text(claim.body),
    }
    parsed = validate_events([record], received_at=now)
    if parsed.rejected:  # the stored original passed the same validation, so this is a bug
        raise ValueError(f"replay event {claim.replay_event_id} is invalid: {parsed.rejected[0]['error']}")
    return parsed.table


def _outcome_fields(subject: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
    """A failed replay leaves the message where it was (still dead-lettered or failed, same error
    class), so detection keeps counting it on the exception the operator is working; what the
    replay itself hit goes into the message."""
    if delivery.ok:
        return {"status": "ok", "error_code": None, "error_message": None}
    return {
        "status": subject["message_status"],
        "error_code": subject["message_error_code"],
        "error_message": f"replay failed with {delivery.error_code}: {delivery.error}",
    }


def _json_or_text(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


def _actor(actor: str) -> str:
    if not actor or not actor.strip():
        raise InvalidRequest("actor is required: who does this")
    return actor.strip()


def replay(
    exception_id: int,
    *,
    ctx: AppContext,
    actor: str,
    payload: Any = None,
    reason: str | None = None,
    base_url: str | None = None,
) -> ReplayOutcome:
    """Replay the exception's failed message now, or park the request when its flow needs four eyes.

    ``payload`` (JSON value) replaces the stored one for this replay and needs ``reason``
    (a :class:`FixReason`). Raises NotFound, IllegalTransition/Conflict (closed, nothing
    to replay, in flight, awaiting approval) or InvalidRequest (bad edit).
    """
    actor = _actor(actor)
    with ctx.actions.in_flight.hold(exception_id):
        now = ctx.now()
        with ctx.writer.transaction() as conn:
            subject = load_subject(conn, exception_id)
            route = route_for(subject, ctx.settings, base_url)
            started = check_ledger(conn, subject, now=now, settings=ctx.settings)
            body, diff = edit_of(subject, payload, reason)
            if needs_four_eyes(subject):
                return _park(conn, subject, now=now, actor=actor, body=body, diff=diff, reason=reason)
            claim = start(conn, subject, now=now, actor=actor, body=body, diff=diff, reason=reason, started=started)
        delivery = deliver(route, subject, claim, settings=ctx.settings)
        return finish(ctx, subject, claim, delivery, actor=actor)


def _park(
    conn: Connection,
    subject: dict[str, Any],
    *,
    now: datetime,
    actor: str,
    body: str,
    diff: str | None,
    reason: str | None,
) -> ReplayOutcome:
    """Store a four-eyes replay request and audit it; nothing is sent yet."""
    exception_id = subject["exception_id"]
    replay_id = insert_replay(
        conn,
        exception_id=exception_id,
        event_id=subject["event_id"],
        status=ReplayStatus.PENDING_APPROVAL,
        requested_by=actor,
        requested_at=now,
        payload=body if diff else None,
        reason=reason,
        diff=diff,
    )
    state = get_state(conn, exception_id) or {}
    detail = {"replay_id": replay_id, "edited": diff is not None, "reason": reason, "diff": diff, "four_eyes": True}
    append_actions(
        conn,
        [_audit(exception_id, "replay_request", actor, now, state, state, str(ReplayStatus.PENDING_APPROVAL), detail)],
    )
    return ReplayOutcome(exception_id, replay_id, ReplayStatus.PENDING_APPROVAL)


def _pending(conn: Connection, exception_id: int, event_id: str) -> tuple[dict[str, Any], int]:
    """The parked request of the exception and the replays started, or Conflict when none is parked."""
    active, started = replay_ledger(conn, exception_id, event_id)
    if active is None or active["status"] != ReplayStatus.PENDING_APPROVAL:
        raise Conflict(f"no replay of exception {exception_id} awaits approval")
    return active, started


def approve_replay(exception_id: int, *, ctx: AppContext, approver: str, base_url: str | None = None) -> ReplayOutcome:
    """A second operator approves a parked (four-eyes) replay, which then runs at once.

    The operator who requested it cannot approve it (Conflict).
    """
    approver = _actor(approver)
    with ctx.actions.in_flight.hold(exception_id):
        now = ctx.now()
        with ctx.writer.transaction() as conn:
            subject = load_subject(conn, exception_id)
            route = route_for(subject, ctx.settings, base_url)
            pending, started = _pending(conn, exception_id, subject["event_id"])
            if pending["requested_by"] == approver:
                raise Conflict(
                    f"four-eyes: {approver} requested this replay and cannot also approve it; "
                    "another operator must approve"
                )
            replay_event_id = f"{subject['event_id']}:replay:{started + 1}"
            update_replay(
                conn,
                pending["replay_id"],
                status=ReplayStatus.RUNNING,
                approved_by=approver,
                approved_at=now,
                started_at=now,
                replay_event_id=replay_event_id,
            )
            state = get_state(conn, exception_id) or {}
            detail = {"replay_id": pending["replay_id"], "requested_by": pending["requested_by"]}
            append_actions(
                conn, [_audit(exception_id, "replay_approve", approver, now, state, state, "approved", detail)]
            )
            claim = Claim(
                pending["replay_id"],
                replay_event_id,
                int(subject["attempt"]) + started + 1,
                pending["payload"] if pending["payload"] is not None else subject["payload"],
                pending["diff"] is not None,
                pending["reason"],
                pending["diff"],
                pending["requested_by"],
                approver,
            )
        delivery = deliver(route, subject, claim, settings=ctx.settings)
        return finish(ctx, subject, claim, delivery, actor=approver)


def reject_replay(
    exception_id: int, *, conn: Connection, actor: str, now: datetime, reason: str | None = None
) -> ReplayOutcome:
    """Turn down (or withdraw) a parked replay; audited, nothing is sent."""
    actor = _actor(actor)
    state = get_state(conn, exception_id)
    if state is None:
        raise NotFound(f"exception {exception_id} does not exist")
    pending, _ = _pending(conn, exception_id, state["event_id"] or "")
    update_replay(
        conn,
        pending["replay_id"],
        status=ReplayStatus.REJECTED,
        approved_by=actor,
        approved_at=now,
        finished_at=now,
        error=reason or f"rejected by {actor}",
    )
    detail = {"replay_id": pending["replay_id"], "requested_by": pending["requested_by"], "reason": reason}
    append_actions(
        conn, [_audit(exception_id, "replay_reject", actor, now, state, state, str(ReplayStatus.REJECTED), detail)]
    )
    return ReplayOutcome(exception_id, pending["replay_id"], ReplayStatus.REJECTED)
