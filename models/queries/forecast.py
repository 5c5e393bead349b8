"""Backlog forecast: when each flow's queue clears, and which orders in it miss today's cut-off.

Over the last ``window``: the queue's **throughput** μ is the orders its flow delivered to its target
(distinct keys with an ok event of the flow to the flow's target system), its depth **slope** comes
from its first and last sample, so **arrivals** λ = μ + slope (what came in = what left + what piled
up). The backlog clears at ``now + depth / (μ − λ)`` when it drains (μ > λ), never otherwise.

Where the flow's target has a daily cut-off (``cutoffs``, from the expectations file), first in, first
out: the queue delivers μ · (cut-off − now) more messages before it, so the rest of the depth misses it;
for an order step, the waiting orders (reached the step's start, not its end) after that many, oldest
first, are the orders named at risk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from models.queries.common import read_frame
from models.queries.steps import ORDER_STEPS, step_flow_join

DEFAULT_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class QueueForecast:
    """One queue's forecast (rates per minute)."""

    queue: str
    flow_id: str
    target_system: str
    depth: int
    throughput_per_min: float
    arrivals_per_min: float
    clears_at: datetime | None  # None: not draining (arrivals ≥ throughput) with a backlog
    cutoff: str | None  # HH:MM UTC of the target, when it has one
    cutoff_at: datetime | None  # today's, None once passed
    misses_cutoff: int  # messages of the backlog that will not be through by the cut-off
    orders_at_risk: tuple[str, ...]  # order keys among them, oldest first (order steps only)


def _cutoff_today(cutoff: str | None, now: datetime) -> datetime | None:
    if not cutoff:
        return None
    hours, minutes = (int(p) for p in cutoff.split(":"))
    at = datetime.combine(now.date(), time(hours, minutes))
    return at if at > now else None


def _waiting_orders(conn: Connection, flow: dict[str, Any], *, now: datetime) -> list[str]:
    """Orders waiting on the flow's step (start reached, end not, not cancelled or held), oldest first."""
    step = next((s for s in ORDER_STEPS if (s.start_event, s.end_event) == (flow["start_event"],
                                                                           flow["end_event"])), None)  # fmt: skip
    if step is None:
        return []
    frame = read_frame(
        conn,
        f"""
        SELECT o.correlation_id FROM order_facts o JOIN flows f ON {step_flow_join(step)}
        WHERE f.flow_id = :flow AND o.{step.start_col} <= :now AND o.{step.end_col} IS NULL
          AND o.cancelled_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM business_events h WHERE h.correlation_id = o.correlation_id
                          AND h.event_type = 'order.held')
        ORDER BY o.{step.start_col}, o.correlation_id
        """,
        {"flow": flow["flow_id"], "now": now},
    )
    return [str(k) for k in frame["correlation_id"]]


def backlog_forecast(conn: Connection, *, now: datetime, window: timedelta = DEFAULT_WINDOW) -> list[QueueForecast]:
    """Per queue of exactly one flow with samples in the window: rates, when it clears, the cut-off it misses."""
    since = now - window
    samples = read_frame(
        conn,
        """
        WITH own AS (SELECT queue FROM flows WHERE queue IS NOT NULL GROUP BY queue HAVING count(*) = 1)
        SELECT s.queue, f.flow_id, f.target_system, f.start_event, f.end_event, s.sampled_at, s.depth, c.cutoff
        FROM queue_samples s JOIN own ON own.queue = s.queue JOIN flows f ON f.queue = s.queue
        LEFT JOIN cutoffs c ON c.system_id = f.target_system
        WHERE NOT s.is_dlq AND s.sampled_at > :since AND s.sampled_at <= :now
        ORDER BY s.queue, s.sampled_at
        """,
        {"since": since, "now": now},
    )
    if samples.empty:
        return []
    delivered = read_frame(
        conn,
        """
        SELECT e.flow_id, count(DISTINCT e.correlation_id) AS n
        FROM business_events e JOIN flows f ON f.flow_id = e.flow_id AND e.target = f.target_system
        WHERE e.status = 'ok' AND e.received_at > :since AND e.received_at <= :now
        GROUP BY e.flow_id
        """,
        {"since": since, "now": now},
    ).set_index("flow_id")["n"]
    minutes = window.total_seconds() / 60
    out: list[QueueForecast] = []
    for queue, rows in samples.groupby("queue", sort=True):
        first, last = rows.iloc[0], rows.iloc[-1]
        flow = last.to_dict()
        span = (pd.Timestamp(last["sampled_at"]) - pd.Timestamp(first["sampled_at"])).total_seconds() / 60
        slope = (float(last["depth"]) - float(first["depth"])) / span if span > 0 else 0.0
        throughput = float(delivered.get(flow["flow_id"], 0)) / minutes
        arrivals = max(0.0, throughput + slope)
        depth = int(last["depth"])
        drain = throughput - arrivals
        clears = now if depth == 0 else (now + timedelta(minutes=depth / drain) if drain > 0 else None)
        cutoff = None if pd.isna(flow["cutoff"]) else str(flow["cutoff"])
        cutoff_at = _cutoff_today(cutoff, now)
        misses = 0
        at_risk: tuple[str, ...] = ()
        if cutoff_at is not None and depth:
            through = math.floor(throughput * (cutoff_at - now).total_seconds() / 60)
            misses = max(0, depth - through)
            if misses:
                waiting = _waiting_orders(conn, flow, now=now)
                at_risk = tuple(waiting[through:])
        out.append(QueueForecast(
            queue=str(queue), flow_id=str(flow["flow_id"]), target_system=str(flow["target_system"]), depth=depth,
            throughput_per_min=round(throughput, 3), arrivals_per_min=round(arrivals, 3), clears_at=clears,
            cutoff=cutoff, cutoff_at=cutoff_at, misses_cutoff=misses, orders_at_risk=at_risk,
        ))  # fmt: skip
    return out
