"""The live demo's traffic model: deterministic, lifecycle in order, failures as designed."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from collectors.events import validate_events
from collectors.live_traffic import STAGES, LiveTraffic, first_order_number, payload
from seed_data.distributor import ORDER_NUMBERS

HOURS = 3600.0


def _traffic(seed: int = 5, **over: object) -> LiveTraffic:
    options = {"orders_per_minute": 60.0, "first_number": first_order_number(1_780_000_000), "start": 0.0,
               "pace": 0.1} | over  # fmt: skip
    return LiveTraffic(seed=seed, **options)


def _signature(traffic: LiveTraffic, until: float) -> list[tuple]:
    return [(d.order.number, d.stage, d.attempt, d.status, round(d.at, 6), d.durations_ms) for d in traffic.due(until)]


def test_same_seed_same_traffic_however_it_is_polled() -> None:
    whole = _signature(_traffic(), 600)
    ticked = _traffic()
    in_ticks = [row for t in range(1, 601) for row in _signature(ticked, float(t))]
    assert whole == in_ticks and len(whole) > 1000
    assert _signature(_traffic(seed=6), 600) != whole


def test_numbers_start_far_above_the_seeded_ranges() -> None:
    assert first_order_number(1_780_000_000) == 9_800_000_000
    numbers = {d.order.number for d in _traffic().due(600)}
    prefixes = {n.split("-")[0] + "-" for n in numbers}
    assert prefixes == {p for p, _ in ORDER_NUMBERS.values()}
    assert min(int(n.split("-")[1]) for n in numbers) == 9_800_000_000


def test_every_order_walks_its_lifecycle_in_order() -> None:
    stages: dict[str, list[str]] = defaultdict(list)
    times: dict[str, list[float]] = defaultdict(list)
    for d in _traffic().due(2 * HOURS):
        if d.status == "ok":
            stages[d.order.number].append(d.stage)
            times[d.order.number].append(d.at)
    for number, seen in stages.items():
        assert list(seen) == list(STAGES[: len(seen)]), number
        assert times[number] == sorted(times[number])
    complete = sum(seen == list(STAGES) for seen in stages.values())
    assert complete > 0.85 * len(stages)  # the rest failed for good or are still in flight


def test_failures_are_a_few_per_cent_with_realistic_codes() -> None:
    deliveries = _traffic().due(3 * HOURS)
    first = [d for d in deliveries if d.attempt == 1]
    failed = Counter((d.stage, d.status, d.error[0]) for d in first if d.status != "ok")
    assert set(failed) == {
        ("created", "failed", "VAL-SKU"),
        ("created", "failed", "VAL-ADDR"),
        ("created", "retrying", "ERP-429"),
        ("released", "failed", "3PL-502"),
        ("released", "failed", "WMS-503"),
        ("dispatched", "dead_lettered", "3PL-503"),
    }
    assert 0.01 < sum(failed.values()) / len(first) < 0.05
    # Throttled and failed releases are retried and succeed; validation failures stay failed.
    retried = {(d.order.number, d.stage) for d in deliveries if d.attempt == 2}
    assert all(d.status == "ok" for d in deliveries if d.attempt == 2)
    pending = {(d.order.number, d.stage) for d in first if d.status == "retrying" and d.at < 2 * HOURS}
    assert pending <= retried
    assert not {(d.order.number, "created") for d in first if d.error and d.error[0].startswith("VAL")} & retried


def test_failing_deliveries_stop_at_their_failing_span() -> None:
    for d in _traffic().due(HOURS):
        expected = len(d.hop.steps) if d.status == "ok" else d.hop.failing_index + 1
        assert len(d.durations_ms) == expected


def test_events_and_payloads_pass_the_events_api_rules() -> None:
    deliveries = _traffic().due(HOURS)
    records = [
        {"event_id": d.event_id, "correlation_id": d.order.number, "event_type": d.hop.event_type,
         "source": d.hop.source, "occurred_at": "2026-03-04T10:00:00Z", "status": d.status,
         "attempt": d.attempt, "payload": payload(d)}
        for d in deliveries
    ]  # fmt: skip
    parsed = validate_events(records, received_at=datetime(2026, 3, 4, 11))
    assert parsed.rejected == [] and parsed.table.num_rows == len(deliveries)
    assert len({r["event_id"] for r in records}) == len(records)  # one id per order, step and attempt


def test_queue_levels_follow_the_traffic() -> None:
    traffic = _traffic(dlq_backlog={"shipments.3pl_north.dlq": (40, 7200.0)})
    deliveries = traffic.due(3 * HOURS)
    levels = {level.queue: level for level in traffic.levels(3 * HOURS)}
    retried = {(d.order.number, d.stage) for d in deliveries if d.attempt == 2}
    parked = Counter(
        d.hop.dlq for d in deliveries
        if d.status in ("failed", "dead_lettered") and (d.order.number, d.stage) not in retried
    )  # fmt: skip
    for queue, level in levels.items():
        if level.is_dlq:
            seeded = 40 if queue == "shipments.3pl_north.dlq" else 0
            assert level.depth == parked[queue] + seeded, queue
            assert level.consumers == 0
    north = levels["shipments.3pl_north.dlq"]
    assert north.oldest_age_seconds == 7200.0 + 3 * HOURS  # the seeded backlog keeps ageing
    assert levels["orders.shopify"].consumers == 6 and not levels["orders.shopify"].is_dlq
    assert levels["orders.shopify"].flow_id == "shopify-d365-orders"
