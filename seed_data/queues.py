"""Broker queue samples derived from the generated traffic.

Every delivery records when its message entered and left its queue (and its DLQ, for
failed deliveries until replayed or fixed). Depth at a sample time is then exactly the
messages in between, so backlogs, DLQ growth and draining follow the events instead of
a separate story. Oldest-message age assumes FIFO.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from seed_data.distributor import BROKER, QUEUES
from seed_data.incidents import IncidentPlan
from seed_data.timeline import DAY, HOUR, MINUTE, timestamps

#: A storefront order raises about two dozen webhooks (create, updates, paid, customer,
#: fulfilment orders) on its orders queue; we model the order and scale the depth.
ORDER_QUEUE_FANOUT = 24
#: Share of the last minute's arrivals still being processed at a sample instant.
_IN_FLIGHT = 0.15
_CONSUMERS = {"orders.shopify": 6, "orders.adobe": 4, "orders.b2b": 3, "edi.outbound": 1, "edi.inbound": 1}


class QueueLedger:
    """Enter/leave times of every message per queue (leave = inf while still queued)."""

    def __init__(self) -> None:
        self._enter: dict[str, list[np.ndarray]] = defaultdict(list)
        self._leave: dict[str, list[np.ndarray]] = defaultdict(list)

    def record(self, queue: str, enter: np.ndarray, leave: np.ndarray) -> None:
        """Messages that entered by the anchor; ``leave`` > 0 or NaN means still there."""
        seen = enter <= 0
        if seen.any():
            self._enter[queue].append(enter[seen])
            self._leave[queue].append(np.where(np.isnan(leave[seen]) | (leave[seen] > 0), np.inf, leave[seen]))

    def times(self, queue: str) -> tuple[np.ndarray, np.ndarray]:
        """Sorted enter and leave times."""
        enter = np.sort(np.concatenate(self._enter[queue])) if self._enter[queue] else np.empty(0)
        leave = np.sort(np.concatenate(self._leave[queue])) if self._leave[queue] else np.empty(0)
        return enter, leave


def queue_samples(
    ledger: QueueLedger, plan: IncidentPlan, seed: int, anchor_us: int, chunk_days: int
) -> Iterator[pa.Table]:
    """One sample a minute per queue in QUEUES, the last at the anchor; a batch per ``chunk_days``."""
    sample_at = np.arange(plan.start + MINUTE, 1e-9, MINUTE)
    series = [
        (
            *_depth_and_age(np.random.default_rng([seed, 40, q]), ledger, queue, is_dlq, sample_at),
            _consumers(queue, is_dlq, sample_at, plan),
        )
        for q, (queue, _, is_dlq) in enumerate(QUEUES)
    ]
    per_chunk = chunk_days * DAY // MINUTE
    for lo in range(0, len(sample_at), per_chunk):
        part = slice(lo, min(len(sample_at), lo + per_chunk))
        n = part.stop - part.start
        yield pa.table(
            {
                "broker": pa.repeat(BROKER, n * len(QUEUES)),
                "queue": pa.array(np.repeat([q for q, _, _ in QUEUES], n)),
                "sampled_at": timestamps(np.tile(sample_at[part], len(QUEUES)), anchor_us),
                "depth": pa.array(np.concatenate([d[part] for d, _, _ in series]), pa.int64()),
                "consumers": pa.array(np.concatenate([c[part] for _, _, c in series]), pa.int32()),
                "oldest_age_seconds": pa.array(np.concatenate([a[part] for _, a, _ in series])),
                "is_dlq": pa.array(np.repeat([d for _, _, d in QUEUES], n)),
                "flow_id": pa.array(np.repeat(np.array([f for _, f, _ in QUEUES], dtype=object), n), pa.string()),
            }
        )


def _depth_and_age(
    rng: np.random.Generator, ledger: QueueLedger, queue: str, is_dlq: bool, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    enter, leave = ledger.times(queue)
    entered = np.searchsorted(enter, at, side="right")
    left = np.searchsorted(leave, at, side="right")
    queued = entered - left
    fanout = ORDER_QUEUE_FANOUT if queue.startswith("orders.") and not is_dlq else 1
    depth = queued * fanout
    oldest = np.zeros(len(at))
    waiting = queued > 0
    if waiting.any():
        head = enter[np.minimum(left[waiting], len(enter) - 1)]
        oldest[waiting] = at[waiting] - head
    if not is_dlq:
        arrivals = np.diff(entered, prepend=0) * fanout
        busy = rng.poisson(_IN_FLIGHT * arrivals)
        depth = depth + busy
        idle = ~waiting & (busy > 0)
        oldest[idle] = rng.uniform(0.05, 4.0, int(idle.sum()))
    return depth, np.round(oldest, 3)


def _consumers(queue: str, is_dlq: bool, at: np.ndarray, plan: IncidentPlan) -> np.ndarray:
    """DLQs have no consumers; ops scaled orders.shopify out an hour into the ERP slowdown."""
    consumers = np.full(len(at), 0 if is_dlq else _CONSUMERS.get(queue, 2))
    if queue == "orders.shopify" and plan.erp_slowdown is not None:
        scaled = (at >= plan.erp_slowdown.start + HOUR) & (at < plan.erp_slowdown.end + 2 * HOUR)
        consumers[scaled] = 12
    return consumers
