"""What a detection rule returns, and the thresholds rules share: the pieces every rule module
(:mod:`models.detection.rules`, :mod:`models.detection.silent`, :mod:`models.detection.reconcile`) imports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd

#: Columns of an occurrence frame.
OCCURRENCE_COLUMNS = (
    "kind", "flow_id", "key", "system_id", "error_class", "message", "event_id", "at", "correlation_id",
)  # fmt: skip


@dataclass(frozen=True)
class DetectionSettings:
    """Thresholds of the rules (flows carry their own SLA and lag threshold)."""

    max_attempts: int = 3
    #: Failed deliveries are looked for this far back; exceptions about older ones are left as they are.
    failure_lookback: timedelta = timedelta(days=7)
    sync_lag_window: timedelta = timedelta(minutes=15)
    queue_max_depth: int = 5000
    queue_max_age_seconds: float = 300.0
    #: A queue whose latest sample is older than this is not judged (no news is not good news).
    queue_sample_max_age: timedelta = timedelta(minutes=10)
    #: How far back a queue's current episode over threshold is traced.
    queue_episode_lookback: timedelta = timedelta(hours=24)
    critical_affected_orders: int = 50
    #: Hold-down: an exception auto-resolves only once its condition stayed clear this many passes…
    resolve_after_passes: int = 2
    #: …and at least this long, so a condition that toggles does not open and resolve a series.
    resolve_after: timedelta = timedelta(minutes=10)
    #: A fingerprint that fails again within this long of its resolution reopens the same
    #: exception; later, it is a new incident and opens a new one.
    reopen_window: timedelta = timedelta(hours=24)
    #: Expected next events are looked for after start events this far back.
    expectation_lookback: timedelta = timedelta(days=7)
    #: Reconciliation covers this many days (UTC), today included.
    reconciliation_days: int = 3
    #: An incident opens when at least this many active exceptions first seen within ``incident_window``,
    #: over at least ``incident_min_flows`` flows, share a system (models/detection/incidents.py).
    incident_min_exceptions: int = 3
    incident_min_flows: int = 2
    incident_window: timedelta = timedelta(minutes=30)


@dataclass
class RuleResult:
    """What one rule found, which exceptions it answers for, and why they clear."""

    name: str
    occurrences: pd.DataFrame
    owns: Callable[[dict[str, Any]], bool]  # over a stored exception (kind, error_class, business_key, last_seen)
    clear_reason: str
    #: The occurrences are failed messages (event_id, correlation_id): their exceptions keep each one
    #: for replay, and messages no longer failing were delivered by their source.
    carries_messages: bool = False


def occurrence_frame(rows: pd.DataFrame | list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in OCCURRENCE_COLUMNS:
        if column not in frame:
            frame[column] = None
    return frame[list(OCCURRENCE_COLUMNS)]


def duration_text(seconds: float) -> str:
    """``900`` → ``15 min``, ``7200`` → ``2 h``: SLAs as people say them."""
    seconds = float(seconds)
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:.0f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
