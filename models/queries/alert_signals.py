"""What alert rules measure, and what a notification says it costs the business.

Signals reuse the KPI definitions of the query layer (sync lag, queue depth, cycle time) so an
alert never disagrees with a dashboard. Business impact reads ``order_facts``: the orders an
alert's exceptions hold, their value (``order_value``, the order.created total) and their ship-by.

Ship-by: the ship-by the order.created payload promised (``order_facts.ship_by``); for an order
that carries none (Shopify's), it is derived as its creation time plus the fulfilment SLA — the
SLAs of its acceptance, release and shipment steps, taking for a step whose systems are not known
yet (no ERP before acceptance, no fulfiller before release) the longest SLA among the flows that
could serve it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from models.enums import ACTIVE_SQL
from models.queries.common import Window, json_number, read_frame
from models.queries.impact import TIERS
from models.queries.overview import queue_current, sync_lag_by_flow
from models.queries.steps import ORDER_STEP_BY_KEY, order_durations, step_flow_join
from models.store.dialect import in_list, seconds, seconds_between

#: The steps whose SLAs add up to an order's fulfilment SLA (creation to dispatch).
FULFILMENT_STEPS = ("acceptance", "release", "shipment")


def flow_systems(conn: Connection) -> pd.DataFrame:
    """Each flow's name and its two systems (labels an alert carries for inhibition and links)."""
    return read_frame(conn, "SELECT flow_id, name, source_system, target_system, sla_seconds FROM flows")


def system_names(conn: Connection) -> dict[str, str]:
    """System id → name."""
    return dict(read_frame(conn, "SELECT system_id, name FROM systems").itertuples(index=False, name=None))


def sync_lag_p95(conn: Connection, *, now: datetime, window: timedelta) -> pd.DataFrame:
    """Per flow with steps completed in ``window`` before ``now``: p95 lag (s), its SLA, steps."""
    lag = sync_lag_by_flow(conn, window=Window(now - window, now, int(window.total_seconds()) or 1))
    return lag[lag["steps"] > 0][["flow_id", "sla_seconds", "steps", "p95_seconds"]]


def open_exception_counts(
    conn: Connection,
    *,
    now: datetime,
    by: Sequence[str],
    kinds: Sequence[str] = (),
    flows: Sequence[str] = (),
    systems: Sequence[str] = (),
    severities: Sequence[str] = (),
) -> pd.DataFrame:
    """Open and acknowledged exceptions not snoozed, counted per ``by`` (flow, kind, system, severity),
    with the orders they affect; a flow comes with its two systems."""
    columns = {"flow": "x.flow_id", "kind": "x.kind", "system": "x.system_id", "severity": "x.severity"}
    unknown = sorted(set(by) - set(columns))
    if unknown:
        raise ValueError(f"exceptions cannot be counted by {', '.join(unknown)}")
    keys = [f"{columns[b]} AS {b}" for b in by]
    if "flow" in by:
        keys += ["f.source_system", "f.target_system"]
    where = [f"x.status IN {ACTIVE_SQL}", "(x.snoozed_until IS NULL OR x.snoozed_until <= :now)"]
    params: dict[str, Any] = {"now": now}
    for name, values, column in (
        ("kinds", kinds, "x.kind"),
        ("flows", flows, "x.flow_id"),
        ("systems", systems, "x.system_id"),
        ("severities", severities, "x.severity"),
    ):
        if values:
            where.append(in_list(conn, column, name))
            params[name] = list(values)
    group = ", ".join(str(i + 1) for i in range(len(keys))) or "()"
    return read_frame(
        conn,
        f"""
        SELECT {", ".join(keys) + "," if keys else ""} count(*) AS exceptions,
               sum(x.affected_orders) AS affected_orders
        FROM exceptions x LEFT JOIN flows f ON f.flow_id = x.flow_id
        WHERE {" AND ".join(where)}
        GROUP BY {group}
        """,
        params,
    )


def latest_queues(conn: Connection, *, now: datetime) -> pd.DataFrame:
    """The latest sample of each queue sampled in the last 10 minutes (older samples are not news)."""
    return queue_current(conn, now=now, max_age_minutes=10)


def cycle_time_p95(conn: Connection, *, now: datetime, window: timedelta, by_channel: bool) -> pd.DataFrame:
    """Order cycle time p95 (hours) of orders created in ``window`` and shipped, overall or per channel."""
    frame = order_durations(
        conn,
        window=Window(now - window, now, int(window.total_seconds()) or 1),
        start_col="created_at",
        end_col="dispatched_at",
        quantiles=(0.95,),
        group="channel" if by_channel else None,
    )
    return frame.assign(p95_hours=frame["q95"] / 3600.0)[["grp", "n", "p95_hours"]]


def _promise_sql(conn: Connection, orders: str) -> str:
    """Per order of the relation ``orders`` (alias o): seconds from creation to its ship-by."""
    parts = "\n UNION ALL \n".join(
        f"SELECT o.correlation_id, max(f.sla_seconds) AS sla FROM {orders} o "
        f"JOIN flows f ON {step_flow_join(ORDER_STEP_BY_KEY[key])} GROUP BY o.correlation_id"
        for key in FULFILMENT_STEPS
    )
    return f"SELECT correlation_id, sum(sla) AS promise_seconds FROM ({parts}) s GROUP BY correlation_id"


def orders_at_risk(conn: Connection, *, now: datetime, horizon: timedelta, lookback: timedelta) -> pd.DataFrame:
    """Orders created in ``lookback``, not shipped nor cancelled, whose ship-by is before ``now + horizon``
    (overdue ones included): order, where it waits (``system``: fulfiller, else ERP, else channel),
    its value and ship-by."""
    frame = read_frame(
        conn,
        f"""
        WITH o AS (
            SELECT correlation_id, channel, erp, fulfiller, created_at, order_value FROM order_facts
            WHERE dispatched_at IS NULL AND cancelled_at IS NULL AND created_at >= :since AND created_at <= :now
        ), p AS ({_promise_sql(conn, "o")})
        SELECT o.correlation_id, coalesce(o.fulfiller, o.erp, o.channel) AS system, o.order_value,
               o.created_at, p.promise_seconds
        FROM o JOIN p USING (correlation_id)
        WHERE {seconds_between(conn, "o.created_at", ":deadline")} >= p.promise_seconds
        ORDER BY o.correlation_id
        """,
        {"since": now - lookback, "now": now, "deadline": now + horizon},
    )
    ship_by = frame["created_at"] + pd.to_timedelta(frame["promise_seconds"].astype(float), unit="s")
    return frame.assign(ship_by=ship_by)[["correlation_id", "system", "order_value", "ship_by"]]


def last_event_per_source(conn: Connection, *, now: datetime, lookback: timedelta) -> pd.DataFrame:
    """Each source system heard from in ``lookback``: when its latest business event was received."""
    return read_frame(
        conn,
        """
        SELECT source, max(received_at) AS last_received_at FROM business_events
        WHERE received_at > :since AND received_at <= :now
        GROUP BY source ORDER BY source
        """,
        {"since": now - lookback, "now": now},
    )


@dataclass(frozen=True)
class Scope:
    """Which active exceptions an alert is about (empty fields do not narrow)."""

    flows: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()  # the exception's system
    severities: tuple[str, ...] = ()
    touching: str | None = None  # any flow from or to this system, or exceptions on it
    queue: str | None = None  # backlog exceptions of this queue
    orders: tuple[str, ...] = ()  # orders the alert names directly (at risk of their ship-by)
    incident: int | None = None  # the exceptions attached to this incident


def related_exceptions(conn: Connection, scopes: Sequence[Scope], *, now: datetime) -> list[int]:
    """Active, unsnoozed exceptions any of ``scopes`` is about, most orders first."""
    ids: set[int] = set()
    for scope in scopes:
        where = [f"x.status IN {ACTIVE_SQL}", "(x.snoozed_until IS NULL OR x.snoozed_until <= :now)"]
        params: dict[str, Any] = {"now": now}
        narrowed = False
        for name, values, column in (
            ("flows", scope.flows, "x.flow_id"),
            ("kinds", scope.kinds, "x.kind"),
            ("systems", scope.systems, "x.system_id"),
            ("severities", scope.severities, "x.severity"),
        ):
            if values:
                where.append(in_list(conn, column, name))
                params[name] = list(values)
                narrowed = narrowed or name in ("flows", "systems")
        if scope.touching:
            where.append("(x.system_id = :touching OR f.source_system = :touching OR f.target_system = :touching)")
            params["touching"] = scope.touching
            narrowed = True
        if scope.queue:
            where.append("(x.kind = 'queue_backlog' AND x.business_key = :queue)")
            params["queue"] = scope.queue
            narrowed = True
        if scope.incident is not None:
            where.append("x.exception_id IN (SELECT exception_id FROM incident_exceptions WHERE incident_id = :inc)")
            params["inc"] = scope.incident
            narrowed = True
        if not narrowed and not scope.kinds:
            continue  # an alert about nothing in particular (cycle time) holds no exceptions
        frame = read_frame(
            conn,
            f"SELECT x.exception_id FROM exceptions x LEFT JOIN flows f ON f.flow_id = x.flow_id "
            f"WHERE {' AND '.join(where)}",
            params,
        )
        ids.update(int(i) for i in frame["exception_id"])
    return sorted(ids)


@dataclass(frozen=True)
class Impact:
    """What an alert group costs the business, for its notification."""

    exceptions: int = 0
    acknowledged: int = 0
    orders: int = 0
    value_at_risk: float = 0.0
    valued_orders: int = 0  # orders whose value is known
    earliest_ship_by: datetime | None = None
    customer_tier: str | None = None  # the most important tier among the orders (key before standard)
    top_exceptions: list[dict[str, Any]] = field(default_factory=list)
    top_orders: list[dict[str, Any]] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)


def impact(
    conn: Connection, exception_ids: Sequence[int], *, extra_orders: Sequence[str] = (), top: int = 10
) -> Impact:
    """Orders held by ``exception_ids`` (and ``extra_orders``): how many, their value, the earliest ship-by
    among those not shipped, the top exceptions (most orders) and top orders (highest value)."""
    ids = [int(i) for i in exception_ids]
    if not ids and not extra_orders:
        return Impact()
    xs = read_frame(
        conn,
        f"""
        SELECT exception_id, title, kind, flow_id, severity, status, assignee, affected_orders, first_seen
        FROM exceptions WHERE {in_list(conn, "exception_id", "ids")}
        ORDER BY affected_orders DESC, first_seen, exception_id
        """,
        {"ids": ids},
    )
    orders_sql = f"""
        SELECT correlation_id, min(exception_id) AS exception_id FROM (
            SELECT correlation_id, exception_id FROM exception_orders WHERE {in_list(conn, "exception_id", "ids")}
            UNION ALL SELECT unnest(CAST(:extra AS VARCHAR[])) AS correlation_id, NULL AS exception_id
        ) u GROUP BY correlation_id
    """
    tier_rank = "CASE f.customer_tier " + " ".join(f"WHEN '{t}' THEN {i}" for i, t in enumerate(TIERS)) + " END"
    summary = read_frame(
        conn,
        f"""
        WITH held AS ({orders_sql}),
        o AS (SELECT f.* FROM order_facts f JOIN held USING (correlation_id)
              WHERE f.dispatched_at IS NULL AND f.cancelled_at IS NULL),
        p AS ({_promise_sql(conn, "o")})
        SELECT (SELECT count(*) FROM held) AS orders,
               (SELECT coalesce(sum(f.order_value), 0) FROM order_facts f JOIN held USING (correlation_id)) AS value,
               (SELECT count(f.order_value) FROM order_facts f JOIN held USING (correlation_id)) AS valued,
               (SELECT min(coalesce(o.ship_by, o.created_at + {seconds(conn, "p.promise_seconds")}))
                FROM o LEFT JOIN p USING (correlation_id)) AS earliest_ship_by,
               (SELECT min({tier_rank}) FROM order_facts f JOIN held USING (correlation_id)) AS tier_rank
        """,
        {"ids": ids, "extra": list(extra_orders)},
    ).iloc[0]
    rank = summary["tier_rank"]
    top_orders = read_frame(
        conn,
        f"""
        WITH held AS ({orders_sql})
        SELECT held.correlation_id, held.exception_id, f.order_value, f.channel
        FROM held LEFT JOIN order_facts f USING (correlation_id)
        ORDER BY f.order_value DESC NULLS LAST, held.correlation_id
        LIMIT :top
        """,
        {"ids": ids, "extra": list(extra_orders), "top": top},
    )
    ship_by = summary["earliest_ship_by"]
    return Impact(
        exceptions=len(xs),
        acknowledged=int((xs["status"] == "acknowledged").sum()),
        orders=int(summary["orders"]),
        value_at_risk=float(summary["value"] or 0),
        valued_orders=int(summary["valued"]),
        earliest_ship_by=None if pd.isna(ship_by) else pd.Timestamp(ship_by).to_pydatetime(),
        customer_tier=None if pd.isna(rank) else TIERS[int(rank)],
        top_exceptions=[_plain(r) for r in xs.head(top).to_dict("records")],
        top_orders=[_plain(r) for r in top_orders.to_dict("records")],
        assignees=sorted({str(a) for a in xs["assignee"] if a is not None and not pd.isna(a)}),
    )


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, pd.Timestamp):
            out[key] = value.to_pydatetime()
        elif isinstance(value, str) or value is None:
            out[key] = value
        else:
            number = json_number(value)
            out[key] = float(number) if number is not None and not isinstance(number, int) else number
    return out
