"""Exception lifecycle: one transition table, every action audited in ``exception_actions``.

``open → acknowledged → resolved | ignored``, and ``reopen`` back to open. Assign, note,
snooze and severity changes keep the status. Each function loads the row, checks the
table, updates it and appends one audit row with the state before and after; an illegal
move raises :class:`IllegalTransition` whose message tells the operator what to do.
Functions take a keyword-only ``conn`` and never commit (the edge owns the transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from app.services.errors import IllegalTransition, InvalidRequest, NotFound
from models.enums import Action, ExceptionStatus
from models.queries.common import SEVERITIES
from models.queries.exceptions import append_actions, get_states, lock_exception, update_exceptions
from models.queries.messages import message_counts

if TYPE_CHECKING:
    from app.context import AppContext

S = ExceptionStatus


_KEEP_ACTIVE = {S.OPEN: S.OPEN, S.ACKNOWLEDGED: S.ACKNOWLEDGED}

#: action → {status before: status after}; a missing status means the action is refused there.
TRANSITIONS: dict[Action, dict[ExceptionStatus, ExceptionStatus]] = {
    Action.ACK: {S.OPEN: S.ACKNOWLEDGED},
    Action.ASSIGN: _KEEP_ACTIVE,
    Action.NOTE: {s: s for s in S},
    Action.RESOLVE: {S.OPEN: S.RESOLVED, S.ACKNOWLEDGED: S.RESOLVED},
    Action.IGNORE: {S.OPEN: S.IGNORED, S.ACKNOWLEDGED: S.IGNORED},
    Action.REOPEN: {S.RESOLVED: S.OPEN, S.IGNORED: S.OPEN},
    Action.SNOOZE: _KEEP_ACTIVE,
    Action.SET_SEVERITY: _KEEP_ACTIVE,
    Action.REPLAY: _KEEP_ACTIVE,  # the replay's outcome then resolves it (delivered) or keeps it open
}

#: The state an audit row snapshots before and after an action.
STATE_FIELDS = ("status", "assignee", "severity", "snoozed_until", "resolution", "last_error")
_VERB = {Action.SET_SEVERITY: "change the severity of"}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def refusal(action: Action, status: str) -> str | None:
    """Why ``action`` is refused from ``status``, or None when the table allows it."""
    try:
        current = ExceptionStatus(status)
    except ValueError:
        return f"cannot {action} an exception in the unknown status {status!r}"
    if current in TRANSITIONS[action]:
        return None
    verb = _VERB.get(action, str(action))
    what = f"cannot {verb} {_article(current)} {current} exception"
    if action is Action.ACK and current is S.ACKNOWLEDGED:
        return f"{what}; it is already acknowledged"
    if action is Action.REOPEN:
        return f"{what}; only resolved or ignored exceptions reopen"
    return f"{what}; reopen it first"


def next_status(action: Action, status: str) -> ExceptionStatus:
    """The status after ``action``; raises :class:`IllegalTransition` with the reason when refused."""
    reason = refusal(action, status)
    if reason is not None:
        raise IllegalTransition(action, status, reason)
    return TRANSITIONS[action][ExceptionStatus(status)]


@dataclass(frozen=True)
class ActionResult:
    """One audited action: the state before and after (as written to the audit row)."""

    exception_id: int
    action: Action
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True)
class ItemResult:
    """One exception of a bulk action: done, or skipped with the reason."""

    exception_id: int
    done: bool
    reason: str | None = None


def snapshot(row: dict[str, Any]) -> dict[str, Any]:
    """The audited part of an exception row, JSON-ready."""
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in ((f, row.get(f)) for f in STATE_FIELDS)}


def _check_actor(actor: str) -> str:
    if not actor or not actor.strip():
        raise InvalidRequest("actor is required: who does this")
    return actor.strip()


def apply(
    action: Action,
    ids: Sequence[int],
    *,
    conn: Connection,
    actor: str,
    now: datetime,
    changes: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    outcome: str = "done",
) -> tuple[list[ActionResult], list[ItemResult]]:
    """Apply one action to many exceptions: the allowed ones change and are audited, the rest are skipped.

    Set-based (one read, one update per resulting status, one audit insert) so a bulk
    action over thousands of exceptions takes one short transaction.
    """
    actor = _check_actor(actor)
    states = get_states(conn, ids)
    unexplained = action is Action.RESOLVE and not (changes or {}).get("resolution")
    undelivered = _undelivered(conn, ids) if unexplained else {}
    done: list[ActionResult] = []
    items: list[ItemResult] = []
    by_status: dict[ExceptionStatus, list[int]] = {}
    for exception_id in ids:
        row = states.get(exception_id)
        if row is None:
            items.append(ItemResult(exception_id, False, f"exception {exception_id} does not exist"))
            continue
        reason = refusal(action, row["status"]) or undelivered.get(exception_id)
        if reason is not None:
            items.append(ItemResult(exception_id, False, reason))
            continue
        after_status = TRANSITIONS[action][ExceptionStatus(row["status"])]
        by_status.setdefault(after_status, []).append(exception_id)
        after = {**row, **(changes or {}), "status": after_status}
        done.append(ActionResult(exception_id, action, snapshot(row), snapshot(after)))
        items.append(ItemResult(exception_id, True))
    for status, group in by_status.items():
        update_exceptions(conn, group, {**(changes or {}), "status": str(status), "updated_at": now})
    append_actions(
        conn,
        [
            {
                "exception_id": r.exception_id,
                "action": str(action),
                "actor": actor,
                "acted_at": now,
                "before_state": r.before,
                "after_state": r.after,
                "outcome": outcome,
                "detail": detail,
            }
            for r in done
        ],
    )
    return done, items


def _undelivered(conn: Connection, ids: Sequence[int]) -> dict[int, str]:
    """Why exceptions with failed messages not yet delivered need a reason to be resolved by hand."""
    return {
        i: (
            f"{c['total'] - c['delivered']} of its {c['total']} failed messages are not delivered: "
            "replay them, or give a reason to resolve it anyway"
        )
        for i, c in message_counts(conn, ids).items()
        if c["delivered"] < c["total"]
    }


def _one(
    action: Action,
    exception_id: int,
    *,
    conn: Connection,
    actor: str,
    now: datetime,
    changes: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    outcome: str = "done",
) -> ActionResult:
    """:func:`apply` for one exception, raising instead of skipping."""
    done, items = apply(
        action, [exception_id], conn=conn, actor=actor, now=now, changes=changes, detail=detail, outcome=outcome
    )
    if done:
        return done[0]
    reason = items[0].reason or ""
    if reason.endswith("does not exist"):
        raise NotFound(reason)
    states = get_states(conn, [exception_id])
    raise IllegalTransition(action, states[exception_id]["status"], reason)


def ack(exception_id: int, *, conn: Connection, actor: str, now: datetime) -> ActionResult:
    """Acknowledge: someone is on it (and becomes the assignee when there is none)."""
    state = get_states(conn, [exception_id]).get(exception_id)
    changes = {"assignee": actor.strip()} if state is not None and not state["assignee"] and actor else {}
    return _one(Action.ACK, exception_id, conn=conn, actor=actor, now=now, changes=changes)


def assign(exception_id: int, *, conn: Connection, actor: str, assignee: str, now: datetime) -> ActionResult:
    """Give the exception to ``assignee`` (status unchanged)."""
    if not assignee or not assignee.strip():
        raise InvalidRequest("assignee is required")
    return _one(Action.ASSIGN, exception_id, conn=conn, actor=actor, now=now, changes={"assignee": assignee.strip()})


def note(exception_id: int, *, conn: Connection, actor: str, text: str, now: datetime) -> ActionResult:
    """Add a note to the trail; allowed in every status, changes nothing else."""
    if not text or not text.strip():
        raise InvalidRequest("a note needs text")
    return _one(Action.NOTE, exception_id, conn=conn, actor=actor, now=now, detail={"text": text.strip()})


def _closing(action: Action, now: datetime, text: str | None) -> dict[str, Any]:
    """Column changes of resolve (stamps resolved_at: MTTR counts it), ignore (not a resolution) and reopen."""
    if action is Action.RESOLVE:
        return {"resolved_at": now, "resolution": text, "snoozed_until": None}
    if action is Action.IGNORE:
        return {"resolved_at": None, "resolution": text, "snoozed_until": None}
    return {"resolved_at": None, "resolution": None, "snoozed_until": None}


def resolve(
    exception_id: int, *, conn: Connection, actor: str, now: datetime, resolution: str | None = None
) -> ActionResult:
    """Close as fixed; clears a snooze."""
    return _one(
        Action.RESOLVE,
        exception_id,
        conn=conn,
        actor=actor,
        now=now,
        changes=_closing(Action.RESOLVE, now, resolution),
        detail={"resolution": resolution} if resolution else None,
    )


def ignore(
    exception_id: int, *, conn: Connection, actor: str, now: datetime, reason: str | None = None
) -> ActionResult:
    """Close as not worth fixing."""
    return _one(
        Action.IGNORE,
        exception_id,
        conn=conn,
        actor=actor,
        now=now,
        changes=_closing(Action.IGNORE, now, reason),
        detail={"reason": reason} if reason else None,
    )


def reopen(
    exception_id: int, *, conn: Connection, actor: str, now: datetime, reason: str | None = None
) -> ActionResult:
    """Bring a resolved or ignored exception back to open."""
    return _one(
        Action.REOPEN,
        exception_id,
        conn=conn,
        actor=actor,
        now=now,
        changes=_closing(Action.REOPEN, now, None),
        detail={"reason": reason} if reason else None,
    )


def apply_many(
    action: Action,
    ids: Sequence[int],
    *,
    conn: Connection,
    actor: str,
    now: datetime,
    assignee: str | None = None,
    text: str | None = None,
) -> list[ItemResult]:
    """Resolve, ignore or assign many exceptions at once; the ones the table refuses are skipped with why."""
    if action is Action.ASSIGN:
        if not assignee or not assignee.strip():
            raise InvalidRequest("assignee is required")
        changes: dict[str, Any] = {"assignee": assignee.strip()}
        detail = None
    elif action in (Action.RESOLVE, Action.IGNORE):
        changes = _closing(action, now, text)
        detail = {"resolution" if action is Action.RESOLVE else "reason": text, "bulk": True}
    else:
        raise InvalidRequest(f"bulk {action} is not supported; use replay, resolve, ignore or assign")
    _, items = apply(action, ids, conn=conn, actor=actor, now=now, changes=changes, detail=detail)
    return items


def snooze(exception_id: int, *, conn: Connection, actor: str, until: datetime, now: datetime) -> ActionResult:
    """Hide an open exception from the default view until ``until`` (naive UTC, in the future)."""
    if until.tzinfo is not None:
        until = until.astimezone(UTC).replace(tzinfo=None)
    if until <= now:
        raise InvalidRequest(f"snooze until {until.isoformat()} is not in the future")
    return _one(Action.SNOOZE, exception_id, conn=conn, actor=actor, now=now, changes={"snoozed_until": until})


def set_severity(exception_id: int, *, conn: Connection, actor: str, severity: str, now: datetime) -> ActionResult:
    """Raise or lower the severity (critical, high, medium, low)."""
    if severity not in SEVERITIES:
        raise InvalidRequest(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    return _one(Action.SET_SEVERITY, exception_id, conn=conn, actor=actor, now=now, changes={"severity": severity})


@dataclass(frozen=True)
class Change:
    """What an action takes besides the exception and the actor (each action reads its own field)."""

    assignee: str | None = None  # assign
    text: str | None = None  # note text; resolve's resolution; ignore's and reopen's reason
    until: datetime | None = None  # snooze
    severity: str | None = None  # set_severity


def _given(value: datetime | None, name: str) -> datetime:
    if value is None:
        raise InvalidRequest(f"{name} is required")
    return value


#: Each lifecycle action and how it reads its :class:`Change`.
_PERFORM: dict[Action, Callable[..., ActionResult]] = {
    Action.ACK: lambda i, c, **kw: ack(i, **kw),
    Action.ASSIGN: lambda i, c, **kw: assign(i, assignee=c.assignee or "", **kw),
    Action.NOTE: lambda i, c, **kw: note(i, text=c.text or "", **kw),
    Action.RESOLVE: lambda i, c, **kw: resolve(i, resolution=c.text, **kw),
    Action.IGNORE: lambda i, c, **kw: ignore(i, reason=c.text, **kw),
    Action.REOPEN: lambda i, c, **kw: reopen(i, reason=c.text, **kw),
    Action.SNOOZE: lambda i, c, **kw: snooze(i, until=_given(c.until, "until"), **kw),
    Action.SET_SEVERITY: lambda i, c, **kw: set_severity(i, severity=c.severity or "", **kw),
}


def perform(
    ctx: AppContext, action: Action, exception_id: int, *, actor: str, change: Change | None = None
) -> tuple[ActionResult, dict[str, Any] | None]:
    """One lifecycle action in its own write transaction — the one entry the API and the pages share;
    returns the audited result and the exception's row after it."""
    if action not in _PERFORM:
        raise InvalidRequest(f"{action} is not a lifecycle action here; replays go through app.services.replay")
    with ctx.writer.transaction() as conn:
        lock_exception(conn, exception_id)
        result = _PERFORM[action](exception_id, change or Change(), conn=conn, actor=actor, now=ctx.now())
        return result, get_states(conn, [exception_id]).get(exception_id)
