"""Regenerate the README's performance tables from ``bench/results/``.

Run: ``python -m bench readme`` after ``make bench`` (and ``--scale 10m``, ``python -m bench
postgres``). Each result file's table replaces what lies between its pair of README markers
(``<!-- bench:start -->`` / ``<!-- bench:end -->`` for ``latest.json``, ``bench-10m`` for
``latest-10m.json``, ``bench-pg`` for ``postgres.json``), so the README never shows a figure
without the machine, the date and the limit it was measured beside.
"""

from __future__ import annotations

from pathlib import Path

from bench.results import RESULTS, load, markdown

README = Path(__file__).resolve().parent.parent / "README.md"
#: result file → the README markers its table goes between
TABLES = {"latest": "bench", "latest-10m": "bench-10m", "postgres": "bench-pg"}


def main() -> None:
    text = README.read_text()
    for name, marker in TABLES.items():
        if not (RESULTS / f"{name}.json").exists():
            continue
        start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
        rows, meta = load(name=name)
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{markdown(rows, meta)}{end}{tail}"
        print(f"README.md: {len(rows)} rows of {name} from the run of {meta['measured_at']}")
    README.write_text(text)


if __name__ == "__main__":
    main()
