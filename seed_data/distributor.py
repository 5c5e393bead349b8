"""The demo distributor: its systems, flows (with SLAs), queues, channels and partners.

Northwind Supply Co. sells industrial and janitorial supplies through three channels,
books orders in Dynamics 365 (NetSuite for the B2B/EDI business), ships from its own
WMS and two regional 3PLs, and buys from three suppliers over EDI.
"""

from __future__ import annotations

from dataclasses import dataclass

COMPANY = "Northwind Supply Co."


@dataclass(frozen=True)
class System:
    """An application in the estate."""

    system_id: str
    name: str
    kind: str
    vendor: str
    region: str | None = None


@dataclass(frozen=True)
class Flow:
    """One integration step ``start_event → end_event`` from source to target, with its SLA."""

    flow_id: str
    name: str
    source_system: str
    target_system: str
    start_event: str
    end_event: str
    sla_seconds: int
    lag_threshold_seconds: int
    category: str
    queue: str | None = None
    replay_kind: str = "http"
    replay_target: str | None = None


SYSTEMS: tuple[System, ...] = (
    System("shopify", "Shopify storefront", "storefront", "Shopify"),
    System("adobe", "Adobe Commerce", "storefront", "Adobe"),
    System("b2b", "B2B portal (EDI)", "storefront", "In-house"),
    System("d365", "Dynamics 365 (main ERP)", "erp", "Microsoft", "central"),
    System("netsuite", "NetSuite (regional ERP)", "erp", "Oracle", "west"),
    System("mw", "Integration middleware", "middleware", "In-house"),
    System("wms", "Central WMS", "wms", "Manhattan", "central"),
    System("3pl_north", "NorthStar Logistics", "3pl", "NorthStar", "north"),
    System("3pl_coastal", "Coastal Fulfilment", "3pl", "Coastal", "west"),
    System("sup_acme", "Acme Industrial", "supplier", "EDI"),
    System("sup_brightline", "Brightline Chemicals", "supplier", "EDI"),
    System("sup_pacific", "Pacific Paper Goods", "supplier", "EDI"),
)

CHANNEL_ERP = {"shopify": "d365", "adobe": "d365", "b2b": "netsuite"}
CHANNEL_SHARE = {"shopify": 0.55, "adobe": 0.25, "b2b": 0.20}
#: Where each ERP releases its orders, with the share of orders per node.
FULFILMENT = {"d365": {"wms": 0.5, "3pl_north": 0.5}, "netsuite": {"3pl_coastal": 1.0}}
SUPPLIERS = ("sup_acme", "sup_brightline", "sup_pacific")
STOREFRONTS = ("shopify", "adobe")

_MIN = 60
_HOUR = 3600


def _order_flows() -> list[Flow]:
    flows: list[Flow] = []
    for channel, erp in CHANNEL_ERP.items():
        flows.append(
            Flow(
                f"{channel}-{erp}-orders",
                f"{_name(channel)} → {_name(erp)} orders",
                channel,
                erp,
                "order.created",
                "order.accepted",
                sla_seconds=15 * _MIN if channel != "b2b" else 30 * _MIN,
                lag_threshold_seconds=10 * _MIN,
                category="orders",
                queue=f"orders.{channel}",
                replay_target=f"/sim/erp/{erp}/sales-orders",
            )
        )
    for erp, nodes in FULFILMENT.items():
        for node in nodes:
            flows.append(
                Flow(
                    f"{erp}-{node}-release",
                    f"{_name(erp)} → {_name(node)} fulfilment release",
                    erp,
                    node,
                    "order.accepted",
                    "order.released",
                    sla_seconds=2 * _HOUR,
                    lag_threshold_seconds=60 * _MIN,
                    category="fulfilment",
                    queue=f"release.{node}",
                    replay_target=f"/sim/{'wms' if node == 'wms' else '3pl'}/{node}/releases",
                )
            )
            flows.append(
                Flow(
                    f"{node}-{erp}-shipment",
                    f"{_name(node)} → {_name(erp)} shipment confirmation",
                    node,
                    erp,
                    "order.released",
                    "shipment.dispatched",
                    sla_seconds=24 * _HOUR,
                    lag_threshold_seconds=12 * _HOUR,
                    category="shipment",
                    queue=f"shipments.{node}",
                    replay_kind="amqp" if node.startswith("3pl") else "http",
                    replay_target=f"/sim/erp/{erp}/shipments",
                )
            )
        flows.append(
            Flow(
                f"{erp}-invoice",
                f"{_name(erp)} invoicing",
                erp,
                erp,
                "shipment.dispatched",
                "invoice.posted",
                sla_seconds=6 * _HOUR,
                lag_threshold_seconds=3 * _HOUR,
                category="invoice",
                replay_target=f"/sim/erp/{erp}/invoices",
            )
        )
    return flows


def _stock_flows() -> list[Flow]:
    return [
        Flow(
            f"wms-{sf}-inventory",
            f"Central WMS → {_name(sf)} inventory",
            "wms",
            sf,
            "inventory.adjusted",
            "inventory.published",
            sla_seconds=5 * _MIN,
            lag_threshold_seconds=3 * _MIN,
            category="stock",
            queue=f"inventory.{sf}",
            replay_target=f"/sim/storefront/{sf}/inventory",
        )
        for sf in STOREFRONTS
    ]


def _supply_flows() -> list[Flow]:
    flows: list[Flow] = []
    for sup in SUPPLIERS:
        flows.append(
            Flow(
                f"d365-{sup}-po",
                f"Dynamics 365 → {_name(sup)} PO (EDI 850/855)",
                "d365",
                sup,
                "po.sent",
                "po.acknowledged",
                sla_seconds=24 * _HOUR,
                lag_threshold_seconds=12 * _HOUR,
                category="supply",
                queue="edi.outbound",
                replay_target=f"/sim/supplier/{sup}/edi",
            )
        )
        flows.append(
            Flow(
                f"{sup}-d365-asn",
                f"{_name(sup)} → Dynamics 365 ASN (EDI 856)",
                sup,
                "d365",
                "po.acknowledged",
                "asn.received",
                sla_seconds=3 * 24 * _HOUR,
                lag_threshold_seconds=2 * 24 * _HOUR,
                category="supply",
                queue="edi.inbound",
                replay_target="/sim/erp/d365/asn",
            )
        )
    return flows


def _name(system_id: str) -> str:
    return next(s.name for s in SYSTEMS if s.system_id == system_id).split(" (")[0]


FLOWS: tuple[Flow, ...] = (*_order_flows(), *_stock_flows(), *_supply_flows())
FLOW_BY_ID = {f.flow_id: f for f in FLOWS}

#: Broker queues sampled every minute: (queue, flow_id or None, is_dlq).
QUEUES: tuple[tuple[str, str | None, bool], ...] = (
    *(
        item
        for f in FLOWS
        if f.queue and f.category != "supply"
        for item in ((f.queue, f.flow_id, False), (f"{f.queue}.dlq", f.flow_id, True))
    ),
    ("edi.outbound", None, False),
    ("edi.inbound", None, False),
    ("edi.inbound.dlq", None, True),
)
BROKER = "rabbitmq-main"

#: Order numbers per channel: prefix and the number before the first order.
ORDER_NUMBERS = {"shopify": ("SHP-", 1_000_000), "adobe": ("ADB-", 2_000_000), "b2b": ("B2B-", 3_000_000)}
PO_NUMBERS = ("PO-", 4_500_000)
#: Catalogue: SKU-10000 .. SKU-10399, stocked at the central WMS.
SKU_FIRST, SKU_COUNT = 10_000, 400
STOCK_LOCATION = "WMS"
