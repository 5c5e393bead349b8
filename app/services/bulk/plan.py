"""A bulk action's dry run: the selection (a whole filtered set, or ids), every item the action would
touch — for a replay, every undelivered failed message of every selected exception — which are
skipped and why, which risk a duplicate downstream, and how long at what pace."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy.engine import Connection

from app.services import lifecycle, replay
from app.services.errors import ServiceError
from models.enums import Action, BulkAction
from models.queries.exceptions import ExceptionFilter, existing_ids, filtered_ids, get_states
from models.queries.replays import active_replays

if TYPE_CHECKING:
    from app.settings import Settings


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
    by_exception = replay.replayable(conn, ids, duplicate_risk=True)
    active = active_replays(conn, ids)
    items: list[PlanItem] = []
    rates: list[float] = []
    for exception_id in ids:
        state, messages = states[exception_id], by_exception[exception_id]
        skip = refusal(state, messages, active[exception_id])
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


def refusal(state: dict[str, Any], messages: list[dict[str, Any]], active: list[dict[str, Any]]) -> str | None:
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
