"""Benchmark result rows, each beside the limit measured in the same run, and their report files.

A row is ``{scenario, metric, value, unit, limit, ratio}``: ``limit`` is the reference the
same run measured (DuckDB's bare Arrow append, a bare protobuf parse, msgspec, the bare
indexed reads...) and ``ratio`` Flowwatch's figure as a fraction of it, 1.0 being the limit
(throughput ÷ limit, or limit latency ÷ Flowwatch latency). Ratios are what hold from one
machine to another; absolute figures on a shared 2-core box swing by up to 1.7x.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


@dataclass
class Row:
    """One measured figure and its same-run limit."""

    scenario: str
    metric: str
    value: float
    unit: str
    limit: float | None = None
    ratio: float | None = None
    target: str = ""
    note: str = ""


def throughput(scenario: str, metric: str, value: float, unit: str, limit: float | None, **kw: str) -> Row:
    """A rate (more is better): ratio = value / limit."""
    return Row(scenario, metric, value, unit, limit, value / limit if limit else None, **kw)


def latency(scenario: str, metric: str, value: float, unit: str, limit: float | None, **kw: str) -> Row:
    """A time (less is better): ratio = limit / value."""
    return Row(scenario, metric, value, unit, limit, limit / value if limit and value else None, **kw)


def plain(scenario: str, metric: str, value: float, unit: str, **kw: str) -> Row:
    """A figure with no meaningful limit (peak RSS, file size, p99 against an absolute target)."""
    return Row(scenario, metric, value, unit, **kw)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (inclusive method); a single sample is its own percentile."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass
class Run:
    """Every row of one run, with the machine it ran on."""

    scale: str
    rows: list[Row] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: 1-minute load average when the run started: on a shared machine it says how far the
    #: absolute figures may be off (the ratios hold better: each pair ran back to back).
    load_at_start: float = field(default_factory=lambda: os.getloadavg()[0])

    def add(self, *rows: Row) -> None:
        for row in rows:
            self.rows.append(row)
            print(f"  {_line(row)}", flush=True)

    def machine(self) -> str:
        cpu = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        load = f"load average {self.load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
        return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, Python {platform.python_version()}; {load}"

    def write(self, folder: Path = RESULTS, name: str = "latest") -> Path:
        """``latest.json`` (the rows), ``latest.meta.json`` (machine, date, scale) and ``latest.md``
        (the table the README shows, see ``bench.readme``)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps([_rounded(asdict(r)) for r in self.rows], indent=1) + "\n")
        meta = {"measured_at": f"{self.started:%Y-%m-%d %H:%M} UTC", "machine": self.machine(), "scale": self.scale}
        (folder / f"{name}.meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        (folder / f"{name}.md").write_text(markdown(self.rows, meta))
        return folder / f"{name}.md"


def load(folder: Path = RESULTS, name: str = "latest") -> tuple[list[Row], dict[str, str]]:
    """The rows and run metadata a previous ``Run.write(name=name)`` left."""
    rows = [Row(**r) for r in json.loads((folder / f"{name}.json").read_text())]
    return rows, json.loads((folder / f"{name}.meta.json").read_text())


def markdown(rows: list[Row], meta: dict[str, str]) -> str:
    """The results table: each figure with its same-run limit, ratio and target."""
    lines = [
        f"Measured {meta['measured_at']} on {meta['machine']}; scale `{meta['scale']}`. "
        "Limit = the reference measured in the same run; ratio 1.0 = at the limit.",
        "",
        "| scenario | metric | Flowwatch | limit (same run) | ratio | target | note |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        limit = "" if r.limit is None else f"{_fmt(r.limit)} {r.unit}"
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append(
            f"| {r.scenario} | {r.metric} | {_fmt(r.value)} {r.unit} | {limit} | {ratio} | {r.target} | {r.note} |"
        )
    return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _rounded(row: dict[str, object]) -> dict[str, object]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


def _line(row: Row) -> str:
    limit = "" if row.limit is None else f"  limit {_fmt(row.limit)}"
    ratio = "" if row.ratio is None else f"  ratio {row.ratio:.2f}"
    return f"{row.scenario:<26} {row.metric:<28} {_fmt(row.value):>10} {row.unit}{limit}{ratio}"
