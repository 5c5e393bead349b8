"""Detection on the seeded demo: the NorthStar outage shows up on NorthStar's flow, not on Coastal's."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from models.detection.passes import run_detection
from models.queries.correlation import likely_cause
from seed_data import seed_demo
from tests.factories import fresh_db

ANCHOR = datetime(2026, 3, 12, 14, 0)
NORTH, COASTAL = "3pl_north-d365-shipment", "3pl_coastal-netsuite-shipment"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):  # type: ignore[no-untyped-def]
    engine, writer = fresh_db(tmp_path_factory.mktemp("demo"))
    seed_demo(engine, writer, days=6, orders_per_day=1500, seed=11, anchor=ANCHOR)
    with engine.begin() as conn:
        first = run_detection(conn, now=ANCHOR)
    with engine.begin() as conn:
        second = run_detection(conn, now=ANCHOR)
    yield engine, first, second
    engine.dispose()


def _rows(engine, sql: str, **params: object) -> list[sa.RowMapping]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params).mappings())


def _linked(engine, exception_id: int) -> set[str]:  # type: ignore[no-untyped-def]
    sql = "SELECT correlation_id FROM exception_orders WHERE exception_id = :id"
    return {r["correlation_id"] for r in _rows(engine, sql, id=exception_id)}


def _outage_orders(engine) -> set[str]:  # type: ignore[no-untyped-def]
    """Orders whose shipment confirmation is still dead-lettered with NorthStar's 503 at the anchor."""
    rows = _rows(
        engine,
        """
        SELECT correlation_id FROM business_events
        WHERE event_type = 'shipment.dispatched' AND error_code = '3PL-503'
        EXCEPT
        SELECT correlation_id FROM business_events WHERE event_type = 'shipment.dispatched' AND status = 'ok'
        """,
    )
    return {r["correlation_id"] for r in rows}


def test_outage_gives_dead_letters_and_sla_breach_on_northstar_only(demo) -> None:  # type: ignore[no-untyped-def]
    engine, _first, _second = demo
    stuck = _outage_orders(engine)
    assert stuck, "the seeded outage leaves some confirmations unreplayed at the anchor"
    dead = _rows(engine, "SELECT * FROM exceptions WHERE kind = 'dead_letter'")
    assert [(d["flow_id"], d["business_key"]) for d in dead] == [(NORTH, "3PL-503")]
    assert dead[0]["status"] in ("open", "acknowledged")
    assert _linked(engine, dead[0]["exception_id"]) == stuck  # refreshed to the still dead-lettered orders
    breach = _rows(engine, "SELECT exception_id, status FROM exceptions WHERE fingerprint = :fp",
                   fp=f"sla_breach:{NORTH}:shipment")  # fmt: skip
    assert len(breach) == 1 and breach[0]["status"] == "open"
    assert stuck <= _linked(engine, breach[0]["exception_id"])
    # Coastal: no dead letters, and none of its exceptions is about the outage's orders or error
    coastal = _rows(engine, "SELECT exception_id, kind, error_class FROM exceptions WHERE flow_id = :f", f=COASTAL)
    assert all(x["kind"] != "dead_letter" and x["error_class"] != "3PL-503" for x in coastal)
    assert all(not _linked(engine, x["exception_id"]) & stuck for x in coastal)


def test_second_pass_changes_nothing(demo) -> None:  # type: ignore[no-untyped-def]
    _engine, first, second = demo
    assert first.changed and not second.changed


def test_likely_cause_of_the_outage_is_northstar_errors(demo) -> None:  # type: ignore[no-untyped-def]
    engine, _first, _second = demo
    (dead,) = _rows(engine, "SELECT exception_id FROM exceptions WHERE kind = 'dead_letter'")
    with engine.connect() as conn:
        cause = likely_cause(conn, exception_id=dead["exception_id"])
    assert cause is not None
    assert (cause["signal"], cause["system"]) == ("source_errors", "3pl_north")
    assert cause["text"].startswith("NorthStar Logistics API errors (mw-3pl-client) rose to")
