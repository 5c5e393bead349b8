"""The KPI table of DESIGN.md (beyond the overview), one SQL definition each.

Every KPI is computed for a period ``[since, until)`` and for the previous period of the
same length, per dimension (``group_by``), so readers get the value and its change.
Percentiles are continuous with linear interpolation (DuckDB ``quantile_cont``,
PostgreSQL ``percentile_cont``). Step times are ``occurred_at`` of the first *successful*
event of each type (``order_facts`` for orders, :mod:`models.queries.steps` for flows).

Oversell incidents are ``order.accepted`` deliveries that failed with an error code
starting ``STOCK`` (the ERP could not allocate stock for an order the storefront took).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from models.enums import OVERSELL_CODE_PREFIX, SYSTEM_ACTORS, Action, ReplayStatus
from models.queries.common import Window, json_number, read_each, read_frame
from models.queries.scorecard import partner_scorecard
from models.queries.steps import (
    ORDER_STEP_BY_KEY,
    order_durations,
    pair_filter,
    partner_expr,
    step_flow_join,
    step_lag_percentiles,
    step_lags_sql,
    step_params,
)
from models.store.dialect import percentiles, seconds_between

#: Dimensions a KPI may be grouped by (``fulfiller`` is the WMS or 3PL an order ships from).
DIMENSIONS = ("channel", "flow", "erp", "fulfiller", "supplier")
#: Actions by which an operator intervenes on an order (the system's own actors never count).
MANUAL_ACTIONS = tuple(
    str(a) for a in (Action.REPLAY, "replay_request", "replay_approve", Action.RESOLVE, Action.IGNORE)
)
#: The steps whose SLAs add up to an order's promised ship-by (creation → dispatched).
PROMISE_STEPS = ("acceptance", "release", "shipment")
#: Exception kinds that mean a message of the order was not accepted (its documents were not right).
DOCUMENT_EXCEPTION_KINDS = ("delivery_failed", "dead_letter", "retries_exhausted")

Compute = Callable[[Connection, Window, str | None], pd.DataFrame]


@dataclass(frozen=True)
class Metric:
    """One reported number: a column of its KPI's frame."""

    name: str
    column: str
    unit: str


@dataclass(frozen=True)
class Kpi:
    """A KPI definition: its query (columns ``grp, n`` + metrics) and the groupings it supports.

    ``dimensions[0]`` is its native grouping, used when no ``group_by`` is asked for;
    ``None`` means one total.
    """

    name: str
    label: str
    compute: Compute
    metrics: tuple[Metric, ...]
    dimensions: tuple[str | None, ...]


def _order_group(group: str | None) -> str | None:
    if group not in (None, "channel", "erp", "fulfiller"):
        raise ValueError(f"order KPIs cannot be grouped by {group!r}")
    return group


def _order_column(group: str | None) -> str:
    """The order_facts column (alias ``o``) of an order grouping, or NULL for one total."""
    return f"o.{_order_group(group)}" if group else "NULL"


def _durations(start_col: str, end_col: str, quantiles: tuple[float, ...]) -> Compute:
    def compute(conn: Connection, window: Window, group: str | None) -> pd.DataFrame:
        frame = order_durations(
            conn, window=window, start_col=start_col, end_col=end_col, quantiles=quantiles,
            group=_order_group(group),
        )  # fmt: skip
        for q in quantiles:
            column = f"q{round(q * 100)}"
            frame[column] = frame[column] / 3600.0
        return frame

    return compute


def _step_lag_group(group: str | None) -> str:
    if group is None:
        return "NULL"
    if group == "flow":
        return "lags.flow_id"
    if group == "supplier":
        return partner_expr("supplier")
    raise ValueError(f"step KPIs cannot be grouped by {group!r}")


def _step_lags(pair: tuple[str, str], quantiles: tuple[float, ...], scale: float = 1.0) -> Compute:
    """Percentiles of step lags (ends in the window) of the flows of the step ``pair`` (start event,
    end event)."""

    def compute(conn: Connection, window: Window, group: str | None) -> pd.DataFrame:
        return step_lag_percentiles(
            conn, window=window, quantiles=quantiles, pair=pair, group_sql=_step_lag_group(group), scale=scale,
        )  # fmt: skip

    return compute


def sla_adherence(conn: Connection, window: Window, group: str | None) -> pd.DataFrame:
    """Share of steps completed in the period within their flow's SLA; per flow also the sync lag (p50
    and p95 seconds, ``q50``, ``q95``) of the same steps, in the same pass (sync lag exists per flow
    only, and its percentiles are most of the query's cost at 10M events)."""
    lag = "lags.lag_seconds"
    quantiles = (
        "{} AS q50, {} AS q95".format(*percentiles(conn, lag, (0.5, 0.95)))
        if group == "flow"
        else "NULL AS q50, NULL AS q95"
    )
    return read_frame(
        conn,
        f"""
        WITH lags AS ({step_lags_sql(conn)})
        SELECT {_step_lag_group(group)} AS grp, count(*) AS n,
               avg(CASE WHEN {lag} <= f.sla_seconds THEN 1.0 ELSE 0.0 END) AS share, {quantiles}
        FROM lags JOIN flows f ON f.flow_id = lags.flow_id
        GROUP BY grp ORDER BY grp
        """,
        step_params(window),
    )


def _event_group(group: str | None) -> str:
    if group in (None, "flow", "channel"):
        return {None: "NULL", "flow": "e.flow_id", "channel": "e.channel"}[group]
    raise ValueError(f"event KPIs cannot be grouped by {group!r}")


def event_delivery_lag(conn: Connection, window: Window, group: str | None) -> pd.DataFrame:
    """``received_at − occurred_at`` of every event (each attempt) that occurred in the period."""
    q50, q95 = percentiles(conn, seconds_between(conn, "e.occurred_at", "e.received_at"), (0.5, 0.95))
    return read_frame(
        conn,
        f"""
        SELECT {_event_group(group)} AS grp, count(*) AS n, {q50} AS q50, {q95} AS q95
        FROM business_events e
        WHERE e.occurred_at >= :since AND e.occurred_at < :until
        GROUP BY grp ORDER BY grp
        """,
        {"since": window.since, "until": window.until},
    )


def first_pass_success(conn: Connection, window: Window, group: str | None) -> pd.DataFrame:
    """Share of messages (first attempts in the period, on a flow) delivered ``ok`` on attempt 1."""
    return read_frame(
        conn,
        f"""
        SELECT {_event_group(group)} AS grp, count(*) AS n,
               avg(CASE WHEN e.status = 'ok' THEN 1.0 ELSE 0.0 END) AS share
        FROM business_events e
        WHERE e.attempt = 1 AND e.flow_id IS NOT NULL
          AND e.occurred_at >= :since AND e.occurred_at < :until
        GROUP BY grp ORDER BY grp
        """,
        {"since": window.since, "until": window.until},
    )


def mttr(conn: Connection, window: Window, group: str | None) -> pd.DataFrame:
    """Mean hours from first_seen to resolved_at of exceptions resolved in the period."""
    if group not in (None, "flow"):
        raise ValueError(f"MTTR cannot be grouped by {group!r}")
    grp = "flow_id" if group == "flow" else "NULL"
    return read_frame(
        conn,
        f"""
        SELECT {grp} AS grp, count(*) AS n,
               avg({seconds_between(conn, "first_seen", "resolved_at")}) / 3600.0 AS hours
        FROM exceptions
        WHERE status = 'resolved' AND resolved_at >= :since AND resolved_at < :until
        GROUP BY grp ORDER BY grp
        """,
        {"since": window.since, "until": window.until},
    )


def _sql_list(values: tuple[str, ...]) -> str:
    """``('a', 'b')`` from constants of this module (code, never input)."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def manual_intervention_rate(conn: Connection, window: Window, group: str | None) -> pd.DataFrame:
    """Share of orders created in the period that an operator had to act on by the end of it.

    An order is touched when a person (not the detector, not a replay's own resolve) replayed,
    asked for or approved a replay of, resolved or ignored an exception linked to it
    (``exception_actions`` via ``exception_orders``), or requested a replay of one of its
    messages that was not rejected (``replays`` via ``exception_messages``). Triage alone
    (ack, assign, note, snooze) is not an intervention on the order.
    """
    grp = _order_column(group)
    humans = f"NOT IN {_sql_list(SYSTEM_ACTORS)}"
    return read_frame(
        conn,
        f"""
        WITH touched AS (
            SELECT eo.correlation_id
            FROM exception_orders eo
            JOIN exception_actions a ON a.exception_id = eo.exception_id
            WHERE a.action IN {_sql_list(MANUAL_ACTIONS)}
              AND a.actor {humans} AND a.acted_at < :until
            UNION
            SELECT m.correlation_id
            FROM replays r
            JOIN exception_messages m ON m.exception_id = r.exception_id AND m.event_id = r.event_id
            WHERE r.requested_by {humans} AND r.status <> '{ReplayStatus.REJECTED}' AND r.requested_at < :until
        )
        SELECT {grp} AS grp, count(*) AS n,
               avg(CASE WHEN t.correlation_id IS NOT NULL THEN 1.0 ELSE 0.0 END) AS share
        FROM order_facts o
        LEFT JOIN (SELECT DISTINCT correlation_id FROM touched) t ON t.correlation_id = o.correlation_id
        WHERE o.created_at >= :since AND o.created_at < :until
        GROUP BY grp ORDER BY grp
        """,
        {"since": window.since, "until": window.until},
    )


#: The order columns a promise depends on (the systems its steps' flows run between).
_PROMISE_COLUMNS = ("channel", "erp", "fulfiller")
#: Joins an order ``o`` to its promise row ``s`` (NULL systems, not yet known, match each other).
_PROMISE_JOIN = " AND ".join(f"coalesce(s.{c}, '') = coalesce(o.{c}, '')" for c in _PROMISE_COLUMNS)


def _promise_sql() -> tuple[str, str]:
    """The promised ship-by, defined once: a query over the orders ``o`` of the SLA of every step its
    promise adds up (``<step>_sla``) per combination of the order's systems (a promise depends on
    nothing else, and a few dozen combinations cost less to match to flows than every order: 0.2 s of
    a week's 386k orders at 10M events), to be named ``s`` and joined by ``_PROMISE_JOIN``; and that
    sum in seconds over ``s``."""
    steps = [ORDER_STEP_BY_KEY[k] for k in PROMISE_STEPS]
    slas = ", ".join(f"max(f.sla_seconds) FILTER (WHERE {pair_filter(s.pair)}) AS {s.key}_sla" for s in steps)
    joins = " OR ".join(f"({step_flow_join(s)})" for s in steps)
    systems = ", ".join(f"o.{c}" for c in _PROMISE_COLUMNS)
    query = (
        f"SELECT {systems}, {slas} FROM (SELECT DISTINCT {', '.join(_PROMISE_COLUMNS)} FROM o) o "
        f"JOIN flows f ON {joins} GROUP BY {systems}"
    )
    return query, " + ".join(f"coalesce(s.{s.key}_sla, 0)" for s in steps)


def _judged_orders(conn: Connection, group: str | None) -> str:
    """Per order created in ``[:since, :until)`` and not cancelled by ``:until``: whether it is
    decided, and the four SCOR perfect-order components as of ``:until`` (see
    :func:`perfect_order_rate`). Columns ``grp, decided, shipped, on_time, in_full, damage_free,
    documents_right``. Shortfalls and returns are the writer's ``order_facts.short_at`` and
    ``returned_at``: matching every event of those types to the period's orders was most of the
    query (0.5 of 0.9 s CPU over 30 days at 10M events)."""
    grp = _order_column(group)
    slas, promise = _promise_sql()
    return f"""
        WITH o AS (
            SELECT * FROM order_facts
            WHERE created_at >= :since AND created_at < :until
              AND (cancelled_at IS NULL OR cancelled_at >= :until)
        ),
        s AS (
            {slas}
        ),
        flagged AS (
            SELECT eo.correlation_id FROM exception_orders eo
            JOIN exceptions x ON x.exception_id = eo.exception_id
            WHERE x.kind IN {_sql_list(DOCUMENT_EXCEPTION_KINDS)} AND x.first_seen < :until
        ),
        facts AS (
            SELECT {grp} AS grp,
                   coalesce(o.dispatched_at < :until, FALSE) AS shipped,
                   coalesce(o.dispatched_at < :until, FALSE)
                       AND {seconds_between(conn, "o.created_at", "o.dispatched_at")} <= {promise} AS on_time,
                   {seconds_between(conn, "o.created_at", ":until")} > {promise} AS overdue,
                   NOT coalesce(o.short_at < :until, FALSE) AS complete,
                   NOT coalesce(o.returned_at < :until, FALSE) AS damage_free,
                   o.failures = 0 AND o.correlation_id NOT IN (SELECT correlation_id FROM flagged) AS documents_right
            FROM o
            LEFT JOIN s ON {_PROMISE_JOIN}
        )
        SELECT grp, shipped OR overdue AS decided, shipped, on_time, shipped AND complete AS in_full,
               damage_free, documents_right
        FROM facts
    """


def _share(predicate: str) -> str:
    return f"avg(CASE WHEN {predicate} THEN 1.0 ELSE 0.0 END)"


def perfect_order_rate(conn: Connection, window: Window, group: str | None) -> pd.DataFrame:
    """Share of decided orders that were perfect (SCOR order level: on time, in full, damage-free,
    with the right documents), as of the end of the period; also each component's share.

    Orders created in the period and not cancelled by its end are *decided* once shipped, or
    once their promised ship-by (creation + the acceptance, release and shipment SLAs; the
    longest where the flow is not known yet) has passed. Flowwatch sees no deliveries, invoices'
    contents or claims, so each component is a proxy from the events it does see:

    - **on time**: dispatched (``shipment.dispatched``) by the promised ship-by;
    - **in full**: dispatched, with no stock shortfall: its acceptance never failed for stock
      (error ``STOCK…``) and it was never held for ``stock_allocation``;
    - **damage-free**: no ``return.received`` for it by the end of the period;
    - **documents right**: every message of the order was accepted first time (``failures`` 0)
      and no delivery-failure exception (``delivery_failed``, ``dead_letter``,
      ``retries_exhausted``) names it.

    OTIF (on time in full, column ``otif``) is the share of the same decided orders that were on
    time and in full: the first two components, in the same pass over the orders.
    """
    return read_frame(
        conn,
        f"""
        SELECT grp, count(*) AS n,
               {_share("on_time AND in_full AND damage_free AND documents_right")} AS share,
               {_share("on_time")} AS on_time, {_share("in_full")} AS in_full,
               {_share("damage_free")} AS damage_free, {_share("documents_right")} AS documents_right,
               {_share("on_time AND in_full")} AS otif
        FROM ({_judged_orders(conn, group)}) j
        WHERE decided
        GROUP BY grp ORDER BY grp
        """,
        {"since": window.since, "until": window.until},
    )


def on_time_shipment_rate(conn: Connection, window: Window, group: str | None) -> pd.DataFrame:
    """Share of orders dispatched in the period that left by their promised ship-by (creation +
    acceptance, release and shipment SLAs), whenever they were created: a shipping view,
    counted when the shipment happens rather than per order cohort."""
    grp = _order_column(group)
    slas, promise = _promise_sql()
    return read_frame(
        conn,
        f"""
        WITH o AS (
            SELECT * FROM order_facts WHERE dispatched_at >= :since AND dispatched_at < :until
        ),
        s AS (
            {slas}
        )
        SELECT {grp} AS grp, count(*) AS n,
               {_share(f"{seconds_between(conn, 'o.created_at', 'o.dispatched_at')} <= {promise}")} AS share
        FROM o LEFT JOIN s ON {_PROMISE_JOIN}
        GROUP BY grp ORDER BY grp
        """,
        {"since": window.since, "until": window.until},
    )


def oversell_incidents(conn: Connection, window: Window, group: str | None) -> pd.DataFrame:
    """Orders whose ERP acceptance failed for stock (error code ``STOCK…``) in the period."""
    if group not in (None, "channel", "erp"):
        raise ValueError(f"oversell incidents cannot be grouped by {group!r}")
    grp = {None: "NULL", "channel": "e.channel", "erp": "e.target"}[group]
    return read_frame(
        conn,
        f"""
        SELECT {grp} AS grp, count(DISTINCT e.correlation_id) AS n,
               count(DISTINCT e.correlation_id) AS orders
        FROM business_events e
        WHERE e.event_type = 'order.accepted' AND e.status <> 'ok'
          AND e.error_code LIKE :prefix
          AND e.occurred_at >= :since AND e.occurred_at < :until
        GROUP BY grp ORDER BY grp
        """,
        {"since": window.since, "until": window.until, "prefix": f"{OVERSELL_CODE_PREFIX}%"},
    )


def _pcts(prefix: str, unit: str, *qs: int) -> tuple[Metric, ...]:
    return tuple(Metric(f"{prefix}_p{q}_{unit}", f"q{q}", unit) for q in qs)


KPIS: tuple[Kpi, ...] = (
    Kpi("order_cycle_time", "Order cycle time (created → shipped)",
        _durations("created_at", "dispatched_at", (0.5, 0.9, 0.95)),
        _pcts("order_cycle_time", "hours", 50, 90, 95), (None, "channel", "erp", "fulfiller")),
    Kpi("order_to_cash", "Order-to-cash time (created → invoiced)",
        _durations("created_at", "invoiced_at", (0.5, 0.95)),
        _pcts("order_to_cash", "hours", 50, 95), (None, "channel", "erp", "fulfiller")),
    Kpi("sync_lag", "Sync lag per flow step", sla_adherence,
        _pcts("sync_lag", "seconds", 50, 95), ("flow",)),
    Kpi("event_delivery_lag", "Event delivery lag (received − occurred)", event_delivery_lag,
        _pcts("event_delivery_lag", "seconds", 50, 95), (None, "flow", "channel")),
    Kpi("first_pass_sync_success", "First-pass sync success", first_pass_success,
        (Metric("first_pass_sync_success", "share", "ratio"),), ("flow", None, "channel")),
    Kpi("sla_adherence", "SLA adherence", sla_adherence,
        (Metric("sla_adherence", "share", "ratio"),), ("flow", None, "supplier")),
    Kpi("mttr", "Mean time to resolve exceptions", mttr,
        (Metric("mttr_hours", "hours", "hours"),), (None, "flow")),
    Kpi("manual_intervention_rate", "Manual intervention rate", manual_intervention_rate,
        (Metric("manual_intervention_rate", "share", "ratio"),), (None, "channel", "erp", "fulfiller")),
    Kpi("perfect_order_rate", "Perfect order rate", perfect_order_rate,
        (Metric("perfect_order_rate", "share", "ratio"),), (None, "channel", "erp", "fulfiller")),
    Kpi("otif", "On time in full (OTIF)", perfect_order_rate,
        (Metric("otif_rate", "otif", "ratio"),), (None, "channel", "erp", "fulfiller")),
    Kpi("on_time_shipment", "On-time shipment rate", on_time_shipment_rate,
        (Metric("on_time_shipment_rate", "share", "ratio"),), (None, "channel", "erp", "fulfiller")),
    Kpi("inventory_sync_delay", "Inventory sync delay (adjusted → published)",
        _step_lags(("inventory.adjusted", "inventory.published"), (0.5, 0.95)),
        _pcts("inventory_sync_delay", "seconds", 50, 95), (None, "flow")),
    Kpi("oversell_incidents", "Oversell incidents (orders)", oversell_incidents,
        (Metric("oversell_incidents", "orders", "orders"),), (None, "channel", "erp")),
    Kpi("supplier_ack_cycle_time", "Supplier ack cycle time (850 → 855)",
        _step_lags(("po.sent", "po.acknowledged"), (0.5, 0.95), 3600.0),
        _pcts("supplier_ack_cycle_time", "hours", 50, 95), ("supplier", None)),
)  # fmt: skip
KPI_BY_NAME = {k.name: k for k in KPIS}
#: Every reported metric by name, with the KPI it belongs to (what a target is set on).
METRIC_BY_NAME: dict[str, tuple[Kpi, Metric]] = {m.name: (k, m) for k in KPIS for m in k.metrics}


def previous_window(window: Window) -> Window:
    """The period of the same length just before ``window``."""
    span = window.until - window.since
    return Window(window.since - span, window.since, window.bucket_seconds)


#: KPI frames already computed in one report, keyed (query, window, group): KPIs that share a query
#: (perfect order rate and OTIF; SLA adherence and sync lag) run it once.
Computed = dict[tuple[Compute, Window, str | None], list[dict[str, Any]]]


def _computed(conn: Connection, jobs: Iterable[tuple[Compute, Window, str | None]], engine: Engine | None) -> Computed:
    """Each distinct KPI query of ``jobs``, run :func:`~models.queries.common.read_each`."""
    unique = list(dict.fromkeys(jobs))

    def read(job: tuple[Compute, Window, str | None]) -> Callable[[Connection], list[dict[str, Any]]]:
        compute, window, group = job
        return lambda c: compute(c, window, group).to_dict("records")

    return dict(zip(unique, read_each(conn, [read(job) for job in unique], engine), strict=True))


def kpi_records(
    conn: Connection, kpi: Kpi, window: Window, group: str | None, computed: Computed | None = None
) -> list[dict[str, Any]]:
    """One KPI for the period and the previous one, a row per group (groups of either period,
    ordered, the total's None last): ``grp, n, previous_n`` and per metric ``<metric>``,
    ``<metric>__previous``."""
    memo: Computed = {} if computed is None else computed

    def rows(w: Window) -> dict[Any, dict[str, Any]]:
        key = (kpi.compute, w, group)
        if key not in memo:
            memo[key] = kpi.compute(conn, w, group).to_dict("records")
        return {None if pd.isna(r["grp"]) else r["grp"]: r for r in memo[key]}

    now, before = rows(window), rows(previous_window(window))
    merged = []
    for grp in sorted(now.keys() | before.keys(), key=lambda g: (g is None, str(g))):
        current, previous = now.get(grp, {}), before.get(grp, {})
        row = {"grp": grp, "n": current.get("n"), "previous_n": previous.get("n")}
        for m in kpi.metrics:
            row[m.column], row[f"{m.column}__previous"] = current.get(m.column), previous.get(m.column)
        merged.append(row)
    return merged


def kpi_report(conn: Connection, *, window: Window, group_by: str | None = None) -> dict[str, Any]:
    """Every KPI for ``window`` (and the previous period) grouped by ``group_by`` where it applies.

    KPIs that cannot be grouped that way are listed under ``not_applicable``; without
    ``group_by`` each KPI uses its native grouping (one total, or per flow / supplier).
    """
    if group_by is not None and group_by not in DIMENSIONS:
        raise ValueError(f"unknown group_by {group_by!r}; allowed: {', '.join(DIMENSIONS)}")
    before = previous_window(window)
    report: dict[str, Any] = {
        "period": {"from": window.since.isoformat(), "to": window.until.isoformat()},
        "previous_period": {"from": before.since.isoformat(), "to": before.until.isoformat()},
        "group_by": group_by,
        "percentiles": "continuous, linear interpolation",
        "kpis": [],
        "not_applicable": [],
    }
    computed: Computed = {}
    for kpi in KPIS:
        group = group_by if group_by is not None else kpi.dimensions[0]
        if group not in kpi.dimensions:
            report["not_applicable"].append(kpi.name)
            continue
        records = kpi_records(conn, kpi, window, group, computed)
        for metric in kpi.metrics:
            report["kpis"].append(
                {
                    "kpi": metric.name,
                    "label": kpi.label,
                    "unit": metric.unit,
                    "group_by": group,
                    "rows": [_row(r, metric.column) for r in records],
                }
            )
    report["scorecard"] = partner_scorecard(conn, window=window, previous=before)
    return report


def _row(record: dict[str, Any], column: str) -> dict[str, Any]:
    """One group of one metric with its change against the previous period."""
    value, previous = json_number(record[column]), json_number(record[f"{column}__previous"])
    change = None if value is None or previous is None else value - previous
    return {
        "group": record["grp"],
        "value": value,
        "previous": previous,
        "change": change,
        "change_pct": None if change is None or not previous else change / previous,
        "n": json_number(record["n"]) or 0,
        "previous_n": json_number(record["previous_n"]) or 0,
    }


def kpi_breakdown(
    conn: Connection,
    *,
    window: Window,
    group_by: str | None = None,
    only: tuple[str, ...] | None = None,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Every KPI (or the KPIs named in ``only``) for ``window`` and the previous period as one total
    (``group_by`` None) or per group, without the partner scorecard: a scorecard's headline and
    comparison rows. With ``engine`` the queries run :func:`~models.queries.common.side_by_side`
    (:func:`~models.queries.common.read_each`).

    Unlike :func:`kpi_report`, None means the all-up value, so KPIs that only exist per flow
    (sync lag) are ``not_applicable`` there rather than silently broken down.
    """
    if group_by is not None and group_by not in DIMENSIONS:
        raise ValueError(f"unknown group_by {group_by!r}; allowed: {', '.join(DIMENSIONS)}")
    unknown = sorted(set(only or ()) - KPI_BY_NAME.keys())
    if unknown:
        raise ValueError(f"unknown KPI {', '.join(unknown)}; allowed: {', '.join(KPI_BY_NAME)}")
    out: dict[str, Any] = {"group_by": group_by, "kpis": [], "not_applicable": []}
    asked = KPIS if only is None else tuple(KPI_BY_NAME[name] for name in only)
    applicable = [kpi for kpi in asked if group_by in kpi.dimensions]
    windows = (window, previous_window(window))
    computed = _computed(conn, [(k.compute, w, group_by) for k in applicable for w in windows], engine)
    for kpi in asked:
        if kpi not in applicable:
            out["not_applicable"].append(kpi.name)
            continue
        records = kpi_records(conn, kpi, window, group_by, computed)
        out["kpis"] += [
            {"kpi": m.name, "label": kpi.label, "unit": m.unit, "group_by": group_by,
             "rows": [_row(r, m.column) for r in records]}
            for m in kpi.metrics
        ]  # fmt: skip
    return out


def kpi_trend(
    conn: Connection, *, window: Window, points: int, engine: Engine | None = None
) -> dict[str, list[float | None]]:
    """Every KPI metric that has a total, over ``points`` equal slices of ``window`` (oldest first):
    the scorecard's sparklines, each slice computed by the KPI's own definition (with ``engine``,
    :func:`~models.queries.common.side_by_side`)."""
    if points < 2:
        raise ValueError("a trend needs at least 2 points")
    step = (window.until - window.since) / points
    slices = [Window(window.since + step * i, window.since + step * (i + 1), window.bucket_seconds)
              for i in range(points)]  # fmt: skip
    totals = [kpi for kpi in KPIS if None in kpi.dimensions]
    jobs = [(kpi.compute, w, None) for kpi in totals for w in slices]
    computed = _computed(conn, jobs, engine)
    trend: dict[str, list[float | None]] = {}
    for kpi in totals:
        for m in kpi.metrics:
            zero = 0.0 if m.unit == "orders" else None  # a count with no rows counted nothing
            trend[m.name] = [
                json_number(rows[0][m.column]) if (rows := computed[kpi.compute, w, None]) else zero for w in slices
            ]
    return trend


#: The SCOR perfect-order components, as columns of :func:`perfect_order_rate`'s frame.
PERFECT_ORDER_COMPONENTS = ("on_time", "in_full", "damage_free", "documents_right")


def perfect_order_components(conn: Connection, *, window: Window) -> dict[str, Any]:
    """The perfect order rate and each component's share, this period and the previous one (totals):
    ``{"n", "previous_n", "rows": [{"component", "value", "previous"}]}`` with ``perfect`` first."""
    now = perfect_order_rate(conn, window, None)
    before = perfect_order_rate(conn, previous_window(window), None)

    def pick(frame: pd.DataFrame, column: str) -> float | None:
        return json_number(frame[column].iloc[0]) if len(frame) else None

    rows = [{"component": c, "value": pick(now, col), "previous": pick(before, col)}
            for c, col in (("perfect", "share"), *((c, c) for c in PERFECT_ORDER_COMPONENTS))]  # fmt: skip
    return {"n": int(now["n"].iloc[0]) if len(now) else 0,
            "previous_n": int(before["n"].iloc[0]) if len(before) else 0, "rows": rows}  # fmt: skip
