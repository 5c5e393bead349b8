"""The integration hops an order crosses, system by system, with their span templates.

Routes and latencies are per system (Dynamics 365 and NetSuite APIs, the WMS and 3PL
APIs), so a trace reads like the real estate: webhook receipt, transform, outbound call.
"""

from __future__ import annotations

from seed_data.distributor import CHANNEL_ERP, FULFILMENT
from seed_data.telemetry import Hop, call, receipt, transform

_ERP_NAME = {"d365": "Dynamics 365", "netsuite": "NetSuite"}
_ERP_API = {
    "d365": {
        "order": "POST /data/salesorders",
        "shipment": "POST /data/SalesOrderShipments",
        "return": "POST /data/ReturnOrders",
        "median_ms": 180.0,
    },
    "netsuite": {
        "order": "POST /services/rest/record/v1/salesOrder",
        "shipment": "POST /services/rest/record/v1/itemFulfillment",
        "return": "POST /services/rest/record/v1/returnAuthorization",
        "median_ms": 320.0,
    },
}
_NODE_API = {
    "wms": (
        "mw-wms-client",
        "POST /api/v1/outbound-orders",
        120.0,
        "WMS-503",
        "Central WMS unavailable (503)",
    ),
    "3pl_north": (
        "mw-3pl-client",
        "POST /v2/fulfillment-orders",
        260.0,
        "3PL-502",
        "Bad Gateway from NorthStar API",
    ),
    "3pl_coastal": (
        "mw-3pl-client",
        "POST /v2/fulfillment-orders",
        300.0,
        "3PL-502",
        "Bad Gateway from Coastal API",
    ),
}


def _erp_throttled(erp: str) -> tuple[str, str, int]:
    return "ERP-429", f"{_ERP_NAME[erp]} throttled the request (429 Too Many Requests)", 429


def _hops() -> dict[tuple[str, ...], Hop]:
    """Every order hop, keyed by (step, system, system)."""
    hops: dict[tuple[str, ...], Hop] = {}
    for channel, erp in CHANNEL_ERP.items():
        flow, api = f"{channel}-{erp}-orders", _ERP_API[erp]
        erp_call = call("mw-erp-client", api["order"], erp, api["median_ms"])
        hops["created", channel] = Hop(
            "order.created",
            flow,
            channel,
            erp,
            (
                receipt(f"POST /webhooks/{channel}/orders", channel),
                transform(f"map {channel} order → {erp}"),
                erp_call,
            ),
            queue=f"orders.{channel}",
            dlq=f"orders.{channel}.dlq",
            transient=_erp_throttled(erp),
        )
        status_receipt = receipt(f"POST /webhooks/{erp}/sales-order-events", erp)
        hops["accepted", channel] = Hop(
            "order.accepted", flow, channel, erp, (status_receipt, transform(f"map {erp} status → {channel}"))
        )
        hops["held", channel] = Hop("order.held", flow, erp, channel, (status_receipt, transform("map order hold")))
        hops["cancelled", channel] = Hop(
            "order.cancelled",
            flow,
            channel,
            erp,
            (
                receipt(f"POST /webhooks/{channel}/orders/cancelled", channel),
                transform("map cancellation"),
                call("mw-erp-client", api["order"].replace("POST", "PATCH"), erp, api["median_ms"], status=200),
            ),
        )
    for erp, nodes in FULFILMENT.items():
        api = _ERP_API[erp]
        erp_shipment = call("mw-erp-client", api["shipment"], erp, api["median_ms"])
        for node in nodes:
            service, route, median, code, message = _NODE_API[node]
            hops["released", node] = Hop(
                "order.released",
                f"{erp}-{node}-release",
                erp,
                node,
                (
                    receipt(f"POST /webhooks/{erp}/releases", erp),
                    transform(f"map release → {node}"),
                    call(service, route, node, median),
                ),
                queue=f"release.{node}",
                dlq=f"release.{node}.dlq",
                transient=(code, message, 502),
            )
            notice = receipt(f"POST /webhooks/{node}/shipment-notices", node)
            mapping = transform(f"map {node} shipment → {erp}")
            if node.startswith("3pl"):
                fetch = call("mw-3pl-client", "GET /v2/shipments/{id}", node, 220.0, status=200)
                steps, fail_step, transient = (notice, fetch, mapping, erp_shipment), 1, (code, message, 502)
            else:
                steps, fail_step, transient = (notice, mapping, erp_shipment), -1, _erp_throttled(erp)
            hops["dispatched", node] = Hop(
                "shipment.dispatched",
                f"{node}-{erp}-shipment",
                node,
                erp,
                steps,
                queue=f"shipments.{node}",
                dlq=f"shipments.{node}.dlq",
                fail_step=fail_step,
                transient=transient,
            )
            hops["returned", node] = Hop(
                "return.received",
                None,
                node,
                erp,
                (
                    receipt(f"POST /webhooks/{node}/returns", node),
                    transform(f"map return → {erp}"),
                    call("mw-erp-client", api["return"], erp, api["median_ms"]),
                ),
            )
        hops["invoiced", erp] = Hop(
            "invoice.posted",
            f"{erp}-invoice",
            erp,
            erp,
            (receipt(f"POST /webhooks/{erp}/invoices", erp), transform("map invoice")),
        )
        for channel in (c for c, e in CHANNEL_ERP.items() if e == erp):
            hops["refunded", channel] = Hop(
                "refund.issued",
                None,
                erp,
                channel,
                (
                    receipt(f"POST /webhooks/{erp}/refunds", erp),
                    call("mw-storefront-client", "POST /orders/{id}/refunds", channel, 240.0),
                ),
            )
    return hops


HOPS = _hops()
