"""The demo's live traffic model (seed_data.live_traffic): deterministic, lifecycle in order, failures as designed."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from collectors.events import validate_events
from seed_data.distributor import ORDER_NUMBERS
from seed_data.live_traffic import STAGES, InFlight, LiveTraffic, first_order_number, payload

HOURS = 3600.0


def _traffic(seed: int = 5, **over: object) -> LiveTraffic:
    options = {"orders_per_minute": 60.0, "first_number": first_order_number(1_780_000_000), "start": 0.0,
               "speed": 100.0} | over  # fmt: skip
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


def _levels(traffic: LiveTraffic, at: float) -> dict[str, int]:
    return {level.queue: level.depth for level in traffic.levels(at)}


def test_a_system_down_breaks_only_the_traffic_touching_it_and_recovers() -> None:
    """NorthStar down for two hours of a day of real-time traffic: releases to it fail and wait in
    their queue, its shipment confirmations are dead-lettered; nothing else fails differently; back
    up, the backlog drains; replayed, the dead letters leave the DLQ and their orders are invoiced."""
    traffic = _traffic(seed=9, orders_per_minute=4.0, speed=1.0)
    traffic.due(10 * HOURS)
    before = _levels(traffic, 10 * HOURS)
    traffic.set_faults({"3pl_north": "error", "d365": "ok"})
    during = traffic.due(12 * HOURS)
    north = [d for d in during if "3pl_north" in (d.hop.source, d.hop.target)]
    others = [d for d in during if d not in north]
    assert {(d.stage, d.status) for d in north} == {("released", "failed"), ("dispatched", "dead_lettered")}
    assert {d.error[:2] for d in north} == {("3PL-503", "Upstream 503 Service Unavailable from NorthStar WMS API")}
    assert sum(d.stage == "dispatched" for d in north) >= 20 and sum(d.stage == "released" for d in north) >= 20
    assert not any(d.error and "NorthStar" in d.error[1] for d in others)  # Coastal's own trickle is unchanged
    assert sum(d.status == "ok" for d in others) > 0.9 * len(others)
    broken = _levels(traffic, 12 * HOURS)
    dead = [d.event_id for d in north if d.status == "dead_lettered"]
    again = sum(d.attempt > 1 for d in north if d.status == "dead_lettered")  # already in the DLQ before
    assert broken["shipments.3pl_north.dlq"] == before["shipments.3pl_north.dlq"] + len(dead) - again
    waiting = len({d.order.number for d in north if d.stage == "released"})
    assert broken["release.3pl_north"] >= before["release.3pl_north"] + waiting

    traffic.set_faults({"3pl_north": "ok"})
    after = traffic.due(14 * HOURS)
    retried = {d.order.number for d in after if d.stage == "released" and d.order.node == "3pl_north"}
    assert {d.order.number for d in north if d.stage == "released"} <= retried  # every waiting release got through
    assert _levels(traffic, 14 * HOURS)["release.3pl_north"] <= before["release.3pl_north"] + 2
    waiting_dead = _levels(traffic, 14 * HOURS)["shipments.3pl_north.dlq"]
    assert waiting_dead >= broken["shipments.3pl_north.dlq"]  # dead letters stay until someone replays them

    assert traffic.replayed(set(dead) | {"evt_unknown"}, 14 * HOURS) == len(dead)
    released = waiting_dead - _levels(traffic, 14 * HOURS + 1)["shipments.3pl_north.dlq"]
    assert released == len({d.order.number for d in north if d.status == "dead_lettered"})
    invoiced = {d.order.number for d in traffic.due(20 * HOURS) if d.stage == "invoiced"}
    assert {d.order.number for d in north if d.status == "dead_lettered"} <= invoiced


def test_orders_left_in_flight_by_the_history_are_continued_at_the_historys_pace() -> None:
    traffic = _traffic(seed=3, orders_per_minute=0.001, speed=1.0)
    adopted = [InFlight(f"SHP-{1_000_000 + n}", "shopify", "3pl_north", "released", n * 60.0) for n in range(300)]
    traffic.adopt(adopted)
    numbers = {o.number for o in adopted}
    due = traffic.due(3 * 24 * HOURS)
    shipped = {d.order.number: d.at for d in due if d.stage == "dispatched" and d.order.number in numbers}
    assert set(shipped) == numbers
    # the whole release → dispatch delay (time already spent + time still to go) keeps the history's median
    total = sorted(o.ago + shipped[o.number] for o in adopted)
    assert 0.85 * 8 * HOURS <= total[len(total) // 2] <= 1.15 * 8 * HOURS
    assert min(shipped.values()) > 0.0
