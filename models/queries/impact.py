"""Business impact of exceptions: the orders each holds, their value, top customer tier and ship-by.

One definition, read by the workbench (sorted and filtered on it), the exceptions API, the overview's
needs-attention list, incidents and alerts. It is an aggregate of ``exception_orders`` joined to
``order_facts`` (one row per order), so it costs one hash join over the links: a few milliseconds for
the demo's hundreds of exceptions and thousands of orders, with no column to keep in step.

- orders: distinct orders linked to the exception;
- value_at_risk: the sum of their totals (``order_value``; orders without a known total add nothing);
- customer_tier: the most important tier among them (key before standard), null when none is known;
- earliest_ship_by: the earliest promised ship-by among those not yet shipped nor cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.enums import CustomerTier
from models.store.tables import exception_orders, order_facts

TIERS = tuple(str(t) for t in CustomerTier)
_f = order_facts.c
_RANK = sa.case({t: i for i, t in enumerate(TIERS)}, value=_f.customer_tier)


def impact_subquery(ids: Sequence[int] | None = None) -> sa.Subquery:
    """Per exception with linked orders (of ``ids``, or all): orders, value_at_risk, valued_orders,
    tier_rank, customer_tier and earliest_ship_by. Join it to ``exceptions`` on ``exception_id``."""
    links = sa.select(exception_orders.c.exception_id, exception_orders.c.correlation_id).distinct()
    if ids is not None:
        links = links.where(exception_orders.c.exception_id.in_(sa.select(sa.func.unnest(sa.literal(list(ids))))))
    held = links.subquery("held")
    rank = sa.func.min(_RANK)
    open_order = sa.and_(_f.dispatched_at.is_(None), _f.cancelled_at.is_(None))
    return (
        sa.select(
            held.c.exception_id,
            sa.func.count().label("orders"),
            sa.func.coalesce(sa.func.sum(_f.order_value), 0).label("value_at_risk"),
            sa.func.count(_f.order_value).label("valued_orders"),
            rank.label("tier_rank"),
            sa.case({i: t for i, t in enumerate(TIERS)}, value=rank).label("customer_tier"),
            sa.func.min(sa.case((open_order, _f.ship_by))).label("earliest_ship_by"),
        )
        .select_from(held.outerjoin(order_facts, _f.correlation_id == held.c.correlation_id))
        .group_by(held.c.exception_id)
        .subquery("impact")
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
    sub = impact_subquery([int(i) for i in ids])
    return {
        int(r["exception_id"]): ExceptionImpact(
            orders=int(r["orders"]),
            value_at_risk=money(r["value_at_risk"]),
            valued_orders=int(r["valued_orders"]),
            customer_tier=r["customer_tier"],
            earliest_ship_by=r["earliest_ship_by"],
        )
        for r in conn.execute(sa.select(sub)).mappings()
    }


def money(value: Decimal | float | int | None) -> float:
    """A summed DECIMAL as a JSON-friendly float rounded to cents (0 for none)."""
    return round(float(value or 0), 2)
