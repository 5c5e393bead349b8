"""The live demo's traffic model: new orders arriving now and walking their lifecycle.

Pure and deterministic for a seed: no I/O and no clock of its own. The simulator asks
which deliveries are due at a time (seconds on any monotonic scale) and sends them.
Orders walk created → accepted → released → dispatched → invoiced over minutes (``pace``
scales the delays), through the same hops, flows and queues as the seeded history
(``seed_data.order_hops``), with a few per cent of failures: validation rejects that stay
failed, ERP throttling and 3PL gateway errors that the retry fixes, and 3PL shipment
confirmations dead-lettered, half of them replayed later and half left for an operator.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from seed_data.catalogue import Catalogue
from seed_data.distributor import CHANNEL_ERP, CHANNEL_SHARE, FULFILMENT, ORDER_NUMBERS, QUEUES
from seed_data.incidents import VALIDATION_ADDR, VALIDATION_SKU
from seed_data.order_hops import HOPS
from seed_data.queues import ORDER_QUEUE_FANOUT
from seed_data.telemetry import Hop

STAGES = ("created", "accepted", "released", "dispatched", "invoiced")
#: Median seconds from the previous stage (multiplied by ``pace``).
STAGE_DELAY = {"accepted": 45.0, "released": 120.0, "dispatched": 300.0, "invoiced": 120.0}
VALIDATION_SHARE = 0.015
ERP_THROTTLE_SHARE = 0.02
RELEASE_FAILURE_SHARE = 0.02
DEAD_LETTER_SHARE = 0.04  # 3PL shipment confirmations
REPLAYED_SHARE = 0.5
WEBHOOK_SHARE = 0.5  # Shopify orders that arrive as native webhooks rather than canonical events
#: Seconds a message waits in its queue before a consumer takes it (median; not paced).
QUEUE_WAIT = 1.5
#: Consumers per queue, as the seeded history has them; DLQs have none.
CONSUMERS = {"orders.shopify": 6, "orders.adobe": 4, "orders.b2b": 3}
_3PL_NAMES = {"3pl_north": "NorthStar", "3pl_coastal": "Coastal"}
_CARRIERS = ("UPS", "FedEx", "USPS")


@dataclass
class LiveOrder:
    """One live order: who sold it, who books and ships it, what is in it."""

    number: str
    channel: str
    erp: str
    node: str
    customer: int
    postcode: str
    lines: list[dict[str, object]]
    total_cents: int


@dataclass(frozen=True)
class Delivery:
    """One attempt at delivering one lifecycle step of one order, as the middleware reports it."""

    order: LiveOrder
    stage: str
    hop: Hop
    at: float  # when it completed (the caller's time scale)
    attempt: int = 1
    status: str = "ok"
    error: tuple[str, str, int] | None = None  # code, message, HTTP status
    durations_ms: tuple[float, ...] = ()  # one per span emitted; a failed delivery stops at its failing span
    via_webhook: bool = False

    @property
    def event_id(self) -> str:
        """Stable per order, step and attempt: re-sending is a no-op, a restart never collides."""
        return f"evt_live_{self.order.number}_{self.stage}_{self.attempt}"


@dataclass(frozen=True)
class QueueLevel:
    """What a broker would report for one queue at one time."""

    queue: str
    flow_id: str | None
    is_dlq: bool
    depth: int
    consumers: int
    oldest_age_seconds: float | None


@dataclass
class _Queue:
    messages: dict[object, tuple[float, float]] = field(default_factory=dict)  # key → (enter, leave)


class LiveTraffic:
    """Orders arriving on a Poisson process from ``start``; ``due(now)`` yields what happened by ``now``."""

    def __init__(
        self,
        *,
        seed: int,
        orders_per_minute: float,
        first_number: int,
        start: float,
        pace: float = 1.0,
        dlq_backlog: Mapping[str, tuple[int, float | None]] | None = None,
    ) -> None:
        self.rng = np.random.default_rng([seed, 7001])
        self.catalogue = Catalogue.build(seed)
        self.mean_gap = 60.0 / orders_per_minute
        self.pace = pace
        self.start = start
        self.next_number = first_number
        self.orders_created = 0
        self._heap: list[tuple[float, int, str, LiveOrder | None, int]] = []
        self._seq = itertools.count()
        self._queues: dict[str, _Queue] = {
            queue: _Queue()
            for (stage, _), hop in HOPS.items()
            if stage in STAGES
            for queue in (hop.queue, hop.dlq)
            if queue is not None
        }
        #: DLQ messages left by the seeded history: depth and age at ``start``; they stay, and age.
        self._backlog = dict(dlq_backlog or {})
        for queue in self._backlog:
            self._queues.setdefault(queue, _Queue())
        self._push(start + self.rng.exponential(self.mean_gap), "arrive", None, 1)

    # -- what happened ------------------------------------------------------------------------
    def due(self, now: float) -> list[Delivery]:
        """Every delivery completed by ``now``, in time order; schedules what follows them."""
        out: list[Delivery] = []
        while self._heap and self._heap[0][0] <= now:
            at, _, stage, order, attempt = heapq.heappop(self._heap)
            if stage == "arrive":
                self._push(at + self.rng.exponential(self.mean_gap), "arrive", None, 1)
                order, stage = self._new_order(), "created"
            assert order is not None
            out.append(self._deliver(order, stage, attempt, at))
        return out

    def levels(self, now: float) -> list[QueueLevel]:
        """Depth, consumers and oldest age of each demo queue the live orders cross."""
        levels = []
        for queue, flow_id, is_dlq in QUEUES:
            state = self._queues.get(queue)
            if state is None:
                continue
            present = [enter for enter, leave in state.messages.values() if enter <= now < leave]
            state.messages = {k: v for k, v in state.messages.items() if v[1] > now}  # memory stays flat
            depth, oldest = len(present), (now - min(present)) if present else None
            seeded, seeded_age = self._backlog.get(queue, (0, None))
            if seeded:
                depth += seeded
                aged = None if seeded_age is None else seeded_age + (now - self.start)
                known = [age for age in (oldest, aged) if age is not None]
                oldest = max(known) if known else None
            levels.append(
                QueueLevel(queue, flow_id, is_dlq, depth, 0 if is_dlq else CONSUMERS.get(queue, 2), oldest)
            )
        return levels

    # -- how it happens -----------------------------------------------------------------------
    def _push(self, at: float, stage: str, order: LiveOrder | None, attempt: int) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), stage, order, attempt))

    def _later(self, median: float) -> float:
        return median * self.pace * math.exp(0.5 * self.rng.standard_normal())

    def _new_order(self) -> LiveOrder:
        rng = self.rng
        channel = str(rng.choice(list(CHANNEL_SHARE), p=list(CHANNEL_SHARE.values())))
        erp = CHANNEL_ERP[channel]
        nodes = FULFILMENT[erp]
        node = str(rng.choice(list(nodes), p=list(nodes.values())))
        count = int(2 + rng.poisson(3.0)) if channel == "b2b" else int(1 + rng.poisson(1.2))
        skus = self.catalogue.sample(rng, count)
        qty = 1 + rng.poisson(12.0 if channel == "b2b" else 1.2, count)
        cents = self.catalogue.price_cents[skus]
        lines = [
            {"sku": self.catalogue.labels[s].as_py(), "qty": int(q), "unit_price": _money(int(c))}
            for s, q, c in zip(skus, qty, cents, strict=True)
        ]
        number, self.next_number = self.next_number, self.next_number + 1
        self.orders_created += 1
        return LiveOrder(
            number=f"{ORDER_NUMBERS[channel][0]}{number}",
            channel=channel,
            erp=erp,
            node=node,
            customer=int(rng.integers(10_000, 99_999)),
            postcode=f"{int(rng.integers(1_000, 99_950)):05d}",
            lines=lines,
            total_cents=int((qty * cents).sum()),
        )

    def _deliver(self, order: LiveOrder, stage: str, attempt: int, at: float) -> Delivery:
        """Draw the outcome of one attempt, record its queue traffic, schedule the next step."""
        hop = HOPS[stage, _system(order, stage)]
        status, error, retry_in = "ok", None, None
        u = self.rng.random()
        if attempt == 1:
            status, error, retry_in = self._outcome(order, stage, hop, u)
        durations = self._durations(hop, None if status == "ok" else hop.failing_index)
        delivery = Delivery(
            order, stage, hop, at, attempt, status, error, durations,
            via_webhook=stage == "created" and status == "ok" and order.channel == "shopify"
            and self.rng.random() < WEBHOOK_SHARE,
        )  # fmt: skip
        self._enqueue(delivery)
        if retry_in is not None:
            self._push(at + retry_in, stage, order, attempt + 1)
        elif status == "ok" and stage != STAGES[-1]:
            following = STAGES[STAGES.index(stage) + 1]
            self._push(at + self._later(STAGE_DELAY[following]), following, order, 1)
        return delivery

    def _outcome(
        self, order: LiveOrder, stage: str, hop: Hop, u: float
    ) -> tuple[str, tuple[str, str, int] | None, float | None]:
        """(status, error, retry delay or None) of a first attempt."""
        if stage == "created" and u < VALIDATION_SHARE:
            if u < VALIDATION_SHARE / 2:
                sku = order.lines[0]["sku"]
                erp = "Dynamics 365" if order.erp == "d365" else "NetSuite"
                return "failed", (VALIDATION_SKU, f"SKU {sku} not mapped in {erp} item master", 400), None
            return "failed", (*VALIDATION_ADDR, 422), None
        if stage == "created" and u < VALIDATION_SHARE + ERP_THROTTLE_SHARE and hop.transient:
            return "retrying", hop.transient, self._later(40.0)
        if stage == "released" and u < RELEASE_FAILURE_SHARE and hop.transient:
            return "failed", hop.transient, self._later(90.0)
        if stage == "dispatched" and order.node in _3PL_NAMES and u < DEAD_LETTER_SHARE:
            replay = self._later(240.0) if self.rng.random() < REPLAYED_SHARE else None
            message = f"Upstream 503 Service Unavailable from {_3PL_NAMES[order.node]} WMS API"
            return "dead_lettered", ("3PL-503", message, 503), replay
        return "ok", None, None

    def _durations(self, hop: Hop, fail_at: int | None) -> tuple[float, ...]:
        steps = hop.steps if fail_at is None else hop.steps[: fail_at + 1]
        return tuple(float(s.median_ms * math.exp(s.sigma * self.rng.standard_normal())) for s in steps)

    def _enqueue(self, delivery: Delivery) -> None:
        """The hop's messages wait briefly in its queue; a failed one is parked in the DLQ until retried."""
        hop, order, at = delivery.hop, delivery.order, delivery.at
        if hop.queue is None:
            return
        fanout = ORDER_QUEUE_FANOUT if delivery.stage == "created" else 1
        queue = self._queues[hop.queue]
        for k in range(fanout):
            queue.messages[(order.number, delivery.stage, delivery.attempt, k)] = (
                at, at + QUEUE_WAIT * math.exp(0.6 * self.rng.standard_normal())
            )  # fmt: skip
        if hop.dlq is None:
            return
        dlq = self._queues[hop.dlq]
        key = (order.number, delivery.stage)
        if delivery.status in ("failed", "dead_lettered"):
            dlq.messages[key] = (at, math.inf)
        elif key in dlq.messages:  # the retry or replay took it out of the DLQ
            dlq.messages[key] = (dlq.messages[key][0], at)


def _system(order: LiveOrder, stage: str) -> str:
    """The system a stage's hop is keyed by in ``HOPS``."""
    return {"created": order.channel, "accepted": order.channel, "invoiced": order.erp}.get(stage, order.node)


def _money(cents: int) -> float:
    """A JSON number of dollars, as the seeded payloads carry money."""
    return round(cents / 100, 2)


def payload(delivery: Delivery) -> dict[str, object]:
    """The event payload of a delivery, shaped like the seeded history's."""
    order = delivery.order
    digits = order.number.split("-", 1)[1]
    base = {"order_id": order.number, "erp_order": f"SO-{digits}"}
    match delivery.stage:
        case "created":
            missing_postcode = delivery.error is not None and delivery.error[0] == VALIDATION_ADDR[0]
            return {
                "order_id": order.number,
                "channel": order.channel,
                "customer": f"C-{order.customer}",
                "currency": "USD",
                "ship_to": {"country": "US", "postcode": "" if missing_postcode else order.postcode},
                "lines": order.lines,
                "total": _money(order.total_cents),
            }
        case "accepted":
            return base | {"status": "accepted"}
        case "released":
            return base | {"node": order.node, "lines": order.lines}
        case "dispatched":
            carrier = "XPO Freight" if order.channel == "b2b" else _CARRIERS[int(digits) % len(_CARRIERS)]
            tracking = "1Z" + hashlib.sha1(order.number.encode()).hexdigest()[:16].upper()
            shipment = {"shipment_id": f"SH-{digits}", "carrier": carrier, "tracking": tracking}
            return base | shipment | {"lines": order.lines}
        case _:
            return base | {"invoice": f"INV-{digits}", "currency": "USD", "total": _money(order.total_cents)}


def first_order_number(epoch_seconds: float) -> int:
    """Live numbers start at 9,000,000,000 + 10 × (seconds since the epoch mod 10⁸).

    Far above every seeded range (SHP 1,0xx,xxx; ADB 2,0xx,xxx; B2B 3,0xx,xxx) without
    querying anything, and a restart starts above the previous run unless that run made
    more than ten orders a second.
    """
    return 9_000_000_000 + (int(epoch_seconds) % 100_000_000) * 10
