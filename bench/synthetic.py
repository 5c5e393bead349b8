"""A large synthetic distributor for query benchmarks: ~330k events and ~1M spans a day.

The demo seeder tells a story (and runs ~15k events/s); this generator only needs volume
with the demo's shape: the demo's systems and flows, every order's lifecycle with its
spans, stock updates, queue samples, a trickle of failed deliveries retried ok and a
NorthStar outage whose confirmations stay dead-lettered. Day by day (so data is roughly
in time order, as live ingest writes it), as Arrow batches appended in bulk with the
indexes dropped during the load and built once at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Engine

from models.ingest.writer import IngestWriter
from models.store.flow_config import sync_flow_config
from models.store.tables import business_events, spans
from seed_data.distributor import CHANNEL_ERP, FLOW_CONFIG, FULFILMENT, QUEUES
from seed_data.ids import hex_ids

DAY = 86_400
CHANNELS = tuple(CHANNEL_ERP)
NODES = ("wms", "3pl_north", "3pl_coastal")
#: Lifecycle: (event type, seconds after the previous step (median), spans per delivery).
STEPS = (
    ("order.created", 0.0, 4),
    ("order.accepted", 120.0, 3),
    ("order.released", 1500.0, 4),
    ("shipment.dispatched", 8 * 3600.0, 4),
    ("invoice.posted", 4000.0, 3),
)
FAILURE_SHARE = 0.003
OUTAGE = (-52 * 3600, -46 * 3600)  # NorthStar confirmations dead-lettered (seconds from the anchor)


def _flow(step: str, channel: str, erp: str, node: str) -> str:
    return {
        "order.created": f"{channel}-{erp}-orders",
        "order.accepted": f"{channel}-{erp}-orders",
        "order.released": f"{erp}-{node}-release",
        "shipment.dispatched": f"{node}-{erp}-shipment",
        "invoice.posted": f"{erp}-invoice",
    }[step]


def _route(step: str, channel: str, erp: str, node: str) -> tuple[str, str]:
    return {
        "order.created": (channel, erp),
        "order.accepted": (channel, erp),
        "order.released": (erp, node),
        "shipment.dispatched": (node, erp),
        "invoice.posted": (erp, erp),
    }[step]


def _ts(anchor: datetime, seconds: np.ndarray) -> pa.Array:
    base = np.datetime64(anchor, "us")
    return pa.array(base + (seconds * 1e6).astype("timedelta64[us]"), pa.timestamp("us"))


@dataclasses.dataclass
class Day:
    """One day's batches."""

    events: pa.Table
    spans: pa.Table


def days(anchor: datetime, n_days: int, orders_per_day: int, seed: int = 7) -> Iterator[Day]:
    """Generate ``n_days`` ending at ``anchor``, oldest first; steps after the anchor are left out."""
    rng = np.random.default_rng(seed)
    number = 1_000_000
    for d in range(n_days, 0, -1):
        n = int(rng.poisson(orders_per_day))
        created = -d * DAY + np.sort(rng.uniform(0, DAY, n))
        channel = rng.choice(len(CHANNELS), n, p=[0.55, 0.25, 0.2])
        erp_of = np.array([["d365", "netsuite"].index(CHANNEL_ERP[c]) for c in CHANNELS])[channel]
        node = np.where(erp_of == 1, 2, np.where(rng.random(n) < FULFILMENT["d365"]["wms"], 0, 1))
        ids = pc.binary_join_element_wise("ORD-", pc.cast(pa.array(number + np.arange(n)), pa.string()), "")
        number += n
        event_parts, span_parts = [], []
        at, blocked = created, np.zeros(n, bool)
        for step, median, span_count in STEPS:
            if median:
                at = at + median * np.exp(0.5 * rng.standard_normal(n))
            outage = (step == "shipment.dispatched") & (node == 1) & (at >= OUTAGE[0]) & (at < OUTAGE[1])
            never = outage & (rng.random(n) < 0.2)  # never replayed: still dead-lettered at the anchor
            keep = (at <= 0) & ~blocked
            for c, ch in enumerate(CHANNELS):
                for k, nd in enumerate(NODES):
                    erp = CHANNEL_ERP[ch]
                    if (erp == "netsuite") != (nd == "3pl_coastal"):
                        continue
                    rows = np.flatnonzero(keep & (channel == c) & (node == k))
                    if len(rows):
                        e, s = _deliver(rng, anchor, step, (ch, erp, nd), ids, rows, at[rows], span_count,
                                        outage[rows], never[rows])  # fmt: skip
                        event_parts.append(e)
                        span_parts.append(s)
            blocked |= never
        yield Day(pa.concat_tables(event_parts), pa.concat_tables(span_parts))


def _deliver(rng, anchor, step, systems, ids, rows, at, span_count, outage, never) -> tuple[pa.Table, pa.Table]:  # type: ignore[no-untyped-def]
    """Events (a failed first attempt for a few, dead letters in the outage) and their spans."""
    n = len(rows)
    channel, erp, node = systems
    source, target = _route(step, channel, erp, node)
    flow = _flow(step, channel, erp, node)
    failed = (rng.random(n) < FAILURE_SHARE) | outage
    status = np.where(outage, "dead_lettered", "failed")
    received = at + rng.uniform(0.2, 3.0, n)
    corr = ids.take(pa.array(rows))
    first = _events(rng, anchor, step, flow, source, target, channel, corr, at, received,
                    np.where(failed, status, "ok"), 1, failed)  # fmt: skip
    retry = np.flatnonzero(failed & ~never)
    retry_at = received[retry] + np.where(outage[retry], 3 * 3600.0, 90.0)
    retry = retry[retry_at <= 0]
    second = _events(rng, anchor, step, flow, source, target, channel, corr.take(pa.array(retry)), at[retry],
                     received[retry] + np.where(outage[retry], 3 * 3600.0, 90.0), np.full(len(retry), "ok"), 2,
                     np.zeros(len(retry), bool))  # fmt: skip
    events = pa.concat_tables([first, second])
    return events, _spans(rng, anchor, events, target, span_count)


def _events(rng, anchor, step, flow, source, target, channel, corr, at, received, status, attempt, failed) -> pa.Table:  # type: ignore[no-untyped-def]
    n = len(at)
    code = np.where(failed, np.where(status == "dead_lettered", "3PL-503", "ERP-429"), None)
    return pa.table(
        {
            "event_id": hex_ids(rng, n, 12, "evt_"),
            "correlation_id": corr,
            "event_type": pa.repeat(step, n),
            "flow_id": pa.repeat(flow, n),
            "source": pa.repeat(source, n),
            "target": pa.repeat(target, n),
            "channel": pa.repeat(channel, n),
            "occurred_at": _ts(anchor, at),
            "received_at": _ts(anchor, received),
            "status": pa.array(status, pa.string()),
            "attempt": pa.repeat(pa.scalar(attempt, pa.int16()), n),
            "error_code": pa.array(code, pa.string()),
            "error_message": pa.array(np.where(failed, "upstream error", None), pa.string()),
            "trace_id": hex_ids(rng, n, 16),
            "payload": pa.repeat('{"lines":[{"sku":"SKU-10001","qty":1}]}', n),
        }
    )


def _spans(rng, anchor, events: pa.Table, peer: str, count: int) -> pa.Table:  # type: ignore[no-untyped-def]
    """``count`` spans per delivery: receipt, transform, then outbound calls to ``peer``."""
    n = events.num_rows
    start = (events["received_at"].to_numpy() - np.datetime64(anchor, "us")).astype(np.float64) / 1e6 - 1.0
    failed = pc.not_equal(events["status"], "ok").to_numpy(zero_copy_only=False)
    parts = []
    for j in range(count):
        kind, service = ("server", "mw-webhooks") if j == 0 else ("internal", "mw-transform") if j == 1 else (
            "client", "mw-erp-client")  # fmt: skip
        ms = rng.lognormal(np.log(15 if j < 2 else 200), 0.5, n)
        error = failed & (j == count - 1)
        parts.append(
            pa.table(
                {
                    "trace_id": events["trace_id"],
                    "span_id": hex_ids(rng, n, 8),
                    "parent_span_id": pa.nulls(n, pa.string()),
                    "name": pa.repeat(f"{events['event_type'][0].as_py()} step {j}", n),
                    "kind": pa.repeat(kind, n),
                    "service_name": pa.repeat(service, n),
                    "start_time": _ts(anchor, start + j * 0.05),
                    "end_time": _ts(anchor, start + j * 0.05 + ms / 1000),
                    "duration_ms": pa.array(ms),
                    "status_code": pa.array(np.where(error, "error", "unset")),
                    "status_message": pa.nulls(n, pa.string()),
                    "correlation_id": events["correlation_id"],
                    "attributes": pc.binary_join_element_wise(
                        '{"peer.service":"',
                        pa.repeat(peer, n),
                        '","messaging.message.id":"',
                        events["event_id"],
                        '"}',
                        "",
                    ),
                }
            )
        )
    return pa.concat_tables(parts)


def stock_events(anchor: datetime, n_days: int, per_day: int, seed: int = 8) -> Iterator[pa.Table]:
    """Stock adjustments and their publication to both storefronts, a day at a time."""
    rng = np.random.default_rng(seed)
    for d in range(n_days, 0, -1):
        n = per_day
        adjusted = -d * DAY + np.sort(rng.uniform(0, DAY, n))
        keys = pc.binary_join_element_wise("SKU-", pc.cast(pa.array(rng.integers(10_000, 10_400, n)), pa.string()),
                                           "@WMS", "")  # fmt: skip
        tables = [_stock(rng, anchor, keys, adjusted, "inventory.adjusted", None, None)]
        for sf in ("shopify", "adobe"):
            published = adjusted + rng.lognormal(np.log(40), 1.0, n)
            keep = np.flatnonzero(published <= 0)
            tables.append(_stock(rng, anchor, keys.take(pa.array(keep)), published[keep], "inventory.published",
                                 f"wms-{sf}-inventory", sf))  # fmt: skip
        yield pa.concat_tables(tables)


def _stock(rng, anchor, keys, at, event_type, flow, target) -> pa.Table:  # type: ignore[no-untyped-def]
    n = len(at)
    return pa.table(
        {
            "event_id": hex_ids(rng, n, 12, "evt_"),
            "correlation_id": keys,
            "event_type": pa.repeat(event_type, n),
            "flow_id": pa.repeat(pa.scalar(flow, pa.string()), n),
            "source": pa.repeat("wms", n),
            "target": pa.repeat(pa.scalar(target, pa.string()), n),
            "channel": pa.repeat(pa.scalar(target, pa.string()), n),
            "occurred_at": _ts(anchor, at),
            "received_at": _ts(anchor, at + 0.5),
            "status": pa.repeat("ok", n),
            "attempt": pa.repeat(pa.scalar(1, pa.int16()), n),
            "error_code": pa.nulls(n, pa.string()),
            "error_message": pa.nulls(n, pa.string()),
            "trace_id": pa.nulls(n, pa.string()),
            "payload": pa.repeat("{}", n),
        }
    )


def queue_samples(anchor: datetime, n_days: int, seed: int = 9) -> pa.Table:
    """One sample a minute per demo queue, in time order as pollers write them: small depths, DLQs empty."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(-n_days * DAY + 60, 1, 60, dtype=np.float64)
    m = len(minutes)
    return pa.table(
        {
            "broker": pa.repeat("rabbitmq-main", m * len(QUEUES)),
            "queue": pa.array(np.repeat([q for q, _, _ in QUEUES], m)),
            "sampled_at": _ts(anchor, np.tile(minutes, len(QUEUES))),
            "depth": pa.array(
                np.concatenate([np.zeros(m, np.int64) if dlq else rng.poisson(3, m) for _, _, dlq in QUEUES])
            ),
            "consumers": pa.repeat(pa.scalar(2, pa.int32()), m * len(QUEUES)),
            "oldest_age_seconds": pa.array(rng.uniform(0, 3, m * len(QUEUES))),
            "is_dlq": pa.array(np.repeat([d for _, _, d in QUEUES], m)),
            "flow_id": pa.array(np.repeat(np.array([f for _, f, _ in QUEUES], dtype=object), m), pa.string()),
        }
    ).sort_by("sampled_at")


def load(engine: Engine, writer: IngestWriter, *, anchor: datetime, n_days: int, orders_per_day: int,
         stock_per_day: int) -> dict[str, int]:  # fmt: skip
    """Write the dataset; the big non-unique indexes are dropped during the load and rebuilt once.

    The unique index on business_events.event_id stays: the writer's de-duplication relies on it."""
    counts = {"business_events": 0, "spans": 0}
    with writer.transaction() as conn:
        sync_flow_config(conn, FLOW_CONFIG)
    indexes = [index for index in (*business_events.indexes, *spans.indexes) if not index.unique]
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
    for day, stock in zip(days(anchor, n_days, orders_per_day), stock_events(anchor, n_days, stock_per_day),
                          strict=True):  # fmt: skip
        counts["business_events"] += writer.append("business_events", pa.concat_tables([day.events, stock])).written
        counts["spans"] += writer.append("spans", day.spans).written
    counts["queue_samples"] = writer.append("queue_samples", queue_samples(anchor, n_days)).written
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn)
    with engine.connect() as conn:
        counts["order_facts"] = conn.exec_driver_sql("SELECT count(*) FROM order_facts").scalar()
    return counts
