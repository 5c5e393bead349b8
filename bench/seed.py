"""Time the demo seed: ``python -m bench.seed [--days 30] [--orders-per-day 1500]``.

Seeds a fresh DuckDB file in a temporary folder (writes included) and prints the
elapsed seconds, rows per table and the checksum.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from models.ingest.writer import IngestWriter
from models.store.db import make_engine
from models.store.schema import create_schema
from seed_data import seed_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--orders-per-day", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    anchor = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench-seed.duckdb"
        engine = make_engine(path)
        create_schema(engine)
        report = seed_demo(
            engine,
            IngestWriter(engine),
            days=args.days,
            orders_per_day=args.orders_per_day,
            seed=args.seed,
            anchor=anchor,
        )
        engine.dispose()
        size_mb = path.stat().st_size / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"seeded {args.days} days x {args.orders_per_day} orders/day in {report.elapsed_seconds:.1f} s")
    for table, rows in report.counts.items():
        print(f"  {table:<18} {rows:>10,}")
    print(f"  orders             {report.orders:>10,}")
    print(f"file {size_mb:.0f} MB, peak RSS {peak_mb:.0f} MB, checksum {report.checksum}")


if __name__ == "__main__":
    main()
