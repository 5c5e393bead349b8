"""KPI targets: the RAG rule in both directions (every boundary worked out by hand), the shipped
defaults, a bad targets file, and the sync that keeps an admin's edit over the file's."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from models.enums import Direction, Rag
from models.queries.kpi_targets import list_targets, save_target, sync_config_targets
from models.queries.kpis import METRIC_BY_NAME
from models.store.kpi_targets import DEFAULT_TARGETS_FILE, TargetsFileError, judged, load_targets_file, rag_status
from tests.factories import fresh_db

T0 = datetime(2026, 3, 10, 9, 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.97, Rag.GREEN),  # better than 0.95
        (0.95, Rag.GREEN),  # at target
        (0.90, Rag.AMBER),  # 0.05 short; the amber band reaches 0.95 − 0.095 = 0.855
        (0.855, Rag.AMBER),  # exactly on the amber edge
        (0.85, Rag.RED),  # 0.10 short: beyond 10 % of 0.95
        (0.0, Rag.RED),
        (None, Rag.NONE),
        (float("nan"), Rag.NONE),
    ],
)
def test_rag_when_higher_is_better(value: float | None, expected: Rag) -> None:
    assert rag_status(value, 0.95, Direction.HIGHER) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (6.0, Rag.GREEN),  # faster than 8 h
        (8.0, Rag.GREEN),  # at target
        (8.5, Rag.AMBER),  # 0.5 h over; the amber band reaches 8 + 0.8 = 8.8 h
        (8.8, Rag.AMBER),  # exactly on the amber edge
        (8.81, Rag.RED),
        (12.0, Rag.RED),
        (None, Rag.NONE),
    ],
)
def test_rag_when_lower_is_better(value: float | None, expected: Rag) -> None:
    assert rag_status(value, 8.0, "lower") is expected


def test_rag_of_a_zero_target_has_no_amber_band() -> None:
    # 10 % of nothing is nothing: any incident against a target of none is red
    assert rag_status(0, 0, Direction.LOWER) is Rag.GREEN
    assert rag_status(1, 0, Direction.LOWER) is Rag.RED


def test_the_shipped_defaults_cover_every_metric() -> None:
    targets = {t.kpi: t for t in load_targets_file()}
    assert set(targets) == set(METRIC_BY_NAME)
    assert targets["perfect_order_rate"].target == 0.95
    assert targets["perfect_order_rate"].direction is Direction.HIGHER
    assert targets["order_cycle_time_p50_hours"].direction is Direction.LOWER
    assert DEFAULT_TARGETS_FILE.name == "default_kpi_targets.toml"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[targets]]\nkpi = "nope"\ntarget = 1\ndirection = "lower"\n', "target 1 (nope): kpi: unknown kpi 'nope'"),
        (
            '[[targets]]\nkpi = "sla_adherence"\ntarget = 95\ndirection = "higher"\n',
            "target: target of sla_adherence is a share: between 0 and 1",
        ),
        ('[[targets]]\nkpi = "mttr_hours"\ntarget = -1\ndirection = "lower"\n', "target: Input should be greater"),
        ('[[targets]]\nkpi = "mttr_hours"\ntarget = 4\ndirection = "down"\n', "direction: Input should be"),
        ('[[targets]]\nkpi = "mttr_hours"\ntarget = 4\ndirection = "lower"\n' * 2, "one target: mttr_hours"),
        ("[target]\nkpi = 1\n", "unknown key target"),
        ("targets = [", "not valid TOML"),
    ],
)
def test_a_bad_targets_file_names_the_entry(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "targets.toml"
    path.write_text(body)
    with pytest.raises(TargetsFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_targets_file(path)


def test_sync_adds_refreshes_removes_but_keeps_an_admin_edit(tmp_path: Path) -> None:
    engine, _writer = fresh_db(tmp_path)
    file = [
        {"kpi": "mttr_hours", "target": 4.0, "direction": "lower"},
        {"kpi": "sla_adherence", "target": 0.98, "direction": "higher"},
        {"kpi": "oversell_incidents", "target": 5.0, "direction": "lower"},
    ]
    with engine.begin() as conn:
        assert sync_config_targets(conn, file, now=T0) == {"added": 3, "refreshed": 0, "removed": 0}
        save_target(conn, "sla_adherence", target=0.9, direction="higher", origin="config", now=T0, by="dana")
    changed = [
        {"kpi": "mttr_hours", "target": 6.0, "direction": "lower"},  # refreshed: nobody edited it
        {"kpi": "sla_adherence", "target": 0.99, "direction": "higher"},  # Dana's 0.9 stays
    ]  # oversell_incidents is gone from the file: removed
    with engine.begin() as conn:
        assert sync_config_targets(conn, changed, now=T0) == {"added": 0, "refreshed": 1, "removed": 1}
        stored = list_targets(conn)
    assert {k: (v["target"], v["updated_by"]) for k, v in stored.items()} == {
        "mttr_hours": (6.0, None),
        "sla_adherence": (0.9, "dana"),
    }
    engine.dispose()


def test_a_report_is_judged_row_by_row_against_its_targets() -> None:
    report = {"kpis": [
        {"kpi": "perfect_order_rate", "rows": [{"group": "shop", "value": 0.96}, {"group": "b2b", "value": 0.8}]},
        {"kpi": "mttr_hours", "rows": [{"group": None, "value": 4.2}]},
        {"kpi": "sla_adherence", "rows": [{"group": None, "value": 0.99}]},
    ]}  # fmt: skip
    targets = {"perfect_order_rate": {"target": 0.95, "direction": "higher"},
               "mttr_hours": {"target": 4.0, "direction": Direction.LOWER}}  # fmt: skip
    out = judged(report, targets)
    perfect, mttr, sla = out["kpis"]
    assert (perfect["target"], perfect["direction"]) == (0.95, "higher")
    assert [r["rag"] for r in perfect["rows"]] == ["green", "red"]  # 80 % is below the 85.5 % amber edge
    assert mttr["rows"][0]["rag"] == "amber" and mttr["direction"] == "lower"  # 4.2 h ≤ 4.4 h
    assert (sla["target"], sla["rows"][0]["rag"]) == (None, "none")
