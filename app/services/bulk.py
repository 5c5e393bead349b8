"""Bulk actions: a selection (a whole filtered set, or ids) → replay, resolve, ignore or assign.

Resolve, ignore and assign run at once in the caller's transaction. A bulk replay is a plan
before it is a run, and it counts in *messages*, not exceptions: every undelivered failed
message of every selected exception is one item. :func:`plan_bulk_replay` is the dry run (how
many exceptions and messages, which are skipped and why, which risk a duplicate because the
target already took a later ok event for that business key, how long at what pace), and
:func:`start_run` stores the run with one row per message and replays them in a background
thread, paced so the target never sees more than ``rate_per_second``. The first ``canary``
messages go first; one failure among them stops the run. Pause and abort are honoured between
messages only: each finishes its delivery, its result row and its audit row together; an
exception resolves when its last message is delivered.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy.engine import Connection

from app.services import lifecycle, replay
from app.services.delivery import Pacer
from app.services.errors import Conflict, InvalidRequest, NotFound, ServiceError
from app.services.replay import MessageOutcome
from models.enums import Action, BulkAction, ItemStatus, ReplayStatus, RunStatus
from models.queries.bulk_runs import create_run, get_run, pending_items, run_items, set_item, set_items, set_run
from models.queries.exceptions import ExceptionFilter, existing_ids, filtered_ids, get_states
from models.queries.replays import active_replays

if TYPE_CHECKING:
    from app.context import AppContext
    from app.settings import Settings

log = logging.getLogger(__name__)


class Selection(BaseModel):
    """Which exceptions: every one a filter selects (not just the visible page), or explicit ids."""

    model_config = ConfigDict(extra="forbid")

    filter: ExceptionFilter | None = None
    ids: list[int] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Selection:
        if (self.filter is None) == (self.ids is None):
            raise ValueError("select by filter or by ids (exactly one of them)")
        return self


def select(selection: Selection, *, conn: Connection, now: datetime) -> list[int]:
    """The selected exception ids that exist, in a stable order (filter: oldest first; ids: as given)."""
    if selection.filter is not None:
        return filtered_ids(conn, selection.filter, now=now)
    return existing_ids(conn, selection.ids or [])


@dataclass(frozen=True)
class PlanItem:
    """One selected exception (or, for replays, one of its failed messages) and what the action would do."""

    exception_id: int
    title: str | None
    flow_id: str | None
    event_id: str | None = None
    correlation_id: str | None = None
    target: str | None = None
    duplicate_risk: bool = False
    skip_reason: str | None = None

    @property
    def runnable(self) -> bool:
        """True unless the item will be skipped."""
        return self.skip_reason is None


@dataclass(frozen=True)
class BulkPlan:
    """A dry run: every selected item, why some would be skipped, and the pace it would run at."""

    action: BulkAction
    selection: dict[str, Any]
    items: list[PlanItem]
    rate_per_second: float | None = None

    def summary(self, *, include_duplicate_risk: bool = False) -> dict[str, Any]:
        """Counts for the confirmation: how many exceptions and messages run, how many risk duplicates, how long."""
        runnable = [i for i in self.items if i.runnable and (include_duplicate_risk or not i.duplicate_risk)]
        seconds = round(len(runnable) / self.rate_per_second, 1) if self.rate_per_second else 0.0
        out: dict[str, Any] = {
            "action": str(self.action),
            "selected": len({i.exception_id for i in self.items}),
            "runnable": len(runnable),
            "exceptions": len({i.exception_id for i in runnable}),
            "duplicate_risk": sum(i.duplicate_risk for i in self.items if i.runnable),
            "skipped": len(self.items) - len(runnable),
            "rate_per_second": self.rate_per_second,
            "expected_seconds": seconds,
        }
        if self.action is BulkAction.REPLAY:
            out["messages"] = len(runnable)
            out["text"] = (
                f"{_count(out['exceptions'], 'exception')}, {_count(len(runnable), 'message')}, "
                f"~{seconds:g} s at {self.rate_per_second:g}/s"
            )
        return out

    def as_dict(self, *, include_duplicate_risk: bool = False) -> dict[str, Any]:
        """The summary and every item, JSON-ready."""
        return {**self.summary(include_duplicate_risk=include_duplicate_risk), "items": [asdict(i) for i in self.items]}


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def plan_bulk_replay(
    selection: Selection, *, conn: Connection, now: datetime, settings: Settings, base_url: str | None = None
) -> BulkPlan:
    """The dry run of a bulk replay: every undelivered message of the selected exceptions, where it
    would go, which are skipped (closed, nothing to replay, no target, in flight, four-eyes) and
    which risk a duplicate downstream."""
    ids = select(selection, conn=conn, now=now)
    states = get_states(conn, ids)
    by_exception = replay.replayable(conn, ids)
    active = active_replays(conn, ids)
    items: list[PlanItem] = []
    rates: list[float] = []
    for exception_id in ids:
        state, messages = states[exception_id], by_exception[exception_id]
        skip = _refusal(state, messages, active[exception_id])
        if not messages:
            items.append(PlanItem(exception_id, state["title"], state["flow_id"], skip_reason=skip))
            continue
        for m in messages:
            why, target = skip, None
            if why is None and m["payload"] is None:
                why = f"the message {m['event_id']} has no stored payload"
            if why is None:
                try:
                    target = replay.route_for(m, settings, base_url).address
                except ServiceError as exc:
                    why = str(exc)
            if why is None and m["replay_rate_per_second"]:
                rates.append(float(m["replay_rate_per_second"]))
            items.append(PlanItem(exception_id, state["title"], state["flow_id"], m["event_id"],
                                  m["correlation_id"], target, bool(m["duplicate_risk"]), why))  # fmt: skip
    rate = min(rates, default=settings.replay_rate_per_second)
    return BulkPlan(BulkAction.REPLAY, selection.model_dump(mode="json", exclude_none=True), items, rate)


def _refusal(state: dict[str, Any], messages: list[dict[str, Any]], active: list[dict[str, Any]]) -> str | None:
    """Why an exception's messages cannot be bulk-replayed: the replay service's rule, or four-eyes."""
    reason = replay.refusal(state, messages, active)
    if reason is None and replay.needs_four_eyes(messages[0]):
        return "its flow needs four-eyes approval: replay it on its own"
    return reason


def plan_bulk_action(action: BulkAction, selection: Selection, *, conn: Connection, now: datetime) -> BulkPlan:
    """The dry run of a bulk resolve, ignore or assign: which items the lifecycle allows."""
    ids = select(selection, conn=conn, now=now)
    states = get_states(conn, ids)
    items = [
        PlanItem(
            i,
            states[i]["title"],
            states[i]["flow_id"],
            skip_reason=lifecycle.refusal(Action(action), states[i]["status"]),
        )
        for i in ids
    ]
    return BulkPlan(action, selection.model_dump(mode="json", exclude_none=True), items)


def apply_bulk(
    action: BulkAction,
    selection: Selection,
    *,
    conn: Connection,
    actor: str,
    now: datetime,
    assignee: str | None = None,
    text: str | None = None,
) -> int:
    """Resolve, ignore or assign the whole selection now (the caller's transaction); returns the run id,
    whose items say which changed and which were skipped and why."""
    if action is BulkAction.REPLAY:
        raise InvalidRequest("a bulk replay is planned and started as a run: plan_bulk_replay, then start_run")
    ids = select(selection, conn=conn, now=now)
    results = lifecycle.apply_many(Action(action), ids, conn=conn, actor=actor, now=now, assignee=assignee, text=text)
    items = [
        {
            "position": n,
            "exception_id": r.exception_id,
            "status": ItemStatus.DONE if r.done else ItemStatus.SKIPPED,
            "duplicate_risk": False,
            "error": r.reason,
            "finished_at": now,
        }
        for n, r in enumerate(results)
    ]
    run_id = create_run(
        conn,
        action=str(action),
        actor=actor,
        status=RunStatus.COMPLETED,
        selection=selection.model_dump(mode="json", exclude_none=True),
        items=items,
        canary=0,
        rate_per_second=None,
        now=now,
    )
    set_run(conn, run_id, finished_at=now)
    return run_id


def start_run(
    plan: BulkPlan,
    *,
    ctx: AppContext,
    actor: str,
    canary: int = 0,
    rate_per_second: float | None = None,
    include_duplicate_risk: bool = False,
    base_url: str | None = None,
) -> int:
    """Store the planned bulk replay and start it in the background; returns the run id.

    Items skipped by the plan (and, unless ``include_duplicate_risk``, those at risk of a
    duplicate) are stored as skipped with the reason. ``rate_per_second`` defaults to the plan's
    (the slowest flow's setting).
    """
    if plan.action is not BulkAction.REPLAY:
        raise InvalidRequest("start_run runs bulk replays; apply_bulk does the other actions")
    if not actor or not actor.strip():
        raise InvalidRequest("actor is required: who does this")
    rate = rate_per_second or plan.rate_per_second or ctx.settings.replay_rate_per_second
    if rate <= 0 or canary < 0:
        raise InvalidRequest("rate_per_second must be positive and canary not negative")
    now = ctx.now()
    items = []
    for n, item in enumerate(plan.items):
        reason = item.skip_reason
        if reason is None and item.duplicate_risk and not include_duplicate_risk:
            reason = "duplicate risk: the target already took a later ok event for this business key"
        items.append(
            {
                "position": n,
                "exception_id": item.exception_id,
                "event_id": item.event_id,
                "duplicate_risk": item.duplicate_risk,
                "status": ItemStatus.SKIPPED if reason else ItemStatus.PENDING,
                "error": reason,
                "finished_at": now if reason else None,
            }
        )
    with ctx.writer.transaction() as conn:
        run_id = create_run(
            conn,
            action=str(BulkAction.REPLAY),
            actor=actor.strip(),
            status=RunStatus.RUNNING,
            selection=plan.selection,
            items=items,
            canary=canary,
            rate_per_second=rate,
            now=now,
        )
    ctx.actions.bulk.launch(run_id, ctx=ctx, base_url=base_url)
    return run_id


def run_report(
    run_id: int, *, conn: Connection, item_status: str | None = None, offset: int = 0, limit: int | None = 1000
) -> dict[str, Any]:
    """A run's status, counts per item status, and (a page of) its items."""
    run = get_run(conn, run_id)
    if run is None:
        raise NotFound(f"bulk run {run_id} does not exist")
    run["items"] = run_items(conn, run_id, status=item_status, offset=offset, limit=limit)
    return run


@dataclass
class _Control:
    """Pause/abort requests for one running thread, and the thread's acknowledgement."""

    thread: threading.Thread | None = None
    cond: threading.Condition = field(default_factory=threading.Condition)
    pause: bool = False
    abort: bool = False
    aborted_by: str | None = None
    parked: bool = False


class BulkRunner:
    """The bulk replays running in this process: one thread each, paused, resumed or aborted between items."""

    def __init__(self) -> None:
        self._runs: dict[int, _Control] = {}
        self._lock = threading.Lock()

    def launch(self, run_id: int, *, ctx: AppContext, base_url: str | None = None) -> None:
        """Run the pending items of ``run_id`` in a background thread."""
        control = _Control()
        with self._lock:
            if run_id in self._runs:
                raise Conflict(f"bulk run {run_id} is already running")
            self._runs[run_id] = control
        control.thread = threading.Thread(
            target=self._run, args=(run_id, ctx, control, base_url), name=f"bulk-run-{run_id}", daemon=True
        )
        control.thread.start()

    def pause(self, run_id: int, *, ctx: AppContext) -> None:
        """Pause after the item in progress finishes; returns once nothing is in progress."""
        status = self._status(run_id, ctx)
        if status != RunStatus.RUNNING:
            raise Conflict(f"bulk run {run_id} is {status}; only a running run can be paused")
        control = self._runs.get(run_id)
        if control is None:  # left running by a process that stopped
            with ctx.writer.transaction() as conn:
                set_run(conn, run_id, status=RunStatus.PAUSED)
            return
        with control.cond:
            control.pause = True
            control.cond.notify_all()
            control.cond.wait_for(lambda: control.parked or not _alive(control), timeout=_item_bound(ctx))

    def resume(self, run_id: int, *, ctx: AppContext, base_url: str | None = None) -> None:
        """Continue a paused run (in a new thread when the one that paused it is gone)."""
        status = self._status(run_id, ctx)
        if status != RunStatus.PAUSED:
            raise Conflict(f"bulk run {run_id} is {status}; only a paused run can be resumed")
        control = self._runs.get(run_id)
        if control is None or not _alive(control):
            with ctx.writer.transaction() as conn:
                set_run(conn, run_id, status=RunStatus.RUNNING)
            self.launch(run_id, ctx=ctx, base_url=base_url)
            return
        with control.cond:
            control.pause = False
            control.cond.notify_all()
            control.cond.wait_for(lambda: not control.parked or not _alive(control), timeout=5)

    def abort(self, run_id: int, *, ctx: AppContext, actor: str) -> None:
        """Stop after the item in progress; the items never started are recorded as skipped."""
        status = self._status(run_id, ctx)
        if status not in (RunStatus.RUNNING, RunStatus.PAUSED):
            raise Conflict(f"bulk run {run_id} is {status}; only a running or paused run can be aborted")
        control = self._runs.get(run_id)
        if control is not None and _alive(control):
            with control.cond:
                control.abort = True
                control.aborted_by = actor
                control.cond.notify_all()
            assert control.thread is not None
            control.thread.join(timeout=_item_bound(ctx))
            return
        with ctx.writer.transaction() as conn:
            _close_run(conn, run_id, RunStatus.ABORTED, f"aborted by {actor}", now=ctx.now())

    def stop(self, *, timeout: float = 30) -> None:
        """Shutdown: park every run after its current item (they stay resumable)."""
        with self._lock:
            controls = list(self._runs.values())
        for control in controls:
            with control.cond:
                control.pause = True
                control.cond.notify_all()
        for control in controls:
            with control.cond:
                control.cond.wait_for(partial(_settled, control), timeout=timeout)

    def _status(self, run_id: int, ctx: AppContext) -> str:
        with ctx.engine.connect() as conn:
            run = get_run(conn, run_id)
        if run is None:
            raise NotFound(f"bulk run {run_id} does not exist")
        return str(run["status"])

    # -- the run thread ---------------------------------------------------------------
    def _run(self, run_id: int, ctx: AppContext, control: _Control, base_url: str | None) -> None:
        try:
            _Run(run_id, ctx, control, base_url).execute()
        except Exception as exc:  # the run must end with a status, whatever broke
            log.exception("bulk run %s failed", run_id)
            with ctx.writer.transaction() as conn:
                set_run(
                    conn, run_id, status=RunStatus.FAILED, finished_at=ctx.now(), detail=f"{type(exc).__name__}: {exc}"
                )
        finally:
            with self._lock:
                self._runs.pop(run_id, None)
            with control.cond:
                control.cond.notify_all()


def _alive(control: _Control) -> bool:
    return control.thread is not None and control.thread.is_alive()


def _settled(control: _Control) -> bool:
    """A run's thread has parked at its pause point, or is gone."""
    return control.parked or not _alive(control)


def _item_bound(ctx: AppContext) -> float:
    """The longest one item can take (delivery timeout plus bookkeeping)."""
    return ctx.settings.replay_timeout_seconds + 30


def _close_run(conn: Connection, run_id: int, status: RunStatus, detail: str | None, *, now: datetime) -> None:
    """Final status; items never started become skipped with the reason."""
    left = [i["position"] for i in pending_items(conn, run_id)]
    if left:
        set_items(conn, run_id, left, status=ItemStatus.SKIPPED, error=f"not run: {detail}", finished_at=now)
    set_run(conn, run_id, status=status, finished_at=now, detail=detail)


class _Run:
    """One pass over a run's pending items in its thread."""

    def __init__(self, run_id: int, ctx: AppContext, control: _Control, base_url: str | None) -> None:
        self.run_id, self.ctx, self.control, self.base_url = run_id, ctx, control, base_url

    def execute(self) -> None:
        ctx = self.ctx
        with ctx.engine.connect() as conn:
            run = get_run(conn, self.run_id)
            assert run is not None
            items = pending_items(conn, self.run_id)
        counts = run["counts"]
        canary_left = max(run["canary"] - counts.get(ItemStatus.DELIVERED, 0) - counts.get(ItemStatus.FAILED, 0), 0)
        pacer = Pacer(float(run["rate_per_second"]))
        with httpx.Client(timeout=httpx.Timeout(ctx.settings.replay_timeout_seconds)) as client:
            for item in items:
                if self._should_stop(pacer):
                    with ctx.writer.transaction() as conn:
                        _close_run(
                            conn, self.run_id, RunStatus.ABORTED, f"aborted by {self.control.aborted_by}", now=ctx.now()
                        )
                    return
                pacer.wait()
                outcome = self._replay_item(item, client, str(run["actor"]))
                if canary_left:
                    canary_left -= 1
                    if outcome is not None and outcome.status is ReplayStatus.FAILED:
                        why = f"canary failed on message {outcome.event_id} of exception {item['exception_id']}: "
                        why += f"{outcome.error_code}: {outcome.error}"
                        with ctx.writer.transaction() as conn:
                            _close_run(conn, self.run_id, RunStatus.CANARY_FAILED, why, now=ctx.now())
                        return
        with ctx.writer.transaction() as conn:
            _close_run(conn, self.run_id, RunStatus.COMPLETED, None, now=ctx.now())

    def _should_stop(self, pacer: Pacer) -> bool:
        """Between items: park while paused (recording it), then tell whether to abort."""
        control = self.control
        with control.cond:
            if control.pause and not control.abort:
                with self.ctx.writer.transaction() as conn:
                    set_run(conn, self.run_id, status=RunStatus.PAUSED)
                control.parked = True
                control.cond.notify_all()
                control.cond.wait_for(lambda: not control.pause or control.abort)
                if not control.abort:
                    with self.ctx.writer.transaction() as conn:
                        set_run(conn, self.run_id, status=RunStatus.RUNNING)
                    pacer.reset()
                control.parked = False
                control.cond.notify_all()
            return control.abort

    def _replay_item(self, item: dict[str, Any], client: httpx.Client, actor: str) -> MessageOutcome | None:
        """Replay one message and record its result in the same transaction as its audit row; None if skipped."""
        ctx, position, exception_id, event_id = self.ctx, item["position"], item["exception_id"], item["event_id"]
        try:
            with ctx.actions.in_flight.hold(exception_id):
                now = ctx.now()
                with ctx.writer.transaction() as conn:
                    state, messages, active = replay.load(conn, exception_id, now=now, settings=ctx.settings)
                    messages = [m for m in messages if m["event_id"] == event_id]
                    if event_id is None or not messages:
                        raise Conflict(f"message {event_id} of exception {exception_id} was delivered meanwhile")
                    reason = _refusal(state, messages, active)
                    if reason is not None:
                        raise Conflict(reason)
                    message = messages[0]
                    route = replay.route_for(message, ctx.settings, self.base_url)
                    [claim] = replay.claim_all(conn, messages, now=now, actor=actor, bulk_run_id=self.run_id)
                delivery = replay.deliver(route, message, claim, settings=ctx.settings, client=client)

                def record_item(conn: Connection, outcome: MessageOutcome) -> None:
                    delivered = outcome.status is ReplayStatus.DELIVERED
                    set_item(
                        conn,
                        self.run_id,
                        position,
                        replay_id=outcome.replay_id,
                        finished_at=ctx.now(),
                        status=ItemStatus.DELIVERED if delivered else ItemStatus.FAILED,
                        error=None if delivered else f"{outcome.error_code}: {outcome.error}",
                    )

                outcome, _ = replay.record(ctx, message, claim, delivery, actor=actor, also=record_item)
                return outcome
        except ServiceError as exc:
            with ctx.writer.transaction() as conn:
                set_item(conn, self.run_id, position, status=ItemStatus.SKIPPED, error=str(exc), finished_at=ctx.now())
            return None
