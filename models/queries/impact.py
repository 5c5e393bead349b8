"""Business impact of exceptions: the orders each holds, their value, top customer tier and ship-by.

One definition (:func:`impact_of`, an aggregate of linked orders joined to ``order_facts``), read by
the workbench (sorted and filtered on it), the exceptions API, the overview's needs-attention list,
incidents and alerts.

Exceptions read it from ``exception_impacts``, one row per exception that the detection pass
refreshes for every active exception at its end (:func:`refresh_impact`); incidents from
``incident_impacts``, refreshed for every active incident once the pass has attached exceptions to
them (:func:`refresh_incident_impact`). Detection is the only writer of links, so an impact always
matches its orders; a change to those orders (their total learnt, an order shipped) shows at the
next pass. Computed on each read instead, an ERP outage holding 900k orders made every workbench
read join 900k links to ``order_facts``: 150 ms at 10M events.

- orders: distinct orders linked to the exception;
- value_at_risk: the sum of their totals (``order_value``; orders without a known total add nothing);
- customer_tier: the most important tier among them (key before standard), null when none is known;
- earliest_ship_by: the earliest promised ship-by among those not yet shipped nor cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.enums import CustomerTier
from models.store.tables import (
    exception_impacts,
    exception_orders,
    incident_exceptions,
    incident_impacts,
    order_facts,
)

TIERS = tuple(str(t) for t in CustomerTier)
_f = order_facts.c
_RANK = sa.case({t: i for i, t in enumerate(TIERS)}, value=_f.customer_tier)


def refresh_impact(conn: Connection, ids: Sequence[int] | sa.Select[Any] | None = None) -> None:
    """Recompute the stored impact of exceptions ``ids`` (a list or a select of exception ids; None:
    every exception) from their links and the orders' current facts."""
    links = sa.select(exception_orders.c.exception_id, exception_orders.c.correlation_id)
    _refresh(conn, exception_impacts, links, ids)


def refresh_incident_impact(conn: Connection, ids: Sequence[int] | sa.Select[Any] | None = None) -> None:
    """Recompute the stored impact of incidents ``ids`` (as :func:`refresh_impact`): the orders of
    all their exceptions, each once."""
    links = sa.select(incident_exceptions.c.incident_id, exception_orders.c.correlation_id).join(
        exception_orders, exception_orders.c.exception_id == incident_exceptions.c.exception_id
    )
    _refresh(conn, incident_impacts, links, ids)


def _refresh(
    conn: Connection, table: sa.Table, links: sa.Select[Any], ids: Sequence[int] | sa.Select[Any] | None
) -> None:
    """Replace ``table``'s rows of ``ids`` with the impact of ``links`` (key, correlation_id)."""
    stored = sa.delete(table)
    if ids is not None:
        chosen = ids if isinstance(ids, sa.Select) else sa.select(sa.func.unnest(sa.literal([int(i) for i in ids])))
        key = links.selected_columns[0]  # the group key: exception_id or incident_id
        links = links.where(key.in_(chosen))
        stored = stored.where(table.c[key.name].in_(chosen))
    conn.execute(stored)
    conn.execute(sa.insert(table).from_select([c.name for c in table.c], impact_of(links)))


def impact_of(links: sa.Select[Any]) -> sa.Select[Any]:
    """The impact of each group of orders ``links`` selects as (group key, correlation_id): the key
    keeps its column name. Exceptions group by exception_id; incidents by incident_id."""
    held = links.distinct().subquery("held")
    key, order = list(held.c)
    rank = sa.func.min(_RANK)
    open_order = sa.and_(_f.dispatched_at.is_(None), _f.cancelled_at.is_(None))
    return (
        sa.select(
            key,
            sa.func.count().label("orders"),
            sa.func.coalesce(sa.func.sum(_f.order_value), 0).label("value_at_risk"),
            sa.func.count(_f.order_value).label("valued_orders"),
            rank.label("tier_rank"),
            sa.case({i: t for i, t in enumerate(TIERS)}, value=rank).label("customer_tier"),
            sa.func.min(sa.case((open_order, _f.ship_by))).label("earliest_ship_by"),
        )
        .select_from(held.outerjoin(order_facts, _f.correlation_id == order))
        .group_by(key)
    )


@dataclass(frozen=True)
class ExceptionImpact:
    """What one exception costs the business."""

    orders: int = 0
    value_at_risk: float = 0.0
    valued_orders: int = 0
    customer_tier: str | None = None
    earliest_ship_by: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields an API row or a grid row carries."""
        return {
            "value_at_risk": self.value_at_risk,
            "customer_tier": self.customer_tier,
            "earliest_ship_by": self.earliest_ship_by,
        }


def exception_impact(conn: Connection, ids: Sequence[int]) -> dict[int, ExceptionImpact]:
    """The impact of each of ``ids``; an exception with no linked order is absent (no impact)."""
    if not ids:
        return {}
    query = sa.select(exception_impacts).where(exception_impacts.c.exception_id.in_([int(i) for i in ids]))
    return {int(r["exception_id"]): impact_row(dict(r)) for r in conn.execute(query).mappings()}


def impact_row(row: Mapping[str, Any]) -> ExceptionImpact:
    """A stored impact row (of ``exception_impacts`` or ``incident_impacts``) as an
    :class:`ExceptionImpact` (a missing row: none)."""
    return ExceptionImpact(
        orders=int(row.get("orders") or 0),
        value_at_risk=money(row.get("value_at_risk")),
        valued_orders=int(row.get("valued_orders") or 0),
        customer_tier=row.get("customer_tier"),
        earliest_ship_by=row.get("earliest_ship_by"),
    )


def money(value: Decimal | float | int | None) -> float:
    """A summed DECIMAL as a JSON-friendly float rounded to cents (0 for none)."""
    return round(float(value or 0), 2)
