"""Every KPI of models/queries/kpis.py on a hand-built fixture; each expected number is worked out here.

Percentiles are continuous with linear interpolation (DuckDB quantile_cont, PostgreSQL
percentile_cont): for sorted values v0..v(n-1) the q-th percentile sits at position
q*(n-1), interpolated between its neighbours.

Period W = [03-10 00:00, 03-11 00:00); the previous period P = [03-09 00:00, 03-10 00:00).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from models.queries import kpis as k
from models.queries.common import Window
from models.queries.scorecard import partner_scorecard
from tests.factories import add_flow, add_system, event, events_table

W = Window(datetime(2026, 3, 10), datetime(2026, 3, 11), 3600)
P = k.previous_window(W)
H = 3600
ACC, ACC_B2B, REL, SHIP, INV = "shop-erp-orders", "b2b-erp-orders", "erp-3pl-release", "3pl-erp-shipment", "erp-invoice"
STOCK, PO, ASN = "wms-shop-inventory", "erp-sup-po", "sup-erp-asn"


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute)


def order(oid: str, created, accepted=None, released=None, dispatched=None, invoiced=None, channel="shop"):  # type: ignore[no-untyped-def]
    """The ok lifecycle events of one order (shop or b2b → erp → 3pl)."""
    acc_flow = ACC if channel == "shop" else ACC_B2B
    rows = [event(oid, "order.created", created, flow_id=acc_flow, channel=channel, source=channel, target="erp")]
    steps = [
        (accepted, "order.accepted", acc_flow, channel, "erp"),
        (released, "order.released", REL, "erp", "3pl"),
        (dispatched, "shipment.dispatched", SHIP, "3pl", "erp"),
        (invoiced, "invoice.posted", INV, "erp", "erp"),
    ]
    for at, etype, flow, source, target in steps:
        if at is not None:
            rows.append(event(oid, etype, at, flow_id=flow, channel=channel, source=source, target=target))
    return rows


def rows() -> list[dict[str, object]]:
    r: list[dict[str, object]] = []
    # In W. cycle (h): A1 11, A2 14, A3 18. Acceptance lag (s): A1 600, A2 1800, A3 300 (b2b), A4 600, A5 300.
    r += order("A1", t(10, 1), t(10, 1, 10), t(10, 2), t(10, 12), t(10, 13))
    r += order("A2", t(10, 3), t(10, 3, 30), t(10, 4), t(10, 17), t(10, 20))
    r[-2]["attempt"] = 2  # A2's dispatch was delivered on the second attempt, after this failure:
    r.append(event("A2", "shipment.dispatched", t(10, 17), flow_id=SHIP, status="failed", source="3pl",
                   target="erp", channel="shop", error_code="3PL-503"))  # fmt: skip
    r += order("A3", t(10, 5), t(10, 5, 5), t(10, 5, 30), t(10, 23), channel="b2b")
    r += order("A4", t(10, 6), t(10, 6, 10))
    r += order("A5", t(10, 7), t(10, 7, 5))
    r.append(event("A5", "order.cancelled", t(10, 7, 30), source="shop", target="erp", channel="shop"))
    # Oversell: A7's acceptance failed for stock (it has no creation event: not an order of W).
    r.append(event("A7", "order.accepted", t(10, 9), flow_id=ACC, status="failed", source="shop", target="erp",
                   channel="shop", error_code="STOCK-SHORT"))  # fmt: skip
    r.append(event("A8", "order.accepted", t(10, 9), flow_id=ACC, status="failed", source="shop", target="erp",
                   channel="shop", error_code="ERP-500"))  # fmt: skip
    # In P. cycle (h): P1 10, P2 20 (shipped in W). Order-to-cash (h): P1 12, P2 22.
    r += order("P1", t(9, 2), t(9, 2, 5), t(9, 3), t(9, 12), t(9, 14))
    r += order("P2", t(9, 10), t(9, 10, 5), t(9, 11), t(10, 6), t(10, 8))
    # Stock: publication lags 60, 600, 120 s; delivery lags of the publications 30, 90, 10 s.
    key = "SKU-1@WMS"
    for adjusted, lag, delivery in ((t(10, 9), 60, 30), (t(10, 10), 600, 90), (t(10, 11), 120, 10)):
        r.append(event(key, "inventory.adjusted", adjusted, source="wms", target=None, channel=None))
        published = adjusted + timedelta(seconds=lag)
        r.append(event(key, "inventory.published", published, flow_id=STOCK, source="wms", target="shop",
                       channel="shop", received_at=published + timedelta(seconds=delivery)))  # fmt: skip

    # Supply: PO1 acked after 3 h (ASN 5 h later), PO2 after 14 h (sent in P), PO3 never.
    def po(pid: str, etype: str, at: datetime, flow: str, source: str, target: str) -> None:
        r.append(event(pid, etype, at, flow_id=flow, source=source, target=target, channel=None))

    po("PO1", "po.sent", t(10, 1), PO, "erp", "sup")
    po("PO1", "po.acknowledged", t(10, 4), PO, "sup", "erp")
    po("PO1", "asn.received", t(10, 9), ASN, "sup", "erp")
    po("PO2", "po.sent", t(9, 20), PO, "erp", "sup")
    po("PO2", "po.acknowledged", t(10, 10), PO, "sup", "erp")
    po("PO3", "po.sent", t(10, 2), PO, "erp", "sup")
    return r


EXCEPTIONS = [  # (id, flow, first_seen, resolved_at, linked order, action, actor, acted_at)
    (1, ACC, t(10, 1), t(10, 3), "A2", "replay", "dana", t(10, 4)),
    (2, SHIP, t(9, 20), t(10, 6), "A4", "resolve", "detector", t(10, 6)),
    (3, ACC, t(9, 1), t(9, 2), "P1", "resolve", "ops", t(9, 2)),
    (4, ACC, t(10, 5), None, "A3", None, None, None),
]


@pytest.fixture(scope="module")
def db(fresh_module):  # type: ignore[no-untyped-def]
    """Built once per backend: the tests only read it."""
    engine, writer = fresh_module()
    for system, kind in (("shop", "storefront"), ("b2b", "storefront"), ("erp", "erp"), ("3pl", "3pl"),
                         ("wms", "wms"), ("sup", "supplier")):  # fmt: skip
        add_system(engine, system, kind)
    add_flow(engine, ACC, "order.created", "order.accepted", 900, source_system="shop", target_system="erp")
    add_flow(engine, ACC_B2B, "order.created", "order.accepted", 1800, source_system="b2b", target_system="erp")
    add_flow(engine, REL, "order.accepted", "order.released", 7200, "fulfilment", source_system="erp",
             target_system="3pl")  # fmt: skip
    add_flow(engine, SHIP, "order.released", "shipment.dispatched", 12 * H, "shipment", source_system="3pl",
             target_system="erp")  # fmt: skip
    add_flow(engine, INV, "shipment.dispatched", "invoice.posted", 6 * H, "invoice", source_system="erp",
             target_system="erp")  # fmt: skip
    add_flow(engine, STOCK, "inventory.adjusted", "inventory.published", 300, "stock", source_system="wms",
             target_system="shop")  # fmt: skip
    add_flow(engine, PO, "po.sent", "po.acknowledged", 4 * H, "supply", source_system="erp", target_system="sup")
    add_flow(engine, ASN, "po.acknowledged", "asn.received", 8 * H, "supply", source_system="sup",
             target_system="erp")  # fmt: skip
    writer.append("business_events", events_table(rows()))
    exc, links, actions = [], [], []
    for xid, flow, first, resolved, oid, action, actor, acted in EXCEPTIONS:
        exc.append({"exception_id": xid, "fingerprint": f"fp{xid}", "kind": "k", "flow_id": flow, "title": "x",
                    "severity": "high", "status": "resolved" if resolved else "open", "first_seen": first,
                    "last_seen": first, "occurrences": 1, "affected_orders": 1, "resolved_at": resolved,
                    "updated_at": first})  # fmt: skip
        links.append({"exception_id": xid, "correlation_id": oid})
        if action:
            actions.append({"action_id": xid, "exception_id": xid, "action": action, "actor": actor,
                            "acted_at": acted, "outcome": "ok"})  # fmt: skip
    writer.append("exceptions", pa.Table.from_pylist(exc))
    writer.append("exception_orders", pa.Table.from_pylist(links))
    writer.append("exception_actions", pa.Table.from_pylist(actions))
    yield engine
    engine.dispose()


def _frame(engine, name: str, group: str | None, window: Window = W):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        frame = k.KPI_BY_NAME[name].compute(conn, window, group)
    return frame.set_index("grp")


def test_order_cycle_time_and_change(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        body = k.kpi_report(conn, window=W)
    p50 = next(x for x in body["kpis"] if x["kpi"] == "order_cycle_time_p50_hours")["rows"][0]
    p95 = next(x for x in body["kpis"] if x["kpi"] == "order_cycle_time_p95_hours")["rows"][0]
    # W: [11, 14, 18] → p50 14, p95 at 1.9 → 14 + 0.9*4; P: [10, 20] → p50 15, p95 at 0.95 → 19.5
    assert (p50["value"], p50["previous"], p50["n"], p50["previous_n"]) == (14.0, 15.0, 3, 2)
    assert p50["change"] == pytest.approx(-1.0)
    assert p50["change_pct"] == pytest.approx(-1 / 15)
    assert p95["value"] == pytest.approx(17.6)
    assert p95["previous"] == pytest.approx(19.5)


def test_cycle_time_per_channel(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        body = k.kpi_report(conn, window=W, group_by="channel")
    rows = {r["group"]: r for r in next(x for x in body["kpis"] if x["kpi"] == "order_cycle_time_p50_hours")["rows"]}
    assert rows["shop"]["value"] == pytest.approx(12.5)  # [11, 14]
    assert rows["shop"]["previous"] == pytest.approx(15.0)  # [10, 20]
    assert rows["b2b"]["value"] == pytest.approx(18.0)
    assert rows["b2b"]["previous"] is None and rows["b2b"]["change"] is None
    assert "sync_lag" in body["not_applicable"] and "mttr" in body["not_applicable"]


def test_order_to_cash(db) -> None:  # type: ignore[no-untyped-def]
    now, before = _frame(db, "order_to_cash", None), _frame(db, "order_to_cash", None, P)
    assert now.loc[None, "q50"] == pytest.approx(14.5)  # A1 12 h, A2 17 h
    assert now.loc[None, "q95"] == pytest.approx(12 + 0.95 * 5)
    assert before.loc[None, "q50"] == pytest.approx(17.0)  # P1 12 h, P2 22 h
    assert before.loc[None, "q95"] == pytest.approx(12 + 0.95 * 10)


def test_sync_lag_per_flow(db) -> None:  # type: ignore[no-untyped-def]
    lag = _frame(db, "sync_lag", "flow")
    assert lag.loc[ACC, "q50"] == pytest.approx(600)  # [300, 600, 600, 1800]
    assert lag.loc[ACC, "q95"] == pytest.approx(600 + 0.85 * 1200)
    assert lag.loc[REL, "q95"] == pytest.approx(1800 + 0.9 * 1200)  # [1500, 1800, 3000]
    # shipment: A1 10 h, A2 13 h, A3 17.5 h, P2 19 h (released in P, dispatched in W)
    assert lag.loc[SHIP, "n"] == 4
    assert lag.loc[SHIP, "q50"] == pytest.approx((46800 + 63000) / 2)
    assert lag.loc[SHIP, "q95"] == pytest.approx(63000 + 0.85 * 5400)
    assert lag.loc[INV, "q50"] == pytest.approx(7200)  # [3600 A1, 7200 P2, 10800 A2]


def test_inventory_sync_delay_pairs_each_publication_with_its_adjustment(db) -> None:  # type: ignore[no-untyped-def]
    delay = _frame(db, "inventory_sync_delay", None)
    # one SKU@location adjusted three times: lags 60, 600, 120 s (not "first adjusted → first published")
    assert delay.loc[None, "n"] == 3
    assert delay.loc[None, "q50"] == pytest.approx(120)
    assert delay.loc[None, "q95"] == pytest.approx(120 + 0.9 * 480)


def test_event_delivery_lag(db) -> None:  # type: ignore[no-untyped-def]
    lag = _frame(db, "event_delivery_lag", "flow")
    assert lag.loc[STOCK, "q50"] == pytest.approx(30)  # received 30, 90, 10 s after publication
    assert lag.loc[STOCK, "q95"] == pytest.approx(30 + 0.9 * 60)
    assert lag.loc[ACC, "q95"] == pytest.approx(0)


def test_first_pass_sync_success(db) -> None:  # type: ignore[no-untyped-def]
    now, before = _frame(db, "first_pass_sync_success", "flow"), _frame(db, "first_pass_sync_success", "flow", P)
    # shipment first attempts in W: A1 ok, A2 failed, A3 ok, P2 ok; in P: P1 ok
    assert (now.loc[SHIP, "n"], now.loc[SHIP, "share"]) == (4, pytest.approx(0.75))
    assert before.loc[SHIP, "share"] == pytest.approx(1.0)
    # messages on the acceptance flow in W: created + accepted of A1, A2, A4, A5 ok; A7, A8 failed
    assert now.loc[ACC, "share"] == pytest.approx(8 / 10)


def test_sla_adherence(db) -> None:  # type: ignore[no-untyped-def]
    sla = _frame(db, "sla_adherence", "flow")
    assert sla.loc[ACC, "share"] == pytest.approx(3 / 4)  # A2's 1800 s > 900 s
    assert sla.loc[SHIP, "share"] == pytest.approx(1 / 4)  # only A1's 10 h is within 12 h
    assert sla.loc[STOCK, "share"] == pytest.approx(2 / 3)  # 600 s > 300 s
    by_supplier = _frame(db, "sla_adherence", "supplier")
    assert by_supplier.loc["sup", "n"] == 3  # PO1 ack 3 h ✓ (4 h SLA), PO2 14 h ✗, PO1 ASN 5 h ✓ (8 h)
    assert by_supplier.loc["sup", "share"] == pytest.approx(2 / 3)


def test_mttr(db) -> None:  # type: ignore[no-untyped-def]
    now, before = _frame(db, "mttr", None), _frame(db, "mttr", None, P)
    assert now.loc[None, "hours"] == pytest.approx((2 + 10) / 2)
    assert before.loc[None, "hours"] == pytest.approx(1)
    by_flow = _frame(db, "mttr", "flow")
    assert by_flow.loc[SHIP, "hours"] == pytest.approx(10)


def test_manual_intervention_rate(db) -> None:  # type: ignore[no-untyped-def]
    now, before = _frame(db, "manual_intervention_rate", None), _frame(db, "manual_intervention_rate", None, P)
    # W orders: A1–A5; only A2 was replayed by an operator (A4's resolve was the detector's)
    assert (now.loc[None, "n"], now.loc[None, "share"]) == (5, pytest.approx(1 / 5))
    assert before.loc[None, "share"] == pytest.approx(1 / 2)  # P1 resolved by ops, P2 untouched


def test_perfect_order_rate(db) -> None:  # type: ignore[no-untyped-def]
    now, before = _frame(db, "perfect_order_rate", None), _frame(db, "perfect_order_rate", None, P)
    # Promised ship-by: creation + 0.25 + 2 + 12 h (shop), + 0.5 + 2 + 12 h (b2b).
    # Decided in W: A1 (11 h: perfect), A2 (14 h, on time, but a failed dispatch attempt), A3
    # (b2b, 18 h > 14.5 h: late), A4 (overdue: 06:00 + 14.25 h = 20:15, not shipped). A5 was cancelled.
    assert (now.loc[None, "n"], now.loc[None, "share"]) == (4, pytest.approx(0.25))
    # Decided in P: P1 only, perfect (10 h ≤ 14.25 h; its exception is not a delivery failure);
    # P2 not yet due at 03-10 00:00
    assert (before.loc[None, "n"], before.loc[None, "share"]) == (1, pytest.approx(1.0))


def test_oversell_incidents(db) -> None:  # type: ignore[no-untyped-def]
    now = _frame(db, "oversell_incidents", "channel")
    assert now["orders"].to_dict() == {"shop": 1}  # A7 (STOCK-SHORT); A8's ERP-500 is not stock


def test_supplier_ack_cycle_time(db) -> None:  # type: ignore[no-untyped-def]
    ack = _frame(db, "supplier_ack_cycle_time", "supplier")
    assert ack.loc["sup", "q50"] == pytest.approx(8.5)  # PO1 3 h, PO2 14 h
    assert ack.loc["sup", "q95"] == pytest.approx(3 + 0.95 * 11)


def test_partner_scorecard(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        card = {row["partner"]: row["metrics"] for row in partner_scorecard(conn, window=W, previous=P)}
    tpl, sup = card["3pl"], card["sup"]
    assert tpl["confirmation_lag_p95_hours"]["value"] == pytest.approx((63000 + 0.85 * 5400) / 3600)
    assert tpl["event_completeness"]["value"] == pytest.approx(1.0)  # A1–A3 released, due and dispatched
    # 3PL flows in W: 3 releases + dispatches A1, A2 (failed, then ok), A3, P2 → 1 of 8 failed
    assert tpl["error_rate"]["value"] == pytest.approx(1 / 8)
    assert "asn_completeness" not in tpl
    assert sup["event_completeness"]["value"] == pytest.approx(0.5)  # PO1 acked; PO3 due 06:00, no 855
    assert sup["asn_completeness"]["value"] == pytest.approx(0.5)  # PO1 has its 856; PO2 due 18:00, none
    assert sup["error_rate"]["value"] == pytest.approx(0.0)
    assert sup["confirmation_lag_p95_hours"]["previous"] is None


def test_report_rejects_unknown_dimension(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn, pytest.raises(ValueError, match="allowed: channel, flow, erp, fulfiller, supplier"):
        k.kpi_report(conn, window=W, group_by="region")


# -- SCOR order-level KPIs and manual intervention, on their own fixture ------------------------------
# Flows: acceptance 15 min, release 2 h, shipment 12 h → promised ship-by = creation + 14.25 h.
# Period W = 03-10; "until" = 03-11 00:00.
#
# order  created  shipped  what else                          decided on-time in-full dmg-free docs  perfect
# O1     01:00    10:00    —                                     ✓      ✓       ✓       ✓      ✓     ✓
# O2     02:00    18:00    16 h > 14.25 h; SLA-breach exception  ✓      ✗       ✓       ✓      ✓     ✗
# O3     03:00    12:00    held for stock_allocation; DLQ exc.   ✓      ✓       ✗       ✓      ✗     ✗
# O4     04:00    10:00    returned 20:00                        ✓      ✓       ✓       ✗      ✓     ✗
# O5     05:00    11:00    first acceptance attempt failed       ✓      ✓       ✓       ✓      ✗     ✗
# O6     06:00    —        overdue since 20:15; failed-delivery  ✓      ✗       ✗       ✓      ✗     ✗
# O7     20:00    —        due 10:15 on 03-11: undecided         ✗
# O8     07:00    —        cancelled 07:30: not counted          —
# O9     08:00    14:00    held for credit_check (not stock)     ✓      ✓       ✓       ✓      ✓     ✓
# O10    09:00    15:00    acceptance failed STOCK-SHORT, retry  ✓      ✓       ✗       ✓      ✗     ✗
# P1     03-09 20:00 → 03-10 12:00 (16 h): a shipment of W, late.
SCOR_FLOWS = (("acc", "order.created", "order.accepted", 900, "shop", "erp"),
              ("rel", "order.accepted", "order.released", 2 * H, "erp", "3pl"),
              ("ship", "order.released", "shipment.dispatched", 12 * H, "3pl", "erp"))  # fmt: skip


def scor_rows() -> list[dict[str, object]]:
    r: list[dict[str, object]] = []

    def lifecycle(oid: str, created: datetime, shipped: datetime | None) -> None:
        r.append(event(oid, "order.created", created, flow_id="acc", channel="shop", source="shop", target="erp",
                       event_id=f"{oid}-created"))  # fmt: skip
        r.append(event(oid, "order.accepted", created + timedelta(minutes=10), flow_id="acc", channel="shop",
                       source="shop", target="erp"))  # fmt: skip
        r.append(event(oid, "order.released", created + timedelta(hours=1), flow_id="rel", channel="shop",
                       source="erp", target="3pl"))  # fmt: skip
        if shipped is not None:
            r.append(event(oid, "shipment.dispatched", shipped, flow_id="ship", channel="shop", source="3pl",
                           target="erp"))  # fmt: skip

    def held(oid: str, at: datetime, reason: str) -> None:
        r.append(event(oid, "order.held", at, flow_id="acc", channel="shop", source="erp", target="shop"))
        r[-1]["payload"] = f'{{"order":"{oid}","reason":"{reason}"}}'

    for oid, created, shipped in (("O1", t(10, 1), t(10, 10)), ("O2", t(10, 2), t(10, 18)),
                                  ("O3", t(10, 3), t(10, 12)), ("O4", t(10, 4), t(10, 10)),
                                  ("O5", t(10, 5), t(10, 11)), ("O6", t(10, 6), None), ("O7", t(10, 20), None),
                                  ("O8", t(10, 7), None), ("O9", t(10, 8), t(10, 14)), ("O10", t(10, 9), t(10, 15)),
                                  ("P1", t(9, 20), t(10, 12))):  # fmt: skip
        lifecycle(oid, created, shipped)
    held("O3", t(10, 3, 20), "stock_allocation")
    held("O9", t(10, 8, 20), "credit_check")
    r.append(event("O4", "return.received", t(10, 20), channel="shop", source="3pl", target="erp"))
    r.append(event("O5", "order.accepted", t(10, 5, 5), flow_id="acc", status="failed", channel="shop",
                   source="shop", target="erp", error_code="ERP-500"))  # fmt: skip
    r.append(event("O8", "order.cancelled", t(10, 7, 30), channel="shop", source="shop", target="erp"))
    r.append(event("O10", "order.accepted", t(10, 9, 5), flow_id="acc", status="failed", channel="shop",
                   source="shop", target="erp", error_code="STOCK-SHORT", event_id="O10-stock"))  # fmt: skip
    return r


#: (id, kind, linked order, [(action, actor, acted_at)]) — what operators did, or did not do.
SCOR_EXCEPTIONS = [
    (11, "delivery_failed", "O5", [("ack", "dana", t(10, 5, 30)), ("replay", "dana", t(10, 6))]),  # touched
    (12, "delivery_failed", "O10", [("resolve", "replay", t(10, 10))]),  # a replay's own resolve: not a person
    (13, "sla_breach", "O2", [("resolve", "detector", t(10, 19))]),  # the detector: not a person
    (14, "dead_letter", "O3", [("replay_request", "lee", t(10, 4))]),  # four-eyes request: touched
    (15, "delivery_failed", "O6", [("ack", "dana", t(10, 7)), ("assign", "dana", t(10, 7))]),  # triage only
    (16, "delivery_failed", "O7", [("replay", "sam", t(11, 2))]),  # after the period ended
]


@pytest.fixture(scope="module")
def scor_db(fresh_module):  # type: ignore[no-untyped-def]
    engine, writer = fresh_module()
    for system, kind in (("shop", "storefront"), ("erp", "erp"), ("3pl", "3pl")):
        add_system(engine, system, kind)
    for flow_id, start, end, sla, source, target in SCOR_FLOWS:
        add_flow(engine, flow_id, start, end, sla, source_system=source, target_system=target)
    writer.append("business_events", events_table(scor_rows()))
    exc, links, actions = [], [], []
    for xid, kind, oid, acts in SCOR_EXCEPTIONS:
        exc.append({"exception_id": xid, "fingerprint": f"fp{xid}", "kind": kind, "flow_id": "acc", "title": "x",
                    "severity": "high", "status": "open", "first_seen": t(10, 1), "last_seen": t(10, 1),
                    "occurrences": 1, "affected_orders": 1, "updated_at": t(10, 1)})  # fmt: skip
        links.append({"exception_id": xid, "correlation_id": oid})
        actions += [{"action_id": 10 * xid + i, "exception_id": xid, "action": action, "actor": actor,
                     "acted_at": at, "outcome": "ok"} for i, (action, actor, at) in enumerate(acts)]  # fmt: skip
    writer.append("exceptions", pa.Table.from_pylist(exc))
    writer.append("exception_orders", pa.Table.from_pylist(links))
    writer.append("exception_actions", pa.Table.from_pylist(actions))
    # Sam replayed O10's failed acceptance from the grid (the replays row is the record), and a
    # replay of O1's creation was asked for but rejected (not an intervention).
    writer.append("exception_messages", pa.Table.from_pylist([
        {"exception_id": 12, "event_id": "O10-stock", "correlation_id": "O10", "first_failed_at": t(10, 9, 5),
         "last_failed_at": t(10, 9, 5), "state": "delivered", "replays": 1},
        {"exception_id": 15, "event_id": "O1-created", "correlation_id": "O1", "first_failed_at": t(10, 1),
         "last_failed_at": t(10, 1), "state": "pending", "replays": 0},
    ]))  # fmt: skip
    writer.append("replays", pa.Table.from_pylist([
        {"replay_id": 1, "exception_id": 12, "event_id": "O10-stock", "status": "delivered", "requested_by": "sam",
         "requested_at": t(10, 9, 30)},
        {"replay_id": 2, "exception_id": 15, "event_id": "O1-created", "status": "rejected", "requested_by": "lee",
         "requested_at": t(10, 9, 30)},
    ]))  # fmt: skip
    yield engine
    engine.dispose()


def test_perfect_order_rate_counts_each_order_on_four_components(scor_db) -> None:  # type: ignore[no-untyped-def]
    frame = _frame(scor_db, "perfect_order_rate", None)
    # decided: O1–O6, O9, O10 = 8 (O7 not yet due, O8 cancelled, P1 created in the previous period)
    assert frame.loc[None, "n"] == 8
    assert frame.loc[None, "on_time"] == pytest.approx(6 / 8)  # not O2 (late), O6 (overdue)
    assert frame.loc[None, "in_full"] == pytest.approx(5 / 8)  # not O3 (stock hold), O6 (unshipped), O10 (STOCK)
    assert frame.loc[None, "damage_free"] == pytest.approx(7 / 8)  # not O4 (returned)
    assert frame.loc[None, "documents_right"] == pytest.approx(4 / 8)  # not O3, O5, O6, O10
    assert frame.loc[None, "share"] == pytest.approx(2 / 8)  # O1 and O9


def test_otif(scor_db) -> None:  # type: ignore[no-untyped-def]
    frame = _frame(scor_db, "otif", None)  # the perfect order query's otif column
    # on time and in full: O1, O4, O5, O9 of the 8 decided
    assert (frame.loc[None, "n"], frame.loc[None, "otif"]) == (8, pytest.approx(4 / 8))


def test_on_time_shipment_rate(scor_db) -> None:  # type: ignore[no-untyped-def]
    frame = _frame(scor_db, "on_time_shipment", None)
    # dispatched in W: O1, O2, O3, O4, O5, O9, O10 and P1 = 8; late: O2 (16 h), P1 (16 h)
    assert (frame.loc[None, "n"], frame.loc[None, "share"]) == (8, pytest.approx(6 / 8))


def test_manual_intervention_counts_what_operators_did(scor_db) -> None:  # type: ignore[no-untyped-def]
    frame = _frame(scor_db, "manual_intervention_rate", None)
    # created in W: O1–O10 = 10. Touched by a person: O5 (Dana's replay), O3 (Lee's four-eyes
    # request), O10 (Sam's replay, recorded in replays). Not: O10's resolve by the replay itself,
    # O2's by the detector, O6's ack/assign, O7's replay after the period, O1's rejected replay.
    assert (frame.loc[None, "n"], frame.loc[None, "share"]) == (10, pytest.approx(3 / 10))


def test_trend_is_each_kpi_over_equal_slices(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        trend = k.kpi_trend(conn, window=W, points=2)
    # W in halves [00:00, 12:00) and [12:00, 24:00): A1–A3 were created in the first (11, 14, 18 h)
    assert trend["order_cycle_time_p50_hours"] == [pytest.approx(14.0), None]
    assert trend["oversell_incidents"] == [1.0, 0.0]  # A7's STOCK failure at 09:00; none after: 0, not unknown
    assert "sync_lag_p50_seconds" not in trend  # no total: each flow's SLA is its target


def test_side_by_side_queries_give_the_sequential_numbers(db) -> None:  # type: ignore[no-untyped-def]
    """The scorecard runs its KPI queries two at a time on connections of their own: same numbers."""
    with db.connect() as conn:
        alone = k.kpi_breakdown(conn, window=W, group_by="channel")
        side = k.kpi_breakdown(conn, window=W, group_by="channel", engine=db)
        trend_alone = k.kpi_trend(conn, window=W, points=2)
        trend_side = k.kpi_trend(conn, window=W, points=2, engine=db)
    assert side == alone
    assert trend_side == trend_alone
    cycle = next(x for x in side["kpis"] if x["kpi"] == "order_cycle_time_p50_hours")
    assert {r["group"]: r["n"] for r in cycle["rows"]}, "the fixture has orders: a comparison of nothing proves nothing"
    assert trend_side["order_cycle_time_p50_hours"] == [pytest.approx(14.0), None]


def test_perfect_order_components_now_and_before(scor_db) -> None:  # type: ignore[no-untyped-def]
    with scor_db.connect() as conn:
        out = k.perfect_order_components(conn, window=W)
    got = {r["component"]: r["value"] for r in out["rows"]}
    # the same 8 decided orders as above: perfect 2, on time 6, in full 5, damage-free 7, documents 4
    assert got == pytest.approx({"perfect": 2 / 8, "on_time": 6 / 8, "in_full": 5 / 8, "damage_free": 7 / 8,
                                 "documents_right": 4 / 8})  # fmt: skip
    assert (out["n"], out["previous_n"]) == (8, 0)  # P1 (created 03-09) is not yet due at 03-10 00:00
    assert all(r["previous"] is None for r in out["rows"])
