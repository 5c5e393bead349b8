"""Planted silent non-events: what never happened, so the demo has failures no error log shows.

A couple of Shopify orders created an hour or three before the anchor were delivered to
Dynamics 365 and then nothing: no acceptance, no release, no shipment (the ERP dropped them
silently). A couple of POs acknowledged 62–70 hours ago never got their ASN (past the
catalogue's 60 h, before the flow's 72 h SLA). The planted keys are the first ones, by key,
among those that went through cleanly, so the same seed plants the same keys.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from seed_data.timeline import HOUR

#: (key picked by, how many, start event, channel or None, window before the anchor in seconds, events dropped)
PLANTS: tuple[tuple[str, int, str, str | None, tuple[float, float], tuple[str, ...]], ...] = (
    ("dropped_order", 2, "order.created", "shopify", (-3 * HOUR, -1 * HOUR),
     ("order.accepted", "order.held", "order.released", "shipment.dispatched", "invoice.posted",
      "order.cancelled", "return.received", "refund.issued")),
    ("missing_asn", 2, "po.acknowledged", None, (-70 * HOUR, -62 * HOUR), ("asn.received", "goods.received")),
)  # fmt: skip


def planted_keys(events: pa.Table, anchor_us: int, planted: dict[str, int]) -> dict[str, list[str]]:
    """The keys each plant silences in ``events`` (one chunk's events, every status), beyond the
    ``planted`` counts of earlier chunks (which it adds to)."""
    keys = events["correlation_id"]
    failing = set(pc.unique(pc.filter(keys, pc.not_equal(events["status"], "ok"))).to_pylist())
    at_us = pc.cast(pc.cast(events["occurred_at"], pa.timestamp("us")), pa.int64())
    out: dict[str, list[str]] = {}
    for name, count, start, channel, (since, until), _dropped in PLANTS:
        mask = pc.and_(
            pc.equal(events["event_type"], start),
            pc.and_(
                pc.greater_equal(at_us, anchor_us + int(since * 1e6)), pc.less(at_us, anchor_us + int(until * 1e6))
            ),
        )
        if channel is not None:
            mask = pc.and_(mask, pc.equal(events["channel"], channel))
        candidates = sorted(set(pc.filter(keys, mask).to_pylist()) - failing)
        out[name] = candidates[: max(0, count - planted.get(name, 0))]
        planted[name] = planted.get(name, 0) + len(out[name])
    return out


def plant_silences(
    events: pa.Table, spans: pa.Table | None, anchor_us: int, planted: dict[str, int]
) -> tuple[pa.Table, pa.Table | None]:
    """``events`` and ``spans`` without the planted keys' later events (and those events' spans);
    ``planted`` counts the keys silenced so far, chunk after chunk."""
    drop = pa.array([False] * events.num_rows)
    for plant, keys in zip(PLANTS, planted_keys(events, anchor_us, planted).values(), strict=True):
        dropped = plant[-1]
        if not keys:
            continue
        hit = pc.and_(
            pc.is_in(events["correlation_id"], pa.array(keys)), pc.is_in(events["event_type"], pa.array(dropped))
        )
        drop = pc.or_(drop, hit)
    if not pc.any(drop).as_py():
        return events, spans
    traces = pc.drop_null(pc.filter(events["trace_id"], drop))
    kept = events.filter(pc.invert(drop))
    if spans is not None and len(traces):
        spans = spans.filter(pc.invert(pc.is_in(spans["trace_id"], traces)))
    return kept, spans
