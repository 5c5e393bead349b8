"""Alert states (Grafana's): ``ok → pending → firing → resolved``, one pure step per evaluation.

A condition must hold ``for`` a while before an alert fires (pending until then); a pending alert
whose condition clears goes back to ok without a word, a firing one becomes resolved. ``ok`` is
the absence of a row. A rule's own health (``nodata``, ``error``) is kept beside its alerts: a rule
that cannot be evaluated leaves its alerts as they were, and says so, never silently ok.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class State(StrEnum):
    """Where one alert stands."""

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Health(StrEnum):
    """How a rule's last evaluation went."""

    OK = "ok"
    NODATA = "nodata"  # the signal has no data (no queue sampled, no step completed)
    ERROR = "error"  # the rule's query failed


@dataclass(frozen=True)
class Alert:
    """One series of a rule (a label set) and its state; mirrors a row of ``alert_states``."""

    rule_id: str
    series: str
    labels: dict[str, str]
    state: State
    value: float | None
    threshold: float | None
    summary: str | None
    active_since: datetime | None
    firing_since: datetime | None
    resolved_at: datetime | None
    evaluated_at: datetime
    group_key: str | None = None
    count: int | None = field(default=None, compare=False)  # countable value (dedup compares it)

    def row(self) -> dict[str, Any]:
        """The ``alert_states`` row."""
        return {
            "rule_id": self.rule_id,
            "series": self.series,
            "labels": self.labels,
            "state": str(self.state),
            "value": self.value,
            "threshold": self.threshold,
            "summary": self.summary,
            "active_since": self.active_since,
            "firing_since": self.firing_since,
            "resolved_at": self.resolved_at,
            "evaluated_at": self.evaluated_at,
            "group_key": self.group_key,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Alert:
        """Back from a stored row."""
        return cls(**{k: row.get(k) for k in cls.__dataclass_fields__ if k != "count"} | {"state": State(row["state"])})


def step(
    previous: Alert | None,
    observed: Alert | None,
    *,
    now: datetime,
    hold: timedelta,
    retention: timedelta,
) -> Alert | None:
    """The alert after one evaluation. ``observed`` is the series with its condition true this time
    (its value, labels and summary), or None when the condition is false or the series is gone;
    the result None means ok (no row)."""
    if observed is not None:
        if previous is None or previous.state is State.RESOLVED:
            if hold <= timedelta(0):
                return replace(observed, state=State.FIRING, active_since=now, firing_since=now, resolved_at=None)
            return replace(observed, state=State.PENDING, active_since=now, firing_since=None, resolved_at=None)
        since = previous.active_since or now
        if previous.state is State.PENDING and now - since < hold:
            return replace(observed, state=State.PENDING, active_since=since, firing_since=None, resolved_at=None)
        firing_since = previous.firing_since if previous.state is State.FIRING else now
        return replace(observed, state=State.FIRING, active_since=since, firing_since=firing_since, resolved_at=None)
    if previous is None or previous.state is State.PENDING:
        return None
    if previous.state is State.FIRING:
        return replace(previous, state=State.RESOLVED, resolved_at=now, evaluated_at=now)
    if previous.resolved_at is not None and now - previous.resolved_at >= retention:
        return None
    return previous
