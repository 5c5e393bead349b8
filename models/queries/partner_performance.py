"""Partner scorecards: how each 3PL and supplier performed in a period and the one before,
and the exceptions and orders behind the numbers.

A partner is a system of kind ``3pl`` or ``supplier``. Each measure is defined once, here or
in the module that already owned it (the four of DESIGN.md's partner scorecard live in
:mod:`models.queries.scorecard`, the supplier ack cycle time is the KPI of
:mod:`models.queries.kpis`); this module adds the rest and assembles them per partner.
Periods are half-open ``[since, until)``; "previous" is the period of the same length just
before. Step times are those of the first *successful* event of each type.

=============================  ======================================================================
measure                        definition
=============================  ======================================================================
confirmation_lag_p95_hours     p95 (linear) of the hours from the step a partner confirms to its
                               confirmation, for confirmations in the period: a 3PL's
                               ``order.released → shipment.dispatched``, a supplier's
                               ``po.sent → po.acknowledged`` (850 → 855). ``scorecard.confirmation_lag``
event_completeness             of those steps started in the period and due by its end (start + the
                               flow's SLA), the share confirmed by the end. ``scorecard.completeness``
asn_completeness               suppliers: of the acknowledged POs (855 in the period) due an ASN by the
                               end (855 + the ASN flow's SLA), the share with their 856. ``scorecard``
error_rate                     of the delivery attempts on the partner's flows (either direction) in
                               the period, the share that did not end ``ok``. ``scorecard.error_rate``
ack_cycle_time_p50_hours       suppliers: median hours 850 → 855 of acks in the period (the KPI
                               ``supplier_ack_cycle_time``; its p95 is the confirmation lag). 3PLs
                               send no acknowledgement of their own: they confirm by shipping.
orders_handled                 3PL: orders whose first successful release to it fell in the period
                               (``order_facts.released_at``, ``fulfiller``); supplier: purchase orders
                               whose first successful ``po.sent`` to it fell in the period.
value_handled                  3PL: the sum of those orders' ``order_value``; POs carry no value.
exceptions_opened              exceptions of the partner (``exceptions.system_id``) first seen in the
                               period, whatever their status since.
=============================  ======================================================================

Open exceptions (active now, ``system_id`` = the partner) are the same set the workbench shows
for ``/exceptions?system=<partner>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from models.enums import ACTIVE_SQL
from models.queries.common import SEVERITIES, Window, json_number, read_each, read_frame, severity_rank
from models.queries.kpis import KPI_BY_NAME, previous_window
from models.queries.scorecard import CONFIRMS, partner_scorecard
from models.store.dialect import seconds_between

PARTNER_KINDS = ("3pl", "supplier")


@dataclass(frozen=True)
class Measure:
    """One scorecard measure: its unit, which way is better (None: neither), and who has it."""

    name: str
    label: str
    unit: str  # hours, ratio, count, money
    better: str | None  # "lower", "higher" or None
    kinds: tuple[str, ...] = PARTNER_KINDS


MEASURES: tuple[Measure, ...] = (
    Measure("confirmation_lag_p95_hours", "Confirmation lag p95", "hours", "lower"),
    Measure("event_completeness", "Event completeness", "ratio", "higher"),
    Measure("asn_completeness", "ASN completeness", "ratio", "higher", ("supplier",)),
    Measure("error_rate", "Error rate", "ratio", "lower"),
    Measure("ack_cycle_time_p50_hours", "Ack cycle time p50", "hours", "lower", ("supplier",)),
    Measure("orders_handled", "Orders handled", "count", None),
    Measure("value_handled", "Value handled", "money", None, ("3pl",)),
    Measure("exceptions_opened", "Exceptions opened", "count", "lower"),
)
MEASURE_BY_NAME = {m.name: m for m in MEASURES}


def partners(conn: Connection) -> list[dict[str, Any]]:
    """Every 3PL and supplier of the estate: id, name, kind, vendor, region (3PLs first)."""
    frame = read_frame(
        conn,
        """
        SELECT system_id, name, kind, vendor, region FROM systems
        WHERE kind IN ('3pl', 'supplier') ORDER BY kind, system_id
        """,
    )
    return [{k: v if isinstance(v, str) else None for k, v in r.items()} for r in frame.to_dict("records")]


def ack_cycle_time(conn: Connection, window: Window) -> pd.DataFrame:
    """Median and p95 hours 850 → 855 per supplier (``grp, n, q50, q95``): the KPI's own query."""
    kpi = KPI_BY_NAME["supplier_ack_cycle_time"]
    return kpi.compute(conn, window, "supplier")


def orders_handled(conn: Connection, window: Window) -> pd.DataFrame:
    """Per partner (``grp``) the orders (3PL) or purchase orders (supplier) first handed to it in
    the period (``n``) and their value (``value``, 3PLs only)."""
    return read_frame(
        conn,
        """
        SELECT o.fulfiller AS grp, count(*) AS n, sum(o.order_value) AS value
        FROM order_facts o JOIN systems s ON s.system_id = o.fulfiller AND s.kind = '3pl'
        WHERE o.released_at >= :since AND o.released_at < :until
        GROUP BY o.fulfiller
        UNION ALL
        SELECT target AS grp, count(*) AS n, NULL AS value FROM (
            SELECT e.target, e.correlation_id, min(e.occurred_at) AS sent_at
            FROM business_events e JOIN systems s ON s.system_id = e.target AND s.kind = 'supplier'
            WHERE e.event_type = 'po.sent' AND e.status = 'ok'
            GROUP BY e.target, e.correlation_id
        ) first_sent
        WHERE sent_at >= :since AND sent_at < :until
        GROUP BY target
        ORDER BY grp
        """,
        {"since": window.since, "until": window.until},
    )


def exceptions_opened(conn: Connection, window: Window) -> pd.DataFrame:
    """Per partner (``grp``) the exceptions first seen in the period (``n``)."""
    return read_frame(
        conn,
        """
        SELECT x.system_id AS grp, count(*) AS n
        FROM exceptions x JOIN systems s ON s.system_id = x.system_id AND s.kind IN ('3pl', 'supplier')
        WHERE x.first_seen >= :since AND x.first_seen < :until
        GROUP BY x.system_id ORDER BY grp
        """,
        {"since": window.since, "until": window.until},
    )


def open_exceptions(conn: Connection) -> pd.DataFrame:
    """Per partner (``grp``) the exceptions active now (``n``) and the worst severity (``worst``)."""
    frame = read_frame(
        conn,
        f"""
        SELECT x.system_id AS grp, count(*) AS n, min({severity_rank("x.severity")}) AS worst_rank
        FROM exceptions x JOIN systems s ON s.system_id = x.system_id AND s.kind IN ('3pl', 'supplier')
        WHERE x.status IN {ACTIVE_SQL}
        GROUP BY x.system_id ORDER BY grp
        """,
    )
    frame["worst"] = [SEVERITIES[int(r)] for r in frame["worst_rank"]]
    return frame.drop(columns="worst_rank")


def _period_extras(conn: Connection, window: Window) -> dict[tuple[str, str], Any]:
    """This module's measures for one period, keyed (partner, measure)."""
    values: dict[tuple[str, str], Any] = {}
    for row in ack_cycle_time(conn, window).to_dict("records"):
        values[row["grp"], "ack_cycle_time_p50_hours"] = json_number(row["q50"])
    for row in orders_handled(conn, window).to_dict("records"):
        values[row["grp"], "orders_handled"] = int(row["n"])
        values[row["grp"], "value_handled"] = None if json_number(row["value"]) is None else float(row["value"])
    for row in exceptions_opened(conn, window).to_dict("records"):
        values[row["grp"], "exceptions_opened"] = int(row["n"])
    return values


#: Measures that count things: a period without any counts zero rather than "no data".
_COUNTED = ("orders_handled", "exceptions_opened")


def partner_scorecards(conn: Connection, *, window: Window, engine: Engine | None = None) -> list[dict[str, Any]]:
    """One row per partner: identity, every measure it has (``value``, ``previous``, ``change``)
    over ``window`` and the period before, and its open exceptions now (with ``engine``, the
    periods read :func:`~models.queries.common.side_by_side`)."""
    previous = previous_window(window)
    scored = partner_scorecard(conn, window=window, previous=previous, engine=engine)
    base = {row["partner"]: row["metrics"] for row in scored}
    reads = [lambda c: _period_extras(c, window), lambda c: _period_extras(c, previous)]
    now, before = read_each(conn, reads, engine)
    opened = open_exceptions(conn).set_index("grp")
    rows = []
    for p in partners(conn):
        pid = p["system_id"]
        measures: dict[str, dict[str, Any]] = {}
        for m in MEASURES:
            if p["kind"] not in m.kinds:
                continue
            if m.name in base.get(pid, {}):
                measures[m.name] = dict(base[pid][m.name])
                continue
            default = 0 if m.name in _COUNTED else None
            value, prev = now.get((pid, m.name), default), before.get((pid, m.name), default)
            if m.name == "value_handled" and now.get((pid, "orders_handled")) is None:
                value = None  # no orders: no value, rather than a sum of nothing
            change = None if value is None or prev is None else value - prev
            measures[m.name] = {"value": value, "previous": prev, "change": change}
        rows.append({
            **p,
            "partner": pid,
            "measures": measures,
            "open_exceptions": int(opened["n"].get(pid, 0)) if pid in opened.index else 0,
            "worst_open_severity": opened["worst"].get(pid) if pid in opened.index else None,
        })  # fmt: skip
    return rows


def partner_orders(
    conn: Connection, *, partner: str, kind: str, window: Window, now: datetime, limit: int = 25
) -> pd.DataFrame:
    """The orders (3PL) or purchase orders (supplier) handed to ``partner`` in the period, those
    still waiting for its confirmation first (longest waiting first), then the latest.

    Columns: ``correlation_id, handed_at, confirmed_at, asn_at, order_value, waited_seconds``
    (handed → confirmed, or → ``now`` while unconfirmed), ``cancelled`` (3PL orders).
    """
    if kind not in PARTNER_KINDS:
        raise ValueError(f"unknown partner kind {kind!r}; expected one of {', '.join(PARTNER_KINDS)}")
    params = {"partner": partner, "since": window.since, "until": window.until, "now": now, "limit": limit}
    if kind == "3pl":
        inner = """
            SELECT correlation_id, released_at AS handed_at, dispatched_at AS confirmed_at,
                   CAST(NULL AS TIMESTAMP) AS asn_at, order_value, cancelled_at IS NOT NULL AS cancelled
            FROM order_facts
            WHERE fulfiller = :partner AND released_at >= :since AND released_at < :until
        """
    else:
        ack, asn = CONFIRMS["supplier"][1], "asn.received"
        inner = f"""
            SELECT correlation_id,
                   min(CASE WHEN event_type = 'po.sent' AND target = :partner THEN occurred_at END) AS handed_at,
                   min(CASE WHEN event_type = '{ack}' AND source = :partner THEN occurred_at END) AS confirmed_at,
                   min(CASE WHEN event_type = '{asn}' AND source = :partner THEN occurred_at END) AS asn_at,
                   CAST(NULL AS DECIMAL(18, 2)) AS order_value, FALSE AS cancelled
            FROM business_events
            WHERE status = 'ok' AND event_type IN ('po.sent', '{ack}', '{asn}')
              AND (target = :partner OR source = :partner)
            GROUP BY correlation_id
        """
    waited = seconds_between(conn, "handed_at", "coalesce(confirmed_at, :now)")
    return read_frame(
        conn,
        f"""
        SELECT correlation_id, handed_at, confirmed_at, asn_at, order_value, cancelled,
               {waited} AS waited_seconds
        FROM ({inner}) handed
        WHERE handed_at >= :since AND handed_at < :until
        ORDER BY CASE WHEN confirmed_at IS NULL AND NOT cancelled THEN 0 ELSE 1 END,
                 CASE WHEN confirmed_at IS NULL AND NOT cancelled THEN handed_at END,
                 handed_at DESC, correlation_id
        LIMIT :limit
        """,
        params,
    )
