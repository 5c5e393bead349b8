"""Partner page builders on hand-made inputs: units, trends, ranking, links, states."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import pytest

from dashboards.components.partners import (
    confirm_sla,
    fmt_measure,
    list_tiles,
    order_state,
    partner_exceptions,
    partner_flows,
    partner_heading,
    partner_list,
    partner_orders_table,
    partner_tiles,
    period_of,
    rank,
    trend,
)
from models.queries.partner_performance import MEASURE_BY_NAME
from tests.dash_tree import having, props, text, walk, with_class


def m(value: Any, previous: Any = None) -> dict[str, Any]:
    """One measure as partner_scorecards gives it."""
    change = None if value is None or previous is None else value - previous
    return {"value": value, "previous": previous, "change": change}


def _card(pid: str, kind: str, name: str, *, complete: float | None, errors: float | None, lag: float | None,
          orders: int = 0, value: float | None = None, opened: int = 0, open_now: int = 0,
          worst: str | None = None) -> dict[str, Any]:  # fmt: skip
    measures = {
        "confirmation_lag_p95_hours": m(lag, 10.0 if lag is not None else None),
        "event_completeness": m(complete, 0.9 if complete is not None else None),
        "error_rate": m(errors, errors),
        "orders_handled": m(orders, 100),
        "exceptions_opened": m(opened, 1),
    }
    if kind == "3pl":
        measures["value_handled"] = m(value, 1000.0)
    else:
        measures["asn_completeness"] = m(1.0, 1.0)
        measures["ack_cycle_time_p50_hours"] = m(8.5, 2.0)
    return {"partner": pid, "system_id": pid, "name": name, "kind": kind, "vendor": "V", "region": "north",
            "measures": measures, "open_exceptions": open_now, "worst_open_severity": worst}  # fmt: skip


CARDS = [
    _card("north", "3pl", "North", complete=0.99, errors=0.02, lag=19.0, orders=120, value=2500.0, opened=2,
          open_now=1, worst="critical"),
    _card("coast", "3pl", "Coast", complete=0.99, errors=0.05, lag=24.0, orders=80, value=900.0),
    _card("bright", "supplier", "Bright", complete=0.7, errors=0.0, lag=36.0, orders=12, opened=4, open_now=4,
          worst="medium"),
    _card("idle", "3pl", "Idle", complete=None, errors=None, lag=None),
    _card("acme", "supplier", "Acme", complete=1.0, errors=0.0, lag=6.0, orders=19),
]  # fmt: skip


def test_each_measure_keeps_one_unit() -> None:
    assert fmt_measure(MEASURE_BY_NAME["confirmation_lag_p95_hours"], 0.25) == "0.2 h"
    assert fmt_measure(MEASURE_BY_NAME["confirmation_lag_p95_hours"], 60.0) == "60.0 h", "never days in an hours column"
    assert fmt_measure(MEASURE_BY_NAME["event_completeness"], 2 / 3) == "66.7%"
    assert fmt_measure(MEASURE_BY_NAME["orders_handled"], 1201) == "1,201"
    assert fmt_measure(MEASURE_BY_NAME["value_handled"], 97567.45) == "$97,567"
    assert fmt_measure(MEASURE_BY_NAME["error_rate"], None) == "—"


@pytest.mark.parametrize(
    ("name", "value", "previous", "expected"),
    [
        ("confirmation_lag_p95_hours", 15.7, 6.0, ("▲", "+9.7 h", "bad")),
        ("confirmation_lag_p95_hours", 6.0, 15.7, ("▼", "−9.7 h", "good")),
        ("event_completeness", 2 / 3, 0.5, ("▲", "+16.7 pp", "good")),
        ("error_rate", 0.125, 0.0, ("▲", "+12.5 pp", "bad")),
        ("orders_handled", 3, 2, ("▲", "+1", "neutral")),
        ("value_handled", 170.5, 100.0, ("▲", "+$70", "neutral")),
        ("exceptions_opened", 2, 2, ("→", "no change", "flat")),
        ("ack_cycle_time_p50_hours", 8.5, None, ("", "no prior data", "none")),
    ],
)
def test_trend_judges_by_the_measures_direction(name: str, value: Any, previous: Any, expected: tuple) -> None:
    c = trend(MEASURE_BY_NAME[name], value, previous)
    assert (c.arrow, c.text, c.tone) == expected


def test_rank_puts_the_least_complete_first_then_errors_then_lag_and_no_data_last() -> None:
    # Bright 70 % first; North and Coast tie at 99 %: Coast's 5 % errors before North's 2 %; Acme 100 %; Idle no data.
    assert [c["partner"] for c in rank(CARDS)] == ["bright", "coast", "north", "acme", "idle"]


def test_list_links_each_partner_and_its_exceptions_and_says_na_where_a_measure_does_not_apply() -> None:
    table = partner_list(CARDS, period="30d")
    rows = {props(r)["data-partner"]: r for r in having(table, "data-partner")}
    assert list(rows) == ["bright", "coast", "north", "acme", "idle"]
    north = rows["north"]
    hrefs = [props(a)["href"] for a in having(north, "href")]
    assert hrefs == ["/partners/north?period=30d", "/exceptions?system=north"]
    assert text(with_class(north, "pt-rank")[0]) == "3"
    asn = [td for td in walk_tds(north) if text(td) == "n/a"]
    assert len(asn) == 2, "a 3PL has no ASN completeness and no ack cycle time"
    orders = having(north, "data-measure", "orders_handled")[0]
    assert text(orders) == "120 $2,500 ▲ +20"
    lag = having(rows["bright"], "data-measure", "confirmation_lag_p95_hours")[0]
    assert text(lag) == "36.0 h ▲ +26.0 h"
    assert props(with_class(lag, "sc-delta")[0])["data-tone"] == "bad"
    assert text(with_class(rows["bright"], "pt-open")[0]) == "medium  4 open"
    opened = having(rows["bright"], "data-measure", "exceptions_opened")[0]
    assert text(opened) == "medium  4 open 4 opened  ▲ +3", "4 opened against 1 the period before"
    assert text(partner_list([], period="7d")) == "No 3PLs or suppliers in the estate"


def walk_tds(component: Any) -> list[Any]:
    """Every table cell in the tree."""
    return [n for n in walk(component) if type(n).__name__ == "Td"]


def test_list_tiles_name_the_least_complete_and_the_slowest() -> None:
    tiles = {props(t)["data-kpi"]: t for t in list_tiles(CARDS, period="7d")}
    assert text(tiles["partners"]) == "Partners 5 3 3PLs · 2 suppliers"
    assert text(tiles["least_complete"]) == "Least complete 70.0% Bright: confirmations due that arrived"
    assert "tone-breach" in props(tiles["least_complete"])["className"]
    assert text(tiles["slowest"]) == "Slowest to confirm 36.0 h Bright · p95"
    assert text(tiles["orders"]) == "Orders to 3PLs 200 $3,400 of goods"
    assert text(tiles["pos"]) == "POs to suppliers 31 in the last 7 days"
    assert text(tiles["open"]) == "Open exceptions 5 1 partner with a critical one"


def test_partner_tiles_show_the_previous_period() -> None:
    tiles = {props(t)["data-kpi"]: t for t in partner_tiles(CARDS[2], period="7d")}
    assert list(tiles) == ["confirmation_lag_p95_hours", "event_completeness", "asn_completeness", "error_rate",
                           "ack_cycle_time_p50_hours", "orders_handled", "exceptions_opened"]  # fmt: skip
    assert text(tiles["ack_cycle_time_p50_hours"]) == "Ack cycle time p50 8.5 h ▲ +6.5 h vs 2.0 h the previous 7 days"
    assert text(tiles["orders_handled"]).startswith("POs handled 12")
    assert "tone-warning" in props(tiles["event_completeness"])["className"], "70 % after 90 % is bad news"
    idle = {props(t)["data-kpi"]: t for t in partner_tiles(CARDS[3], period="30d")}
    assert text(idle["event_completeness"]) == "Event completeness — no data for the previous 30 days"
    assert "tone-idle" in props(idle["event_completeness"])["className"]


def test_heading_says_what_the_partner_does() -> None:
    assert partner_heading(CARDS[0]) == (
        "North", "3PL · V · north region — ships our released orders and confirms each shipment"
    )  # fmt: skip


FLOWS = [
    {"flow_id": "erp-north", "name": "ERP → North release", "source_system": "erp", "target_system": "north",
     "start_event": "order.accepted", "end_event": "order.released", "sla_seconds": 7200, "health": "healthy",
     "sync_lag_p95_seconds": 1800.0, "steps_last_hour": 5, "deliveries_last_hour": 6, "failures_last_hour": 0,
     "open_exceptions": 0},
    {"flow_id": "north-erp", "name": "North → ERP shipment", "source_system": "north", "target_system": "erp",
     "start_event": "order.released", "end_event": "shipment.dispatched", "sla_seconds": 28800, "health": "failing",
     "sync_lag_p95_seconds": 36000.0, "steps_last_hour": 4, "deliveries_last_hour": 5, "failures_last_hour": 1,
     "open_exceptions": 1},
    {"flow_id": "shop-erp", "name": "Shop → ERP", "source_system": "shop", "target_system": "erp",
     "start_event": "order.created", "end_event": "order.accepted", "sla_seconds": 900, "health": "healthy",
     "sync_lag_p95_seconds": 60.0, "steps_last_hour": 1, "deliveries_last_hour": 1, "failures_last_hour": 0,
     "open_exceptions": 0},
]  # fmt: skip


def test_flows_of_the_partner_with_their_health() -> None:
    listing = partner_flows(FLOWS, "north")
    items = having(listing, "data-flow")
    assert [props(i)["data-flow"] for i in items] == ["erp-north", "north-erp"]
    assert text(items[1]) == (
        "Failing North → ERP shipment lag p95 10.0 h of 8.0 h SLA · 5 deliveries, 1 failed · 1 open exception"
    )
    assert props(having(items[1], "href")[0])["href"] == "/flows?flow=north-erp"
    assert text(partner_flows(FLOWS, "nobody")) == "No flow goes to or from this partner"


def test_confirm_sla_is_the_step_the_partner_confirms() -> None:
    assert confirm_sla(FLOWS, "north", "3pl") == 28800.0
    assert confirm_sla(FLOWS, "acme", "supplier") is None


def test_exceptions_open_in_the_workbench_filtered_by_the_partner() -> None:
    items = [{"exception_id": 10, "title": "12 messages dead-lettered", "severity": "critical",
              "status": "acknowledged", "age_seconds": 2.1 * 86400, "affected_orders": 3}]  # fmt: skip
    listing = partner_exceptions(items, total=3, partner="north")
    assert [props(a)["href"] for a in having(listing, "href")] == [
        "/exceptions?system=north&id=10", "/exceptions?system=north",
    ]  # fmt: skip
    assert text(listing) == (
        "critical 12 messages dead-lettered #10 · acknowledged · open 2.1 d · 3 orders All 3 in the workbench →"
    )
    empty = partner_exceptions([], total=0, partner="acme")
    assert text(empty) == "No open exceptions for this partner Open the workbench →"


T = datetime(2026, 3, 4, 10, 0)


def test_order_state_waits_then_is_overdue_past_the_sla() -> None:
    base = {"confirmed_at": pd.NaT, "cancelled": False}
    assert order_state({**base, "waited_seconds": 3600.0}, 28800.0) == ("warning", "Waiting")
    assert order_state({**base, "waited_seconds": 30000.0}, 28800.0) == ("breach", "Overdue")
    assert order_state({**base, "waited_seconds": 30000.0}, None) == ("warning", "Waiting")
    assert order_state({"confirmed_at": T, "cancelled": False, "waited_seconds": 1.0}, 1.0) == ("ok", "Confirmed")
    assert order_state({**base, "cancelled": True, "waited_seconds": 9e9}, 1.0) == ("idle", "Cancelled")


def test_orders_table_links_timelines_with_hours_waited() -> None:
    frame = pd.DataFrame([
        {"correlation_id": "A3", "handed_at": T, "confirmed_at": pd.NaT, "asn_at": pd.NaT, "order_value": 20.0,
         "cancelled": False, "waited_seconds": 18 * 3600.0},
        {"correlation_id": "A1", "handed_at": T, "confirmed_at": datetime(2026, 3, 4, 20, 0), "asn_at": pd.NaT,
         "order_value": 100.0, "cancelled": False, "waited_seconds": 10 * 3600.0},
    ])  # fmt: skip
    table = partner_orders_table(frame, kind="3pl", sla_seconds=8 * 3600)
    rows = having(table, "data-order")
    assert text(rows[0]) == "A3 Mar 4 10:00 — $20 18.0 h Overdue"
    assert text(rows[1]) == "A1 Mar 4 10:00 Mar 4 20:00 $100 10.0 h Confirmed"
    assert props(having(rows[0], "href")[0])["href"] == "/orders?id=A3"
    heads = [text(th) for th in having(table, "className") if type(th).__name__ == "Th"]
    assert "Waited (h)" in heads
    supplier = partner_orders_table(frame.head(1), kind="supplier", sla_seconds=None)
    assert "ASN (856)" in text(supplier) and "$20" not in text(supplier)
    assert text(partner_orders_table(frame.head(0), kind="supplier", sla_seconds=None)) == (
        "No purchase orders handed to this partner in the period"
    )


def test_unknown_periods_fall_back_to_the_default() -> None:
    assert (period_of("30d"), period_of("1y"), period_of(None)) == ("30d", "7d", "7d")
