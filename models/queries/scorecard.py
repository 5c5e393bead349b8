"""Partner scorecard: how each 3PL and supplier performed in a period, and the one before.

A partner *confirms* a step: a 3PL confirms shipment of a released order, a supplier
acknowledges (855) a purchase order (850). A step belongs to a flow when its start event's
source and target are the flow's two systems.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from models.queries.common import Window, json_number, read_each, read_frame
from models.queries.steps import (
    ORDER_STEP_BY_PAIR,
    OrderStep,
    pair_filter,
    partner_expr,
    step_flow_join,
    step_lag_percentiles,
)
from models.store.dialect import seconds_between

#: The step each kind of partner confirms: (start event, confirmation event).
CONFIRMS = {"3pl": ("order.released", "shipment.dispatched"), "supplier": ("po.sent", "po.acknowledged")}
#: After the acknowledgement a supplier owes an advance ship notice (856).
ASN_STEP = ("po.acknowledged", "asn.received")
METRICS = ("confirmation_lag_p95_hours", "event_completeness", "asn_completeness", "error_rate")


def confirmation_lag(conn: Connection, window: Window, kind: str) -> pd.DataFrame:
    """p95 (hours) of the confirmation step lags ending in the period, per partner."""
    return step_lag_percentiles(
        conn, window=window, quantiles=(0.95,), pair=CONFIRMS[kind],
        group_sql=partner_expr(kind), scale=3600.0,
    )  # fmt: skip


def completeness(conn: Connection, window: Window, kind: str, start: str, end: str) -> pd.DataFrame:
    """Of the steps ``start → end`` a partner's flows started in the period and that were due
    by its end (start + SLA), the share whose ``end`` event had arrived by then (in the period: an
    end before it answers an earlier start, and reading from the period's start spares the scan of
    every earlier confirmation, 1.6M of them at 10M events). An order step (a 3PL's shipment) reads
    the writer's ``order_facts`` instead of the events: 141 → 26 ms for a week at 10M events."""
    step = ORDER_STEP_BY_PAIR.get((start, end))
    if step is not None:
        return _order_step_completeness(conn, window, kind, step)
    return _event_step_completeness(conn, window, kind, start, end)


def _event_step_completeness(conn: Connection, window: Window, kind: str, start: str, end: str) -> pd.DataFrame:
    """:func:`completeness` from the events themselves (steps the writer keeps no per-key rollup of)."""
    same_systems = "e.source IN (f.source_system, f.target_system) AND e.target IN (f.source_system, f.target_system)"
    return read_frame(
        conn,
        f"""
        WITH f AS (
            SELECT f.*, {partner_expr(kind)} AS partner FROM flows f
            WHERE {pair_filter((start, end))}
        ),
        starts AS (
            SELECT f.partner, f.flow_id, e.correlation_id, min(e.occurred_at) AS start_at,
                   min(f.sla_seconds) AS sla
            FROM business_events e JOIN f ON e.event_type = f.start_event AND {same_systems}
            WHERE e.status = 'ok' AND e.occurred_at >= :since AND e.occurred_at < :until
              AND f.partner IS NOT NULL
            GROUP BY f.partner, f.flow_id, e.correlation_id
        ),
        due AS (SELECT * FROM starts WHERE {seconds_between(conn, "start_at", ":until")} >= sla),
        ends AS (
            SELECT DISTINCT f.flow_id, e.correlation_id
            FROM business_events e JOIN f ON e.event_type = f.end_event AND {same_systems}
            WHERE e.status = 'ok' AND e.occurred_at >= :since AND e.occurred_at < :until
        )
        SELECT due.partner AS grp, count(*) AS n,
               avg(CASE WHEN ends.correlation_id IS NOT NULL THEN 1.0 ELSE 0.0 END) AS share
        FROM due
        LEFT JOIN ends ON ends.flow_id = due.flow_id AND ends.correlation_id = due.correlation_id
        GROUP BY grp ORDER BY grp
        """,
        {"since": window.since, "until": window.until},
    )


def _order_step_completeness(conn: Connection, window: Window, kind: str, step: OrderStep) -> pd.DataFrame:
    """:func:`completeness` of an order step: orders whose first successful ``start`` fell in the period
    and was due by its end on the step's flow, and the share of them whose first successful ``end``
    arrived before the end of the period. Flows are matched once per combination of the step's two
    systems, then joined to the orders on equality (matching a week's 386k orders to flows directly
    was a nested-loop join)."""
    src, tgt = step.source_col, step.target_col
    same = f"coalesce(c.{src}, '') = coalesce(o.{src}, '') AND coalesce(c.{tgt}, '') = coalesce(o.{tgt}, '')"
    return read_frame(
        conn,
        f"""
        WITH o AS (
            SELECT {src}, {tgt}, {step.start_col} AS start_at, {step.end_col} AS end_at FROM order_facts
            WHERE {step.start_col} >= :since AND {step.start_col} < :until
        ),
        c AS (
            SELECT o.{src}, o.{tgt}, f.sla_seconds, {partner_expr(kind)} AS partner
            FROM (SELECT DISTINCT {src}, {tgt} FROM o) o JOIN flows f ON {step_flow_join(step)}
        )
        SELECT c.partner AS grp, count(*) AS n, avg(CASE WHEN o.end_at < :until THEN 1.0 ELSE 0.0 END) AS share
        FROM o JOIN c ON {same}
        WHERE c.partner IS NOT NULL AND {seconds_between(conn, "o.start_at", ":until")} >= c.sla_seconds
        GROUP BY grp ORDER BY grp
        """,
        {"since": window.since, "until": window.until},
    )


def error_rate(conn: Connection, window: Window) -> pd.DataFrame:
    """Share of deliveries (every attempt) on a partner's flows in the period that did not end ok."""
    return read_frame(
        conn,
        """
        WITH partner_flows AS (
            SELECT f.flow_id, p.system_id FROM flows f
            JOIN systems p ON p.kind IN ('3pl', 'supplier') AND p.system_id IN (f.source_system, f.target_system)
        )
        SELECT pf.system_id AS grp, count(*) AS n,
               avg(CASE WHEN e.status <> 'ok' THEN 1.0 ELSE 0.0 END) AS share
        FROM business_events e JOIN partner_flows pf ON pf.flow_id = e.flow_id
        WHERE e.occurred_at >= :since AND e.occurred_at < :until
        GROUP BY grp ORDER BY grp
        """,
        {"since": window.since, "until": window.until},
    )


def _period(conn: Connection, window: Window) -> dict[tuple[str, str], Any]:
    """Every metric of every partner for one period, keyed (partner, metric)."""
    values: dict[tuple[str, str], Any] = {}

    def put(frame: pd.DataFrame, metric: str, column: str) -> None:
        for grp, value in zip(frame["grp"], frame[column], strict=True):
            values[grp, metric] = json_number(value)

    for kind, (start, end) in CONFIRMS.items():
        put(confirmation_lag(conn, window, kind), "confirmation_lag_p95_hours", "q95")
        put(completeness(conn, window, kind, start, end), "event_completeness", "share")
    put(completeness(conn, window, "supplier", *ASN_STEP), "asn_completeness", "share")
    put(error_rate(conn, window), "error_rate", "share")
    return values


def partner_scorecard(
    conn: Connection, *, window: Window, previous: Window, engine: Engine | None = None
) -> list[dict[str, Any]]:
    """One row per 3PL and supplier: each metric's value, previous value and change (with
    ``engine``, the two periods read :func:`~models.queries.common.side_by_side`)."""
    partners = read_frame(
        conn, "SELECT system_id, name, kind FROM systems WHERE kind IN ('3pl', 'supplier') ORDER BY kind, system_id"
    )
    now, before = read_each(conn, [lambda c: _period(c, window), lambda c: _period(c, previous)], engine)
    rows = []
    for p in partners.itertuples():
        metrics = {}
        for metric in METRICS:
            if metric == "asn_completeness" and p.kind != "supplier":
                continue
            value, prev = now.get((p.system_id, metric)), before.get((p.system_id, metric))
            change = None if value is None or prev is None else value - prev
            metrics[metric] = {"value": value, "previous": prev, "change": change}
        rows.append({"partner": p.system_id, "name": p.name, "kind": p.kind, "metrics": metrics})
    return rows
