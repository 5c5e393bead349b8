"""Flows with their live health: the last hour's sync lag against the SLA, failures and open exceptions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from models.enums import ACTIVE_SQL
from models.queries.common import SEVERITIES, Window, json_number, read_frame, severity_rank
from models.queries.overview import TOUCHES_SYSTEM, sync_lag_by_flow
from models.queries.scope import ALL, Scope, flow_in_scope, system_in_scope
from models.store.dialect import in_list, seconds_between

HEALTH_WINDOW = timedelta(hours=1)

#: p95 at or above this share of the SLA is a warning: the flow is about to breach.
WARNING_SHARE = 0.8


def lag_status(p95_seconds: Any, sla_seconds: Any) -> str:
    """A lag against its SLA — the one rule tiles, tables, charts and :func:`health` share:
    ``breach`` over the SLA, ``warning`` from 80 % of it, ``ok`` below, ``idle`` with no lag measured."""
    if p95_seconds is None or p95_seconds != p95_seconds or not sla_seconds or sla_seconds != sla_seconds:
        return "idle"
    ratio = float(p95_seconds) / float(sla_seconds)
    if ratio > 1:
        return "breach"
    return "warning" if ratio >= WARNING_SHARE else "ok"


def health(p95: float | None, sla: int, failures: int, open_exceptions: int, worst: str | None) -> str:
    """``failing`` when the lag breaches its SLA or a critical exception is open; ``degraded`` on
    any failure, any open exception or a lag in warning; else ``healthy``."""
    lag = lag_status(p95, sla)
    if lag == "breach" or worst == "critical":
        return "failing"
    if failures or open_exceptions or lag == "warning":
        return "degraded"
    return "healthy"


def flows_health(
    conn: Connection, *, now: datetime, window: Window | None = None, scope: Scope = ALL, system: str | None = None
) -> list[dict[str, Any]]:
    """Every flow of ``scope`` with its definition and health over ``window`` (default: the hour before
    ``now``); its lags count the scope's orders, its open exceptions those of systems in scope.
    ``system`` keeps the flows with that system at either end (a partner's page reads its own flows,
    not every flow's lag percentiles: 130 → 70 ms for a week at 10M events).

    The ``*_last_hour`` fields count over ``window`` when one is given (the Flows page's range);
    the names stay for the API, which always asks for the hour. Open exceptions are those open now.
    """
    window = window or Window(now - HEALTH_WINDOW, now, int(HEALTH_WINDOW.total_seconds()))
    touches = "TRUE" if system is None else TOUCHES_SYSTEM
    bound = {} if system is None else {"system": system}
    on_flow = "flow_id IS NOT NULL" if system is None else f"flow_id IN (SELECT f.flow_id FROM flows f WHERE {touches})"
    lag = sync_lag_by_flow(conn, window=window, scope=scope, system=system).set_index("flow_id")
    flows = read_frame(
        conn,
        f"SELECT * FROM flows f WHERE {flow_in_scope(scope)} AND {touches} ORDER BY category, flow_id",
        {**scope.params(), **bound},
    )
    failures = read_frame(
        conn,
        f"""
        SELECT flow_id, count(*) AS deliveries,
               count(*) FILTER (WHERE status IN ('failed', 'dead_lettered')) AS failures
        FROM business_events
        WHERE {on_flow} AND occurred_at >= :since AND occurred_at < :until
        GROUP BY flow_id
        """,
        {"since": window.since, "until": window.until, **bound},
    ).set_index("flow_id")
    ranks = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES))
    exceptions = read_frame(
        conn,
        f"""
        SELECT flow_id, count(*) AS open_exceptions, min(CASE severity {ranks} END) AS worst_rank
        FROM exceptions
        WHERE status IN {ACTIVE_SQL} AND flow_id IS NOT NULL AND {system_in_scope(scope, "system_id")}
        GROUP BY flow_id
        """,
        scope.params(),
    ).set_index("flow_id")
    rows = []
    for f in flows.to_dict("records"):
        fid = f["flow_id"]
        p95 = json_number(lag["p95_seconds"].get(fid)) if fid in lag.index else None
        fails = int(failures["failures"].get(fid, 0))
        opened = int(exceptions["open_exceptions"].get(fid, 0))
        rank = exceptions["worst_rank"].get(fid)
        worst = SEVERITIES[int(rank)] if rank is not None and rank == rank else None
        rows.append({
            **{k: json_number(v) if not isinstance(v, str) else v for k, v in f.items()},
            "sync_lag_p95_seconds": p95,
            "steps_last_hour": int(lag["steps"].get(fid, 0)) if fid in lag.index else 0,
            "deliveries_last_hour": int(failures["deliveries"].get(fid, 0)),
            "failures_last_hour": fails,
            "open_exceptions": opened,
            "worst_open_severity": worst,
            "health": health(p95, int(f["sla_seconds"]), fails, opened, worst),
        })  # fmt: skip
    return rows


def flow_definitions(conn: Connection) -> pd.DataFrame:
    """Every flow's definition (systems and their names, step events, SLA, queue): what readers
    label series and compare partners with."""
    return read_frame(
        conn,
        """
        SELECT f.flow_id, f.name, f.category, f.source_system, coalesce(s.name, f.source_system) AS source_name,
               f.target_system, coalesce(t.name, f.target_system) AS target_name, f.start_event, f.end_event,
               f.sla_seconds, f.lag_threshold_seconds, f.queue
        FROM flows f
        LEFT JOIN systems s ON s.system_id = f.source_system
        LEFT JOIN systems t ON t.system_id = f.target_system
        ORDER BY f.category, f.flow_id
        """,
    )


def flow_exceptions(conn: Connection, *, flow_id: str, now: datetime, limit: int = 10, orders: int = 5) -> pd.DataFrame:
    """Open and acknowledged exceptions of one flow, most severe then oldest first, with up to
    ``orders`` of the business keys each one affects (so a reader can open their timelines)."""
    frame = read_frame(
        conn,
        f"""
        SELECT x.exception_id, x.title, x.kind, x.severity, x.status, x.business_key, x.affected_orders,
               x.occurrences, x.first_seen, x.last_seen, {seconds_between(conn, "x.first_seen", ":now")} AS age_seconds
        FROM exceptions x
        WHERE x.flow_id = :flow_id AND x.status IN {ACTIVE_SQL}
        ORDER BY {severity_rank("x.severity")}, x.first_seen
        LIMIT :limit
        """,
        {"flow_id": flow_id, "now": now, "limit": limit},
    )
    if frame.empty:
        return frame.assign(orders=[])
    keys = read_frame(
        conn,
        f"""
        SELECT exception_id, correlation_id FROM (
            SELECT eo.exception_id, eo.correlation_id,
                   row_number() OVER (PARTITION BY eo.exception_id ORDER BY eo.correlation_id) AS n
            FROM exception_orders eo WHERE {in_list(conn, "eo.exception_id", "ids")}
        ) ranked
        WHERE n <= :orders
        ORDER BY exception_id, correlation_id
        """,
        {"ids": [int(i) for i in frame["exception_id"]], "orders": orders},
    )
    by_exception = keys.groupby("exception_id")["correlation_id"].agg(list).to_dict()
    return frame.assign(orders=[by_exception.get(i, []) for i in frame["exception_id"]])


def systems(conn: Connection, scope: Scope = ALL) -> list[dict[str, Any]]:
    """Every system of the estate (id, name, kind, vendor) that ``scope`` keeps: the nodes of the flow map."""
    frame = read_frame(
        conn,
        f"SELECT system_id, name, kind, vendor FROM systems WHERE {system_in_scope(scope, 'system_id')}"
        " ORDER BY system_id",
        scope.params(),
    )
    return [{k: v if isinstance(v, str) else None for k, v in row.items()} for row in frame.to_dict("records")]
