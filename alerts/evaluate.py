"""One evaluation: every enabled rule read as of ``now`` (one read connection, no lock held), then
the alerts' new states, the rules' health and the aggregation groups written in one short write.

Routing happens here: an alert's route (the rule's, else the first whose matchers hold, else the
default) and that route's ``group_by`` labels give its group. A group whose first alert fires starts
an episode whose ``group_wait`` runs from now; the notifier flushes it when that is over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from alerts import rules as rule_kinds
from alerts.config import AlertsConfig, RouteConfig, RuleConfig
from alerts.labels import labels_key, matches_all
from alerts.stages import INCIDENT_LABEL
from alerts.state import Alert, Health, State, step
from models.queries import alerts as store

DEFAULT_ROUTE = "default"


@dataclass
class EvaluationReport:
    """What one evaluation did."""

    rules: int = 0
    firing: int = 0
    pending: int = 0
    resolved: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    nodata: dict[str, str] = field(default_factory=dict)
    groups_started: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0


@dataclass
class Writes:
    """What an evaluation changes: alert states to store and to drop, rule health, new group episodes."""

    states: list[Alert] = field(default_factory=list)
    drop: list[tuple[str, str]] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)


def routes(config: AlertsConfig) -> dict[str, RouteConfig]:
    """The configured routes, plus the default one (every channel) unless the file names its own."""
    out = {r.name: r for r in config.routes}
    out.setdefault(DEFAULT_ROUTE, RouteConfig(name=DEFAULT_ROUTE))
    return out


def route_for(labels: dict[str, str], rule: RuleConfig, table: dict[str, RouteConfig]) -> RouteConfig:
    """The rule's route, else the first route with matchers that all hold, else the default."""
    if rule.route and rule.route in table:
        return table[rule.route]
    return next((r for r in table.values() if r.matchers and matches_all(r.matchers, labels)), table[DEFAULT_ROUTE])


def group_of(labels: dict[str, str], route: RouteConfig, config: AlertsConfig) -> tuple[str, dict[str, str]]:
    """The group key and the group's labels (the route's ``group_by`` values; an incident's alert is a group
    of its own, so each incident is one conversation whatever the grouping)."""
    group_labels = {name: labels.get(name, "") for name in (route.group_by or config.group_by)}
    if labels.get(INCIDENT_LABEL):
        group_labels[INCIDENT_LABEL] = labels[INCIDENT_LABEL]
    return labels_key({"route": route.name, **group_labels}), group_labels


#: The label that marks a rule's own alert about its health (``error`` or ``nodata``), beside its series.
HEALTH_LABEL = "rule_health"
_HEALTH_SAYS = {Health.ERROR: "cannot be evaluated", Health.NODATA: "has no data"}


def health_observation(rule: RuleConfig, health: Health, detail: str | None) -> rule_kinds.Observation:
    """A rule that cannot be read, as an observation of its own (Grafana's DatasourceError / NoData alert)."""
    summary = f"Rule {rule.name!r} {_HEALTH_SAYS[health]}: {detail or health}"
    return rule_kinds.Observation({"kind": HEALTH_LABEL, HEALTH_LABEL: str(health)}, 1.0, 1.0, summary[:500])


def stored_rules(conn: Connection) -> list[RuleConfig]:
    """Every rule in the database, enabled or not."""
    return [RuleConfig.model_validate(r["definition"] | {"enabled": r["enabled"]}) for r in store.list_rules(conn)]


def evaluate(conn: Connection, config: AlertsConfig, *, now: datetime) -> tuple[Writes, EvaluationReport]:
    """Read every rule and compute the writes (states, health, groups) without writing them."""
    began = time.perf_counter()
    report = EvaluationReport()
    table = routes(config)
    all_rules = stored_rules(conn)
    known = {r.id: r for r in all_rules}
    previous = {(s["rule_id"], s["series"]): Alert.from_row(s) for s in store.load_states(conn)}
    groups = {g["group_key"]: g for g in store.list_groups(conn)}
    writes = Writes()
    upserts, deletes, health = writes.states, writes.drop, writes.health
    group_labels: dict[str, tuple[str, dict[str, str]]] = {}

    for rule in all_rules:
        mine = {series: a for (rule_id, series), a in previous.items() if rule_id == rule.id}
        observed: dict[str, Alert] = {}
        unreadable = False
        if rule.enabled:
            report.rules += 1
            started = time.perf_counter()
            reading = rule_kinds.read(conn, rule, now)
            health.append(
                {
                    "rule_id": rule.id,
                    "health": str(reading.health),
                    "detail": reading.detail,
                    "evaluated_at": now,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                }
            )
            if reading.health is Health.ERROR:
                report.errors[rule.id] = reading.detail or "error"
            elif reading.health is Health.NODATA:
                report.nodata[rule.id] = reading.detail or "no data"
            # an unreadable signal is not a clear one: the rule's alerts stay as they were, and the
            # rule itself becomes an alert (notified once, resolved when it reads again)
            unreadable = reading.health is not Health.OK
            observations = reading.observations
            if unreadable and (reading.health is Health.ERROR or rule.on_nodata == "notify"):
                observations = [health_observation(rule, reading.health, reading.detail)]
            for ob in observations:
                labels = {"alertname": rule.id, "severity": rule.severity, **rule.labels, **ob.labels}
                route = route_for(labels, rule, table)
                key, glabels = group_of(labels, route, config)
                group_labels[key] = (route.name, glabels)
                series = labels_key(labels)
                observed[series] = Alert(
                    rule.id, series, labels, State.PENDING, ob.value, ob.threshold, ob.summary,
                    None, None, None, now, key, ob.count,
                )  # fmt: skip
        for series in sorted(set(mine) | set(observed)):
            if unreadable and series not in observed and not mine[series].labels.get(HEALTH_LABEL):
                continue  # kept as it was
            new = step(
                mine.get(series), observed.get(series), now=now, hold=rule.for_, retention=config.resolved_retention
            )
            _collect(new, rule.id, series, upserts, deletes)

    for (rule_id, series), alert in previous.items():  # alerts of rules that no longer exist resolve
        if rule_id not in known:
            new = step(alert, None, now=now, hold=timedelta(0), retention=config.resolved_retention)
            _collect(new, rule_id, series, upserts, deletes)

    final = {(a.rule_id, a.series): a for a in previous.values()}
    for key in deletes:
        final.pop(key, None)
    final.update({(a.rule_id, a.series): a for a in upserts})
    for alert in final.values():
        report.firing += alert.state is State.FIRING
        report.pending += alert.state is State.PENDING
        report.resolved += alert.state is State.RESOLVED
        if alert.state is not State.FIRING or alert.group_key is None:
            continue
        group = groups.get(alert.group_key)
        if group is not None and group["status"] == "active":
            continue
        route_name, glabels = group_labels.get(alert.group_key, (DEFAULT_ROUTE, {}))
        route = table.get(route_name, table[DEFAULT_ROUTE])
        new_group = {
            "group_key": alert.group_key,
            "route": route_name,
            "labels": glabels,
            "episode": (group["episode"] if group else 0) + 1,
            "status": "active",
            "started_at": now,
            "next_flush_at": now + (route.group_wait if route.group_wait is not None else config.group_wait),
            "last_flush_at": None,
            "closed_at": None,
        }
        groups[alert.group_key] = new_group
        writes.groups.append(new_group)
        report.groups_started.append(alert.group_key)
    report.elapsed_seconds = round(time.perf_counter() - began, 4)
    return writes, report


def _collect(
    new: Alert | None, rule_id: str, series: str, upserts: list[Alert], deletes: list[tuple[str, str]]
) -> None:
    if new is None:
        deletes.append((rule_id, series))
    else:
        upserts.append(new)


def write(conn: Connection, writes: Writes) -> None:
    """Store what :func:`evaluate` computed, in the caller's (write) transaction."""
    store.save_states(conn, [a.row() for a in writes.states], writes.drop)
    store.save_health(conn, writes.health)
    for group in writes.groups:
        store.save_group(conn, group)
