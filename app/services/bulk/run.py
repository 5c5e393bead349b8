"""Delivering a stored bulk replay: one background thread per run, paced, canary first, paused or
aborted between messages only — each message's delivery, result row and audit row finish together."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.engine import Connection

from app.services import replay
from app.services.bulk.plan import refusal
from app.services.delivery import Pacer
from app.services.errors import Conflict, NotFound, ServiceError
from app.services.replay import MessageOutcome
from collectors.tls import tls_context
from models.enums import ItemStatus, ReplayStatus, RunStatus
from models.queries.bulk_runs import get_run, pending_items, set_item, set_items, set_run

if TYPE_CHECKING:
    from app.context import AppContext

log = logging.getLogger(__name__)


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
    """Final status; items never started become skipped with the reason, and their exceptions settle
    (one whose messages were all delivered meanwhile, e.g. by a single replay, is no longer kept open
    waiting for this run)."""
    left = pending_items(conn, run_id)
    if left:
        positions = [i["position"] for i in left]
        set_items(conn, run_id, positions, status=ItemStatus.SKIPPED, error=f"not run: {detail}", finished_at=now)
    set_run(conn, run_id, status=status, finished_at=now, detail=detail)
    for exception_id in sorted({int(i["exception_id"]) for i in left}):
        replay.settle(conn, exception_id, now=now)


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
        with httpx.Client(timeout=httpx.Timeout(ctx.settings.replay_timeout_seconds), verify=tls_context()) as client:
            for item in items:
                if self._should_stop(pacer):
                    with ctx.writer.transaction() as conn:
                        _close_run(
                            conn, self.run_id, RunStatus.ABORTED, f"aborted by {self.control.aborted_by}", now=ctx.now()
                        )
                    return
                pacer.wait()
                outcome = self._replay_item(item, client, str(run["actor"]), run["created_at"])
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

    def _replay_item(
        self, item: dict[str, Any], client: httpx.Client, actor: str, planned_at: datetime
    ) -> MessageOutcome | None:
        """Replay one message and record its result in the same transaction as its audit row; None if skipped."""
        ctx, position, exception_id, event_id = self.ctx, item["position"], item["exception_id"], item["event_id"]
        try:
            with ctx.actions.in_flight.hold(exception_id):
                now = ctx.now()
                with ctx.writer.transaction() as conn:
                    if event_id is None:
                        raise Conflict(f"exception {exception_id} has no message to replay")
                    state, messages, active = replay.load(
                        conn, exception_id, now=now, settings=ctx.settings, event_id=event_id
                    )
                    delivered = messages[0]["message_delivered_at"] if messages else None
                    if not messages or (delivered is not None and delivered >= planned_at):
                        # (one delivered before the plan was planned again: reopened, the target lost it)
                        raise Conflict(f"message {event_id} of exception {exception_id} was delivered meanwhile")
                    reason = refusal(state, messages, active)
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
                # its exception may have been waiting for this item (e.g. the last message, delivered meanwhile)
                replay.settle(conn, exception_id, now=ctx.now())
            return None
