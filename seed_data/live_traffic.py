"""The live demo's traffic model: new orders arriving now and walking their lifecycle.

Pure and deterministic for a seed: no I/O and no clock of its own. The simulator asks
which deliveries are due at a time (seconds on any monotonic scale) and sends them.
Orders walk created → accepted → released → dispatched → invoiced with the seeded history's
own step delays (``seed_data.orders.STEP_DELAYS``: acceptance in a minute or four, release in
half an hour, dispatch in hours), so live KPIs continue the history's; ``speed`` compresses
them only when asked (2.0 = twice as fast). Orders go through the same hops, flows and queues
as the history (``seed_data.order_hops``), with a few per cent of failures: validation
rejects that stay failed, ERP throttling and 3PL gateway errors that the retry fixes, and 3PL
shipment confirmations dead-lettered, half of them replayed later and half left for an operator.

Incidents: :meth:`LiveTraffic.set_faults` takes the demo's fault switches (system → mode).
While a system is in ``error`` or ``timeout``, every delivery touching it fails with its own
error: shipment confirmations are dead-lettered (they wait for an operator's replay), other
steps are retried with backoff and wait in their queue, so the backlog grows and drains once
the system is ``ok`` again. Orders the seeded history left in flight are continued
(:meth:`LiveTraffic.adopt`), so a long live run keeps no stale "stuck" orders behind.
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
from seed_data.distributor import (
    CHANNEL_ERP,
    CHANNEL_SHARE,
    FULFILMENT,
    ORDER_NUMBERS,
    PROMISE_HOURS,
    QUEUES,
    customer_tier,
)
from seed_data.incidents import VALIDATION_ADDR, VALIDATION_SKU
from seed_data.order_hops import HOPS
from seed_data.orders import STEP_DELAYS
from seed_data.queues import ORDER_QUEUE_FANOUT
from seed_data.telemetry import Hop

STAGES = ("created", "accepted", "released", "dispatched", "invoiced")
#: Fault modes that make a system fail every delivery touching it.
FAILING_MODES = frozenset({"error", "timeout"})
#: Backoff of a retried delivery while its target is down: first retry, doubling, at most.
RETRY_FIRST, RETRY_MAX = 60.0, 600.0
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
#: How a system that is down answers, by kind of system: (code, message, HTTP status).
_DOWN_ERRORS = {
    "3pl_north": ("3PL-503", "Upstream 503 Service Unavailable from NorthStar WMS API", 503),
    "3pl_coastal": ("3PL-503", "Upstream 503 Service Unavailable from Coastal WMS API", 503),
    "d365": ("ERP-503", "Dynamics 365 answered 503 Service Unavailable", 503),
    "netsuite": ("ERP-503", "NetSuite answered 503 Service Unavailable", 503),
}
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


@dataclass(frozen=True)
class InFlight:
    """An order the seeded history left between two steps: what it is and the last step it reached."""

    number: str
    channel: str
    node: str | None  # None until it is released (then drawn as the history draws it)
    stage: str  # the last step reached ok (created, accepted, released or dispatched)
    ago: float  # seconds before the traffic's ``start`` it reached that step


class LiveTraffic:
    """Orders arriving on a Poisson process from ``start``; ``due(now)`` yields what happened by ``now``."""

    def __init__(
        self,
        *,
        seed: int,
        orders_per_minute: float,
        first_number: int,
        start: float,
        speed: float = 1.0,
        dlq_backlog: Mapping[str, tuple[int, float | None]] | None = None,
        background_failures: bool = True,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.rng = np.random.default_rng([seed, 7001])
        self.catalogue = Catalogue.build(seed)
        self.mean_gap = 60.0 / orders_per_minute
        self.speed = speed
        #: The everyday trickle of failures (validation, throttling, a few dead letters); off, only the
        #: demo's fault switches make deliveries fail (tests that follow one incident end to end).
        self.background_failures = background_failures
        self.faults: dict[str, str] = {}
        self._dead: dict[str, tuple[LiveOrder, str]] = {}  # dead-lettered event id → (order, stage)
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

    # -- what the simulator tells it ---------------------------------------------------------
    def set_faults(self, faults: Mapping[str, str]) -> None:
        """The demo's fault switches now (system → ok, error, timeout, slow)."""
        self.faults = dict(faults)

    def replayed(self, event_ids: set[str], now: float) -> int:
        """Dead-lettered messages an operator replayed: out of the DLQ, and their orders move on."""
        done = 0
        for event_id in sorted(event_ids & self._dead.keys()):
            order, stage = self._dead.pop(event_id)
            hop = HOPS[stage, _system(order, stage)]
            dlq = self._queues.get(hop.dlq or "")
            key = (order.number, stage)
            if dlq is not None and key in dlq.messages:
                dlq.messages[key] = (dlq.messages[key][0], now)
            self._next(order, stage, now)
            done += 1
        return done

    def adopt(self, orders: list[InFlight]) -> None:
        """Continue orders the history left in flight: each next step at a delay drawn from the same
        distribution, given the time already spent since the last step."""
        for item in orders:
            if item.stage not in STAGES[:-1]:
                continue
            order = self._known_order(item)
            following = STAGES[STAGES.index(item.stage) + 1]
            self._push(self.start + self._residual(following, order, max(item.ago, 0.0)), following, order, 1)

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
            levels.append(QueueLevel(queue, flow_id, is_dlq, depth, 0 if is_dlq else CONSUMERS.get(queue, 2), oldest))
        return levels

    # -- how it happens -----------------------------------------------------------------------
    def _push(self, at: float, stage: str, order: LiveOrder | None, attempt: int) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), stage, order, attempt))

    def _later(self, median: float) -> float:
        """A retry or replay delay around ``median`` seconds (compressed by ``speed``)."""
        return median / self.speed * math.exp(0.5 * self.rng.standard_normal())

    def _step_delay(self, stage: str, order: LiveOrder) -> float:
        """How long ``stage`` takes after the one before, as in the seeded history (``STEP_DELAYS``)."""
        median, sigma = STEP_DELAYS[stage]
        if isinstance(median, dict):
            median = median[order.erp if stage == "accepted" else order.node]
        return float(median * math.exp(sigma * self.rng.standard_normal()))

    def _residual(self, stage: str, order: LiveOrder, elapsed: float) -> float:
        """The rest of a step already ``elapsed`` seconds under way: a draw of its delay given that it
        is longer than that (by rejection; a step long overdue follows within minutes)."""
        for _ in range(50):
            delay = self._step_delay(stage, order)
            if delay > elapsed:
                return (delay - elapsed) / self.speed
        return self._later(120.0)

    def _next(self, order: LiveOrder, stage: str, at: float) -> None:
        """Schedule the step after ``stage``."""
        if stage != STAGES[-1]:
            following = STAGES[STAGES.index(stage) + 1]
            self._push(at + self._step_delay(following, order) / self.speed, following, order, 1)

    def _known_order(self, item: InFlight) -> LiveOrder:
        """A seeded order as the live traffic carries it (its lines are drawn anew: payloads only)."""
        erp = CHANNEL_ERP[item.channel]
        node = item.node
        if node is None:
            nodes = FULFILMENT[erp]
            node = str(self.rng.choice(list(nodes), p=list(nodes.values())))
        skus = self.catalogue.sample(self.rng, 2)
        cents = self.catalogue.price_cents[skus]
        lines = [{"sku": self.catalogue.labels[s].as_py(), "qty": 1, "unit_price": _money(int(c))}
                 for s, c in zip(skus, cents, strict=True)]  # fmt: skip
        return LiveOrder(item.number, item.channel, erp, node, 10_000, "10001", lines, int(cents.sum()))

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
        down = self._down(hop)
        if down is not None:
            status, error, retry_in = self._fault_outcome(stage, down, attempt)
        elif attempt == 1:
            status, error, retry_in = self._outcome(order, stage, hop, u)
        durations = self._durations(hop, None if status == "ok" else hop.failing_index)
        delivery = Delivery(
            order, stage, hop, at, attempt, status, error, durations,
            via_webhook=stage == "created" and status == "ok" and order.channel == "shopify"
            and self.rng.random() < WEBHOOK_SHARE,
        )  # fmt: skip
        self._enqueue(delivery)
        self._hold(hop, order, stage, at, waiting=retry_in is not None and status != "dead_lettered")
        if retry_in is not None:
            self._push(at + retry_in, stage, order, attempt + 1)
        elif status == "ok":
            self._next(order, stage, at)
        elif status == "dead_lettered":
            self._dead[delivery.event_id] = (order, stage)
        return delivery

    def _hold(self, hop: Hop, order: LiveOrder, stage: str, at: float, *, waiting: bool) -> None:
        """A message whose delivery will be retried stays in its queue until it gets through: while a
        target is down the backlog grows, and it drains once the target is back."""
        queue = self._queues.get(hop.queue or "")
        if queue is None:
            return
        key = (order.number, stage, "waiting")
        if waiting and key not in queue.messages:
            queue.messages[key] = (at, math.inf)
        elif not waiting and key in queue.messages:
            queue.messages[key] = (queue.messages[key][0], at)

    def _down(self, hop: Hop) -> str | None:
        """The system this hop touches (either end) that is switched to fail, if any."""
        return next((s for s in (hop.source, hop.target) if s and self.faults.get(s) in FAILING_MODES), None)

    def _fault_outcome(self, stage: str, system: str, attempt: int) -> tuple[str, tuple[str, str, int], float | None]:
        """A delivery touching a system that is down: a shipment confirmation is dead-lettered (it
        waits for an operator); anything else fails and is retried with a doubling backoff until it gets
        through (failed, not retrying: the operator must see it at once, not after the retry budget)."""
        code, message, http = _DOWN_ERRORS.get(system, ("SYS-503", f"{system} answered 503 Service Unavailable",
                                                          503))  # fmt: skip
        if self.faults.get(system) == "timeout":
            code, message, http = f"{code.split('-')[0]}-TIMEOUT", f"{system} did not answer within 30 s", 504
        if stage == "dispatched":
            return "dead_lettered", (code, message, http), None
        backoff = min(RETRY_FIRST * 2 ** (attempt - 1), RETRY_MAX) / self.speed
        return "failed", (code, message, http), backoff

    def _outcome(
        self, order: LiveOrder, stage: str, hop: Hop, u: float
    ) -> tuple[str, tuple[str, str, int] | None, float | None]:
        """(status, error, retry delay or None) of a first attempt."""
        if not self.background_failures:
            return "ok", None, None
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
                "customer_tier": (tier := customer_tier(order.channel, order.customer)),
                "ship_within_hours": PROMISE_HOURS[tier],
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
