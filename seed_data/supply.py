"""The supply side (purchase orders over EDI) and stock updates to the storefronts.

Purchase orders walk 850 → 855 → 856 → goods receipt; Brightline's 855s run late all
month and a few never come. Stock adjustments at the WMS are published to both
storefronts within seconds to minutes, except Adobe Commerce, lagging right now.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seed_data.catalogue import Catalogue
from seed_data.delivery import Sink
from seed_data.distributor import FLOW_BY_ID, PO_NUMBERS, STOCK_LOCATION, STOREFRONTS, SUPPLIERS, SYSTEMS
from seed_data.ids import hex_ids, numbered
from seed_data.incidents import IncidentPlan
from seed_data.telemetry import Hop, call, receipt, transform
from seed_data.timeline import DAY, HOUR, MINUTE, intake_weights, lognormal, minute_starts, poisson_times

#: Purchase orders per weekday, per order a day.
PO_PER_ORDER = 1 / 50
#: Stock adjustments per order.
ADJUSTMENTS_PER_ORDER = 1.5
#: 850 → 855 median hours and spread per supplier; Brightline is the late one.
_ACK = {"sup_acme": (3.0, 0.6), "sup_brightline": (32.0, 0.3), "sup_pacific": (5.0, 0.6)}
_NEVER_ACKED = {"sup_acme": 0.0, "sup_brightline": 0.06, "sup_pacific": 0.0}
_NAME = {s.system_id: s.name for s in SYSTEMS}


def _po_hops(supplier: str) -> dict[str, Hop]:
    po_flow, asn_flow = f"d365-{supplier}-po", f"{supplier}-d365-asn"
    erp = "mw-erp-client"
    return {
        "sent": Hop(
            "po.sent",
            po_flow,
            "d365",
            supplier,
            (
                receipt("POST /webhooks/d365/purchase-orders", "d365"),
                transform("map PO → X12 850"),
                call("mw-edi", "AS2 send 850", supplier, 900.0, status=None),
            ),
            queue="edi.outbound",
            key_attr="po.id",
            transient=("EDI-MDN", f"No AS2 MDN from {_NAME[supplier]} within 5 min; resent", 0),
        ),
        "acknowledged": Hop(
            "po.acknowledged",
            po_flow,
            supplier,
            "d365",
            (
                receipt("AS2 receive 855", supplier),
                transform("map X12 855 → PO confirmation"),
                call(erp, "POST /data/PurchaseOrderConfirmations", "d365", 200.0),
            ),
            queue="edi.inbound",
            dlq="edi.inbound.dlq",
            key_attr="po.id",
        ),
        "asn": Hop(
            "asn.received",
            asn_flow,
            supplier,
            "d365",
            (
                receipt("AS2 receive 856", supplier),
                transform("map X12 856 → ASN"),
                call(erp, "POST /data/AdvancedShippingNotices", "d365", 220.0),
            ),
            queue="edi.inbound",
            dlq="edi.inbound.dlq",
            key_attr="po.id",
        ),
        "goods": Hop(
            "goods.received",
            None,
            "wms",
            "d365",
            (
                receipt("POST /webhooks/wms/receipts", "wms"),
                transform("map goods receipt"),
                call(erp, "POST /data/ProductReceipts", "d365", 200.0),
            ),
            key_attr="po.id",
        ),
    }


PO_HOPS = {s: _po_hops(s) for s in SUPPLIERS}
_ADJUSTED = Hop("inventory.adjusted", None, "wms", None, ())
_PUBLISHED = {sf: Hop("inventory.published", f"wms-{sf}-inventory", "wms", sf, ()) for sf in STOREFRONTS}
_INVENTORY_QUEUE = {sf: f"inventory.{sf}" for sf in STOREFRONTS}


class PoNumbers:
    """PO-4500001, PO-4500002, ... continued across chunks."""

    def __init__(self) -> None:
        self._last = PO_NUMBERS[1]

    def assign(self, n: int) -> pa.Array:
        ids = numbered(PO_NUMBERS[0], self._last + 1 + np.arange(n))
        self._last += n
        return ids


def emit_purchase_orders(
    sink: Sink,
    start: float,
    end: float,
    orders_per_day: int,
    plan: IncidentPlan,
    catalogue: Catalogue,
    numbers: PoNumbers,
) -> None:
    """POs sent in ``[start, end)`` to the three suppliers, and whatever followed by the anchor."""
    rng = sink.rng
    minutes = minute_starts(start, end)
    rate = max(6.0, orders_per_day * PO_PER_ORDER) / (DAY / MINUTE) * intake_weights(minutes, weekend=0.5)
    sent = poisson_times(rng, minutes, rate)
    supplier = rng.integers(0, len(SUPPLIERS), len(sent))
    scripted = np.array([t for t in plan.scripted_missing_acks if start <= t < end])
    sent = np.concatenate([sent, scripted])
    supplier = np.concatenate([supplier, np.full(len(scripted), SUPPLIERS.index("sup_brightline"))])
    never = np.concatenate([np.zeros(len(sent) - len(scripted), bool), np.ones(len(scripted), bool)])
    order = np.argsort(sent, kind="stable")
    sent, supplier, never = sent[order], supplier[order], never[order]
    n = len(sent)
    ids = numbers.assign(n)
    lines = rng.integers(1, 6, n)
    sku = catalogue.labels.take(pa.array(catalogue.sample(rng, n)))
    body = pc.binary_join_element_wise(
        '{"po":"',
        ids,
        '","supplier":"',
        pa.array(SUPPLIERS).take(pa.array(supplier)),
        '","lines":',
        pc.cast(pa.array(lines), pa.string()),
        ',"first_sku":"',
        sku,
        '","qty":',
        pc.cast(pa.array(24 * rng.integers(1, 40, n)), pa.string()),
        "}",
        "",
    )
    for s, name in enumerate(SUPPLIERS):
        idx = np.flatnonzero(supplier == s)
        if len(idx) == 0:
            continue
        take = pa.array(idx)
        po, payload, hops = ids.take(take), body.take(take), PO_HOPS[name]
        k = len(idx)
        sent_ok = sink.deliver(hops["sent"], sent[idx], po, None, payload)
        median, sigma = _ACK[name]
        ack = sent_ok + lognormal(rng, median * HOUR, sigma, k)
        ack[never[idx] | (rng.random(k) < _NEVER_ACKED[name])] = np.nan
        acked = sink.deliver(hops["acknowledged"], ack, po, None, payload)
        asn = sink.deliver(hops["asn"], acked + lognormal(rng, 36 * HOUR, 0.4, k), po, None, payload)
        sink.deliver(hops["goods"], asn + lognormal(rng, 30 * HOUR, 0.4, k), po, None, payload)
        _ack_breaches(sink, hops["sent"].flow_id, sent[idx], acked, po)


def _ack_breaches(sink: Sink, flow_id: str, sent: np.ndarray, acked: np.ndarray, po: pa.Array) -> None:
    """855s later than the SLA (grouped) and POs past the SLA with no 855 yet (one each)."""
    due = sent + FLOW_BY_ID[flow_id].sla_seconds
    received = acked <= 0
    late = np.flatnonzero((due <= 0) & received & (acked > due))
    missing = np.flatnonzero((due <= 0) & ~received)
    sink.findings.breach("sla_breach", flow_id, "855-late", po.take(pa.array(late)), due[late], acked[late])
    sink.findings.breach(
        "missing_ack", flow_id, "855", po.take(pa.array(missing)), due[missing], np.full(len(missing), np.nan)
    )


def emit_inventory(
    sink: Sink, start: float, end: float, orders_per_day: int, plan: IncidentPlan, catalogue: Catalogue
) -> None:
    """Stock adjustments in ``[start, end)`` and their publication to each storefront."""
    rng = sink.rng
    minutes = minute_starts(start, end)
    rate = orders_per_day * ADJUSTMENTS_PER_ORDER / (DAY / MINUTE) * intake_weights(minutes)
    adjusted = poisson_times(rng, minutes, rate)
    n = len(adjusted)
    sku = catalogue.labels.take(pa.array(catalogue.sample(rng, n)))
    keys = pc.binary_join_element_wise(sku, f"@{STOCK_LOCATION}", "")
    receipt_in = rng.random(n) < 0.1
    delta = np.where(receipt_in, 24 * rng.integers(1, 20, n), -(1 + rng.poisson(2.0, n)))
    on_hand = pc.cast(pa.array(rng.integers(0, 600, n)), pa.string())
    adjustment = hex_ids(rng, n, 6, "ADJ-")
    head = ('{"sku":"', sku, f'","location":"{STOCK_LOCATION}","adjustment_id":"', adjustment)
    adjusted_body = pc.binary_join_element_wise(
        *head,
        '","delta":',
        pc.cast(pa.array(delta), pa.string()),
        ',"on_hand":',
        on_hand,
        ',"reason":"',
        pc.if_else(pa.array(receipt_in), "receipt", "pick"),
        '"}',
        "",
    )
    logged = adjusted + lognormal(rng, 0.5, 0.5, n)
    seen = logged <= 0
    take = pa.array(np.flatnonzero(seen))
    sink.add_events(
        _ADJUSTED,
        correlation_ids=keys.take(take),
        channel=None,
        occurred=adjusted[seen],
        received=logged[seen],
        payload=adjusted_body.take(take),
    )
    for sf in STOREFRONTS:
        hop = _PUBLISHED[sf]
        lagging = plan.adobe_lag.contains(adjusted) if sf == "adobe" else np.zeros(n, bool)
        queued = np.where(lagging, lognormal(rng, 14 * MINUTE, 0.4, n), lognormal(rng, 40.0, 1.0, n))
        published = logged + queued + lognormal(rng, 0.3, 0.5, n)
        received = published + lognormal(rng, 0.4, 0.5, n)
        sink.ledger.record(_INVENTORY_QUEUE[sf], logged, logged + queued)
        done = received <= 0
        take = pa.array(np.flatnonzero(done))
        sink.add_events(
            hop,
            correlation_ids=keys.take(take),
            channel=sf,
            occurred=published[done],
            received=received[done],
            payload=pc.binary_join_element_wise(*head, '","available":', on_hand, f',"storefront":"{sf}"}}', "").take(
                take
            ),
        )
        if sf == "adobe":
            sla = FLOW_BY_ID[hop.flow_id].sla_seconds
            late = np.flatnonzero(lagging & (adjusted + sla <= 0) & ~(published <= adjusted + sla))
            ended = np.where(published[late] <= 0, published[late], np.nan)
            sink.findings.breach(
                "sla_breach", hop.flow_id, "sync-lag", keys.take(pa.array(late)), adjusted[late] + sla, ended
            )
