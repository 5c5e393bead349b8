"""Scorecard builders on hand-made reports: which way is good news, tables, partners against SLAs."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from dashboards.components.scorecard import (
    change,
    confirm_slas,
    flow_sla_table,
    headline_tiles,
    kpi_table,
    lower_is_better,
    partner_table,
    system_names,
)
from models.queries.kpis import KPIS
from models.queries.scorecard import METRICS
from tests.dash_tree import having, props, text, with_class


def _row(value: Any, previous: Any, group: str | None = None, n: int = 100) -> dict[str, Any]:
    return {"group": group, "value": value, "previous": previous, "n": n, "previous_n": n}


def _entry(metric: str, unit: str, *rows: dict[str, Any], group_by: str | None = None) -> dict[str, Any]:
    return {"kpi": metric, "label": "x", "unit": unit, "group_by": group_by, "rows": list(rows)}


TOTALS = {
    "group_by": None,
    "not_applicable": ["sync_lag"],
    "kpis": [
        _entry("order_cycle_time_p50_hours", "hours", _row(6.0, 8.0)),
        _entry("order_cycle_time_p95_hours", "hours", _row(18.0, 17.0)),
        _entry("first_pass_sync_success", "ratio", _row(0.95, 0.97)),
        _entry("sla_adherence", "ratio", _row(0.99, 0.99)),
        _entry("mttr_hours", "hours", _row(2.0, None, n=3)),
        _entry("perfect_order_rate", "ratio", _row(0.91, 0.88)),
        _entry("oversell_incidents", "orders"),
    ],
}
FLOWS = pd.DataFrame({
    "flow_id": ["shop-erp", "erp-3pl", "3pl-erp", "erp-sup", "sup-erp"],
    "name": ["Shop → ERP orders", "ERP → 3PL release", "3PL → ERP shipment", "ERP → Acme PO", "Acme → ERP ASN"],
    "source_system": ["shop", "erp", "3pl", "erp", "sup"],
    "source_name": ["Web shop", "Main ERP", "NorthStar", "Main ERP", "Acme Industrial"],
    "target_system": ["erp", "3pl", "erp", "sup", "erp"],
    "target_name": ["Main ERP", "NorthStar", "Main ERP", "Acme Industrial", "Main ERP"],
    "start_event": ["order.created", "order.accepted", "order.released", "po.sent", "po.acknowledged"],
    "end_event": ["order.accepted", "order.released", "shipment.dispatched", "po.acknowledged", "asn.received"],
    "sla_seconds": [900, 7200, 86400, 14400, 259200],
})  # fmt: skip


def test_every_kpi_and_partner_metric_has_a_direction() -> None:
    metrics = [m.name for k in KPIS for m in k.metrics] + list(METRICS)
    assert all(isinstance(lower_is_better(m), bool) for m in metrics)
    assert lower_is_better("order_cycle_time_p95_hours") and lower_is_better("error_rate")
    assert not lower_is_better("perfect_order_rate") and not lower_is_better("asn_completeness")
    with pytest.raises(KeyError):
        lower_is_better("happiness")


def test_a_shorter_cycle_time_points_down_in_green() -> None:
    c = change("order_cycle_time_p50_hours", "hours", 6.0, 8.0)
    assert (c.arrow, c.text, c.tone) == ("▼", "−25%", "good")
    worse = change("order_cycle_time_p95_hours", "hours", 18.0, 17.0)
    assert (worse.arrow, worse.tone) == ("▲", "bad"), "a longer cycle time is bad news"


def test_a_lower_success_rate_points_down_in_red_in_points() -> None:
    c = change("first_pass_sync_success", "ratio", 0.95, 0.97)
    assert (c.arrow, c.text, c.tone) == ("▼", "−2.0 pp", "bad")
    assert change("perfect_order_rate", "ratio", 0.91, 0.88).tone == "good"


def test_more_errors_is_bad_and_more_oversells_too() -> None:
    assert change("error_rate", "ratio", 0.02, 0.01).tone == "bad"
    c = change("oversell_incidents", "orders", 5, 2)
    assert (c.arrow, c.text, c.tone) == ("▲", "+3", "bad")


def test_flat_and_unknown_changes_are_neither_green_nor_red() -> None:
    assert change("sla_adherence", "ratio", 0.9901, 0.99).tone == "flat"
    assert change("mttr_hours", "hours", 2.0, None).text == "no prior data"
    assert change("mttr_hours", "hours", None, None).tone == "none"
    from_zero = change("event_delivery_lag_p95_seconds", "seconds", 30.0, 0.0)
    assert (from_zero.text, from_zero.tone) == ("+30 s", "bad")


def test_headline_tiles_carry_value_change_and_exceptions_now() -> None:
    tiles = headline_tiles(TOTALS, {"open_total": 12, "critical": 1, "oldest_hours": 140.0, "mean_age_hours": 30.0},
                           period="7 days")  # fmt: skip
    by_key = {props(t)["data-kpi"]: t for t in tiles}
    assert list(by_key) == ["perfect_order_rate", "order_cycle_time", "sla_adherence", "first_pass_sync_success",
                            "mttr", "exception_aging"]  # fmt: skip
    cycle = by_key["order_cycle_time"]
    assert text(with_class(cycle, "tile-value")) == "6.0 h"
    assert props(having(cycle, "data-tone")[0])["data-tone"] == "good"
    assert "▼ −25%  vs previous 7 days" in text(cycle) and "p95 18.0 h" in text(cycle)
    assert props(having(by_key["first_pass_sync_success"], "data-tone")[0])["data-arrow"] == "▼"
    assert props(having(by_key["mttr"], "data-tone")[0])["data-tone"] == "none"
    aging = by_key["exception_aging"]
    assert text(with_class(aging, "tile-value")) == "12" and "tone-breach" in props(aging)["className"]
    assert "oldest 5.8 d" in text(aging)


def test_kpi_table_totals_one_row_per_metric_with_counts_as_zero() -> None:
    table = kpi_table(TOTALS, names={})
    rows = having(table, "data-metric")
    assert [props(r)["data-metric"] for r in rows] == [e["kpi"] for e in TOTALS["kpis"]]
    cycle = text(rows[0])
    assert cycle == "Order cycle time (created → shipped) p50 6.0 h 8.0 h ▼ −25% — — —", "no target, no trend"
    assert text(rows[1]).startswith("p95"), "a KPI's label is written once"
    assert text(rows[-1]) == "Oversell incidents (orders) count 0 0 → no change — — —"
    assert "Not measured as one total (see the flows below): Sync lag per flow step" in text(table)


def test_kpi_table_by_channel_has_a_column_per_channel() -> None:
    breakdown = {
        "group_by": "channel",
        "not_applicable": ["sla_adherence"],
        "kpis": [_entry("perfect_order_rate", "ratio", _row(0.9, 0.95, "shop"), _row(0.97, 0.96, "b2b"),
                        group_by="channel"),
                 _entry("event_delivery_lag_p95_seconds", "seconds", _row(2.0, 2.0, None), group_by="channel")],
    }  # fmt: skip
    table = kpi_table(breakdown, names={"shop": "Web shop (Shopify)", "b2b": "B2B portal"})
    assert text(table.children[0].children[0]) == "KPI Target B2B portal Web shop no channel"
    assert "not released yet" in text(kpi_table({**breakdown, "group_by": "fulfiller"}, names={}))
    perfect = having(table, "data-metric", "perfect_order_rate")[0]
    assert [props(n)["data-tone"] for n in having(perfect, "data-tone")] == ["good", "bad", "none"]
    assert "Not measured per channel: SLA adherence" in text(table)


def _by_flow() -> dict[str, Any]:
    return {"group_by": "flow", "not_applicable": [], "kpis": [
        _entry("sync_lag_p95_seconds", "seconds", _row(1800.0, 600.0, "shop-erp"), _row(3600.0, 4000.0, "erp-3pl")),
        _entry("sla_adherence", "ratio", _row(0.8, 0.9, "shop-erp"), _row(0.99, 0.98, "erp-3pl")),
        _entry("first_pass_sync_success", "ratio", _row(0.99, 0.99, "shop-erp")),
    ]}  # fmt: skip


def test_flows_furthest_over_their_sla_come_first_and_say_so() -> None:
    table = flow_sla_table(_by_flow(), FLOWS)
    rows = having(table, "data-flow")
    assert [props(r)["data-flow"] for r in rows][:2] == ["shop-erp", "erp-3pl"]
    first = rows[0]
    # one unit per column: SLA and p95 in hours (15 min = 0.25 h, 30 min = 0.50 h)
    assert text(first).startswith("Shop → ERP orders 0.25 0.50 ▲ +200% 80.0% ▼ −10.0 pp")
    assert "SLA, target (h)" in text(table) and "Sync lag p95 (h)" in text(table)
    assert with_class(first, "cell-breach") and "Over SLA" in text(first)
    assert "Within SLA" in text(rows[1]) and "No steps" in text(rows[-1])


def test_partners_are_judged_against_the_sla_of_the_step_they_confirm() -> None:
    slas = confirm_slas(FLOWS)
    assert slas == {"3pl": 86400.0, "sup": 14400.0}
    scorecard = [
        {"partner": "3pl", "name": "NorthStar", "kind": "3pl", "metrics": {
            "confirmation_lag_p95_hours": {"value": 30.0, "previous": 20.0},
            "event_completeness": {"value": 0.99, "previous": 0.99},
            "error_rate": {"value": 0.02, "previous": 0.01}}},
        {"partner": "sup", "name": "Acme Industrial", "kind": "supplier", "metrics": {
            "confirmation_lag_p95_hours": {"value": 3.0, "previous": 5.0},
            "event_completeness": {"value": 1.0, "previous": None},
            "asn_completeness": {"value": 0.5, "previous": 1.0},
            "error_rate": {"value": 0.0, "previous": 0.0}}},
    ]  # fmt: skip
    three_pl = partner_table(scorecard, "3pl", slas)
    row = having(three_pl, "data-partner", "3pl")[0]
    assert text(row).startswith("NorthStar 30.0 SLA 24.0 ▲ +50%"), "hours, said once in the header"
    assert "Shipment confirmation p95 (h)" in text(three_pl)
    assert with_class(row, "cell-breach"), "30 h is over the 24 h shipment SLA"
    assert [props(n)["data-tone"] for n in having(row, "data-tone")] == ["bad", "flat", "bad"]
    suppliers = partner_table(scorecard, "supplier", slas)
    assert "ASN completeness" in text(suppliers) and "ASN" not in text(three_pl)
    acme = having(suppliers, "data-partner", "sup")[0]
    assert with_class(acme, "cell-ok") and "50.0%" in text(acme)
    assert text(partner_table([], "3pl", slas)) == "No 3PLs configured"


def test_system_names_come_from_both_ends_of_the_flows() -> None:
    assert system_names(FLOWS) == {"shop": "Web shop", "erp": "Main ERP", "3pl": "NorthStar", "sup": "Acme Industrial"}
