"""Business impact per exception (models/queries/impact.py) and the workbench's sort and filters on it,
on hand-made orders: values, tiers and ship-bys computed by hand below."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from models.ingest.writer import IngestWriter
from models.queries.exceptions import ExceptionFilter, get_exception, list_exceptions
from models.queries.impact import ExceptionImpact, exception_impact, impact_subquery
from models.store.tables import exception_orders, exceptions, order_facts

NOW = datetime(2026, 11, 20, 12, 0)
DAY = timedelta(days=1)

#: order: (value, tier, ship_by, dispatched)
ORDERS = {
    "O-1": (Decimal("100.00"), "key", NOW + DAY, False),
    "O-2": (Decimal("50.50"), "standard", NOW + 2 * DAY, False),
    "O-3": (None, None, None, False),  # a Shopify order: nothing promised, no total
    "O-4": (Decimal("200.00"), "standard", NOW + DAY / 2, True),  # shipped: its ship-by no longer at risk
}
#: exception → linked orders (O-2 linked twice: counted once)
LINKS = {1: ["O-1", "O-2", "O-2"], 2: ["O-3", "O-4"], 3: []}


@pytest.fixture()
def engine(fresh: tuple[Engine, IngestWriter]) -> Iterator[Engine]:
    engine, writer = fresh
    with writer.transaction() as conn:
        conn.execute(
            order_facts.insert(),
            [
                {
                    "correlation_id": key,
                    "failures": 0,
                    "created_at": NOW - DAY,
                    "order_value": value,
                    "customer_tier": tier,
                    "ship_by": ship_by,
                    "dispatched_at": NOW if shipped else None,
                }
                for key, (value, tier, ship_by, shipped) in ORDERS.items()
            ],
        )
        for i in LINKS:
            conn.execute(
                exceptions.insert().values(
                    exception_id=i, fingerprint=f"fp{i}", kind="dead_letter", title=f"x{i}", severity="high",
                    status="open", first_seen=NOW, last_seen=NOW, occurrences=1, affected_orders=len(LINKS[i]),
                    updated_at=NOW,
                )
            )  # fmt: skip
        conn.execute(
            exception_orders.insert(), [{"exception_id": i, "correlation_id": o} for i, os in LINKS.items() for o in os]
        )
    yield engine
    engine.dispose()


def test_impact_per_exception(engine: Engine) -> None:
    with engine.connect() as conn:
        assert exception_impact(conn, [1, 2, 3]) == {
            1: ExceptionImpact(orders=2, value_at_risk=150.5, valued_orders=2, customer_tier="key",
                               earliest_ship_by=NOW + DAY),
            2: ExceptionImpact(orders=2, value_at_risk=200.0, valued_orders=1, customer_tier="standard",
                               earliest_ship_by=None),
        }  # fmt: skip
        assert exception_impact(conn, [3]) == {} and exception_impact(conn, []) == {}
        shown = [get_exception(conn, i, now=NOW) or {} for i in (1, 3)]
    assert [(d["value_at_risk"], d["customer_tier"], d["earliest_ship_by"]) for d in shown] == [
        (150.5, "key", NOW + DAY),
        (0.0, None, None),
    ]


def _ids(engine: Engine, flt: ExceptionFilter, **kw: object) -> list[int]:
    with engine.connect() as conn:
        page = list_exceptions(conn, flt, now=NOW, **kw)  # type: ignore[arg-type]
    return [r["exception_id"] for r in page.items]


def test_sorted_and_filtered_on_impact(engine: Engine) -> None:
    everything = ExceptionFilter()
    assert _ids(engine, everything, sort="value_at_risk") == [2, 1, 3]
    assert _ids(engine, everything, sort="value_at_risk", descending=False) == [3, 1, 2]
    assert _ids(engine, everything, sort="customer_tier") == [1, 2, 3]  # key, standard, unknown
    assert _ids(engine, everything, sort="earliest_ship_by") == [1, 3, 2]  # the soonest, then none (newest id)
    assert _ids(engine, ExceptionFilter(min_value=150.5)) == [2, 1]
    assert _ids(engine, ExceptionFilter(min_value=150.51)) == [2]
    assert _ids(engine, ExceptionFilter(customer_tier=["key"])) == [1]
    assert _ids(engine, ExceptionFilter(customer_tier=["key", "standard"], min_value=1)) == [2, 1]
    with engine.connect() as conn:
        row = list_exceptions(conn, everything, now=NOW, sort="value_at_risk").items[1]
    assert (row["value_at_risk"], row["customer_tier"], row["earliest_ship_by"]) == (150.5, "key", NOW + DAY)
    with pytest.raises(ValidationError, match="unknown customer tier gold"):
        ExceptionFilter(customer_tier=["gold"])
    with pytest.raises(ValidationError, match="min_value"):
        ExceptionFilter(min_value=-1)


def test_the_impact_read_covers_only_the_exceptions_shown(engine: Engine) -> None:
    """Resolved exceptions keep their links: a workbench showing the active ones joins only theirs
    (over every link ever made, 900k of them made each read 150 ms at 10M events)."""
    with engine.begin() as conn:
        conn.execute(exceptions.update().where(exceptions.c.exception_id == 2).values(status="resolved"))
        sub = impact_subquery(sa.select(exceptions.c.exception_id).where(exceptions.c.status == "open"))
        computed = conn.execute(sa.select(sub.c.exception_id, sub.c.orders)).all()
        active = ExceptionFilter(status=["open"])
        by_value = list_exceptions(conn, active, now=NOW, sort="value_at_risk").items
        valued = list_exceptions(conn, ExceptionFilter(status=["open"], min_value=100), now=NOW).items
    assert [tuple(r) for r in computed] == [(1, 2)]  # not the resolved exception 2; 3 links no order
    assert [(r["exception_id"], r["value_at_risk"]) for r in by_value] == [(1, 150.5), (3, 0.0)]
    assert [r["exception_id"] for r in valued] == [1]
    assert _ids(engine, ExceptionFilter(status=["resolved"], min_value=200)) == [2]
