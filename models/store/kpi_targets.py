"""KPI targets: what good looks like for each scorecard metric, and the RAG rule that judges a value.

Targets ship as TOML (``default_kpi_targets.toml``, the demo distributor's) and are brought into
the ``kpi_targets`` table on start; an admin's edit (API or scorecard page) is kept over the
file's from then on. A target is in its metric's unit: ratios as 0–1, times in the unit the
metric's name ends with, counts as counts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.enums import Direction, Rag
from models.queries.kpis import METRIC_BY_NAME
from models.store.toml_files import read_toml_entries, repeated

DEFAULT_TARGETS_FILE = Path(__file__).with_name("default_kpi_targets.toml")
#: Amber band: a value worse than target by at most this share of the target.
TOLERANCE = 0.10
#: Float slack so a value exactly on a boundary (0.95 × 0.9) lands on the side the rule says.
_EPS = 1e-9


def rag_status(value: float | None, target: float, direction: Direction | str) -> Rag:
    """Green at or better than ``target``, amber within 10 % of it (relative), red beyond.

    "Better" follows ``direction``: for ``higher`` a value ≥ target is green and ≥ 0.9 × target
    amber; for ``lower`` ≤ target is green and ≤ 1.1 × target amber. No value is ``none``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Rag.NONE
    slack = abs(target) * TOLERANCE + _EPS
    if Direction(direction) is Direction.HIGHER:
        if value >= target - _EPS:
            return Rag.GREEN
        return Rag.AMBER if value >= target - slack else Rag.RED
    if value <= target + _EPS:
        return Rag.GREEN
    return Rag.AMBER if value <= target + slack else Rag.RED


def judged(report: dict[str, Any], targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``report`` (``kpi_report``/``kpi_breakdown``) with each metric's ``target`` and ``direction``, and
    each row's ``rag`` against it (``none`` without a target or a value); the report is not copied."""
    for entry in report["kpis"]:
        target = targets.get(entry["kpi"])
        entry["target"] = None if target is None else target["target"]
        entry["direction"] = None if target is None else str(target["direction"])
        for row in entry["rows"]:
            rag = Rag.NONE if target is None else rag_status(row["value"], target["target"], target["direction"])
            row["rag"] = str(rag)
    return report


class KpiTarget(BaseModel):
    """One metric's target and which way is better."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kpi: Annotated[str, Field(min_length=1, max_length=100, description="a metric name, e.g. perfect_order_rate")]
    target: Annotated[float, Field(ge=0, allow_inf_nan=False, description="in the metric's unit; ratios 0–1")]
    direction: Direction

    @field_validator("kpi")
    @classmethod
    def _known(cls, kpi: str) -> str:
        if kpi not in METRIC_BY_NAME:
            raise ValueError(f"unknown kpi {kpi!r}; one of: {', '.join(sorted(METRIC_BY_NAME))}")
        return kpi

    @model_validator(mode="after")
    def _in_range(self) -> KpiTarget:
        if METRIC_BY_NAME[self.kpi][1].unit == "ratio" and not 0 <= self.target <= 1:
            raise ValueError(f"target of {self.kpi} is a share: between 0 and 1 (0.95 means 95 %), not {self.target:g}")
        return self


class TargetsFileError(ValueError):
    """The targets file cannot be used; the message names the file and the entry."""


def load_targets_file(path: Path | None = None) -> list[KpiTarget]:
    """The ``[[targets]]`` of a TOML file (the demo's when ``path`` is None), each validated."""
    source = path or DEFAULT_TARGETS_FILE
    targets = read_toml_entries(source, "KPI targets file", "targets", KpiTarget, TargetsFileError,
                                name=lambda t: t.get("kpi"), whole="target")  # fmt: skip
    twice = repeated(t.kpi for t in targets)
    if twice:
        raise TargetsFileError(f"KPI targets file {source}: a kpi may have one target: {', '.join(twice)}")
    return targets
