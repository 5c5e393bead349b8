"""The demo distributor: its systems, flows (with SLAs), queues, channels and partners.

Northwind Supply Co. sells industrial and janitorial supplies through three channels,
books orders in Dynamics 365 (NetSuite for the B2B/EDI business), ships from its own
WMS and two regional 3PLs, and buys from three suppliers over EDI. Its systems and flows
are the default flow file (``models/store/default_flows.toml``), which the server syncs at start;
the seeder reads the same file, so the history and the running server agree.
"""

from __future__ import annotations

from models.store.flow_config import FlowDef, SystemDef, load_flow_config

FLOW_CONFIG = load_flow_config()
COMPANY = FLOW_CONFIG.company or "Northwind Supply Co."
SYSTEMS: tuple[SystemDef, ...] = tuple(FLOW_CONFIG.systems)
FLOWS: tuple[FlowDef, ...] = tuple(FLOW_CONFIG.flows)

CHANNEL_ERP = {"shopify": "d365", "adobe": "d365", "b2b": "netsuite"}
CHANNEL_SHARE = {"shopify": 0.55, "adobe": 0.25, "b2b": 0.20}
#: Where each ERP releases its orders, with the share of orders per node.
FULFILMENT = {"d365": {"wms": 0.5, "3pl_north": 0.5}, "netsuite": {"3pl_coastal": 1.0}}
SUPPLIERS = ("sup_acme", "sup_brightline", "sup_pacific")
#: The demo's EDI trading partners: ISA/GS id → system id (the buyer itself, and its three suppliers).
EDI_PARTNERS = {
    "NORTHWIND": "d365",
    "ACMEIND": "sup_acme",
    "BRIGHTLINE": "sup_brightline",
    "PACIFICPAPER": "sup_pacific",
}
STOREFRONTS = ("shopify", "adobe")
#: What the order.created payload promises: B2B accounts and every tenth storefront customer are key
#: accounts, promised shipment within a day; the rest within two (derived from the customer number, so
#: seeding draws no extra random numbers and a seed's history stays what it was).
KEY_ACCOUNT_EVERY = 10
PROMISE_HOURS = {"key": 24, "standard": 48}


def customer_tier(channel: str, customer: int) -> str:
    """The demo customer's tier: ``key`` or ``standard``."""
    return "key" if channel == "b2b" or customer % KEY_ACCOUNT_EVERY == 0 else "standard"


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
