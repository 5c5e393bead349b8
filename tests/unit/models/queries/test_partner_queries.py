"""Partner scorecards (models/queries/partner_performance.py) on a hand-built fixture; every expected
number is worked out here.

Period W = [03-10 00:00, 03-11 00:00); the previous period P = [03-09 00:00, 03-10 00:00); now = 03-11 00:00.
Percentiles are continuous (linear): for sorted v0..v(n-1) the q-th sits at position q*(n-1).

The estate: ERP ``erp``; 3PL ``tpl`` confirms shipment of released orders (SLA 8 h); an idle 3PL ``tpl2``;
supplier ``sup`` acknowledges POs (850 → 855, SLA 6 h) and sends ASNs (855 → 856, SLA 12 h).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy.engine import Engine

from models.ingest.writer import IngestWriter
from models.queries.common import Window
from models.queries.partner_performance import (
    MEASURES,
    ack_cycle_time,
    exceptions_opened,
    open_exceptions,
    orders_handled,
    partner_orders,
    partner_scorecards,
    partners,
)
from tests.factories import add_flow, add_system, event, events_table

W = Window(datetime(2026, 3, 10), datetime(2026, 3, 11), 3600)
P = Window(datetime(2026, 3, 9), datetime(2026, 3, 10), 3600)
NOW = datetime(2026, 3, 11)
H = 3600
REL, SHIP, PO, ASN = "erp-tpl-release", "tpl-erp-shipment", "erp-sup-po", "sup-erp-asn"


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute)


def order(oid: str, value: float, released: datetime, dispatched: datetime | None) -> list[dict[str, Any]]:
    """An order created an hour before its release to ``tpl``, and its dispatch confirmation."""
    created = event(oid, "order.created", released.replace(hour=released.hour - 1), source="shop", target="erp")
    created["payload"] = f'{{"total": {value}}}'
    rows = [created, event(oid, "order.released", released, flow_id=REL, source="erp", target="tpl")]
    if dispatched is not None:
        rows.append(event(oid, "shipment.dispatched", dispatched, flow_id=SHIP, source="tpl", target="erp"))
    return rows


def purchase_order(po: str, sent: datetime, ack: datetime | None, asn: datetime | None) -> list[dict[str, Any]]:
    """A PO sent to ``sup`` with its 855 and 856, where they came."""
    rows = [event(po, "po.sent", sent, flow_id=PO, source="erp", target="sup", channel=None)]
    if ack is not None:
        rows.append(event(po, "po.acknowledged", ack, flow_id=PO, source="sup", target="erp", channel=None))
    if asn is not None:
        rows.append(event(po, "asn.received", asn, flow_id=ASN, source="sup", target="erp", channel=None))
    return rows


@pytest.fixture
def db(fresh: tuple[Engine, IngestWriter]) -> Iterator[Engine]:
    engine, writer = fresh
    for system, kind, name in (("erp", "erp", "ERP"), ("tpl", "3pl", "North 3PL"), ("tpl2", "3pl", "Idle 3PL"),
                               ("sup", "supplier", "Sup Co")):  # fmt: skip
        add_system(engine, system, kind, name)
    add_flow(engine, REL, "order.accepted", "order.released", 7200, "fulfilment", source_system="erp",
             target_system="tpl")  # fmt: skip
    add_flow(engine, SHIP, "order.released", "shipment.dispatched", 8 * H, "shipment", source_system="tpl",
             target_system="erp")  # fmt: skip
    add_flow(engine, PO, "po.sent", "po.acknowledged", 6 * H, "supply", source_system="erp", target_system="sup")
    add_flow(engine, ASN, "po.acknowledged", "asn.received", 12 * H, "supply", source_system="sup",
             target_system="erp")  # fmt: skip
    rows: list[dict[str, Any]] = []
    # 3PL, W: A1 10 h, A2 16 h (its first dispatch attempt failed), A3 never confirmed. P: B1 6 h, B2 never.
    rows += order("A1", 100.00, t(10, 2), t(10, 12))
    rows += order("A2", 50.50, t(10, 4), t(10, 20))
    rows.append(event("A2", "shipment.dispatched", t(10, 19), flow_id=SHIP, source="tpl", target="erp",
                      status="failed", error_code="3PL-503"))  # fmt: skip
    rows += order("A3", 20.00, t(10, 6), None)
    rows += order("B1", 70.00, t(9, 3), t(9, 9))
    rows += order("B2", 30.00, t(9, 5), None)
    # Supplier, W: PO1 acked in 3 h with its ASN, PO2 in 14 h, PO3 and PO4 not (PO4's first send failed).
    rows += purchase_order("PO1", t(10, 1), t(10, 4), t(10, 10))
    rows += purchase_order("PO2", t(10, 2), t(10, 16), None)
    rows += purchase_order("PO3", t(10, 20), None, None)
    rows += purchase_order("PO4", t(10, 10), None, None)
    rows.append(event("PO4", "po.sent", t(10, 9, 55), flow_id=PO, source="erp", target="sup", channel=None,
                      status="failed"))  # fmt: skip
    # Supplier, P: PO0 acked in 2 h, ASN 4 h later.
    rows += purchase_order("PO0", t(9, 6), t(9, 8), t(9, 12))
    writer.append("business_events", events_table(rows))
    exceptions = [  # id, system, severity, status, first seen
        (1, "tpl", "high", "open", t(10, 19, 5)),
        (2, "tpl", "critical", "resolved", t(9, 10)),
        (3, "tpl", "medium", "acknowledged", t(10, 8)),
        (4, "sup", "medium", "open", t(10, 16, 30)),
        (5, "erp", "critical", "open", t(10, 1)),
    ]
    writer.append("exceptions", pa.Table.from_pylist([
        {"exception_id": xid, "fingerprint": f"fp{xid}", "kind": "delivery_failed", "system_id": system,
         "title": f"exception {xid}", "severity": severity, "status": status, "first_seen": first,
         "last_seen": first, "occurrences": 1, "affected_orders": 0, "updated_at": first}
        for xid, system, severity, status, first in exceptions
    ]))  # fmt: skip
    yield engine
    engine.dispose()


def _by(frame: Any, column: str) -> dict[str, Any]:
    return dict(zip(frame["grp"], frame[column], strict=True))


def test_partners_are_the_3pls_then_the_suppliers(db: Engine) -> None:
    with db.connect() as conn:
        assert [(p["system_id"], p["kind"], p["name"]) for p in partners(conn)] == [
            ("tpl", "3pl", "North 3PL"), ("tpl2", "3pl", "Idle 3PL"), ("sup", "supplier", "Sup Co"),
        ]  # fmt: skip


def test_orders_handled_counts_first_handovers_in_the_period_with_their_value(db: Engine) -> None:
    with db.connect() as conn:
        now, before = orders_handled(conn, W), orders_handled(conn, P)
    # 3PL: A1, A2, A3 released in W (100 + 50.50 + 20); B1, B2 in P (70 + 30). Supplier: PO1–PO4 first sent
    # in W (PO4's failed attempt does not count as handing it over), PO0 in P; POs carry no value.
    assert _by(now, "n") == {"sup": 4, "tpl": 3} and _by(before, "n") == {"sup": 1, "tpl": 2}
    assert float(_by(now, "value")["tpl"]) == 170.50 and float(_by(before, "value")["tpl"]) == 100.00
    assert pd.isna(_by(now, "value")["sup"])  # no value: NULL (None on DuckDB, NaN in a float column on PostgreSQL)


def test_ack_cycle_time_is_the_supplier_kpi(db: Engine) -> None:
    with db.connect() as conn:
        frame = ack_cycle_time(conn, W)
    # Acks in W: PO1 3 h, PO2 14 h → median 8.5 h, p95 3 + 0.95 × 11 = 13.45 h.
    assert _by(frame, "q50")["sup"] == pytest.approx(8.5)
    assert _by(frame, "q95")["sup"] == pytest.approx(13.45)


def test_exceptions_opened_in_the_period_and_open_now(db: Engine) -> None:
    with db.connect() as conn:
        now, before, active = exceptions_opened(conn, W), exceptions_opened(conn, P), open_exceptions(conn)
    # W: #1, #3 (tpl) and #4 (sup); P: #2 (tpl, since resolved). #5 is the ERP's: not a partner's.
    assert _by(now, "n") == {"sup": 1, "tpl": 2} and _by(before, "n") == {"tpl": 1}
    assert _by(active, "n") == {"sup": 1, "tpl": 2}, "#1 open and #3 acknowledged; #2 resolved"
    assert _by(active, "worst") == {"sup": "medium", "tpl": "high"}


def test_scorecards_per_partner_with_the_previous_period(db: Engine) -> None:
    with db.connect() as conn:
        alone = partner_scorecards(conn, window=W)
        side = partner_scorecards(conn, window=W, engine=db)
    assert side == alone, "the two periods read side by side (as the pages do) give the same rows"
    cards = {c["partner"]: c for c in side}
    assert list(cards) == ["tpl", "tpl2", "sup"]
    tpl = cards["tpl"]["measures"]
    assert set(tpl) == {m.name for m in MEASURES if "3pl" in m.kinds}
    # Confirmations in W: A1 10 h, A2 16 h → p95 10 + 0.95 × 6 = 15.7 h; P: B1 6 h.
    assert tpl["confirmation_lag_p95_hours"]["value"] == pytest.approx(15.7)
    assert tpl["confirmation_lag_p95_hours"]["previous"] == pytest.approx(6.0)
    assert tpl["confirmation_lag_p95_hours"]["change"] == pytest.approx(9.7)
    # Released in W and due (release + 8 h) by its end: A1, A2, A3; A1 and A2 confirmed → 2/3.
    # P: B1 (due 11:00, confirmed) and B2 (due 13:00, not) → 1/2.
    assert tpl["event_completeness"]["value"] == pytest.approx(2 / 3)
    assert tpl["event_completeness"]["previous"] == pytest.approx(0.5)
    # Attempts on tpl's flows in W: 3 releases, A1's dispatch, A2's failed and ok dispatch → 1 of 6 failed.
    assert tpl["error_rate"]["value"] == pytest.approx(1 / 6) and tpl["error_rate"]["previous"] == 0.0
    assert tpl["orders_handled"] == {"value": 3, "previous": 2, "change": 1}
    assert tpl["value_handled"]["value"] == pytest.approx(170.5)
    assert tpl["value_handled"]["change"] == pytest.approx(70.5)
    assert tpl["exceptions_opened"] == {"value": 2, "previous": 1, "change": 1}
    assert (cards["tpl"]["open_exceptions"], cards["tpl"]["worst_open_severity"]) == (2, "high")

    sup = cards["sup"]["measures"]
    assert set(sup) == {m.name for m in MEASURES if "supplier" in m.kinds}
    assert sup["confirmation_lag_p95_hours"]["value"] == pytest.approx(13.45)
    assert sup["ack_cycle_time_p50_hours"]["value"] == pytest.approx(8.5)
    assert sup["ack_cycle_time_p50_hours"]["previous"] == pytest.approx(2.0)
    # Sent in W and due (sent + 6 h) by its end: PO1, PO2 (acked by the end, if late), PO4 (not); PO3 due
    # 03-11 02:00 is not due yet → 2/3.
    assert sup["event_completeness"]["value"] == pytest.approx(2 / 3)
    # Acked in W and due an ASN (ack + 12 h) by the end: PO1 only (PO2's is due 03-11 04:00) → 1/1.
    assert sup["asn_completeness"]["value"] == pytest.approx(1.0)
    # Attempts on sup's flows in W: PO1 ×3, PO2 ×2, PO3, PO4 ok and failed → 1 of 8.
    assert sup["error_rate"]["value"] == pytest.approx(1 / 8)
    assert sup["orders_handled"] == {"value": 4, "previous": 1, "change": 3}
    assert sup["exceptions_opened"] == {"value": 1, "previous": 0, "change": 1}

    idle = cards["tpl2"]
    assert idle["measures"]["confirmation_lag_p95_hours"] == {"value": None, "previous": None, "change": None}
    assert idle["measures"]["orders_handled"] == {"value": 0, "previous": 0, "change": 0}
    assert idle["measures"]["value_handled"]["value"] is None
    assert (idle["open_exceptions"], idle["worst_open_severity"]) == (0, None)


def test_orders_of_a_3pl_waiting_first(db: Engine) -> None:
    with db.connect() as conn:
        frame = partner_orders(conn, partner="tpl", kind="3pl", window=W, now=NOW)
    # A3 still waits (since 06:00: 18 h), then the confirmed ones latest first: A2 (16 h), A1 (10 h).
    assert frame["correlation_id"].tolist() == ["A3", "A2", "A1"]
    assert frame["waited_seconds"].tolist() == [18 * H, 16 * H, 10 * H]
    assert frame["confirmed_at"].isna().tolist() == [True, False, False]
    assert [float(v) for v in frame["order_value"]] == [20.0, 50.5, 100.0]


def test_purchase_orders_of_a_supplier_waiting_first(db: Engine) -> None:
    with db.connect() as conn:
        frame = partner_orders(conn, partner="sup", kind="supplier", window=W, now=NOW, limit=3)
    # Waiting: PO4 (first sent ok 10:00, 14 h) before PO3 (20:00, 4 h); then the latest acked: PO2 (14 h).
    assert frame["correlation_id"].tolist() == ["PO4", "PO3", "PO2"]
    assert frame["waited_seconds"].tolist() == [14 * H, 4 * H, 14 * H]
    assert frame["handed_at"].tolist()[0] == t(10, 10)
    with db.connect() as conn:
        po1 = partner_orders(conn, partner="sup", kind="supplier", window=W, now=NOW).set_index("correlation_id")
    assert po1.loc["PO1", "asn_at"] == t(10, 10) and po1.loc["PO1", "confirmed_at"] == t(10, 4)


def test_orders_refuse_an_unknown_partner_kind(db: Engine) -> None:
    with db.connect() as conn, pytest.raises(ValueError, match="unknown partner kind 'erp'; expected one of 3pl"):
        partner_orders(conn, partner="erp", kind="erp", window=W, now=NOW)


SEEDED_AT = datetime(2026, 3, 5, 12, 0)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The seeded demo over six days (every 3PL and supplier of the estate, thousands of events)."""
    from seed_data import seed_demo
    from tests.factories import fresh_db

    engine, writer = fresh_db(tmp_path_factory.mktemp("seeded"))
    seed_demo(engine, writer, days=6, orders_per_day=300, seed=11, anchor=SEEDED_AT)
    yield engine
    engine.dispose()


def test_a_3pls_completeness_from_order_facts_equals_the_one_from_its_events(seeded: Engine) -> None:
    """The shipment step reads the writer's order_facts; on the seeded demo (thousands of releases to
    every 3PL, some undispatched, some not yet due) it gives what the events themselves give, per 3PL
    and per period, down to rounding."""
    from models.queries.scorecard import CONFIRMS, _event_step_completeness, completeness

    with seeded.connect() as conn:
        for days in (3, 6):  # (a shorter period holds no release due yet: the SLA is longer)
            window = Window(SEEDED_AT - timedelta(days=days), SEEDED_AT, 3600)
            facts = completeness(conn, window, "3pl", *CONFIRMS["3pl"])
            events = _event_step_completeness(conn, window, "3pl", *CONFIRMS["3pl"])
            assert facts["grp"].tolist() == ["3pl_coastal", "3pl_north"] and facts["n"].sum() > 100 * days
            assert facts["grp"].tolist() == events["grp"].tolist()
            assert facts["n"].tolist() == events["n"].tolist()
            assert facts["share"].tolist() == pytest.approx(events["share"].tolist())
            assert 0 < facts["share"].min() < 1  # some releases of the period still wait for their shipment


def test_a_partners_flows_are_every_flows_health_narrowed_to_it(seeded: Engine) -> None:
    """flows_health(system=...) (the partner page's read) gives each partner the rows the whole estate's
    health gives for the flows it is at either end of, figure for figure."""
    from models.queries.flows import flows_health

    window = Window(SEEDED_AT - timedelta(days=3), SEEDED_AT, 3600)
    with seeded.connect() as conn:
        every = flows_health(conn, now=SEEDED_AT, window=window)
        chosen = {p["system_id"]: flows_health(conn, now=SEEDED_AT, window=window, system=p["system_id"])
                  for p in partners(conn)}  # fmt: skip
    assert len(chosen) == 5
    for partner, flows in chosen.items():
        mine = [f for f in every if partner in (f["source_system"], f["target_system"])]
        assert flows == mine and len(mine) >= 2, partner
    assert sum(f["steps_last_hour"] for f in chosen["3pl_north"]) > 500
