"""Regenerate the README's performance table from ``bench/results/latest.json``.

Run: ``python -m bench readme`` after ``make bench``. Replaces what lies between the
``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers of README.md, so the README
never shows a figure without the machine, the date and the limit it was measured beside.
"""

from __future__ import annotations

from pathlib import Path

from bench.results import load, markdown

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def main() -> None:
    rows, meta = load()
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{markdown(rows, meta)}{END}{tail}")
    print(f"README.md: {len(rows)} rows from the run of {meta['measured_at']}")


if __name__ == "__main__":
    main()
