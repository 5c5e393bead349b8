"""Technical and business signals of one flow on one time axis, and the "likely cause" of an exception.

A flow's technical signals are the outbound calls (CLIENT spans) to its two systems, named
by the span's ``peer.service`` attribute, and its queues; its business signals are the sync
lag of its step and the orders stuck in it. The likely cause of an exception is the
technical signal that left its baseline first in the hours before the exception was first
seen: computed from the data, never a per-incident script.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.queries.common import Window, read_frame
from models.queries.steps import ORDER_STEPS, step_flow_join, step_lag_percentiles
from models.store.dialect import json_text, percentile, seconds_between, time_axis, time_bucket

SIGNALS = (
    "target_calls", "target_errors", "target_error_rate", "target_p95_ms",
    "source_calls", "source_errors", "source_error_rate", "source_p95_ms",
    "queue_depth", "queue_oldest_age_seconds", "dlq_depth", "sync_lag_p95_seconds", "orders_stuck",
)  # fmt: skip


def _flow(conn: Connection, flow_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.text("SELECT * FROM flows WHERE flow_id = :id"), {"id": flow_id}).mappings().first()
    return dict(row) if row else None


def flow_signals(conn: Connection, *, flow_id: str, window: Window) -> pd.DataFrame:
    """The flow's signals per bucket of ``window`` (index ``bucket``, columns :data:`SIGNALS`);
    empty buckets are 0 for call counts and NaN for rates, percentiles and samples. KeyError
    for an unknown flow."""
    flow = _flow(conn, flow_id)
    if flow is None:
        raise KeyError(flow_id)
    freq = f"{window.bucket_seconds}s"  # buckets align to the epoch, as time_bucket's do
    axis = pd.date_range(pd.Timestamp(window.since).floor(freq), window.until, freq=freq, inclusive="left")
    frame = pd.DataFrame(index=pd.DatetimeIndex(axis, name="bucket"), columns=list(SIGNALS), dtype=float)
    for role in ("target", "source"):
        if role == "source" and flow["source_system"] == flow["target_system"]:
            continue
        calls = _calls(conn, flow[f"{role}_system"], window)
        for column in ("calls", "errors", "error_rate", "p95_ms"):
            frame[f"{role}_{column}"] = calls[column] if not calls.empty else np.nan
    queues = _queues(conn, flow, window)
    if not queues.empty:
        frame[["queue_depth", "queue_oldest_age_seconds", "dlq_depth"]] = queues
    lag = step_lag_percentiles(
        conn, window=window, quantiles=(0.95,), flow_filter="f.flow_id = :flow_id",
        group_sql=time_bucket(conn, window.bucket_seconds, "lags.end_at"), params={"flow_id": flow_id},
    )  # fmt: skip
    if not lag.empty:
        frame["sync_lag_p95_seconds"] = lag.set_index(pd.DatetimeIndex(lag["grp"]))["q95"]
    frame["orders_stuck"] = _stuck(conn, flow, window)
    for column in ("target_calls", "target_errors", "source_calls", "source_errors"):
        frame[column] = frame[column].fillna(0)
    return frame


def _calls(conn: Connection, system: str, window: Window) -> pd.DataFrame:
    """Outbound calls to ``system`` per bucket: count, errors, error rate, p95 duration."""
    peer = json_text(conn, "attributes", "peer.service")
    frame = read_frame(
        conn,
        f"""
        SELECT {time_bucket(conn, window.bucket_seconds, "start_time")} AS bucket, count(*) AS calls,
               count(*) FILTER (WHERE status_code = 'error') AS errors,
               {percentile(conn, "duration_ms", 0.95)} AS p95_ms
        FROM spans
        WHERE start_time >= :since AND start_time < :until AND kind = 'client'
          AND attributes LIKE :mention AND {peer} = :system
        GROUP BY bucket
        """,
        {"since": window.since, "until": window.until, "system": system, "mention": _mention(system)},
    )
    frame["error_rate"] = frame["errors"] / frame["calls"]
    return frame.set_index(pd.DatetimeIndex(frame["bucket"]))


def _mention(system: str) -> str:
    """A LIKE pattern for attributes that mention ``system`` at all: a cheap filter before the JSON
    parse (parsing every span's attributes is the cost of this query). Wildcards in the id only
    widen it; the exact ``peer.service`` test follows."""
    return f"%{system}%"


def _queues(conn: Connection, flow: dict[str, Any], window: Window) -> pd.DataFrame:
    """Peak depth and oldest-message age of the flow's queues, and peak DLQ depth, per bucket."""
    frame = read_frame(
        conn,
        f"""
        SELECT {time_bucket(conn, window.bucket_seconds, "sampled_at")} AS bucket,
               max(depth) FILTER (WHERE NOT is_dlq) AS queue_depth,
               max(oldest_age_seconds) FILTER (WHERE NOT is_dlq) AS queue_oldest_age_seconds,
               max(depth) FILTER (WHERE is_dlq) AS dlq_depth
        FROM queue_samples
        WHERE sampled_at >= :since AND sampled_at < :until
          AND (flow_id = :flow_id OR (flow_id IS NULL AND queue = :queue))
        GROUP BY bucket
        """,
        {"since": window.since, "until": window.until, "flow_id": flow["flow_id"], "queue": flow["queue"]},
    )
    return frame.set_index(pd.DatetimeIndex(frame["bucket"])).drop(columns="bucket").astype(float)


def _stuck(conn: Connection, flow: dict[str, Any], window: Window) -> pd.Series | float:
    """Orders past the flow's SLA at each bucket's end (started, not ended, not cancelled by then);
    NaN for flows that are not an order step."""
    step = next((s for s in ORDER_STEPS if (s.start_event, s.end_event) == (flow["start_event"], flow["end_event"])),
                None)  # fmt: skip
    if step is None:
        return np.nan
    at = f"axis.bucket + INTERVAL '{int(window.bucket_seconds)} seconds'"
    frame = read_frame(
        conn,
        f"""
        WITH axis AS ({time_axis(conn, window.bucket_seconds)}),
        o AS (
            SELECT o.{step.start_col} AS start_at, o.{step.end_col} AS end_at, o.cancelled_at, f.sla_seconds
            FROM order_facts o JOIN flows f ON {step_flow_join(step)}
            WHERE f.flow_id = :flow_id AND o.{step.start_col} < :until
              AND (o.{step.end_col} IS NULL OR o.{step.end_col} >= :since)
        )
        SELECT axis.bucket, count(o.start_at) AS stuck
        FROM axis LEFT JOIN o ON {seconds_between(conn, "o.start_at", at)} > o.sla_seconds
             AND (o.end_at IS NULL OR o.end_at > {at}) AND (o.cancelled_at IS NULL OR o.cancelled_at > {at})
        GROUP BY axis.bucket
        """,
        {"axis_from": window.since, "axis_to": window.until, "since": window.since, "until": window.until,
         "flow_id": flow["flow_id"]},
    )  # fmt: skip
    return frame.set_index(pd.DatetimeIndex(frame["bucket"]))["stuck"].astype(float)


# --- likely cause ------------------------------------------------------------------------------

#: How far before first_seen a cause is looked for, and the baseline before that.
LOOK_BACK = timedelta(hours=3)
BASELINE = timedelta(hours=24)
#: A signal that moves within this long after first_seen still counts: sparse data (a few
#: calls a minute) crosses a threshold a few buckets after the first failure it explains.
GRACE = timedelta(minutes=30)
BUCKET_SECONDS = 300
#: A signal "moved" when it stays over its threshold for this many buckets in a row.
SUSTAINED = 2
#: Signals are smoothed (centred) over this many buckets; span rates need this many calls in them.
SMOOTH, MIN_CALLS = 3, 10
_WHAT = {
    "dead_letter": "dead letters", "delivery_failed": "delivery failures", "retries_exhausted": "exhausted retries",
    "queue_backlog": "backlog", "missing_ack": "missing 855", "missing_asn": "missing ASN",
    "missing_event": "missing events", "reconciliation_gap": "orders missing downstream",
}  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    """One technical signal that moved: when, how far, against what baseline."""

    signal: str
    system: str | None
    queue: str | None
    onset: datetime
    peak: float
    baseline: float


def likely_cause(conn: Connection, *, exception_id: int) -> dict[str, Any] | None:
    """The technical signal of the exception's flow that left its baseline first in the 3 h
    before the exception was first seen (or just after it), as a sentence and its numbers;
    None when none did; KeyError for an unknown exception."""
    x = (
        conn.execute(
            sa.text("SELECT kind, business_key, flow_id, first_seen FROM exceptions WHERE exception_id = :id"),
            {"id": exception_id},
        )
        .mappings()
        .first()
    )
    if x is None:
        raise KeyError(exception_id)
    if x["flow_id"] is None:
        return None
    flow = _flow(conn, x["flow_id"])
    if flow is None:
        return None
    first_seen = pd.Timestamp(x["first_seen"]).to_pydatetime()
    start = pd.Timestamp(first_seen).floor(f"{BUCKET_SECONDS}s").to_pydatetime()
    signals = flow_signals(conn, flow_id=x["flow_id"], window=Window(start - LOOK_BACK - BASELINE, start + GRACE,
                                                                      BUCKET_SECONDS))  # fmt: skip
    moved = _candidates(signals, signals.index >= start - LOOK_BACK, flow, x["kind"])
    if not moved:
        return None
    cause = min(moved, key=lambda c: (c.onset, -c.peak / max(c.baseline, 1e-9)))
    return _describe(conn, cause, x, first_seen)


def _candidates(signals: pd.DataFrame, split: np.ndarray, flow: dict[str, Any], kind: str) -> list[Candidate]:
    """Every technical signal that left its baseline (buckets before ``split``) after it."""
    candidates = []
    for role in ("target", "source"):
        calls, errors = _rolling(signals[f"{role}_calls"]), _rolling(signals[f"{role}_errors"])
        if calls[split].sum() == 0:
            continue
        busy = calls >= MIN_CALLS
        latency = signals[f"{role}_p95_ms"].rolling(SMOOTH, min_periods=1, center=True).median().where(busy)
        rate = (errors / calls).where(busy)
        system = flow[f"{role}_system"]
        base = latency[~split].median()
        candidates.append(_moved(latency[split], f"{role}_latency", system, None, base, max(2.5 * base, base + 100)))
        base = signals.loc[~split, f"{role}_errors"].sum() / max(signals.loc[~split, f"{role}_calls"].sum(), 1)
        candidates.append(_moved(rate[split], f"{role}_errors", system, None, base, max(3 * base, base + 0.1)))
    if kind != "queue_backlog":  # a backlog's own queue is the symptom, not its cause
        for column, signal, factor, floor in (("queue_depth", "queue_depth", 3, 50.0),
                                              ("queue_oldest_age_seconds", "queue_age", 3, 60.0)):  # fmt: skip
            series = signals[column].rolling(SMOOTH, min_periods=1, center=True).median()
            base = series[~split].median()
            candidates.append(_moved(series[split], signal, None, flow["queue"], base,
                                     max(factor * base, base + floor)))  # fmt: skip
    return [c for c in candidates if c is not None]


def _rolling(series: pd.Series) -> pd.Series:
    """Centred sums over SMOOTH buckets: a change shows in the bucket it happened, not later."""
    return series.fillna(0).rolling(SMOOTH, min_periods=1, center=True).sum()


def _moved(series: pd.Series, signal: str, system: str | None, queue: str | None, baseline: float,
           threshold: float) -> Candidate | None:  # fmt: skip
    """The first bucket from which ``series`` stays over ``threshold`` for SUSTAINED buckets."""
    if pd.isna(baseline) or pd.isna(threshold):
        return None
    over = (series > threshold).to_numpy()
    for i in range(len(over)):
        if over[i : i + SUSTAINED].all():  # the last bucket alone counts: the exception began there
            return Candidate(signal, system, queue, series.index[i].to_pydatetime(), float(series.iloc[i:].max()),
                             float(baseline))  # fmt: skip
    return None


def _describe(conn: Connection, c: Candidate, x: Any, first_seen: datetime) -> dict[str, Any]:
    what = _WHAT.get(x["kind"], "lag breach" if x["business_key"] == "sync-lag" else "SLA breach")
    lead = round((first_seen - c.onset).total_seconds() / 60)
    if c.onset <= first_seen - LOOK_BACK:
        when = f"over {LOOK_BACK.total_seconds() / 3600:.0f} h before the {what} (already up when the look-back starts)"
    else:
        when = f"{lead} min before the {what}" if lead > 0 else f"as the {what} began ({-lead} min after)"
    ratio = c.peak / c.baseline if c.baseline else None
    if c.system is not None:
        name, service = _system_and_service(conn, c.system, c.onset)
        if c.signal.endswith("latency"):
            text = f"{name} API latency ({service}) rose {ratio:.1f}× {when}"
        else:
            text = f"{name} API errors ({service}) rose to {c.peak:.0%} of calls (baseline {c.baseline:.1%}) {when}"
    elif c.signal == "queue_depth":
        text = f"Queue {c.queue} depth rose {ratio:.1f}× {when}" if ratio else f"Queue {c.queue} filled up {when}"
    else:
        text = f"Queue {c.queue} oldest message age rose to {c.peak / 60:.0f} min {when}"
    return {
        "text": text, "signal": c.signal, "system": c.system, "queue": c.queue, "onset": c.onset.isoformat(),
        "lead_minutes": lead, "peak": c.peak, "baseline": c.baseline, "ratio": ratio,
    }  # fmt: skip


def _system_and_service(conn: Connection, system: str, around: datetime) -> tuple[str, str]:
    """The system's name and the service that calls it (most spans near ``around``)."""
    name = conn.execute(sa.text("SELECT name FROM systems WHERE system_id = :id"), {"id": system}).scalar()
    service = conn.execute(
        sa.text(
            f"""
            SELECT service_name FROM spans
            WHERE start_time >= :since AND start_time < :until AND kind = 'client' AND attributes LIKE :mention
              AND {json_text(conn, "attributes", "peer.service")} = :system
            GROUP BY service_name ORDER BY count(*) DESC LIMIT 1
            """
        ),
        {
            "since": around - timedelta(minutes=30),
            "until": around + timedelta(minutes=30),
            "system": system,
            "mention": _mention(system),
        },
    ).scalar()
    return (name or system).split(" (")[0], service or "unknown service"
