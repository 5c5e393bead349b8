"""Throughput of ``collectors.events.parse_events``: NDJSON bytes to a business_events Arrow table.

Run: ``python -m bench.events_decode [--events N] [--repeat R]``. Reports the median of
R runs for a body of valid events (the fast path) and for one where every record is
invalid (each one goes through the pydantic fallback to get its error message).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import orjson

from collectors.events import parse_events

RECEIVED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_body(count: int, *, valid: bool = True) -> bytes:
    """NDJSON of realistic events: an order lifecycle step with a small payload each."""
    base = datetime(2024, 5, 1, 8, 0)
    lines = []
    for i in range(count):
        event = {
            "event_id": f"evt-{i:08d}",
            "correlation_id": f"SHP-{100000 + i // 5}",
            "event_type": ("order.created", "order.accepted", "order.released", "shipment.dispatched")[i % 4],
            "source": "shopify",
            "target": "d365",
            "flow_id": "storefront-erp-orders",
            "channel": "shopify",
            "occurred_at": (base + timedelta(seconds=i)).isoformat() + ".123+02:00",
            "status": "ok" if i % 10 else "failed",
            "attempt": 1 + i % 3,
            "trace_id": f"{i:032x}",
            "payload": {"order": {"id": i, "lines": [{"sku": "SKU-1", "qty": 2}], "total": 12.5}},
        }
        if not valid:
            event["occurred_at"] = "yesterday"
        lines.append(orjson.dumps(event))
    return b"\n".join(lines)


def measure(body: bytes, repeat: int) -> tuple[float, int, int]:
    """Median seconds per run, rows accepted and rows rejected."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        parsed = parse_events(body, content_type="application/x-ndjson", received_at=RECEIVED_AT)
        times.append(time.perf_counter() - start)
    return statistics.median(times), parsed.table.num_rows, len(parsed.rejected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for label, valid in (("valid (fast path)", True), ("invalid (pydantic fallback)", False)):
        body = make_body(args.events, valid=valid)
        seconds, accepted, rejected = measure(body, args.repeat)
        print(
            f"{label:28} {args.events} events, {len(body) / args.events:.0f} B/event: "
            f"{seconds / args.events * 1e6:.1f} µs/event, {args.events / seconds:,.0f} events/s "
            f"(accepted {accepted}, rejected {rejected})"
        )


if __name__ == "__main__":
    main()
