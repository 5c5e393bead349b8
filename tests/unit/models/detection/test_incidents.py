"""Incidents: a D365 outage collapses 300 exceptions on four of its flows into one incident, whose
downstream alerts are inhibited while its own alert fires; counts computed by hand below.

The estate (flows are edges; degree = flows touching a system):
    shopify → d365, adobe → d365, d365 → wms, d365 → 3pl_north, 3pl_north → d365,   (d365: 5 flows)
    wms → shopify, netsuite → 3pl_coastal, 3pl_coastal → netsuite, netsuite → netsuite (invoicing).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts import rules
from alerts.config import RuleConfig
from alerts.stages import inhibited_by_incident
from models.detection.incidents import Candidate, correlate, explaining_system
from models.detection.occurrences import DetectionSettings
from models.ingest.writer import IngestWriter
from models.queries.incidents import active_scopes, get_incident, list_incidents
from models.store.tables import exception_orders, exceptions, order_facts
from tests.factories import add_flow, add_system

NOW = datetime(2026, 11, 20, 12, 0)
SETTINGS = DetectionSettings()  # 3 exceptions over 2 flows within 30 min
D365_FLOWS = ("shopify-d365-orders", "adobe-d365-orders", "d365-wms-release", "d365-3pl_north-release")
FLOWS = {
    "shopify-d365-orders": ("shopify", "d365"), "adobe-d365-orders": ("adobe", "d365"),
    "d365-wms-release": ("d365", "wms"), "d365-3pl_north-release": ("d365", "3pl_north"),
    "3pl_north-d365-shipment": ("3pl_north", "d365"), "wms-shopify-inventory": ("wms", "shopify"),
    "netsuite-3pl_coastal-release": ("netsuite", "3pl_coastal"), "netsuite-invoice": ("netsuite", "netsuite"),
    "3pl_coastal-netsuite-shipment": ("3pl_coastal", "netsuite"),
}  # fmt: skip
_ids = iter(range(1, 100_000))


def _exception(flow: str, *, seen: datetime = NOW, began: datetime | None = None, status: str = "open",
               order: str | None = None, tier: str = "standard") -> dict[str, list[dict[str, object]]]:  # fmt: skip
    """Rows of one exception on ``flow`` (and of its one order worth 10.00), per table."""
    i = next(_ids)
    rows: dict[str, list[dict[str, object]]] = {
        "exceptions": [dict(
            exception_id=i, fingerprint=f"delivery_failed:{flow}:{i}", kind="delivery_failed", flow_id=flow,
            system_id=FLOWS[flow][1], business_key=f"K{i}", title=f"{flow} failing {i}", severity="high",
            status=status, first_seen=began or seen - timedelta(minutes=5), last_seen=seen, occurrences=1,
            affected_orders=1 if order else 0, updated_at=seen,
        )],
        "order_facts": [], "exception_orders": [],
    }  # fmt: skip
    if order:
        rows["order_facts"].append(dict(correlation_id=order, failures=1, created_at=seen,
                                        order_value=Decimal("10.00"), customer_tier=tier))  # fmt: skip
        rows["exception_orders"].append(dict(exception_id=i, correlation_id=order))
    return rows


def _insert(conn: sa.Connection, *made: dict[str, list[dict[str, object]]]) -> None:
    for table in (exceptions, order_facts, exception_orders):
        rows = [r for m in made for r in m[table.name]]
        if rows:
            conn.execute(table.insert(), rows)


@pytest.fixture()
def outage(fresh: tuple[Engine, IngestWriter]) -> Iterator[Engine]:
    engine, writer = fresh
    for system in ("shopify", "adobe", "d365", "wms", "3pl_north", "netsuite", "3pl_coastal"):
        add_system(engine, system, "erp", "Dynamics 365" if system == "d365" else system)
    for flow, (source, target) in FLOWS.items():
        add_flow(engine, flow, "a.b", "c.d", 600, source_system=source, target_system=target)
    with writer.transaction() as conn:
        # the outage: 75 exceptions on each of four D365 flows, one order each worth 10.00 (one key account)
        made = [_exception(D365_FLOWS[n % 4], order=f"O-{n}", tier="key" if n == 7 else "standard")
                for n in range(300)]  # fmt: skip
        # not part of it: two NetSuite-side exceptions (too few), one that began before the window (still
        # recurring: not simultaneous), one resolved
        made += [
            _exception("netsuite-3pl_coastal-release"),
            _exception("3pl_coastal-netsuite-shipment"),
            _exception("netsuite-invoice", began=NOW - timedelta(hours=2)),
            _exception("shopify-d365-orders", status="resolved"),
        ]
        _insert(conn, *made)
    yield engine
    engine.dispose()


def _pass(engine: Engine, now: datetime = NOW) -> object:
    with engine.begin() as conn:
        return correlate(conn, now=now, settings=SETTINGS)


def test_a_d365_outage_is_one_incident_and_its_downstream_alerts_are_inhibited(outage: Engine) -> None:
    report = _pass(outage)
    assert (report.opened, report.attached, report.resolved) == ([1], 300, [])  # type: ignore[attr-defined]
    with outage.connect() as conn:
        (incident,), total = list_incidents(conn)
        detail = get_incident(conn, 1)
    assert total == 1 and detail is not None
    assert (incident["system_id"], incident["title"], incident["status"]) == (
        "d365", "Dynamics 365 unavailable", "open",
    )  # fmt: skip
    # 300 exceptions on 4 flows; 300 orders × 10.00; the key account's order makes the tier "key"
    assert (incident["exceptions"], incident["active_exceptions"], incident["flows"]) == (300, 300, 4)
    assert (incident["orders"], incident["value_at_risk"], incident["customer_tier"]) == (300, 3000.0, "key")
    assert [f["flow_id"] for f in detail["flow_list"]] == sorted(D365_FLOWS)
    assert [e["what"] for e in detail["timeline"]].count("exception") == 300
    assert detail["timeline"][-1]["what"] == "open"  # opened after the first exceptions were seen

    # the alerts: one per failing flow (7 flows with active exceptions: 4 of D365's, 3 NetSuite-side)
    rule = RuleConfig.model_validate({"id": "failing", "name": "Failing", "kind": "exceptions", "threshold": 1})
    own = RuleConfig.model_validate({"id": "incident", "name": "Incident", "kind": "incidents", "threshold": 1})
    with outage.connect() as conn:
        observed = rules.read(conn, rule, NOW).observations + rules.read(conn, own, NOW).observations
        scopes = active_scopes(conn)
    verdicts = {o.labels.get("flow") or f"incident {o.labels['incident']}": inhibited_by_incident(o.labels, scopes)
                for o in observed}  # fmt: skip
    assert verdicts == {
        **dict.fromkeys(D365_FLOWS, 1),  # downstream of the incident: inhibited by incident 1
        "netsuite-3pl_coastal-release": None,
        "3pl_coastal-netsuite-shipment": None,
        "netsuite-invoice": None,
        "incident 1": None,  # the incident's own alert speaks for them
    }

    # a second pass changes nothing; a new exception touching D365 joins the incident, not a new one
    assert _pass(outage).attached == 0  # type: ignore[attr-defined]
    late = _exception("3pl_north-d365-shipment", seen=NOW + timedelta(minutes=1))
    with outage.begin() as conn:
        _insert(conn, late)
    report = _pass(outage, NOW + timedelta(minutes=1))
    assert (report.opened, report.attached) == ([], 1)  # type: ignore[attr-defined]
    with outage.connect() as conn:
        assert len(list_incidents(conn)[0]) == 1
        assert [s.flows for s in active_scopes(conn)] == [frozenset({*D365_FLOWS, "3pl_north-d365-shipment"})]

    # resolved once every attached exception is: detection resolves the incident, and alerts flow again
    with outage.begin() as conn:
        conn.execute(sa.text("UPDATE exceptions SET status = 'resolved' "
                             "WHERE exception_id IN (SELECT exception_id FROM incident_exceptions)"))  # fmt: skip
    assert _pass(outage, NOW + timedelta(minutes=2)).resolved == [1]  # type: ignore[attr-defined]
    with outage.connect() as conn:
        assert list_incidents(conn)[0][0]["status"] == "resolved" and active_scopes(conn) == []


def _c(i: int, flow: str, *systems: str) -> Candidate:
    return Candidate(i, flow, "delivery_failed", frozenset(systems))


def test_the_system_with_most_of_its_flows_failing_explains_them_not_the_hub() -> None:
    # a 3PL outage: its two flows fail; D365 touches both too, but 2 of its 5 flows is not an outage of D365
    pool = [_c(1, "rel", "d365", "3pl"), _c(2, "rel", "d365", "3pl"), _c(3, "ship", "3pl", "d365")]
    assert explaining_system(pool, {"d365": 5, "3pl": 2}, SETTINGS) == "3pl"
    assert explaining_system(pool[:2], {"d365": 5, "3pl": 2}, SETTINGS) is None  # 2 exceptions on 1 flow
    strict = DetectionSettings(incident_min_exceptions=4)
    assert explaining_system(pool, {"d365": 5, "3pl": 2}, strict) is None
