"""Replay, made safe: re-deliver every failed message of an exception to its flow's target.

An exception groups one or more failed messages (``exception_messages``, often one per
order). Replaying it re-sends each message not yet delivered, each under its own
``Idempotency-Key`` (the message's original event id), paced at the flow's rate. A replay is
three steps: *claim* (one short transaction: the lifecycle allows it, no other replay of the
exception is in flight or awaiting approval, one running ``replays`` row per message),
*deliver* (no transaction: a network call must never hold the single writer), *record* (one
short transaction per message: its replay row, its state, the audit row and the exception's
settlement). So these functions take the process :class:`AppContext` rather than a connection.

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

import difflib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.engine import Connection

from app.services import lifecycle
from app.services.delivery import Delivery, Pacer, content_type_of, post_http, republish_from_dlq
from app.services.errors import Conflict, InvalidRequest, NotFound
from app.services.lifecycle import Action
from collectors.events import validate_events
from models.enums import REPLAY_ACTOR, FixReason, MessageState, ReplayStatus
from models.queries.exceptions import append_actions, get_state, update_exceptions
from models.queries.messages import latest_failure, message_counts, set_message
from models.queries.replays import (
    active_replays,
    insert_replay,
    replay_messages,
    replays_started,
    update_replay,
)

if TYPE_CHECKING:
    from app.context import AppContext
    from app.settings import Settings

#: Event types whose replays need a second operator unless the flow says otherwise.
FINANCIAL_EVENT_TYPES = frozenset({"invoice.posted", "refund.issued"})


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


@dataclass(frozen=True)
class Route:
    """Where a replay goes: an HTTP URL, or a RabbitMQ dead-letter queue."""

    kind: str  # http | amqp
    address: str


@dataclass(frozen=True)
class Claim:
    """A message replay that has started: its row, the new event's id and attempt, and the body it sends."""

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


def replay_base_url(settings: Settings, request_url: str | None = None) -> str:
    """Where relative (``/sim/...``) replay targets resolve: the configured public URL, else the URL the
    request came in on (API or page), else this server's own address."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    if request_url:
        return request_url.rstrip("/")
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
        return Route("http", (base_url or replay_base_url(settings)).rstrip("/") + "/" + target.lstrip("/"))
    raise Conflict(f"flow {subject['flow_id'] or '(none)'} has no replay target; the message cannot be replayed")


def needs_four_eyes(subject: dict[str, Any]) -> bool:
    """True when a second operator must approve: the flow says so, or it carries financial documents."""
    if subject["replay_four_eyes"] is not None:
        return bool(subject["replay_four_eyes"])
    return subject["event_type"] in FINANCIAL_EVENT_TYPES or subject["end_event"] in FINANCIAL_EVENT_TYPES


def lease(settings: Settings) -> timedelta:
    """How long a running replay row blocks others before it counts as abandoned (its process died)."""
    return timedelta(seconds=settings.replay_timeout_seconds * 3 + 60)


def refusal(exception: dict[str, Any], messages: list[dict[str, Any]], active: list[dict[str, Any]]) -> str | None:
    """Why the exception cannot be replayed now, or None: the one set of replay preconditions that
    the service enforces and the pages show (``exception`` has status, kind, flow_id; ``messages``
    its undelivered messages with their flow's replay settings; ``active`` its running or parked replays).
    """
    reason = lifecycle.refusal(Action.REPLAY, str(exception["status"]))
    if reason is not None:
        return reason
    if not messages:
        return f"exception {exception['exception_id']} ({exception['kind']}) has no failed message to replay"
    if all(m["payload"] is None for m in messages):
        return f"the failed messages of exception {exception['exception_id']} have no stored payload"
    if not messages[0]["replay_target"] and messages[0]["replay_kind"] != "amqp":
        return f"flow {exception['flow_id'] or '(none)'} has no replay target; its messages cannot be replayed"
    parked = next((r for r in active if r["status"] == ReplayStatus.PENDING_APPROVAL), None)
    if parked is not None:
        return (
            f"a replay of exception {exception['exception_id']} requested by {parked['requested_by']} awaits "
            "approval by a second operator"
        )
    if any(r["status"] == ReplayStatus.RUNNING for r in active):
        return f"a replay of exception {exception['exception_id']} is already in flight"
    return None


def refusal_of(conn: Connection, exception_id: int) -> str | None:
    """Why a replay of the exception would be refused now (what the pages grey the button out with)."""
    state = get_state(conn, exception_id)
    if state is None:
        return f"exception {exception_id} does not exist"
    messages = replayable(conn, [exception_id])[exception_id]
    return refusal(state, messages, active_replays(conn, [exception_id])[exception_id])


def release_abandoned(
    conn: Connection, active: list[dict[str, Any]], *, now: datetime, settings: Settings
) -> list[dict[str, Any]]:
    """Running rows older than the lease belong to a process that died: mark them abandoned so
    they no longer block; returns the rows still active."""
    left = []
    for row in active:
        if row["status"] == ReplayStatus.RUNNING and row["started_at"] < now - lease(settings):
            update_replay(
                conn, row["replay_id"], status=ReplayStatus.ABANDONED, finished_at=now,
                error="the replaying process stopped before it finished",
            )  # fmt: skip
        else:
            left.append(row)
    return left


def load(
    conn: Connection, exception_id: int, *, now: datetime, settings: Settings
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The exception, its undelivered messages and its active replays; NotFound when it does not exist."""
    state = get_state(conn, exception_id)
    if state is None:
        raise NotFound(f"exception {exception_id} does not exist")
    active = release_abandoned(conn, active_replays(conn, [exception_id])[exception_id], now=now, settings=settings)
    return state, replayable(conn, [exception_id]).get(exception_id, []), active


def replayable(conn: Connection, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The messages a replay of each exception sends: the undelivered ones; where every one was
    delivered (an operator reopened it: the target lost them), all of them again, under the same
    idempotency keys so the target answers duplicates instead of taking them twice."""
    found: dict[int, list[dict[str, Any]]] = {int(i): [] for i in ids}
    for m in replay_messages(conn, ids):
        found[int(m["exception_id"])].append(m)
    again = [i for i, messages in found.items() if not messages]
    for m in replay_messages(conn, again, undelivered_only=False):
        found[int(m["exception_id"])].append(m)
    return found


def check(exception: dict[str, Any], messages: list[dict[str, Any]], active: list[dict[str, Any]]) -> None:
    """Raise why the exception cannot be replayed (IllegalTransition for the lifecycle, else Conflict)."""
    lifecycle.next_status(Action.REPLAY, str(exception["status"]))
    reason = refusal(exception, messages, active)
    if reason is not None:
        raise Conflict(reason)


def chosen(messages: list[dict[str, Any]], event_id: str | None, *, editing: bool) -> dict[str, Any] | None:
    """The one message an edit (or an approval view) is about: ``event_id``, or the only message."""
    if event_id is None:
        if editing and len(messages) > 1:
            raise InvalidRequest(
                f"the exception has {len(messages)} undelivered messages: name the one to edit (event_id)"
            )
        return messages[0] if editing else None
    found = next((m for m in messages if m["event_id"] == event_id), None)
    if found is None:
        raise InvalidRequest(f"message {event_id!r} is not an undelivered message of this exception")
    return found


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


def claim_all(
    conn: Connection,
    messages: list[dict[str, Any]],
    *,
    now: datetime,
    actor: str,
    edits: dict[str, tuple[str, str | None, str | None]] | None = None,
    status: ReplayStatus = ReplayStatus.RUNNING,
    bulk_run_id: int | None = None,
    approved_by: str | None = None,
) -> list[Claim]:
    """Insert one replay row per message (running, or parked awaiting approval); ``edits`` maps an
    event id to its (body, diff, reason). Replay numbers count every earlier started replay."""
    edits = edits or {}
    started = replays_started(conn, [m["event_id"] for m in messages])
    claims = []
    for m in messages:
        body, diff, reason = edits.get(m["event_id"], (m["payload"], None, None))
        n = started.get(m["event_id"], 0) + 1
        running = status is ReplayStatus.RUNNING
        replay_event_id = f"{m['event_id']}:replay:{n}"
        replay_id = insert_replay(
            conn,
            exception_id=m["exception_id"],
            event_id=m["event_id"],
            status=status,
            requested_by=actor,
            requested_at=now,
            payload=body if diff else None,
            reason=reason,
            diff=diff,
            bulk_run_id=bulk_run_id,
            replay_event_id=replay_event_id if running else None,
            started_at=now if running else None,
            approved_by=approved_by,
            approved_at=now if approved_by else None,
        )
        claims.append(
            Claim(replay_id, replay_event_id, int(m["attempt"] or 1) + n, body, diff is not None, reason, diff, actor,
                  approved_by)
        )  # fmt: skip
    return claims


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
        append_actions(conn, [_audit(exception_id, Action.REPLAY, actor, now, state, state, str(status), detail)])
        resolved = settle(conn, exception_id, now=now, error=error)
        if also is not None:
            also(conn, outcome)
    return outcome, resolved


def settle(conn: Connection, exception_id: int, *, now: datetime, error: str | None = None) -> bool:
    """After a message's replay: resolve the exception when every message is delivered (unless
    someone closed it meanwhile), else, when any replay failed, say how many are left and why.
    Returns True when it resolved the exception."""
    counts = message_counts(conn, [exception_id]).get(exception_id)
    state = get_state(conn, exception_id) or {}
    if counts is None:
        return False
    if counts["delivered"] == counts["total"]:
        if lifecycle.refusal(Action.RESOLVE, str(state.get("status"))) is not None:
            return False
        noun = "message" if counts["total"] == 1 else f"all {counts['total']} messages"
        changes = {"status": str(lifecycle.S.RESOLVED), "resolved_at": now,
                   "resolution": f"replayed: {noun} delivered", "snoozed_until": None}  # fmt: skip
        update_exceptions(conn, [exception_id], {**changes, "updated_at": now})
        after = {**state, **changes}
        append_actions(
            conn, [_audit(exception_id, Action.RESOLVE, REPLAY_ACTOR, now, state, after, "done", {"messages": counts})]
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


def _actor(actor: str) -> str:
    if not actor or not actor.strip():
        raise InvalidRequest("actor is required: who does this")
    return actor.strip()


def rate_of(messages: list[dict[str, Any]], settings: Settings) -> float:
    """The pace that protects the target: the slowest flow's own setting, else the default."""
    rates = [float(m["replay_rate_per_second"]) for m in messages if m.get("replay_rate_per_second")]
    return min(rates, default=settings.replay_rate_per_second)


def send(
    ctx: AppContext,
    messages: list[dict[str, Any]],
    claims: list[Claim],
    *,
    actor: str,
    base_url: str | None,
) -> tuple[list[MessageOutcome], bool]:
    """Deliver claimed messages one after another at the flow's pace, recording each; returns the
    outcomes and whether the exception got resolved."""
    pacer = Pacer(rate_of(messages, ctx.settings))
    outcomes, resolved = [], False
    with httpx.Client(timeout=httpx.Timeout(ctx.settings.replay_timeout_seconds)) as client:
        for message, claim in zip(messages, claims, strict=True):
            pacer.wait()
            try:
                route = route_for(message, ctx.settings, base_url)
            except Conflict as exc:
                delivery = Delivery(False, "(no target)", "NO-TARGET", str(exc))
            else:
                delivery = deliver(route, message, claim, settings=ctx.settings, client=client)
            outcome, done = record(ctx, message, claim, delivery, actor=actor)
            outcomes.append(outcome)
            resolved = resolved or done
    return outcomes, resolved


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
                detail = {"messages": len(sendable), "edited": target["event_id"] if edits else None,
                          "reason": reason, "diff": next(iter(edits.values()))[1] if edits else None,
                          "four_eyes": True}  # fmt: skip
                append_actions(conn, [_audit(exception_id, "replay_request", actor, now, state, state,
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

    The operator who requested it cannot approve it (Conflict).
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
                raise Conflict(
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
            append_actions(conn, [_audit(exception_id, "replay_approve", approver, now, state, state, "approved",
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
        conn, [_audit(exception_id, "replay_reject", actor, now, state, state, str(ReplayStatus.REJECTED), detail)]
    )
    return ReplayOutcome(exception_id, ReplayStatus.REJECTED, summary=f"replay rejected by {actor}")
