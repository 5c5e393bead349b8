"""`python -m bench [--scale small|10m]` runs the default set (bench.suite) and writes
bench/results/latest.{json,md}; `python -m bench NAME [ARGS...]` runs one older benchmark."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "suite": "the default set, every figure beside its same-run limit (latest.json / latest.md)",
    "readme": "regenerate README.md's performance table from bench/results/latest.json",
    "seed": "default demo seeding time and volumes",
    "ingest": "sustained NDJSON events/s and OTLP spans/s through a server, p99 under reads",
    "otlp_decode": "OTLP decode cost per span",
    "events_decode": "canonical event decode cost per event",
    "queries": "overview KPIs, timeline and detection at 10M events / 30M spans",
    "exceptions": "workbench grid pages over 100,000 exceptions; paced bulk replay of 1,000",
    "postgres": "Flowwatch on PostgreSQL: ingest, a 10k batch, overview KPIs and detection beside DuckDB (issue 16)",
}


def main() -> None:
    """Dispatch to ``bench.<name>.main`` with the remaining arguments."""
    if len(sys.argv) < 2 or (sys.argv[1].startswith("-") and sys.argv[1] not in ("-h", "--help")):
        sys.argv.insert(1, "suite")
    if sys.argv[1] not in BENCHMARKS:
        print("usage: python -m bench NAME [ARGS...]   (make bench ARGS='NAME ...')")
        for name, what in BENCHMARKS.items():
            print(f"  {name:<14} {what}")
        sys.exit(0 if sys.argv[1] in ("-h", "--help") else 2)
    name = sys.argv.pop(1)
    sys.argv[0] = f"bench.{name}"
    importlib.import_module(f"bench.{name}").main()


main()
