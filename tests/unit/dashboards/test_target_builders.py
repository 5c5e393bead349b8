"""Targets on the scorecard, built without a browser: tiles and table rows say the target and the
status in words, the change arrows follow the target's direction, sparklines, one unit per column,
and the period's exception aging (hand-computed)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pytest

from dashboards.components.format import fmt_in_unit
from dashboards.components.scorecard import change, headline_tiles, kpi_table
from dashboards.components.targets import fmt_target, input_unit, sparkline, targets_admin_table
from models.enums import Rag
from models.queries.common import Window
from models.queries.overview import exception_aging_in_period
from tests.dash_tree import having, props, text
from tests.factories import fresh_db
from tests.unit.dashboards.test_scorecard_builders import TOTALS

T = datetime(2026, 3, 10, 12, 0)
TARGETS: dict[str, dict[str, Any]] = {
    "perfect_order_rate": {"target": 0.95, "direction": "higher", "updated_by": None, "updated_at": T},
    "order_cycle_time_p50_hours": {"target": 8.0, "direction": "lower", "updated_by": "dana", "updated_at": T},
    "first_pass_sync_success": {"target": 0.99, "direction": "higher", "updated_by": None, "updated_at": T},
}
TREND = {"perfect_order_rate": [0.90, 0.93, 0.91], "order_cycle_time_p50_hours": [7.0, None, 6.0]}
EXCEPTIONS = {"open_total": 2, "critical": 0, "oldest_hours": 3.0, "mean_age_hours": 2.0}


def _tiles() -> dict[str, Any]:
    tiles = headline_tiles(TOTALS, EXCEPTIONS, period="7 days", targets=TARGETS, trend=TREND)
    return {props(t)["data-kpi"]: t for t in tiles}


def test_tiles_say_target_and_status_in_words_and_tone() -> None:
    tiles = _tiles()
    perfect = tiles["perfect_order_rate"]  # 91 % vs ≥ 95 %: short by 4 pp, inside the 9.5 pp amber band
    assert "Target ≥ 95.0%" in text(perfect) and "Near target" in text(perfect)
    assert props(having(perfect, "data-rag")[0])["data-rag"] == "amber"
    assert "tone-warning" in props(perfect)["className"]
    cycle = tiles["order_cycle_time"]  # 6 h vs ≤ 8 h
    assert "Target ≤ 8.0 h" in text(cycle) and "On target" in text(cycle) and "tone-ok" in props(cycle)["className"]
    first = tiles["first_pass_sync_success"]  # 95 % vs ≥ 99 %: 4 pp short, band is 9.9 pp → amber
    assert props(having(first, "data-rag")[0])["data-rag"] == "amber"
    sla = tiles["sla_adherence"]  # no target stored: neutral, says so
    assert "Target —" in text(sla) and "No data" in text(sla) and "tone-neutral" in props(sla)["className"]


def test_table_row_has_target_status_and_a_trend_listing_its_values() -> None:
    table = kpi_table(TOTALS, names={}, targets=TARGETS, trend=TREND)
    row = having(table, "data-metric", "perfect_order_rate")[0]
    assert text(row) == "Perfect order rate rate 91.0% 88.0% ▲ +3.0 pp ≥ 95.0% Near target"
    img = next(n for n in having(row, "alt"))
    assert props(img)["alt"] == "Perfect order rate rate trend: 90.0%, 93.0%, 91.0%"
    svg = unquote(props(img)["src"].split(",", 1)[1])
    assert svg.count("<polyline") == 1 and 'points="3.0,23.0 48.0,3.0 93.0,16.3"' in svg
    cycle = having(table, "data-metric", "order_cycle_time_p50_hours")[0]
    assert "≤ 8.0 h On target" in text(cycle)
    assert props(having(cycle, "data-rag")[0])["className"] == "rag rag-green"
    no_target = having(table, "data-metric", "sla_adherence")[0]
    assert text(no_target).endswith("— — —")


def test_grouped_cells_are_marked_with_their_status() -> None:
    breakdown = {"group_by": "channel", "not_applicable": [], "kpis": [{
        "kpi": "perfect_order_rate", "unit": "ratio", "label": "x", "group_by": "channel",
        "rows": [{"group": "shop", "value": 0.96, "previous": 0.95, "n": 10, "previous_n": 10},
                 {"group": "b2b", "value": 0.80, "previous": 0.90, "n": 10, "previous_n": 10}]}]}  # fmt: skip
    row = having(kpi_table(breakdown, names={}, targets=TARGETS), "data-metric", "perfect_order_rate")[0]
    # b2b 80 % is beyond the amber band (≥ 85.5 %): red; shop 96 % ≥ 95 %: green
    assert [props(c)["data-rag"] for c in having(row, "data-rag")] == ["red", "green"]
    assert "≥ 95.0%" in text(row)


def test_the_target_direction_decides_which_change_is_good() -> None:
    assert change("mttr_hours", "hours", 2.0, 4.0).tone == "good"  # MTTR falls: good by nature
    flipped = {"mttr_hours": {"target": 4.0, "direction": "higher"}}
    assert change("mttr_hours", "hours", 2.0, 4.0, flipped).tone == "bad"


def test_sparkline_needs_two_points() -> None:
    assert text(sparkline([0.9], unit="ratio", rag=Rag.GREEN, label="x")) == "—"
    assert text(sparkline([None, None], unit="ratio", rag=Rag.GREEN, label="x")) == "—"


@pytest.mark.parametrize(
    ("seconds", "per", "shown"),
    [(900, 3600.0, "0.25"), (86400, 3600.0, "24.0"), (259200, 3600.0, "72.0"), (360000, 3600.0, "100"),
     (None, 3600.0, "—"), (5400, 60.0, "90.0")],
)  # fmt: skip
def test_one_unit_per_column(seconds: float | None, per: float, shown: str) -> None:
    assert fmt_in_unit(seconds, per) == shown


def test_targets_and_the_admin_table() -> None:
    assert fmt_target("ratio", {"target": 0.95, "direction": "higher"}) == "≥ 95.0%"
    assert fmt_target("seconds", {"target": 300, "direction": "lower"}) == "≤ 5 min"
    assert fmt_target("hours", None) == "—"
    assert input_unit("perfect_order_rate") == ("%", 0.01) and input_unit("mttr_hours") == ("hours", 1.0)
    table = targets_admin_table(TARGETS)
    assert "targets file" in text(having(table, "data-metric", "perfect_order_rate")[0])
    assert "dana Mar 10 12:00 UTC" in text(having(table, "data-metric", "order_cycle_time_p50_hours")[0])
    assert text(having(table, "data-metric", "mttr_hours")[0]).endswith("— — —")


def test_aging_of_the_period_counts_exceptions_raised_in_it_by_time_open(tmp_path: Path) -> None:
    engine, writer = fresh_db(tmp_path)
    window = Window(datetime(2026, 3, 3), datetime(2026, 3, 10), 3600)

    def x(xid: int, first: datetime, resolved: datetime | None, severity: str) -> dict[str, Any]:
        return {"exception_id": xid, "fingerprint": f"f{xid}", "kind": "k", "title": "t", "severity": severity,
                "status": "resolved" if resolved else "open", "first_seen": first, "last_seen": first,
                "occurrences": 1, "affected_orders": 0, "resolved_at": resolved, "updated_at": first}  # fmt: skip

    writer.append("exceptions", pa.Table.from_pylist([
        x(1, datetime(2026, 3, 9, 23, 30), None, "high"),  # open 30 min at the end: <1h
        x(2, datetime(2026, 3, 9, 10), datetime(2026, 3, 9, 12), "high"),  # resolved in 2 h: 1–4h
        x(3, datetime(2026, 3, 4), datetime(2026, 3, 8), "critical"),  # 4 days: >3d
        x(4, datetime(2026, 3, 8), None, "low"),  # open since 2 days before the end: 1–3d
        x(5, datetime(2026, 3, 1), None, "critical"),  # raised before the period: not counted
    ]))  # fmt: skip
    with engine.connect() as conn:
        frame = exception_aging_in_period(conn, window=window)
    got = {(r.band, r.severity): r.exceptions for r in frame.itertuples()}
    assert got == {("<1h", "high"): 1, ("1–4h", "high"): 1, (">3d", "critical"): 1, ("1–3d", "low"): 1}
    engine.dispose()
