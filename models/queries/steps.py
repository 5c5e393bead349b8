"""Lifecycle steps, defined once: the order steps of ``order_facts`` and the step lags of flows.

Cycle time, order-to-cash, sync lag, SLA adherence, the KPIs and detection all measure a
step ``A → B`` between the first *successful* ``A`` and the first successful ``B`` of one
correlation id; this module holds that SQL so every reader gets the same number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from models.queries.common import Window, read_frame
from models.queries.scope import ALL, Scope, flow_in_scope, order_in_scope
from models.store.dialect import percentiles, seconds_between


@dataclass(frozen=True)
class OrderStep:
    """One order step as ``order_facts`` sees it, and which of its columns name the flow's systems."""

    key: str
    start_event: str
    end_event: str
    start_col: str
    end_col: str
    source_col: str
    target_col: str
    flow_col: str  # order_facts column with the flow of the end event (kept by the writer)

    @property
    def pair(self) -> tuple[str, str]:
        """The step's (start event, end event), as flows name it."""
        return self.start_event, self.end_event


def pair_filter(pair: tuple[str, str], flow: str = "f") -> str:
    """A predicate over flows ``flow``: the flow's step is ``pair`` (start event, end event; from code)."""
    return f"{flow}.start_event = '{pair[0]}' AND {flow}.end_event = '{pair[1]}'"


#: The order lifecycle's steps. A flow serves an order's step when its events match and its
#: source/target systems are the order's (channel, ERP, fulfiller) columns named here.
ORDER_STEPS: tuple[OrderStep, ...] = (
    OrderStep(
        "acceptance", "order.created", "order.accepted", "created_at", "accepted_at", "channel", "erp", "accepted_flow"
    ),
    OrderStep(
        "release", "order.accepted", "order.released", "accepted_at", "released_at", "erp", "fulfiller", "released_flow"
    ),
    OrderStep(
        "shipment",
        "order.released",
        "shipment.dispatched",
        "released_at",
        "dispatched_at",
        "fulfiller",
        "erp",
        "dispatched_flow",
    ),
    OrderStep(
        "invoice",
        "shipment.dispatched",
        "invoice.posted",
        "dispatched_at",
        "invoiced_at",
        "erp",
        "erp",
        "invoiced_flow",
    ),
)
ORDER_STEP_BY_KEY = {s.key: s for s in ORDER_STEPS}
#: The order step of a (start event, end event) pair, where the pair is one.
ORDER_STEP_BY_PAIR = {s.pair: s for s in ORDER_STEPS}
#: A predicate over flows ``f``: the flow is one of the order steps (order_facts serves it).
ORDER_STEP_FLOW = " OR ".join(f"({pair_filter(s.pair)})" for s in ORDER_STEPS)

#: Dimensions of ``order_facts`` an order KPI can be grouped by.
ORDER_DIMENSIONS = ("channel", "erp", "fulfiller")


def step_flow_join(step: OrderStep, facts: str = "o", flow: str = "f") -> str:
    """Join condition of an order (``facts`` alias) to the flows that can serve ``step``.

    A system column still NULL (the ERP before acceptance, the fulfiller before release)
    matches any flow, so an order not yet released may have several candidate flows.
    """
    return (
        f"{pair_filter(step.pair, flow)}"
        f" AND ({facts}.{step.source_col} IS NULL OR {flow}.source_system = {facts}.{step.source_col})"
        f" AND ({facts}.{step.target_col} IS NULL OR {flow}.target_system = {facts}.{step.target_col})"
    )


def order_durations(
    conn: Connection,
    *,
    window: Window,
    start_col: str,
    end_col: str,
    quantiles: tuple[float, ...],
    group: str | None = None,
    scope: Scope = ALL,
) -> pd.DataFrame:
    """Percentiles (seconds, linear interpolation) of ``end_col − start_col`` per group, for orders
    of ``scope`` created in the window that reached ``end_col``; columns ``grp, n, q50, q90…``."""
    if group is not None and group not in ORDER_DIMENSIONS:
        raise ValueError(f"orders cannot be grouped by {group!r}")
    secs = seconds_between(conn, start_col, end_col)
    grp = group or "NULL"
    columns = zip(percentiles(conn, secs, quantiles), quantiles, strict=True)
    cols = ", ".join(f"{col} AS q{round(q * 100)}" for col, q in columns)
    return read_frame(
        conn,
        f"""
        SELECT {grp} AS grp, count(*) AS n, {cols}
        FROM order_facts
        WHERE created_at >= :since AND created_at < :until
          AND {start_col} IS NOT NULL AND {end_col} IS NOT NULL AND {order_in_scope(scope, "")}
        GROUP BY grp
        ORDER BY grp
        """,
        {"since": window.since, "until": window.until, **scope.params()},
    )


def step_lags_sql(
    conn: Connection, flow_filter: str = "TRUE", scope: Scope = ALL, pair: tuple[str, str] | None = None
) -> str:
    """Per (flow, correlation id, start): the lag from a start event to the first end event
    after it, for end events in ``[:since, :until)``; ``flow_filter`` is a predicate over flows ``f``;
    ``scope`` keeps its flows and orders (bind ``scope.params()``, which :func:`step_params` takes);
    ``pair`` (start event, end event) keeps the flows of that step and reads only the rollup that holds
    it (30 days at 10M events: a 3PL's confirmation lag read four order_facts scans for one).

    Both halves are rollups the writer keeps, so no read pairs raw events (the slow part at
    scale): order steps from ``order_facts`` (first successful event of each step and the flow
    of its end event), other steps from ``flow_steps`` (one row per step: the latest successful
    start of its correlation id before an end, and its first end; stock keys recur, so each
    publication pairs with the adjustment it published).
    """
    in_scope = flow_in_scope(scope)
    steps: tuple[OrderStep, ...] = ORDER_STEPS
    read_flow_steps = True
    if pair is not None:
        flow_filter = f"({flow_filter}) AND {pair_filter(pair)}"
        step = ORDER_STEP_BY_PAIR.get(pair)
        steps, read_flow_steps = ((step,), False) if step else ((), True)
    branches = [
        f"""SELECT s.flow_id, s.correlation_id, s.start_at, s.end_at
            FROM flow_steps s JOIN flows f ON f.flow_id = s.flow_id
            WHERE s.end_at >= :since AND s.end_at < :until AND NOT ({ORDER_STEP_FLOW}) AND ({flow_filter})
              AND {in_scope}"""
    ] if read_flow_steps else []  # fmt: skip
    branches += [
        f"""SELECT o.{s.flow_col} AS flow_id, o.correlation_id, o.{s.start_col} AS start_at, o.{s.end_col} AS end_at
            FROM order_facts o
            JOIN flows f ON f.flow_id = o.{s.flow_col}
                 AND {pair_filter(s.pair)}
            WHERE o.{s.end_col} >= :since AND o.{s.end_col} < :until AND o.{s.start_col} IS NOT NULL
              AND ({flow_filter}) AND {in_scope} AND {order_in_scope(scope)}"""
        for s in steps
    ]
    union = "\n            UNION ALL\n            ".join(branches)
    return f"""
        WITH pairs AS (
            {union}
        )
        SELECT flow_id, correlation_id, start_at, end_at,
               {seconds_between(conn, "start_at", "end_at")} AS lag_seconds
        FROM pairs
    """


def step_params(window: Window, scope: Scope = ALL, **extra: Any) -> dict[str, Any]:
    """Bound parameters of :func:`step_lags_sql` for ``window`` and ``scope``."""
    return {"since": window.since, "until": window.until, **scope.params(), **extra}


def partner_expr(kind: str, flow: str = "f") -> str:
    """The system of ``kind`` ('3pl', 'supplier') among a flow's two systems, else NULL."""
    if kind not in ("3pl", "supplier"):
        raise ValueError(f"unknown partner kind {kind!r}")
    return (
        f"(SELECT min(p.system_id) FROM systems p WHERE p.kind = '{kind}'"
        f" AND p.system_id IN ({flow}.source_system, {flow}.target_system))"
    )


def step_lag_percentiles(
    conn: Connection,
    *,
    window: Window,
    quantiles: tuple[float, ...],
    flow_filter: str = "TRUE",
    group_sql: str = "NULL",
    scale: float = 1.0,
    params: dict[str, Any] | None = None,
    pair: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """Percentiles of the step lags ending in the window (divided by ``scale``), per
    ``group_sql`` (an expression over ``lags`` and its flow ``f``); columns ``grp, n, q50…``.
    ``params`` binds whatever ``flow_filter`` names; ``pair`` as :func:`step_lags_sql`'s."""
    cols = ", ".join(
        f"{col} / {scale} AS q{round(q * 100)}"
        for col, q in zip(percentiles(conn, "lags.lag_seconds", quantiles), quantiles, strict=True)
    )
    return read_frame(
        conn,
        f"""
        WITH lags AS ({step_lags_sql(conn, flow_filter, pair=pair)})
        SELECT {group_sql} AS grp, count(*) AS n, {cols}
        FROM lags JOIN flows f ON f.flow_id = lags.flow_id
        GROUP BY grp ORDER BY grp
        """,
        step_params(window, **(params or {})),
    )
