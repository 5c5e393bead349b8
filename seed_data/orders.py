"""Storefront orders and their lifecycle, one chunk of days at a time.

Orders arrive on a Poisson process shaped by the demo calendar (plus the flash sale), then
walk created → accepted → released → dispatched → invoiced with lognormal step delays, with
holds, cancellations, returns and refunds on the side. The incidents bend this walk:
validation failures stop orders at creation, the ERP slowdown queues and times out
acceptance, NorthStar dead-letters shipment confirmations, Coastal rejects releases now.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seed_data.catalogue import Catalogue, money
from seed_data.delivery import DEAD, FAILED, RETRY, Errors, Sink
from seed_data.distributor import (
    CHANNEL_ERP,
    CHANNEL_SHARE,
    FLOW_BY_ID,
    FULFILMENT,
    ORDER_NUMBERS,
    PROMISE_HOURS,
    customer_tier,
)
from seed_data.ids import hex_ids
from seed_data.incidents import (
    COASTAL_ERROR,
    COASTAL_FAILURE_SHARE,
    COASTAL_FORCED,
    ERP_SLOW_FACTOR,
    ERP_TIMEOUT_ERROR,
    ERP_TIMEOUT_SHARE,
    FLASH_MULTIPLIER,
    OUTAGE_ERROR,
    UNMAPPED_SKUS,
    VALIDATION_ADDR,
    VALIDATION_SKU,
    ErpBacklog,
    IncidentPlan,
)
from seed_data.order_hops import HOPS
from seed_data.timeline import DAY, HOUR, MINUTE, intake_weights, lognormal, minute_starts, poisson_times

CHANNELS = tuple(CHANNEL_SHARE)
ERPS = ("d365", "netsuite")
NODES = ("wms", "3pl_north", "3pl_coastal")

VALIDATION_SHARE = 0.005
VALIDATION_UNFIXED_SHARE = 0.25
HOLD_SHARE = 0.015
CANCEL_SHARE = 0.01
RETURN_SHARE = 0.03

#: How long each order step takes after the one before, history and live demo alike: the median in
#: seconds (per ERP for acceptance, per node for dispatch: most ship the same or the next day) and
#: the lognormal spread. ``collectors``' live traffic draws from the same table.
STEP_DELAYS: dict[str, tuple[float | dict[str, float], float]] = {
    "accepted": ({"d365": 60.0, "netsuite": 240.0}, 0.7),
    "released": (25 * MINUTE, 0.6),
    "dispatched": ({"wms": 5.0 * HOUR, "3pl_north": 8.0 * HOUR, "3pl_coastal": 10.0 * HOUR}, 0.55),
    "invoiced": (70 * MINUTE, 0.6),
}
#: How operators name the ERPs in error messages.
_ERP_SHORT = {"d365": "D365", "netsuite": "NetSuite"}
_CARRIERS = pa.array(["UPS", "FedEx", "USPS", "XPO Freight"])
_HOLD_REASONS = pa.array(["credit_check", "stock_allocation"])


@dataclass(frozen=True)
class Orders:
    """One chunk's orders, column-wise, sorted by creation time."""

    created: np.ndarray
    channel: np.ndarray  # index into CHANNELS
    erp: np.ndarray  # index into ERPS
    node: np.ndarray  # index into NODES
    ids: pa.Array
    channel_names: pa.Array
    erp_orders: pa.Array
    lines: pa.Array  # JSON array of {sku, qty, unit_price}
    total: pa.Array  # JSON decimal
    validation: np.ndarray  # 0 none, 1 unmapped SKU, 2 missing postcode
    validation_error: np.ndarray  # message of the validation failure (object, None elsewhere)
    scripted: np.ndarray  # validation failures placed by the incident script (never fixed)
    payload: pa.Array  # order.created as it should be
    sent_payload: pa.Array  # order.created as the storefront first sent it

    def __len__(self) -> int:
        return len(self.created)


class OrderNumbers:
    """Per-channel order number sequences, continued across chunks."""

    def __init__(self) -> None:
        self._last = {c: ORDER_NUMBERS[c][1] for c in CHANNELS}

    def assign(self, channel: np.ndarray) -> pa.Array:
        numbers = np.empty(len(channel), np.int64)
        for c, name in enumerate(CHANNELS):
            mask = channel == c
            numbers[mask] = self._last[name] + np.arange(1, int(mask.sum()) + 1)
            self._last[name] += int(mask.sum())
        prefixes = pa.array([ORDER_NUMBERS[c][0] for c in CHANNELS]).take(pa.array(channel))
        return pc.binary_join_element_wise(prefixes, pc.cast(pa.array(numbers), pa.string()), "")


def sample_orders(
    rng: np.random.Generator,
    start: float,
    end: float,
    orders_per_day: int,
    plan: IncidentPlan,
    catalogue: Catalogue,
    numbers: OrderNumbers,
) -> Orders:
    """Orders created in ``[start, end)``: calendar-shaped intake, the flash sale on Shopify."""
    minutes = minute_starts(start, end)
    rate = orders_per_day / (DAY / MINUTE) * intake_weights(minutes)
    created = poisson_times(rng, minutes, rate)
    channel = rng.choice(len(CHANNELS), size=len(created), p=list(CHANNEL_SHARE.values()))
    if plan.flash_sale is not None:
        surge = rate * CHANNEL_SHARE["shopify"] * (FLASH_MULTIPLIER - 1) * plan.flash_sale.contains(minutes)
        extra = poisson_times(rng, minutes, surge)
        created = np.concatenate([created, extra])
        channel = np.concatenate([channel, np.full(len(extra), CHANNELS.index("shopify"))])
    order = np.argsort(created, kind="stable")
    created, channel = created[order], channel[order]
    n = len(created)
    erp = np.array([ERPS.index(CHANNEL_ERP[c]) for c in CHANNELS])[channel]
    node = np.where(erp == 0, np.where(rng.random(n) < FULFILMENT["d365"]["wms"], 0, 1), 2)

    validation = np.where(rng.random(n) < VALIDATION_SHARE, np.where(rng.random(n) < 0.6, 1, 2), 0)
    scripted = np.zeros(n, dtype=bool)
    for k, t in enumerate(plan.scripted_validation):
        if start <= t < end and n:
            nearest = int(np.argmin(np.abs(created - t)))
            validation[nearest], scripted[nearest] = 1 + k % 2, True

    ids = numbers.assign(channel)
    b2b = channel == CHANNELS.index("b2b")
    line_count = np.where(b2b, 2 + rng.poisson(3.0, n), 1 + rng.poisson(1.2, n))
    sku = catalogue.sample(rng, int(line_count.sum()))
    qty = 1 + rng.poisson(np.repeat(np.where(b2b, 12.0, 1.2), line_count))
    offsets = np.concatenate([[0], np.cumsum(line_count)]).astype(np.int32)
    sku_text = catalogue.labels.take(pa.array(sku))
    bad_sku = rng.choice(UNMAPPED_SKUS, int((validation == 1).sum()))
    unmapped = np.full(len(sku), None, dtype=object)
    unmapped[offsets[:-1][validation == 1]] = bad_sku
    sku_text = pc.coalesce(pa.array(unmapped, pa.string()), sku_text)
    validation_error = np.full(n, None, dtype=object)
    validation_error[validation == 2] = VALIDATION_ADDR[1]
    erp_names = [_ERP_SHORT[ERPS[e]] for e in erp[validation == 1]]
    validation_error[validation == 1] = [
        f"SKU {code} not mapped in {name} item master" for code, name in zip(bad_sku, erp_names, strict=True)
    ]
    line_json = pc.binary_join_element_wise(
        '{"sku":"',
        sku_text,
        '","qty":',
        pc.cast(pa.array(qty), pa.string()),
        ',"unit_price":',
        money(catalogue.price_cents[sku]),
        "}",
        "",
    )
    lines = pc.binary_join_element_wise(
        "[", pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), line_json), ","), "]", ""
    )
    total = money(np.add.reduceat(qty * catalogue.price_cents[sku], offsets[:-1]) if n else np.empty(0, np.int64))
    customer_numbers = rng.integers(10_000, 99_999, n)
    customer = pc.cast(pa.array(customer_numbers), pa.string())
    postcode = pc.utf8_lpad(pc.cast(pa.array(rng.integers(1_000, 99_950, n)), pa.string()), 5, "0")
    channel_names = pa.array(CHANNELS).take(pa.array(channel))
    tiers = [customer_tier(CHANNELS[c], int(k)) for c, k in zip(channel, customer_numbers, strict=True)]
    promise = pa.array([f'"{t}","ship_within_hours":{PROMISE_HOURS[t]}' for t in tiers], pa.string())

    def created_payload(ship_to: pa.Array) -> pa.Array:
        return pc.binary_join_element_wise(
            '{"order_id":"',
            ids,
            '","channel":"',
            channel_names,
            '","customer":"C-',
            customer,
            '","customer_tier":',
            promise,
            ',"currency":"USD","ship_to":{"country":"US","postcode":"',
            ship_to,
            '"},"lines":',
            lines,
            ',"total":',
            total,
            "}",
            "",
        )

    payload = created_payload(postcode)
    blank = pa.array(validation == 2)
    sent = created_payload(pc.if_else(blank, "", postcode)) if (validation == 2).any() else payload
    return Orders(
        created=created,
        channel=channel,
        erp=erp,
        node=node,
        ids=ids,
        channel_names=channel_names,
        erp_orders=pc.binary_join_element_wise("SO-", pc.utf8_slice_codeunits(ids, 4), ""),
        lines=lines,
        total=total,
        validation=validation,
        validation_error=validation_error,
        scripted=scripted,
        payload=payload,
        sent_payload=sent,
    )


def emit_lifecycle(sink: Sink, orders: Orders, plan: IncidentPlan, backlog: ErpBacklog) -> None:
    """Deliver every step of every order that has happened by the anchor."""
    rng, n = sink.rng, len(orders)
    if n == 0:
        return
    d365 = orders.erp == 0
    slowdown = plan.erp_slowdown.contains if plan.erp_slowdown else (lambda t: np.zeros(len(t), bool))
    ids = orders.ids

    def payload(*parts: str | pa.Array) -> pa.Array:
        return pc.binary_join_element_wise('{"order_id":"', ids, '","erp_order":"', orders.erp_orders, *parts, "")

    def deliver(
        step: str,
        groups: np.ndarray,
        names: tuple[str, ...],
        occurred: np.ndarray,
        body: pa.Array,
        **per_row: object,
    ) -> np.ndarray:
        """Deliver one step per system group; rows not yet due (NaN or after the anchor) skip."""
        final = np.full(n, np.nan)
        for g, name in enumerate(names):
            idx = np.flatnonzero((groups == g) & (occurred <= 0))
            if len(idx) == 0:
                continue
            take = pa.array(idx)
            kwargs = {k: _subset(v, idx) for k, v in per_row.items() if v is not None}
            final[idx] = sink.deliver(
                HOPS[step, name],
                occurred[idx],
                ids.take(take),
                orders.channel_names.take(take),
                body.take(take),
                **kwargs,
            )
        return final

    # order.created: validation failures (some fixed later), queueing, slow calls and timeouts in the slowdown.
    created = orders.created
    shopify = orders.channel == CHANNELS.index("shopify")
    wait = np.where(shopify, backlog.wait(created), 0.0)
    in_slowdown = d365 & slowdown(created + wait)
    outcome = np.zeros(n, np.int64)
    errors = Errors.empty(n)
    invalid = orders.validation > 0
    outcome[invalid] = FAILED
    errors.set(orders.validation == 1, VALIDATION_SKU, orders.validation_error, 400)
    errors.set(orders.validation == 2, VALIDATION_ADDR[0], orders.validation_error, 422)
    timeouts = in_slowdown & ~invalid & (rng.random(n) < ERP_TIMEOUT_SHARE)
    outcome[timeouts] = RETRY
    errors.set(timeouts, *ERP_TIMEOUT_ERROR, 504, fail_ms=30_000.0)
    unfixed = orders.scripted | (rng.random(n) < VALIDATION_UNFIXED_SHARE)
    fix_at = np.where(invalid & ~unfixed, created + lognormal(rng, 5 * HOUR, 0.8, n), np.nan)
    created_ok = deliver(
        "created",
        orders.channel,
        CHANNELS,
        created,
        orders.sent_payload,
        wait=wait,
        slow=np.where(in_slowdown, ERP_SLOW_FACTOR, 1.0),
        outcome=outcome,
        errors=errors,
        recover_at=fix_at,
        fixed_payload=orders.payload,
    )

    # order.accepted: the ERP books the order (slower while D365 is degraded).
    by_erp, sigma = STEP_DELAYS["accepted"]
    assert isinstance(by_erp, dict)
    booking = lognormal(rng, np.where(d365, by_erp["d365"], by_erp["netsuite"]), sigma, n) * np.where(
        slowdown(created_ok) & d365, 4.0, 1.0
    )
    accepted = created_ok + booking
    deliver("accepted", orders.channel, CHANNELS, accepted, payload('","status":"accepted"}'))
    _acceptance_breaches(sink, orders, plan, accepted)

    # Holds delay the release; cancellations replace it.
    u = rng.random(n)
    held, cancelled = u < HOLD_SHARE, (u >= HOLD_SHARE) & (u < HOLD_SHARE + CANCEL_SHARE)
    reason = _HOLD_REASONS.take(pa.array((rng.random(n) < 0.4).astype(np.int64)))
    hold_at = np.where(held, accepted + lognormal(rng, 3 * MINUTE, 0.5, n), np.nan)
    deliver("held", orders.channel, CHANNELS, hold_at, payload('","reason":"', reason, '"}'))
    median, sigma = STEP_DELAYS["released"]
    release = accepted + lognormal(rng, median, sigma, n) + np.where(held, lognormal(rng, 5 * HOUR, 0.7, n), 0)
    cancel_at = np.where(cancelled, np.minimum(accepted + lognormal(rng, 12 * MINUTE, 0.8, n), release - 30), np.nan)
    deliver("cancelled", orders.channel, CHANNELS, cancel_at, payload('","reason":"customer_request"}'))
    release[cancelled] = np.nan

    # order.released: Coastal is rejecting releases right now.
    outcome = np.zeros(n, np.int64)
    errors = Errors.empty(n)
    coastal = orders.node == NODES.index("3pl_coastal")
    window = plan.coastal_failures
    forced = _force_into_window(release, coastal & ~held, accepted, window.start)
    release[forced] = window.start + np.array(COASTAL_FORCED[: len(forced)])
    failing = coastal & window.contains(release) & (rng.random(n) < COASTAL_FAILURE_SHARE)
    failing[forced] = True
    outcome[failing] = FAILED
    errors.set(failing, *COASTAL_ERROR, 500)
    node_names = pa.array(NODES).take(pa.array(orders.node))
    released = deliver(
        "released",
        orders.node,
        NODES,
        release,
        payload('","node":"', node_names, '","lines":', orders.lines, "}"),
        outcome=outcome,
        errors=errors,
    )

    # shipment.dispatched: NorthStar confirmations dead-lettered in the outage, replayed in bulk later.
    by_node, sigma = STEP_DELAYS["dispatched"]
    assert isinstance(by_node, dict)
    dispatch = released + lognormal(rng, np.array([by_node[x] for x in NODES])[orders.node], sigma, n)
    outcome = np.zeros(n, np.int64)
    errors = Errors.empty(n)
    replay_at = np.full(n, np.nan)
    if plan.outage is not None:
        dead = (orders.node == NODES.index("3pl_north")) & plan.outage.contains(dispatch)
        outcome[dead] = DEAD
        errors.set(dead, *OUTAGE_ERROR, 503)
        u = _stratified(rng, dead)
        shares = np.cumsum([share for _, share in plan.outage_replays])
        for (at, _), below in zip(plan.outage_replays, shares, strict=True):
            batch = dead & np.isnan(replay_at) & (u < below)
            replay_at[batch] = at + rng.uniform(0, 20 * MINUTE, n)[batch]
    carrier = _CARRIERS.take(pa.array(np.where(orders.channel == CHANNELS.index("b2b"), 3, rng.integers(0, 3, n))))
    shipment_body = payload(
        '","shipment_id":"SH-',
        pc.utf8_slice_codeunits(ids, 4),
        '","carrier":"',
        carrier,
        '","tracking":"',
        hex_ids(rng, n, 8, "1Z"),
        '","lines":',
        orders.lines,
        "}",
    )
    dispatched = deliver(
        "dispatched",
        orders.node,
        NODES,
        dispatch,
        shipment_body,
        outcome=outcome,
        errors=errors,
        recover_at=replay_at,
    )

    # invoice.posted once the ERP knows the goods left; a few orders come back.
    median, sigma = STEP_DELAYS["invoiced"]
    invoice = dispatched + lognormal(rng, median, sigma, n)
    deliver(
        "invoiced",
        orders.erp,
        ERPS,
        invoice,
        payload(
            '","invoice":"INV-',
            pc.utf8_slice_codeunits(ids, 4),
            '","currency":"USD","total":',
            orders.total,
            "}",
        ),
    )
    returning = rng.random(n) < RETURN_SHARE
    returned_at = np.where(returning, dispatch + lognormal(rng, 4 * DAY, 0.5, n), np.nan)
    rma = pc.binary_join_element_wise("RMA-", pc.utf8_slice_codeunits(ids, 4), "")
    returned = deliver(
        "returned",
        orders.node,
        NODES,
        np.where(np.isnan(dispatched), np.nan, returned_at),
        payload('","rma":"', rma, '","lines":', orders.lines, "}"),
    )
    refund = returned + lognormal(rng, 20 * HOUR, 0.5, n)
    deliver(
        "refunded",
        orders.channel,
        CHANNELS,
        refund,
        payload('","rma":"', rma, '","amount":', orders.total, "}"),
    )


def _stratified(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Uniforms on the ``mask`` rows spread one per stratum, so shares hold even for a handful of rows."""
    u = np.ones(len(mask))
    k = int(mask.sum())
    u[mask] = (rng.permutation(k) + rng.random(k)) / max(k, 1)
    return u


def _subset(value: object, idx: np.ndarray) -> object:
    """Row subset of a per-row argument (scalars pass through)."""
    if isinstance(value, Errors):
        return Errors(value.code[idx], value.message[idx], value.http[idx], value.fail_ms[idx])
    if isinstance(value, pa.Array):
        return value.take(pa.array(idx))
    if isinstance(value, np.ndarray):
        return value[idx]
    return value


def _force_into_window(release: np.ndarray, eligible: np.ndarray, accepted: np.ndarray, start: float) -> np.ndarray:
    """The latest accepted orders before ``start``: their releases land in the failure window."""
    candidates = np.flatnonzero(eligible & (accepted < start - 5 * MINUTE) & (release > start - 2 * HOUR))
    return np.sort(candidates[np.argsort(accepted[candidates])[-len(COASTAL_FORCED) :]])


def _acceptance_breaches(sink: Sink, orders: Orders, plan: IncidentPlan, accepted: np.ndarray) -> None:
    """D365 orders whose acceptance broke the SLA around the flash sale (one grouped exception per flow)."""
    if plan.flash_sale is None or plan.erp_slowdown is None:
        return
    around = (orders.created >= plan.flash_sale.start) & (orders.created < plan.erp_slowdown.end + 2 * HOUR)
    around &= orders.validation == 0  # rejected orders have their own exceptions
    for c, channel in enumerate(CHANNELS):
        if CHANNEL_ERP[channel] != "d365":
            continue
        flow = f"{channel}-{CHANNEL_ERP[channel]}-orders"
        sla = FLOW_BY_ID[flow].sla_seconds
        due = orders.created + sla
        late = around & (orders.channel == c) & (due <= 0) & ~(accepted <= due)
        idx = np.flatnonzero(late)
        ended = np.where(accepted[idx] <= 0, accepted[idx], np.nan)
        sink.findings.breach("sla_breach", flow, "acceptance", orders.ids.take(pa.array(idx)), due[idx], ended)
