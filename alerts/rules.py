"""Each rule kind: how it reads its signal from the query layer, which series are over threshold,
and which exceptions and orders an alert of it is about (its business impact).

A rule yields one :class:`Observation` per series (flow, queue, source…) whose value is at or above
its threshold; labels name the series so routes, silences and inhibition can select it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from alerts.config import RuleConfig, RuleKind
from alerts.stages import INCIDENT_LABEL
from alerts.state import Health
from models.enums import ACTIVE_INCIDENT_STATUSES
from models.queries import alert_signals as signals
from models.queries.alert_signals import Scope
from models.queries.forecast import backlog_forecast
from models.queries.incidents import list_incidents


@dataclass(frozen=True)
class Observation:
    """One series of a rule whose condition holds now."""

    labels: dict[str, str]
    value: float
    threshold: float
    summary: str
    count: int | None = None  # the value, when it is a count (a change of it is news)


@dataclass(frozen=True)
class Reading:
    """What one evaluation of a rule found."""

    observations: list[Observation]
    health: Health = Health.OK
    detail: str | None = None


def _flows(conn: Connection) -> dict[str, dict[str, Any]]:
    return {r["flow_id"]: r for r in signals.flow_systems(conn).to_dict("records")}


def _flow_labels(flow_id: str | None, flows: dict[str, dict[str, Any]]) -> dict[str, str]:
    flow = flows.get(flow_id or "")
    if flow is None:
        return {"flow": flow_id} if flow_id else {}
    return {"flow": str(flow_id), "source_system": flow["source_system"], "target_system": flow["target_system"]}


def _minutes(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def _sync_lag(conn: Connection, rule: RuleConfig, now: datetime) -> Reading:
    lag = signals.sync_lag_p95(conn, now=now, window=rule.window)
    if rule.flow:
        lag = lag[lag["flow_id"].isin(rule.flow)]
        if lag.empty:
            return Reading([], Health.NODATA, f"no step of {', '.join(rule.flow)} completed in the last {rule.window}")
    flows, out = _flows(conn), []
    for r in lag.itertuples():
        limit = rule.threshold * float(r.sla_seconds)
        if r.p95_seconds is not None and not pd.isna(r.p95_seconds) and float(r.p95_seconds) >= limit:
            summary = (
                f"sync lag p95 {_minutes(float(r.p95_seconds))} against a {_minutes(float(r.sla_seconds))} SLA "
                f"({int(r.steps)} steps in the last {_minutes(rule.window.total_seconds())})"
            )
            labels = {**_flow_labels(r.flow_id, flows), "kind": "sync_lag"}
            out.append(Observation(labels, float(r.p95_seconds), limit, summary))
    return Reading(out)


def _exceptions(conn: Connection, rule: RuleConfig, now: datetime) -> Reading:
    counts = signals.open_exception_counts(
        conn,
        now=now,
        by=rule.by,
        kinds=rule.exception_kind,
        flows=rule.flow,
        systems=rule.system,
        severities=rule.exception_severity,
    )
    out = []
    for r in counts.to_dict("records"):
        n = int(r["exceptions"])
        if n < rule.threshold:
            continue
        labels: dict[str, str] = {"kind": "exceptions"}
        for name in rule.by:
            if r[name] is not None and not pd.isna(r[name]):
                labels[name] = str(r[name])
        if "flow" in rule.by and labels.get("flow"):
            labels |= {k: str(r[k]) for k in ("source_system", "target_system") if r.get(k) and not pd.isna(r[k])}
        orders = int(r["affected_orders"] or 0)
        summary = f"{n:,} open exception{'s' * (n != 1)} holding {orders:,} order{'s' * (orders != 1)}"
        out.append(Observation(labels, float(n), rule.threshold, summary, count=n))
    return Reading(out)


def _queues(conn: Connection, rule: RuleConfig, now: datetime) -> Reading:
    queues = signals.latest_queues(conn, now=now)
    if rule.queue:
        queues = queues[[fnmatch.fnmatchcase(str(q), rule.queue) for q in queues["queue"]]]
    if rule.dlq is not None:
        queues = queues[queues["is_dlq"] == rule.dlq]
    if queues.empty:
        return Reading([], Health.NODATA, "no matching queue was sampled in the last 10 minutes")
    flows, out = _flows(conn), []
    age = rule.kind is RuleKind.QUEUE_AGE
    for r in queues.to_dict("records"):
        raw = r["oldest_age_seconds"] if age else r["depth"]
        if raw is None or pd.isna(raw):
            continue
        value = float(raw) / 60 if age else float(raw)
        if value < rule.threshold:
            continue
        flow_id = None if r["flow_id"] is None or pd.isna(r["flow_id"]) else str(r["flow_id"])
        labels = {**_flow_labels(flow_id, flows), "queue": str(r["queue"]), "kind": str(rule.kind)}
        what = f"oldest message {_minutes(value * 60)}" if age else f"{int(value):,} messages waiting"
        summary = f"{r['queue']}: {what} (threshold {rule.threshold:g}{' min' if age else ''})"
        out.append(Observation(labels, value, rule.threshold, summary, count=None if age else int(value)))
    return Reading(out)


def _cycle_time(conn: Connection, rule: RuleConfig, now: datetime) -> Reading:
    frame = signals.cycle_time_p95(conn, now=now, window=rule.window, by_channel=bool(rule.system))
    if rule.system:
        frame = frame[frame["grp"].isin(rule.system)]
    frame = frame[frame["n"] > 0]
    if frame.empty:
        return Reading([], Health.NODATA, f"no order created in the last {rule.window} has shipped")
    out = []
    for r in frame.itertuples():
        if float(r.p95_hours) < rule.threshold:
            continue
        labels = {"kind": "cycle_time"} | ({"system": str(r.grp)} if rule.system else {})
        summary = (
            f"order cycle time p95 {r.p95_hours:.1f} h ({int(r.n):,} orders shipped; threshold {rule.threshold:g} h)"
        )
        out.append(Observation(labels, float(r.p95_hours), rule.threshold, summary))
    return Reading(out)


def _at_risk(conn: Connection, rule: RuleConfig, now: datetime) -> Reading:
    orders = signals.orders_at_risk(conn, now=now, horizon=rule.horizon, lookback=rule.lookback)
    out = []
    for system, rows in orders.groupby("system", sort=True):
        n = len(rows)
        if n < rule.threshold:
            continue
        late = int((rows["ship_by"] <= now).sum())
        summary = (
            f"{n:,} orders waiting at {system} due to ship within {_minutes(rule.horizon.total_seconds())}"
            f" ({late:,} already past their ship-by)"
        )
        labels = {"kind": "orders_at_risk", "system": str(system)}
        out.append(Observation(labels, float(n), rule.threshold, summary, count=n))
    return Reading(out)


def _ingest_silence(conn: Connection, rule: RuleConfig, now: datetime) -> Reading:
    sources = signals.last_event_per_source(conn, now=now, lookback=rule.lookback)
    if rule.source:
        sources = sources[sources["source"].isin(rule.source)]
    if sources.empty:
        return Reading([], Health.NODATA, f"no events from {', '.join(rule.source) or 'any source'} in {rule.lookback}")
    out = []
    for r in sources.itertuples():
        minutes = (now - pd.Timestamp(r.last_received_at).to_pydatetime()).total_seconds() / 60
        if minutes < rule.threshold:
            continue
        summary = f"no events from {r.source} for {_minutes(minutes * 60)} (threshold {rule.threshold:g} min)"
        out.append(Observation({"kind": "ingest_silence", "system": str(r.source)}, minutes, rule.threshold, summary))
    return Reading(out)


def _backlog_cutoff(conn: Connection, rule: RuleConfig, now: datetime) -> Reading:
    forecasts = [
        f for f in backlog_forecast(conn, now=now, window=rule.window)
        if not rule.queue or fnmatch.fnmatchcase(f.queue, rule.queue)
    ]  # fmt: skip
    if not forecasts:
        return Reading([], Health.NODATA, f"no matching queue was sampled in the last {rule.window}")
    flows, out = _flows(conn), []
    for f in forecasts:
        if f.misses_cutoff < rule.threshold:
            continue
        summary = (
            f"{f.queue}: {f.misses_cutoff:,} of {f.depth:,} waiting will miss {f.target_system}'s {f.cutoff} cut-off "
            f"(in {f.arrivals_per_min:g}/min, out {f.throughput_per_min:g}/min)"
        )
        labels = {**_flow_labels(f.flow_id, flows), "queue": f.queue, "kind": "backlog_cutoff"}
        out.append(Observation(labels, float(f.misses_cutoff), rule.threshold, summary, count=f.misses_cutoff))
    return Reading(out)


def _incidents(conn: Connection, rule: RuleConfig, now: datetime) -> Reading:
    """One alert per open or acknowledged incident: the alert the incident's own exceptions' alerts give
    way to (see alerts.stages.inhibited_by_incident)."""
    rows, _total = list_incidents(conn, status=[str(s) for s in ACTIVE_INCIDENT_STATUSES], limit=500)
    out = []
    for r in rows:
        n = int(r["active_exceptions"])
        if n < rule.threshold:
            continue
        summary = f"{r['title']}: {n:,} open exceptions across {int(r['flows'])} flows, {int(r['orders']):,} orders"
        labels = {"kind": "incident", INCIDENT_LABEL: str(r["incident_id"]), "system": str(r["system_id"])}
        out.append(Observation(labels, float(n), rule.threshold, summary, count=n))
    return Reading(out)


READERS: dict[RuleKind, Callable[[Connection, RuleConfig, datetime], Reading]] = {
    RuleKind.SYNC_LAG: _sync_lag,
    RuleKind.EXCEPTIONS: _exceptions,
    RuleKind.QUEUE_DEPTH: _queues,
    RuleKind.QUEUE_AGE: _queues,
    RuleKind.CYCLE_TIME: _cycle_time,
    RuleKind.ORDERS_AT_RISK: _at_risk,
    RuleKind.INGEST_SILENCE: _ingest_silence,
    RuleKind.BACKLOG_CUTOFF: _backlog_cutoff,
    RuleKind.INCIDENTS: _incidents,
}


def read(conn: Connection, rule: RuleConfig, now: datetime) -> Reading:
    """Evaluate one rule as of ``now``; a failing query is the rule's ``error`` health, not an exception."""
    try:
        return READERS[rule.kind](conn, rule, now)
    except Exception as exc:  # any failure of a rule's query must show on the rule, not stop the others
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Reading([], Health.ERROR, f"{type(exc).__name__}: {first}"[:500])


def scope(conn: Connection, rule: RuleConfig | None, labels: dict[str, str], now: datetime) -> Scope:
    """The exceptions (and orders) an alert of ``rule`` with ``labels`` is about."""
    flow = (labels.get("flow"),) if labels.get("flow") else ()
    if labels.get("rule_health"):
        return Scope()  # the rule itself cannot be read: it is about no exception in particular
    if rule is None:
        return Scope(flows=flow)  # type: ignore[arg-type]
    if rule.kind is RuleKind.EXCEPTIONS:
        return Scope(
            flows=flow or tuple(rule.flow),  # type: ignore[arg-type]
            kinds=(labels["kind"],) if "kind" in rule.by and labels.get("kind") else tuple(rule.exception_kind),
            systems=(labels["system"],) if labels.get("system") else tuple(rule.system),
            severities=(labels["severity"],) if "severity" in rule.by else tuple(rule.exception_severity),
        )
    if rule.kind is RuleKind.INGEST_SILENCE:
        return Scope(touching=labels.get("system"))
    if rule.kind in (RuleKind.QUEUE_DEPTH, RuleKind.QUEUE_AGE):
        return Scope(flows=flow, queue=labels.get("queue"))  # type: ignore[arg-type]
    if rule.kind is RuleKind.BACKLOG_CUTOFF:
        forecast = next((f for f in backlog_forecast(conn, now=now, window=rule.window)
                         if f.queue == labels.get("queue")), None)  # fmt: skip
        return Scope(flows=flow, queue=labels.get("queue"),  # type: ignore[arg-type]
                     orders=forecast.orders_at_risk if forecast else ())  # fmt: skip
    if rule.kind is RuleKind.INCIDENTS and labels.get(INCIDENT_LABEL, "").isdigit():
        return Scope(incident=int(labels[INCIDENT_LABEL]))
    if rule.kind is RuleKind.ORDERS_AT_RISK:
        orders = signals.orders_at_risk(conn, now=now, horizon=rule.horizon, lookback=rule.lookback)
        return Scope(orders=tuple(orders.loc[orders["system"] == labels.get("system"), "correlation_id"]))
    return Scope(flows=flow)  # type: ignore[arg-type]
