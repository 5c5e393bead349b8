"""The notification pipeline's stages (Alertmanager's ``notify``), each one decision on plain data:

inhibit → silence → maintenance (mute) → dedup against the notification log → rate limit → send
with retries (the channels) → record. The group's ``group_wait``/``group_interval`` timers decide
*when* a group is looked at; these decide *whether* and *what* goes out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from alerts.config import InhibitRule, MaintenanceWindow
from alerts.labels import Labels, Matcher, matches_all
from alerts.state import Alert
from models.queries.incidents import IncidentScope


class Kind(StrEnum):
    """What a notification is."""

    FIRING = "firing"  # the first of a group episode
    UPDATE = "update"  # the firing set or its counts changed
    REPEAT = "repeat"  # nothing changed for repeat_interval: remind
    RESOLVED = "resolved"  # everything notified has resolved
    TEST = "test"
    DIGEST = "digest"


def inhibited(labels: Labels, sources: Sequence[Labels], rules: Sequence[InhibitRule]) -> bool:
    """True when a firing source alert explains this one: it matches a rule's ``source``, this one its
    ``target``, and one of this alert's ``target_labels`` names the source's ``source_label`` value."""
    for rule in rules:
        if not matches_all(rule.target, labels) or matches_all(rule.source, labels):
            continue
        for source in sources:
            value = source.get(rule.source_label)
            if value and matches_all(rule.source, source) and any(labels.get(t) == value for t in rule.target_labels):
                return True
    return False


#: The label an incident's own alert carries (its id): never inhibited by its incident.
INCIDENT_LABEL = "incident"


def inhibited_by_incident(labels: Labels, incidents: Sequence[IncidentScope]) -> int | None:
    """The id of an active incident that explains this alert, else None: the alert is about one of the
    incident's flows, or names its system (``system``, ``source_system``, ``target_system``). An
    incident's own alert is never inhibited, so the incident notifies once instead of each flow."""
    if labels.get(INCIDENT_LABEL):
        return None
    systems = {labels.get(name) for name in SYSTEM_LABELS} - {None, ""}
    flow = labels.get("flow")
    for incident in incidents:
        if (flow and flow in incident.flows) or incident.system_id in systems:
            return incident.incident_id
    return None


@dataclass(frozen=True)
class Silence:
    """An active silence as the stage sees it."""

    silence_id: int
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime


def silenced_by(labels: Labels, silences: Sequence[Silence], now: datetime) -> int | None:
    """The id of an active silence whose every matcher holds, else None."""
    for silence in silences:
        if silence.starts_at <= now < silence.ends_at and matches_all(silence.matchers, labels):
            return silence.silence_id
    return None


#: Labels that name a system an alert concerns (a maintenance window of any of them mutes it).
SYSTEM_LABELS = ("system", "source_system", "target_system")


def in_maintenance(labels: Labels, windows: Sequence[MaintenanceWindow], now: datetime) -> MaintenanceWindow | None:
    """The maintenance window of a system this alert concerns that covers ``now``, else None."""
    systems = {labels.get(name) for name in SYSTEM_LABELS} - {None, ""}
    return next((w for w in windows if w.system in systems and w.covers(now)), None)


def content_hash(alerts: Sequence[Alert]) -> str:
    """What makes a firing set news: which alerts, and their counts (continuous values such as a lag
    move every evaluation and would otherwise update the message each time)."""
    items = sorted((a.rule_id, a.series, a.count) for a in alerts)
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Decision:
    """Whether to notify (``kind``) and why; ``kind`` None means nothing goes out."""

    kind: Kind | None
    reason: str


def decide(
    firing: Sequence[Alert],
    resolved: Sequence[Alert],
    sent: Sequence[dict[str, Any]],
    *,
    now: datetime,
    repeat_interval: timedelta,
    can_update: bool,
) -> Decision:
    """Dedup against what the notification log says this channel already delivered for the group episode.

    ``firing`` are the alerts left after inhibition, silences and maintenance; ``resolved`` those that
    resolved in this episode; ``sent`` the log's delivered rows for (group, episode, channel).
    """
    if not sent:
        if firing:
            return Decision(Kind.FIRING, "first notification of this group")
        return Decision(None, "nothing firing that was not muted, and nothing was sent")
    last = sent[-1]
    if last["kind"] == Kind.RESOLVED:
        return Decision(None, "already resolved") if not firing else Decision(Kind.FIRING, "fires again")
    if not firing:
        if resolved:
            return Decision(Kind.RESOLVED, "every alert of the group resolved")
        return Decision(None, "the firing alerts are muted; they have not resolved")
    if content_hash(firing) != last["content_hash"]:
        if can_update:
            return Decision(Kind.UPDATE, "the firing alerts or their counts changed")
        if now - last["sent_at"] >= repeat_interval:
            return Decision(Kind.REPEAT, "changed, and repeat_interval passed (this channel cannot update)")
        return Decision(None, "changed, but this channel cannot update a message: waits for repeat_interval")
    if now - last["sent_at"] >= repeat_interval:
        return Decision(Kind.REPEAT, f"unchanged for {repeat_interval}")
    return Decision(None, "already notified, nothing changed")


def rate_limited(sent_last_hour: int, per_hour: int) -> bool:
    """True when a channel has delivered its hourly share: the notification waits for the next flush."""
    return sent_last_hour >= per_hour


def channel_retry_at(failures_in_a_row: int, last_failure_at: datetime | None) -> datetime | None:
    """When a failing channel is tried again: after 3 failures in a row it rests 2 min, doubling up to
    15 min, so it never slows the others down; None when it may be used now."""
    if failures_in_a_row < 3 or last_failure_at is None:
        return None
    rest = min(120 * 2 ** (failures_in_a_row - 3), 900)
    return last_failure_at + timedelta(seconds=rest)
