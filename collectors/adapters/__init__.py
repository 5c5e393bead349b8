"""Vendor adapters: native webhook/EDI payloads in, canonical business events out.

Adding an adapter is one module implementing ``Adapter`` plus one entry in ``ADAPTERS``;
the key is the ``{adapter}`` of ``POST /api/v1/webhooks/{adapter}``.
"""

from __future__ import annotations

from collectors.adapters.base import Adapter, AdapterAuthError, AdapterError, AdapterSecrets, Event
from collectors.adapters.edi import EdiAdapter
from collectors.adapters.erp import ErpAdapter
from collectors.adapters.shopify import ShopifyAdapter
from collectors.adapters.threepl import ThreePLAdapter

ADAPTERS: dict[str, Adapter] = {
    "shopify": ShopifyAdapter(),
    "3pl": ThreePLAdapter(),
    "erp": ErpAdapter(),
    "edi": EdiAdapter(),
}

__all__ = ["ADAPTERS", "Adapter", "AdapterAuthError", "AdapterError", "AdapterSecrets", "Event"]
