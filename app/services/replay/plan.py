"""Replay, step one: what may be replayed, where it goes, and the claim (one running row per message)."""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from app.services import lifecycle
from app.services.errors import Conflict, InvalidRequest, NotFound
from models.enums import Action, FixReason, ReplayStatus
from models.queries.exceptions import get_state, lock_exception
from models.queries.replays import (
    active_replays,
    insert_replay,
    replay_messages,
    replays_started,
    update_replay,
)

if TYPE_CHECKING:
    from app.settings import Settings

#: Event types whose replays need a second operator unless the flow says otherwise.
FINANCIAL_EVENT_TYPES = frozenset({"invoice.posted", "refund.issued"})


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
    if request_url and not settings.public_base_url:
        return request_url.rstrip("/")
    return settings.base_url()


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
    conn: Connection, exception_id: int, *, now: datetime, settings: Settings, event_id: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The exception, its undelivered messages and its active replays; NotFound when it does not
    exist. With ``event_id``, that one message, whatever its state (a bulk run's item reads its own
    message, not all of a 1,000-message exception's, and judges its state against the plan). The
    exception's row stays locked until the caller's transaction ends (the claim across replicas)."""
    lock_exception(conn, exception_id)
    state = get_state(conn, exception_id)
    if state is None:
        raise NotFound(f"exception {exception_id} does not exist")
    active = release_abandoned(conn, active_replays(conn, [exception_id])[exception_id], now=now, settings=settings)
    if event_id is not None:
        return state, replay_messages(conn, [exception_id], undelivered_only=False, event_ids=[event_id]), active
    return state, replayable(conn, [exception_id]).get(exception_id, []), active


def replayable(conn: Connection, ids: list[int], *, duplicate_risk: bool = False) -> dict[int, list[dict[str, Any]]]:
    """The messages a replay of each exception sends: the undelivered ones; where every one was
    delivered (an operator reopened it: the target lost them), all of them again, under the same
    idempotency keys so the target answers duplicates instead of taking them twice. ``duplicate_risk``
    flags each message the target may already have (what a bulk plan shows)."""
    found: dict[int, list[dict[str, Any]]] = {int(i): [] for i in ids}
    for m in replay_messages(conn, ids, duplicate_risk=duplicate_risk):
        found[int(m["exception_id"])].append(m)
    again = [i for i, messages in found.items() if not messages]
    for m in replay_messages(conn, again, undelivered_only=False, duplicate_risk=duplicate_risk):
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
