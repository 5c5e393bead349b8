"""Operations-overview KPIs: one SQL definition each, read by the API and the dashboard.

Step times come from ``order_facts`` (first *successful* event of each type, its
``occurred_at``), so an order whose shipment confirmation was dead-lettered is still in
flight until the confirmation is delivered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models.enums import ACTIVE_SQL, ACTIVE_STATUSES
from models.queries.common import (
    SEVERITIES,
    Window,
    aging_band_sql,
    json_number,
    read_each,
    read_frame,
    severity_rank,
)
from models.queries.impact import money
from models.queries.scope import ALL, Scope, exception_in_scope, flow_id_in_scope, flow_in_scope, order_in_scope
from models.queries.steps import order_durations, step_lags_sql, step_params
from models.store.dialect import percentile, percentiles, seconds_between, time_bucket
from models.store.tables import exception_impacts, exceptions, flows


def order_counts(conn: Connection, *, now: datetime, window: Window, scope: Scope = ALL) -> dict[str, int]:
    """Orders of ``scope`` created today (UTC), in the window, and in flight (created, not shipped,
    not cancelled)."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    row = conn.execute(
        sa.text(
            f"""
            SELECT count(*) FILTER (WHERE created_at >= :day_start AND created_at <= :now),
                   count(*) FILTER (WHERE created_at >= :since AND created_at < :until),
                   count(*) FILTER (WHERE dispatched_at IS NULL AND cancelled_at IS NULL
                                    AND created_at <= :now)
            FROM order_facts
            WHERE created_at IS NOT NULL AND {order_in_scope(scope, "")}
            """
        ),
        {"day_start": day_start, "now": now, "since": window.since, "until": window.until, **scope.params()},
    ).one()
    return {"orders_today": row[0], "orders_in_range": row[1], "in_flight": row[2]}


def cycle_time(conn: Connection, *, window: Window, scope: Scope = ALL) -> dict[str, float | int | None]:
    """Order cycle time (first dispatch − first creation) percentiles, in hours, for orders
    created in the window and already shipped; interpolation is linear (quantile_cont)."""
    frame = order_durations(
        conn, window=window, start_col="created_at", end_col="dispatched_at", quantiles=(0.5, 0.9, 0.95), scope=scope
    )
    if frame.empty:
        return {"shipped": 0, "p50_hours": None, "p90_hours": None, "p95_hours": None}
    row = frame.iloc[0]
    return {
        "shipped": int(row.n),
        **{f"p{q}_hours": _hours(row[f"q{q}"]) for q in (50, 90, 95)},
    }


def _hours(seconds: Any) -> float | None:
    value = json_number(seconds)
    return None if value is None else value / 3600.0


#: A predicate over flows ``f``: the flow has the bound ``:system`` at either end.
TOUCHES_SYSTEM = ":system IN (f.source_system, f.target_system)"


def sync_lag_by_flow(
    conn: Connection, *, window: Window, scope: Scope = ALL, system: str | None = None
) -> pd.DataFrame:
    """Sync lag p50/p95 (seconds) per flow of ``scope`` (and with ``system`` at either end, when
    given) for its steps completed in the window, beside each SLA."""
    p50, p95 = percentiles(conn, "lags.lag_seconds", (0.5, 0.95))
    touches = "TRUE" if system is None else TOUCHES_SYSTEM
    return read_frame(
        conn,
        f"""
        WITH lags AS ({step_lags_sql(conn, touches, scope=scope)})
        SELECT f.flow_id, f.name, f.category, f.sla_seconds,
               count(lags.lag_seconds) AS steps, {p50} AS p50_seconds, {p95} AS p95_seconds,
               count(*) FILTER (WHERE lags.lag_seconds > f.sla_seconds) AS over_sla
        FROM flows f
        LEFT JOIN lags ON lags.flow_id = f.flow_id
        WHERE {flow_in_scope(scope)} AND {touches}
        GROUP BY f.flow_id, f.name, f.category, f.sla_seconds
        ORDER BY f.category, f.flow_id
        """,
        step_params(window, scope, **({} if system is None else {"system": system})),
    )


def sync_lag_series(conn: Connection, *, window: Window, scope: Scope = ALL) -> pd.DataFrame:
    """Sync lag p95 (seconds) per flow of ``scope`` per time bucket of the step's completion."""
    bucket = time_bucket(conn, window.bucket_seconds, "lags.end_at")
    return read_frame(
        conn,
        f"""
        WITH lags AS ({step_lags_sql(conn, scope=scope)})
        SELECT lags.flow_id, {bucket} AS bucket,
               {percentile(conn, "lags.lag_seconds", 0.95)} AS p95_seconds,
               count(*) AS steps
        FROM lags
        GROUP BY lags.flow_id, bucket
        ORDER BY lags.flow_id, bucket
        """,
        step_params(window, scope),
    )


def exception_aging(conn: Connection, *, now: datetime, scope: Scope = ALL) -> pd.DataFrame:
    """Open and acknowledged exceptions of ``scope`` per aging band (now − first_seen) and severity."""
    age = seconds_between(conn, "first_seen", ":now")
    return read_frame(
        conn,
        f"""
        SELECT {aging_band_sql(age)} AS band, severity, count(*) AS exceptions
        FROM exceptions
        WHERE status IN {ACTIVE_SQL} AND {exception_in_scope(scope)}
        GROUP BY band, severity
        ORDER BY band, severity  -- deterministic, so every reader lists it alike
        """,
        {"now": now, **scope.params()},
    )


def exception_aging_in_period(conn: Connection, *, window: Window, scope: Scope = ALL) -> pd.DataFrame:
    """Exceptions first seen in the period per aging band and severity, aged by how long each stayed
    open: to its resolution, else to the end of the period (columns ``band, severity, exceptions``)."""
    age = seconds_between(conn, "first_seen", "least(coalesce(resolved_at, :until), :until)")
    return read_frame(
        conn,
        f"""
        SELECT {aging_band_sql(age)} AS band, severity, count(*) AS exceptions
        FROM exceptions
        WHERE first_seen >= :since AND first_seen < :until AND {exception_in_scope(scope)}
        GROUP BY band, severity
        ORDER BY band, severity
        """,
        {"since": window.since, "until": window.until, **scope.params()},
    )


def exception_totals(conn: Connection, *, now: datetime, scope: Scope = ALL) -> dict[str, Any]:
    """Open exceptions of ``scope`` by severity, with the oldest and mean age in hours."""
    age = seconds_between(conn, "first_seen", ":now")
    row = (
        conn.execute(
            sa.text(
                f"""
        SELECT count(*) AS open_total,
               {", ".join(f"count(*) FILTER (WHERE severity = '{s}') AS {s}" for s in SEVERITIES)},
               max({age}) / 3600.0 AS oldest_hours,
               avg({age}) / 3600.0 AS mean_age_hours
        FROM exceptions
        WHERE status IN {ACTIVE_SQL} AND {exception_in_scope(scope)}
        """
            ),
            {"now": now, **scope.params()},
        )
        .mappings()
        .one()
    )  # a mapping keeps counts as ints (a pandas row would make them floats)
    return {k: json_number(v) for k, v in row.items()}


def queue_current(conn: Connection, *, now: datetime, max_age_minutes: int = 60, scope: Scope = ALL) -> pd.DataFrame:
    """The latest sample of each queue seen in the last ``max_age_minutes`` (of ``scope``'s flows, and
    the queues of no flow)."""
    return read_frame(
        conn,
        f"""
        SELECT broker, queue, flow_id, is_dlq, depth, consumers, oldest_age_seconds, sampled_at
        FROM (
            SELECT *, row_number() OVER (PARTITION BY broker, queue ORDER BY sampled_at DESC) AS n
            FROM queue_samples
            WHERE sampled_at > :since AND sampled_at <= :now AND {flow_id_in_scope(scope, "flow_id")}
        ) latest
        WHERE n = 1
        ORDER BY is_dlq, depth DESC, queue
        """,
        {"since": now - pd.Timedelta(minutes=max_age_minutes), "now": now, **scope.params()},
    )


def queue_depth_series(conn: Connection, *, window: Window, scope: Scope = ALL) -> pd.DataFrame:
    """Peak depth per queue (of ``scope``'s flows, and the queues of no flow) per time bucket."""
    bucket = time_bucket(conn, window.bucket_seconds, "sampled_at")
    return read_frame(
        conn,
        f"""
        SELECT queue, is_dlq, {bucket} AS bucket, max(depth) AS depth,
               max(oldest_age_seconds) AS oldest_age_seconds
        FROM queue_samples
        WHERE sampled_at >= :since AND sampled_at < :until AND {flow_id_in_scope(scope, "flow_id")}
        GROUP BY queue, is_dlq, bucket
        ORDER BY queue, bucket
        """,
        {"since": window.since, "until": window.until, **scope.params()},
    )


def needs_attention(conn: Connection, *, now: datetime, limit: int = 10, scope: Scope = ALL) -> pd.DataFrame:
    """Open exceptions of ``scope`` that put most order value at risk first, then most orders, the most severe,
    the oldest."""
    x = exceptions.c
    shown = (
        x.status.in_([str(s) for s in ACTIVE_STATUSES]),
        sa.and_(sa.true(), sa.text(exception_in_scope(scope, "exceptions")).bindparams(**scope.params())),
    )
    i = exception_impacts.c
    query = (
        sa.select(
            x.exception_id, x.title, x.kind, x.severity, x.status, x.flow_id, flows.c.name.label("flow_name"),
            x.system_id, x.affected_orders, x.occurrences, x.first_seen, x.last_seen,
            sa.func.coalesce(i.value_at_risk, 0).label("value_at_risk"), i.customer_tier, i.earliest_ship_by,
        )
        .select_from(
            exceptions.outerjoin(flows, flows.c.flow_id == x.flow_id)
            .outerjoin(exception_impacts, i.exception_id == x.exception_id)
        )
        .where(*shown)
        .order_by(
            sa.func.coalesce(i.value_at_risk, 0).desc(), x.affected_orders.desc(),
            sa.literal_column(severity_rank("exceptions.severity")), x.first_seen,
        )
        .limit(limit)
    )  # fmt: skip
    frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=list(query.selected_columns.keys()))
    age_hours = (now - pd.to_datetime(frame["first_seen"])).dt.total_seconds() / 3600.0
    return frame.assign(age_hours=age_hours, value_at_risk=frame["value_at_risk"].map(money))


def overview(conn: Connection, *, now: datetime, window: Window, engine: Engine | None = None) -> dict[str, Any]:
    """Every overview KPI in one JSON-ready dict (the API's /kpis/overview); with ``engine`` its six
    reads run :func:`~models.queries.common.side_by_side`."""
    reads: list[Callable[[Connection], Any]] = [
        lambda c: sync_lag_by_flow(c, window=window),
        lambda c: queue_current(c, now=now),
        lambda c: exception_aging(c, now=now),
        lambda c: order_counts(c, now=now, window=window),
        lambda c: cycle_time(c, window=window),
        lambda c: exception_totals(c, now=now),
    ]
    lag, queues, aging, orders, cycle, totals = read_each(conn, reads, engine)
    return {
        "as_of": now.isoformat(),
        "window": {"since": window.since.isoformat(), "until": window.until.isoformat()},
        "orders": orders,
        "cycle_time": cycle,
        "sync_lag": [
            {
                "flow_id": r.flow_id,
                "name": r.name,
                "sla_seconds": int(r.sla_seconds),
                "steps": int(r.steps),
                "p50_seconds": json_number(r.p50_seconds),
                "p95_seconds": json_number(r.p95_seconds),
                "over_sla": int(r.over_sla),
            }
            for r in lag.itertuples()
        ],
        "exceptions": {
            **totals,
            "aging": [
                {"band": r.band, "severity": r.severity, "exceptions": int(r.exceptions)} for r in aging.itertuples()
            ],
        },
        "queues": [
            {
                "broker": r.broker,
                "queue": r.queue,
                "flow_id": None if pd.isna(r.flow_id) else r.flow_id,  # pandas reads NULL text as NaN
                "is_dlq": bool(r.is_dlq),
                "depth": int(r.depth),
                "consumers": json_number(r.consumers),
                "oldest_age_seconds": json_number(r.oldest_age_seconds),
                "sampled_at": r.sampled_at.isoformat(),
            }
            for r in queues.itertuples()
        ],
    }
