"""Detection rules: each reads the canonical tables and returns the *occurrences* it finds.

An occurrence is one piece of evidence (a failing message, an order past its SLA, a queue
sample over its threshold) with a time and, where there is one, the business key it hurts.
Occurrences sharing a fingerprint make one exception. Each rule also says which existing
exceptions it is answerable for: those it no longer finds have cleared.

Fingerprints follow ``{kind}:{flow}:{key}`` (the seeded demo writes the same shape):

| rule | kind | key |
| --- | --- | --- |
| dead letters | dead_letter | error class |
| failed deliveries | delivery_failed | error class |
| retries exhausted | retries_exhausted | error class |
| data quality (error code ``VAL…``) | delivery_failed | the order (each needs its own fix) |
| order stuck before a step | sla_breach | acceptance, release, shipment, invoice |
| 855 / ASN missing past SLA | missing_ack, missing_asn | the PO |
| sync lag p95 over threshold | sla_breach | sync-lag |
| queue backlog, DLQ not empty | queue_backlog | the queue |
| expected next event never came (:mod:`models.detection.silent`) | missing_event | expectation/cause |
| keys a reconciliation stage never got (:mod:`models.detection.reconcile`) | reconciliation_gap | stage/day |
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from models.detection.fingerprint import error_class
from models.detection.inventory import inventory_rule
from models.detection.occurrences import OCCURRENCE_COLUMNS, DetectionSettings, RuleResult
from models.detection.occurrences import duration_text as _duration
from models.detection.occurrences import occurrence_frame as _frame
from models.detection.reconcile import reconciliation_gaps
from models.detection.silent import silent_non_events
from models.queries.common import Window, read_frame
from models.queries.steps import (
    ORDER_STEP_BY_KEY,
    ORDER_STEPS,
    OrderStep,
    step_flow_join,
    step_lags_sql,
    step_params,
)
from models.store.dialect import percentile, seconds_between

DATA_QUALITY_PREFIX = "VAL"
#: Steps a missing confirmation is named after.
MISSING_KINDS = {"po.acknowledged": "missing_ack", "asn.received": "missing_asn"}
#: An order on hold is held on purpose: its release SLA does not run.
PAUSED_BY = {"release": "order.held"}
#: order_facts counts an order from its first order.created, delivered or not; one the ERP
#: never received is a delivery failure (its own exception), not a late acceptance.
UNDELIVERED_START = ("acceptance",)
SYNC_LAG_KEY = "sync-lag"


def failures(conn: Connection, *, now: datetime, settings: DetectionSettings) -> list[RuleResult]:
    """Message chains (correlation id, event type, flow) whose latest attempt is still not ok,
    among failures received in the last ``failure_lookback``.

    Each failing chain lands in exactly one rule: data quality (``VAL…`` codes, one exception
    per order), dead letters, retries exhausted (attempt ≥ max_attempts), failed deliveries.
    A chain still ``retrying`` below the budget is in progress, not an exception.
    """
    since = now - settings.failure_lookback
    latest = read_frame(
        conn,
        """
        WITH bad AS (
            SELECT event_id, correlation_id, event_type, flow_id, target, status, attempt, error_code,
                   error_message, received_at
            FROM business_events WHERE status <> 'ok' AND received_at > :since AND received_at <= :now
        )
        SELECT event_id, correlation_id, flow_id, target, status, attempt, error_code, error_message,
               received_at AS at
        FROM bad
        WHERE NOT EXISTS (  -- a later attempt is received after the failure: within the look-back too
            SELECT 1 FROM business_events e
            WHERE e.correlation_id = bad.correlation_id AND e.event_type = bad.event_type
              AND e.flow_id IS NOT DISTINCT FROM bad.flow_id AND e.received_at > :since AND e.received_at <= :now
              AND (e.attempt > bad.attempt OR (e.attempt = bad.attempt AND e.received_at > bad.received_at))
        )
        """,
        {"since": since, "now": now},
    )
    code = latest["error_code"].fillna("")
    quality = code.str.startswith(DATA_QUALITY_PREFIX)
    dead = ~quality & (latest["status"] == "dead_lettered")
    exhausted = ~quality & ~dead & (latest["attempt"] >= settings.max_attempts)
    failed = ~quality & ~dead & ~exhausted & (latest["status"] == "failed")
    classes = [error_class(c, m) for c, m in zip(latest["error_code"], latest["error_message"], strict=True)]
    latest = latest.assign(error_class=classes, message=latest["error_message"], system_id=latest["target"])

    def grouped(mask: pd.Series, kind: str) -> pd.DataFrame:
        rows = latest[mask]
        return _frame(rows.assign(kind=kind, key=rows["error_class"]))

    def is_quality(row: dict[str, Any]) -> bool:
        return str(row["error_class"] or "").startswith(DATA_QUALITY_PREFIX)

    def recent(row: dict[str, Any]) -> bool:  # older evidence is beyond the look-back: left as it is
        return bool(row["last_seen"] > since)

    quality_rows = latest[quality]
    per_order = _frame(quality_rows.assign(kind="delivery_failed", key=quality_rows["correlation_id"]))
    return [
        RuleResult("data_quality", per_order,
                   lambda x: x["kind"] == "delivery_failed" and is_quality(x) and recent(x),
                   "The order's message was corrected and delivered", carries_messages=True),
        RuleResult("dead_letters", grouped(dead, "dead_letter"), lambda x: x["kind"] == "dead_letter" and recent(x),
                   "Every dead-lettered message was delivered (replayed or resent)", carries_messages=True),
        RuleResult("retries_exhausted", grouped(exhausted, "retries_exhausted"),
                   lambda x: x["kind"] == "retries_exhausted" and recent(x),
                   "Every message was delivered after its retries", carries_messages=True),
        RuleResult("failed_deliveries", grouped(failed, "delivery_failed"),
                   lambda x: x["kind"] == "delivery_failed" and not is_quality(x) and recent(x),
                   "Every failed message was delivered", carries_messages=True),
    ]  # fmt: skip


def _stuck_orders_sql(conn: Connection, step: OrderStep) -> str:
    """Orders that reached ``step``'s start but not its end, overdue under a flow that serves it.

    Where several flows could serve the step (release before the node is known), the flow the
    order's own attempts used wins, else the first by id.
    """
    paused = PAUSED_BY.get(step.key)
    pause = (
        f"""AND NOT EXISTS (SELECT 1 FROM business_events h WHERE h.correlation_id = cand.correlation_id
                                AND h.event_type = '{paused}')"""
        if paused
        else ""
    )
    if step.key in UNDELIVERED_START:
        pause += f"""
              AND EXISTS (SELECT 1 FROM business_events s WHERE s.correlation_id = cand.correlation_id
                          AND s.event_type = '{step.start_event}' AND s.status = 'ok')"""
    return f"""
        WITH cand AS (
            SELECT o.correlation_id, o.{step.start_col} AS start_at, f.flow_id, f.sla_seconds,
                   f.target_system, f.name AS flow_name
            FROM order_facts o JOIN flows f ON {step_flow_join(step)}
            WHERE o.{step.start_col} <= :now AND o.{step.end_col} IS NULL AND o.cancelled_at IS NULL
              AND {seconds_between(conn, f"o.{step.start_col}", ":now")} > f.sla_seconds
        ),
        ambiguous AS (SELECT correlation_id FROM cand GROUP BY correlation_id HAVING count(*) > 1),
        tried AS (
            SELECT DISTINCT correlation_id, flow_id FROM business_events
            WHERE event_type = '{step.end_event}' AND correlation_id IN (SELECT correlation_id FROM ambiguous)
        ),
        ranked AS (
            SELECT cand.*, row_number() OVER (
                       PARTITION BY cand.correlation_id
                       ORDER BY CASE WHEN tried.flow_id IS NULL THEN 1 ELSE 0 END, cand.flow_id) AS rn
            FROM cand
            LEFT JOIN tried ON tried.correlation_id = cand.correlation_id AND tried.flow_id = cand.flow_id
            WHERE TRUE {pause}
        )
        SELECT correlation_id, start_at, flow_id, sla_seconds, target_system, flow_name FROM ranked WHERE rn = 1
    """


def stuck_orders(conn: Connection, *, now: datetime, settings: DetectionSettings) -> list[RuleResult]:
    """SLA breaches of an order step: start reached, end not, and now − start > the flow's SLA."""
    frames = []
    for step in ORDER_STEPS:
        stuck = read_frame(conn, _stuck_orders_sql(conn, step), {"now": now})
        if stuck.empty:
            continue
        due = _due(stuck["start_at"], stuck["sla_seconds"])
        frames.append(
            _frame(
                stuck.assign(
                    kind="sla_breach",
                    key=step.key,
                    system_id=stuck["target_system"],
                    error_class=step.key,
                    message=stuck["sla_seconds"].map(
                        {
                            s: f"{step.end_event} not within {_duration(s)} of {step.start_event}"
                            for s in stuck["sla_seconds"].unique()
                        }
                    ),
                    at=due,
                )
            )
        )
    keys = {s.key for s in ORDER_STEPS}
    return [
        RuleResult(
            "stuck_orders",
            pd.concat(frames, ignore_index=True) if frames else _frame([]),
            lambda x: x["kind"] == "sla_breach" and x["business_key"] in keys,
            "Every stuck order advanced past the step",
        )
    ]


def missing_confirmations(conn: Connection, *, now: datetime, settings: DetectionSettings) -> list[RuleResult]:
    """Supply steps past their SLA with no confirmation: PO sent without 855, acknowledged without ASN.

    A start event belongs to a flow when its source and target are the flow's two systems.
    """
    ends = ", ".join(f"'{e}'" for e in MISSING_KINDS)
    same = "e.source IN (f.source_system, f.target_system) AND e.target IN (f.source_system, f.target_system)"
    missing = read_frame(
        conn,
        f"""
        WITH starts AS (
            SELECT f.flow_id, f.sla_seconds, f.end_event, f.target_system, f.source_system,
                   e.correlation_id, min(e.occurred_at) AS start_at
            FROM business_events e
            JOIN flows f ON e.event_type = f.start_event AND {same}
            WHERE f.end_event IN ({ends}) AND e.status = 'ok' AND e.occurred_at <= :now
            GROUP BY f.flow_id, f.sla_seconds, f.end_event, f.target_system, f.source_system, e.correlation_id
        ),
        overdue AS (SELECT * FROM starts WHERE {seconds_between(conn, "start_at", ":now")} > sla_seconds),
        ended AS (
            SELECT DISTINCT correlation_id, event_type FROM business_events
            WHERE status = 'ok' AND event_type IN ({ends}) AND occurred_at <= :now
              AND correlation_id IN (SELECT correlation_id FROM overdue)
        )
        SELECT overdue.* FROM overdue
        LEFT JOIN ended ON ended.correlation_id = overdue.correlation_id AND ended.event_type = overdue.end_event
        WHERE ended.correlation_id IS NULL
        """,
        {"now": now},
    )
    kinds = missing["end_event"].map(MISSING_KINDS)
    partner = missing["source_system"].where(missing["end_event"] == "asn.received", missing["target_system"])
    occurrences = _frame(
        missing.assign(
            kind=kinds, key=missing["correlation_id"], system_id=partner, error_class=kinds,
            message=missing["end_event"] + " not received within " + missing["sla_seconds"].map(
                {s: _duration(s) for s in missing["sla_seconds"].unique()}),
            at=_due(missing["start_at"], missing["sla_seconds"]),
        )
    )  # fmt: skip
    owned = set(MISSING_KINDS.values())
    return [
        RuleResult("missing_confirmations", occurrences, lambda x: x["kind"] in owned,
                   "The confirmation arrived")
    ]  # fmt: skip


def sync_lag(conn: Connection, *, now: datetime, settings: DetectionSettings) -> list[RuleResult]:
    """Flows whose sync lag p95 over the last ``sync_lag_window`` exceeds their lag threshold;
    the evidence is each step over the threshold. Steps of orders on hold are left out."""
    window = Window(now - settings.sync_lag_window, now, int(settings.sync_lag_window.total_seconds()))
    paused = " OR ".join(
        f"(f.end_event = '{ORDER_STEP_BY_KEY[step].end_event}' AND h.event_type = '{event}')"
        for step, event in PAUSED_BY.items()
    )
    over = read_frame(
        conn,
        f"""
        WITH all_lags AS ({step_lags_sql(conn)}),
        lags AS (  -- a paused step (an order on hold) is late on purpose
            SELECT all_lags.* FROM all_lags JOIN flows f ON f.flow_id = all_lags.flow_id
            WHERE NOT EXISTS (SELECT 1 FROM business_events h
                              WHERE h.correlation_id = all_lags.correlation_id AND ({paused}))
        ),
        p AS (SELECT flow_id, {percentile(conn, "lag_seconds", 0.95)} AS p95 FROM lags GROUP BY flow_id)
        SELECT lags.flow_id, lags.correlation_id, lags.end_at, lags.lag_seconds, p.p95,
               f.lag_threshold_seconds, f.category, f.target_system
        FROM lags JOIN p ON p.flow_id = lags.flow_id JOIN flows f ON f.flow_id = lags.flow_id
        WHERE p.p95 > f.lag_threshold_seconds AND lags.lag_seconds > f.lag_threshold_seconds
        """,
        step_params(window),
    )
    occurrences = _frame(
        over.assign(
            kind="sla_breach", key=SYNC_LAG_KEY, system_id=over["target_system"], error_class=SYNC_LAG_KEY,
            message=[f"sync lag p95 {p:.0f} s over the {_duration(t)} threshold"
                     for p, t in zip(over["p95"], over["lag_threshold_seconds"], strict=True)],
            at=over["end_at"],
            # stock keys are SKU@location, not orders
            correlation_id=over["correlation_id"].where(over["category"] != "stock", None),
        )
    )  # fmt: skip
    return [
        RuleResult("sync_lag", occurrences, lambda x: x["kind"] == "sla_breach" and x["business_key"] == SYNC_LAG_KEY,
                   "Sync lag p95 back under the threshold")
    ]  # fmt: skip


def queue_backlog(conn: Connection, *, now: datetime, settings: DetectionSettings) -> list[RuleResult]:
    """Queues whose latest sample is over threshold (depth, oldest-message age; any DLQ depth),
    with every sample of the current episode over threshold as evidence. A queue whose latest
    sample is stale is not judged."""
    params = {
        "since": now - settings.queue_episode_lookback, "now": now, "fresh": now - settings.queue_sample_max_age,
        "depth": settings.queue_max_depth, "age": settings.queue_max_age_seconds,
    }  # fmt: skip
    samples = read_frame(
        conn,
        """
        WITH own AS (  -- a queue named by exactly one flow belongs to it; shared queues to none
            SELECT queue, min(flow_id) AS flow_id FROM flows WHERE queue IS NOT NULL
            GROUP BY queue HAVING count(*) = 1
        ),
        s AS (
            SELECT queue, flow_id, is_dlq, depth, oldest_age_seconds, sampled_at,
                   CASE WHEN is_dlq THEN depth > 0
                        ELSE depth > :depth OR coalesce(oldest_age_seconds, 0) > :age END AS over
            FROM queue_samples WHERE sampled_at > :since AND sampled_at <= :now
        ),
        q AS (
            SELECT queue, max(sampled_at) AS last_at, max(sampled_at) FILTER (WHERE NOT over) AS calm_at
            FROM s GROUP BY queue HAVING max(sampled_at) > :fresh
        )
        SELECT q.queue, f.flow_id, f.target_system, s.is_dlq, s.depth, s.oldest_age_seconds, s.sampled_at, s.over
        FROM q
        LEFT JOIN s ON s.queue = q.queue AND s.over AND s.sampled_at > coalesce(q.calm_at, :since)
        LEFT JOIN own ON own.queue = q.queue
        LEFT JOIN flows f ON f.flow_id = coalesce(s.flow_id, own.flow_id)
        ORDER BY q.queue, s.sampled_at
        """,
        params,
    )
    fresh = set(samples["queue"])
    evidence = samples[samples["over"].fillna(False).astype(bool)].drop_duplicates(["queue", "sampled_at"])
    messages = [
        f"{d} dead letters waiting" if dlq else f"depth {d}, oldest message {a or 0:.0f} s"
        for dlq, d, a in zip(evidence["is_dlq"], evidence["depth"], evidence["oldest_age_seconds"], strict=True)
    ]
    occurrences = _frame(
        evidence.assign(
            kind="queue_backlog", key=evidence["queue"], system_id=evidence["target_system"],
            error_class=["dlq" if d else "backlog" for d in evidence["is_dlq"]], message=messages,
            at=evidence["sampled_at"],
        )
    )  # fmt: skip
    return [
        RuleResult("queue_backlog", occurrences, lambda x: x["kind"] == "queue_backlog" and x["business_key"] in fresh,
                   "The queue drained below its thresholds")
    ]  # fmt: skip


RULES = (
    failures, stuck_orders, missing_confirmations, sync_lag, queue_backlog, silent_non_events, reconciliation_gaps,
    inventory_rule,
)  # fmt: skip
__all__ = ["OCCURRENCE_COLUMNS", "RULES", "DetectionSettings", "RuleResult"]


def _due(start: pd.Series, sla_seconds: pd.Series) -> pd.Series:
    """When a step started at ``start`` breaches its SLA."""
    return pd.to_datetime(start) + pd.to_timedelta(sla_seconds.astype(float), unit="s")
