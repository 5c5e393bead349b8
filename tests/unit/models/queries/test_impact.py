"""Business impact per exception (models/queries/impact.py), kept in ``exception_impacts``, and the
workbench's sort and filters on it, on hand-made orders: values, tiers and ship-bys computed by hand below."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine

from models.ingest.writer import IngestWriter
from models.queries.exceptions import ExceptionFilter, get_exception, list_exceptions
from models.queries.impact import ExceptionImpact, exception_impact, refresh_impact, refresh_incident_impact
from models.queries.incidents import get_incident, list_incidents
from models.store.schema import MIGRATIONS, SCHEMA_VERSION, create_schema, schema_version, set_meta
from models.store.tables import exception_orders, exceptions, incident_exceptions, incidents, order_facts
from tests.factories import fresh_db
from tests.postgres import PgSession

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


def _fill(conn: Connection) -> None:
    """The orders, the exceptions and their links, as detection would have linked them."""
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
                status="open" if i != 2 else "resolved", first_seen=NOW, last_seen=NOW, occurrences=1,
                affected_orders=len(LINKS[i]), updated_at=NOW,
            )
        )  # fmt: skip
    conn.execute(
        exception_orders.insert(), [{"exception_id": i, "correlation_id": o} for i, os in LINKS.items() for o in os]
    )
    conn.execute(
        incidents.insert().values(
            incident_id=7, system_id="d365", title="D365 down", status="open", opened_at=NOW, updated_at=NOW
        )
    )
    conn.execute(
        incident_exceptions.insert(),
        [{"incident_id": 7, "exception_id": i, "attached_at": NOW} for i in (1, 2)],
    )


@pytest.fixture()
def engine(fresh: tuple[Engine, IngestWriter]) -> Iterator[Engine]:
    engine, writer = fresh
    with writer.transaction() as conn:
        _fill(conn)
        refresh_impact(conn)  # what the detection pass does after it links orders
        refresh_incident_impact(conn)  # and after it attaches exceptions to incidents
    yield engine
    engine.dispose()


#: What the schema upgrades compute for the stored links: exception → (orders, value at risk), and
#: incident 7's (exceptions 1 and 2: all four orders).
BACKFILLED = ({1: (2, 150.5), 2: (2, 200.0)}, (4, 350.5))


def _backfilled(engine: Engine) -> tuple[dict[int, tuple[int, float]], tuple[int, float] | None]:
    with engine.connect() as conn:
        by_exception = {i: (v.orders, v.value_at_risk) for i, v in exception_impact(conn, [1, 2, 3]).items()}
        incident = get_incident(conn, 7) or {}
    return by_exception, (incident["orders"], incident["value_at_risk"]) if incident.get("orders") else None


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


def test_a_refresh_reads_the_orders_facts_again_for_the_exceptions_it_is_given(engine: Engine) -> None:
    """Stored impact changes only when refreshed, and only for the exceptions refreshed."""
    with engine.begin() as conn:
        conn.execute(order_facts.update().where(order_facts.c.correlation_id == "O-1").values(dispatched_at=NOW))
        conn.execute(order_facts.update().where(order_facts.c.correlation_id == "O-3").values(order_value=9.25))
        before = exception_impact(conn, [1, 2])
        refresh_impact(conn, [1])
        after_one = exception_impact(conn, [1, 2])
        refresh_impact(conn, sa.select(exceptions.c.exception_id).where(exceptions.c.exception_id == 2))
        after_both = exception_impact(conn, [1, 2])
    assert before[1].earliest_ship_by == NOW + DAY and before[2].value_at_risk == 200.0
    # O-1 shipped: only O-2's ship-by is at risk; exception 2 waits for its own refresh
    assert after_one[1] == ExceptionImpact(orders=2, value_at_risk=150.5, valued_orders=2, customer_tier="key",
                                           earliest_ship_by=NOW + 2 * DAY)  # fmt: skip
    assert after_one[2] == before[2]
    assert after_both[2] == ExceptionImpact(orders=2, value_at_risk=209.25, valued_orders=2,
                                            customer_tier="standard", earliest_ship_by=None)  # fmt: skip


def test_an_exception_whose_links_are_gone_has_no_impact_after_its_refresh(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(exception_orders.delete().where(exception_orders.c.exception_id == 1))
        refresh_impact(conn, [1, 3])
        assert set(exception_impact(conn, [1, 2, 3])) == {2}
        row = list_exceptions(conn, ExceptionFilter(), now=NOW, sort="value_at_risk").items
    assert [(r["exception_id"], r["value_at_risk"]) for r in row] == [(2, 200.0), (3, 0.0), (1, 0.0)]


def test_an_incident_counts_each_order_of_its_exceptions_once(engine: Engine) -> None:
    """Incident 7 holds exceptions 1 (O-1, O-2) and 2 (O-3, O-4); exception 3 joins it holding O-1
    again: still four orders, and the stored figures move only with the refresh."""
    with engine.begin() as conn:
        first = get_incident(conn, 7) or {}
        conn.execute(exception_orders.insert().values(exception_id=3, correlation_id="O-1"))
        conn.execute(incident_exceptions.insert().values(incident_id=7, exception_id=3, attached_at=NOW))
        conn.execute(order_facts.update().where(order_facts.c.correlation_id == "O-1").values(dispatched_at=NOW))
        stale = get_incident(conn, 7) or {}
        refresh_incident_impact(conn, [7])
        fresh = get_incident(conn, 7) or {}
        [listed], _ = list_incidents(conn)
    shown = ("orders", "value_at_risk", "customer_tier", "earliest_ship_by")
    # 100 + 50.50 + 200 (O-3 has no total); key tier from O-1; O-4 shipped, so O-1's ship-by at first
    assert [first[k] for k in shown] == [4, 350.5, "key", NOW + DAY]
    assert [stale[k] for k in shown] == [4, 350.5, "key", NOW + DAY]
    assert [fresh[k] for k in shown] == [4, 350.5, "key", NOW + 2 * DAY]  # O-1 shipped: O-2's ship-by
    assert [listed[k] for k in shown] == [4, 350.5, "key", NOW + 2 * DAY]


def test_a_duckdb_file_of_schema_9_gets_the_impact_of_every_stored_exception(tmp_path: Path) -> None:
    """Opening an older database fills ``exception_impacts`` from the links it already holds,
    resolved exceptions included (the workbench shows them too)."""
    engine, writer = fresh_db(tmp_path)
    with writer.transaction() as conn:
        _fill(conn)
        set_meta(conn, "schema_version", "9")
    assert _backfilled(engine) == ({}, None)
    create_schema(engine)
    with engine.connect() as conn:
        assert schema_version(conn) == SCHEMA_VERSION
    assert _backfilled(engine) == BACKFILLED
    create_schema(engine)  # idempotent
    assert _backfilled(engine) == BACKFILLED
    engine.dispose()


def test_postgres_migration_0005_fills_the_impact_of_every_stored_exception(pg_session: PgSession) -> None:
    engine = pg_session.schema()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
        assert not sa.inspect(conn).has_table("exception_impacts")
        _fill(conn)
        command.upgrade(config, "head")
    assert _backfilled(engine) == BACKFILLED
    engine.dispose()
