"""The notifier: flush every aggregation group whose ``group_wait`` / ``group_interval`` is over, through
the stages of :mod:`alerts.stages`, for each channel of its route, and record each outcome.

Reads use their own connection and each log row its own short write, so no lock is held while a
channel talks to Slack or an SMTP relay; a failing channel rests (it shows in the log and the UI)
and never holds up the others or the evaluation, which runs as its own job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Connection, Engine

from alerts import render
from alerts import rules as rule_kinds
from alerts.channels.base import Channel, Message
from alerts.config import SEVERITIES, AlertsConfig, RuleConfig, RuleKind
from alerts.evaluate import DEFAULT_ROUTE, HEALTH_LABEL, routes, stored_rules
from alerts.labels import Matcher
from alerts.stages import (
    Kind,
    Silence,
    channel_retry_at,
    content_hash,
    decide,
    in_maintenance,
    inhibited,
    inhibited_by_incident,
    rate_limited,
    silenced_by,
)
from alerts.state import Alert, State
from models.queries import alerts as store
from models.queries.alert_signals import Impact, flow_systems, impact, related_exceptions, system_names
from models.queries.correlation import likely_cause
from models.queries.incidents import IncidentScope, active_scopes

log = logging.getLogger(__name__)

#: Rule kinds whose value is a count: a change of it is news (an update), a move of a lag is not.
COUNTED = (
    RuleKind.EXCEPTIONS, RuleKind.ORDERS_AT_RISK, RuleKind.QUEUE_DEPTH, RuleKind.BACKLOG_CUTOFF, RuleKind.INCIDENTS,
)  # fmt: skip
#: A group with a delivery still owed is looked at again this soon (not a whole group_interval later).
RETRY_SOON = timedelta(seconds=60)


class Transactional(Protocol):
    """The ingest writer, as far as alerts use it."""

    def transaction(self) -> AbstractContextManager[Connection]: ...


@dataclass(frozen=True)
class Outcome:
    """One channel's part of one flush."""

    group_key: str
    channel: str
    kind: str | None
    result: str  # sent, failed, rate_limited, resting, skipped
    detail: str


class Notifier:
    """Flushes due groups; one flush at a time per process."""

    def __init__(
        self,
        config: AlertsConfig,
        channels: dict[str, Channel],
        *,
        engine: Engine,
        writer: Transactional,
        base_url: str,
        cause: Callable[[Connection, int], str | None] | None = None,
    ) -> None:
        self.config, self.channels, self.engine, self.writer = config, channels, engine, writer
        self.base_url = base_url
        self.cause = cause or _likely_cause
        self.lock = threading.Lock()

    # -- reading what a group is -------------------------------------------------------------
    def members(self, states: list[Alert], group: dict[str, Any]) -> tuple[list[Alert], list[Alert]]:
        """The group's firing alerts, and those that resolved in this episode."""
        mine = [a for a in states if a.group_key == group["group_key"]]
        firing = [a for a in mine if a.state is State.FIRING]
        resolved = [
            a for a in mine if a.state is State.RESOLVED and a.resolved_at and a.resolved_at >= group["started_at"]
        ]
        return firing, resolved

    def visible(
        self,
        firing: list[Alert],
        everything: list[Alert],
        silences: list[Silence],
        now: datetime,
        incidents: Sequence[IncidentScope] = (),
    ) -> tuple[list[Alert], int]:
        """Inhibit (rules, then active incidents), silence and maintenance stages: the alerts left to
        notify, and how many were muted."""
        sources = [a.labels for a in everything if a.state is State.FIRING]
        shown = [
            a
            for a in firing
            if not inhibited(a.labels, sources, self.config.inhibit)
            and inhibited_by_incident(a.labels, incidents) is None
            and silenced_by(a.labels, silences, now) is None
            and in_maintenance(a.labels, self.config.maintenance, now) is None
        ]
        return shown, len(firing) - len(shown)

    def exception_ids(self, conn: Connection, alerts: list[Alert], now: datetime) -> tuple[list[int], list[str]]:
        """The active exceptions (and the orders named directly) the alerts are about."""
        rules = {r.id: r for r in stored_rules(conn)}
        scopes = [rule_kinds.scope(conn, rules.get(a.rule_id), a.labels, now) for a in alerts]
        orders = sorted({o for s in scopes for o in s.orders})
        return related_exceptions(conn, scopes, now=now), orders

    def view(
        self, conn: Connection, group: dict[str, Any], alerts: list[Alert], *, status: str, muted: int, now: datetime
    ) -> render.GroupView:
        """What a notification of the group says now."""
        rules = {r.id: r for r in stored_rules(conn)}
        ids, orders = self.exception_ids(conn, alerts, now)
        held: Impact = impact(conn, ids, extra_orders=orders)
        cause = None
        if held.top_exceptions:
            try:
                cause = self.cause(conn, int(held.top_exceptions[0]["exception_id"]))
            except Exception:  # the likely cause is a hint; its absence must not stop a notification
                log.exception("likely cause of exception %s failed", held.top_exceptions[0]["exception_id"])
        if cause is None:  # a rule that cannot be read: why is the cause
            cause = next((a.summary for a in alerts if a.labels.get(HEALTH_LABEL)), None)
        severity = min((a.labels.get("severity", "low") for a in alerts), key=_rank, default="medium")
        labels = {**_shared(alerts), **{k: v for k, v in group["labels"].items() if v}}
        return render.GroupView(
            group_key=group["group_key"],
            episode=int(group["episode"]),
            status=status,
            title=self.title(conn, labels, alerts, rules),
            severity=severity,
            alerts=[
                render.AlertLine(
                    rules[a.rule_id].name if a.rule_id in rules else a.rule_id,
                    a.summary or "",
                    a.labels,
                    a.firing_since,
                )
                for a in alerts
            ],
            impact=held,
            base_url=self.base_url,
            started_at=min((a.firing_since or now for a in alerts), default=group["started_at"]),
            now=now,
            group_labels=labels,
            likely_cause=cause,
            resolved_at=max((a.resolved_at for a in alerts if a.resolved_at), default=None),
            muted=muted,
        )

    @staticmethod
    def title(conn: Connection, labels: dict[str, str], alerts: list[Alert], rules: dict[str, RuleConfig]) -> str:
        """``<rule name(s)> · <flow or system name>``."""
        names = sorted({_alert_name(a, rules) for a in alerts})
        what = names[0] if len(names) == 1 else f"{len(names)} alerts"
        where = labels.get("flow") or labels.get("system") or labels.get("queue")
        if labels.get("flow"):
            flows = flow_systems(conn).set_index("flow_id")["name"]
            where = str(flows.get(labels["flow"], labels["flow"]))
        elif labels.get("system"):
            where = system_names(conn).get(labels["system"], labels["system"])
        return f"{what} · {where}" if where else what

    # -- the flush ---------------------------------------------------------------------------
    def flush(self, now: datetime) -> list[Outcome]:
        """Flush every due group; answers what each channel did."""
        with self.lock:
            with self.engine.connect() as conn:
                due = store.due_groups(conn, now=now)
                if not due:
                    return []
                states = [Alert.from_row(r) for r in store.load_states(conn)]
                silences = [
                    Silence(s["silence_id"], [Matcher.model_validate(m) for m in s["matchers"]], s["starts_at"],
                            s["ends_at"])
                    for s in store.list_silences(conn, now=now, active_only=True)
                ]  # fmt: skip
                kinds = {r.id: r.kind for r in stored_rules(conn)}
            outcomes: list[Outcome] = []
            for group in due:
                try:
                    outcomes += self._flush_group(group, states, silences, kinds, now)
                except Exception:  # one broken group must not keep the others from being notified
                    log.exception("flushing alert group %s failed", group["group_key"])
                    self._reschedule(group, now, owed=True, closed=False)
            return outcomes

    def _flush_group(
        self,
        group: dict[str, Any],
        states: list[Alert],
        silences: list[Silence],
        kinds: dict[str, RuleKind],
        now: datetime,
    ) -> list[Outcome]:
        firing, resolved = self.members(states, group)
        firing = [_counted(a, kinds) for a in firing]
        with self.engine.connect() as conn:
            incidents = active_scopes(conn)
        shown, muted = self.visible(firing, states, silences, now, incidents)
        route = routes(self.config).get(group["route"]) or routes(self.config)[DEFAULT_ROUTE]
        repeat = route.repeat_interval if route.repeat_interval is not None else self.config.repeat_interval
        names = [
            n for n in (route.channels if route.channels is not None else list(self.channels)) if n in self.channels
        ]
        outcomes, owed, views = [], False, {}
        with self.engine.connect() as conn:
            health = store.channel_health(conn)
        for name in names:
            channel = self.channels[name]
            with self.engine.connect() as conn:
                sent = store.sent_log(conn, group["group_key"], int(group["episode"]), name)
                last_hour = store.sent_since(conn, name, now - timedelta(hours=1))
            decision = decide(shown, resolved, sent, now=now, repeat_interval=repeat, can_update=channel.can_update)
            if decision.kind is None:
                outcomes.append(Outcome(group["group_key"], name, None, "skipped", decision.reason))
                continue
            state = health.get(name, {})
            retry_at = channel_retry_at(state.get("failures_in_a_row", 0), state.get("last_failure_at"))
            if retry_at is not None and now < retry_at:
                owed = True
                outcomes.append(
                    Outcome(group["group_key"], name, decision.kind, "resting", f"failing; next try {retry_at}")
                )
                continue
            limit = getattr(getattr(channel, "config", None), "rate_limit_per_hour", 60)
            if rate_limited(last_hour, limit):
                owed = True
                self._log(
                    name,
                    decision.kind,
                    group,
                    "rate_limited",
                    f"{last_hour} sent in the last hour (limit {limit})",
                    now,
                )
                outcomes.append(Outcome(group["group_key"], name, decision.kind, "rate_limited", "held back"))
                continue
            status = "resolved" if decision.kind is Kind.RESOLVED else "firing"
            if status not in views:
                with self.engine.connect() as conn:
                    alerts = shown if status == "firing" else resolved
                    views[status] = self.view(conn, group, alerts, status=status, muted=muted, now=now)
            view = views[status]
            previous = _previous_summary(sent)
            message = compose(view, str(decision.kind), previous)
            delivery = channel.deliver(message, [r["message_ref"] for r in sent if r.get("message_ref")])
            owed = owed or not delivery.ok
            self._log(
                name, decision.kind, group, "sent" if delivery.ok else "failed", delivery.detail, now,
                attempts=delivery.attempts, ref=delivery.ref, content=content_hash(shown),
                payload=_payload(view, message, channel),
            )  # fmt: skip
            outcomes.append(
                Outcome(group["group_key"], name, decision.kind, "sent" if delivery.ok else "failed", delivery.detail)
            )
        self._reschedule(group, now, owed=owed, closed=not firing and not owed, interval=route.group_interval)
        return outcomes

    def _reschedule(
        self, group: dict[str, Any], now: datetime, *, owed: bool, closed: bool, interval: timedelta | None = None
    ) -> None:
        interval = interval if interval is not None else self.config.group_interval
        updated = {
            **group,
            "last_flush_at": now,
            "next_flush_at": now + (min(interval, RETRY_SOON) if owed else interval),
        }
        if closed:
            updated |= {"status": "closed", "closed_at": now}
        with self.writer.transaction() as conn:
            store.save_group(conn, updated)

    def _log(
        self,
        channel: str,
        kind: Kind | str,
        group: dict[str, Any] | None,
        result: str,
        detail: str,
        now: datetime,
        *,
        attempts: int = 0,
        ref: dict[str, Any] | None = None,
        content: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        with self.writer.transaction() as conn:
            store.log_notification(
                conn,
                {
                    "channel": channel,
                    "kind": str(kind),
                    "group_key": group["group_key"] if group else None,
                    "episode": int(group["episode"]) if group else None,
                    "sent_at": now,
                    "result": result,
                    "detail": detail[:2000],
                    "attempts": attempts,
                    "message_ref": ref,
                    "content_hash": content,
                    "payload": payload,
                },
            )

    def record(
        self, channel: str, kind: str, key: str | None, delivery: Any, now: datetime, payload: dict[str, Any]
    ) -> None:
        """Log a notification outside a group (tests, digests)."""
        self._log(
            channel, kind, {"group_key": key, "episode": 0} if key else None,
            "sent" if delivery.ok else "failed", delivery.detail, now,
            attempts=delivery.attempts, ref=delivery.ref, payload=payload,
        )  # fmt: skip


def compose(view: render.GroupView, kind: str, previous: dict[str, Any] | None) -> Message:
    """One notification of a group for every channel."""
    return Message(
        kind=kind,
        text=render.fallback_text(view),
        blocks=render.slack_blocks(view),
        subject=render.subject(view),
        body_text=render.email_text(view),
        body_html=render.email_html(view),
        thread_text=render.change_text(view, previous) if kind != "firing" else None,
    )


def _payload(view: render.GroupView, message: Message, channel: Channel) -> dict[str, Any]:
    """What the log keeps of a notification: the numbers it said, and what the channel was sent."""
    imp = view.impact
    summary = {
        "title": view.title,
        "status": view.status,
        "alerts": [{"rule": a.rule, "summary": a.summary} for a in view.alerts],
        "exceptions": imp.exceptions,
        "orders": imp.orders,
        "value_at_risk": round(imp.value_at_risk, 2),
        "earliest_ship_by": imp.earliest_ship_by.isoformat() if imp.earliest_ship_by else None,
        "customer_tier": imp.customer_tier,
        "likely_cause": view.likely_cause,
        "muted": view.muted,
    }
    if channel.type == "email":
        return {"summary": summary, "subject": message.subject, "text": message.body_text}
    return {"summary": summary, "text": message.text, "blocks": message.blocks, "thread_text": message.thread_text}


def _previous_summary(sent: list[dict[str, Any]]) -> dict[str, Any] | None:
    for row in reversed(sent):
        payload = row.get("payload")
        if isinstance(payload, dict):
            return payload.get("summary")
    return None


def _counted(alert: Alert, kinds: dict[str, RuleKind]) -> Alert:
    """The alert with its count set when its rule's value is a count (dedup compares counts)."""
    if kinds.get(alert.rule_id) in COUNTED and alert.value is not None:
        return replace(alert, count=int(alert.value))
    return alert


def _alert_name(alert: Alert, rules: dict[str, RuleConfig]) -> str:
    """The rule's name; for a rule's own health alert, what is wrong with it."""
    name = rules[alert.rule_id].name if alert.rule_id in rules else alert.rule_id
    health = alert.labels.get(HEALTH_LABEL)
    if health:
        return f"Rule {name!r} " + ("cannot be evaluated" if health == "error" else "has no data")
    return name


def _likely_cause(conn: Connection, exception_id: int) -> str | None:
    """The sentence of the query layer's likely cause of an exception."""
    found = likely_cause(conn, exception_id=exception_id)
    return str(found["text"]) if found and found.get("text") else None


def _shared(alerts: list[Alert]) -> dict[str, str]:
    """The flow, system, queue and kind every alert of a group has in common (a group keyed by flow
    and kind still names the one system all its ingest-silence alerts are about)."""
    out = {}
    for name in ("flow", "system", "queue", "kind"):
        values = {a.labels.get(name) for a in alerts}
        if len(values) == 1 and (value := values.pop()):
            out[name] = value
    return out


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
