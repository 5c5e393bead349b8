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

from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from app.services import lifecycle
from app.services.bulk.plan import BulkPlan, PlanItem, Selection, plan_bulk_action, plan_bulk_replay, select
from app.services.bulk.run import BulkRunner
from app.services.errors import InvalidRequest, NotFound
from models.enums import Action, BulkAction, ItemStatus, RunStatus
from models.queries.bulk_runs import create_run, get_run, run_items, set_run

if TYPE_CHECKING:
    from datetime import datetime

    from app.context import AppContext

__all__ = [
    "BulkAction", "BulkPlan", "BulkRunner", "PlanItem", "Selection", "apply_bulk", "plan_bulk_action",
    "plan_bulk_replay", "run_report", "select", "start_run",
]  # fmt: skip


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
