"""Vendor adapters: native webhook/EDI payloads in, canonical business events out.

Adding an adapter is one module implementing ``Adapter`` plus one entry in :func:`build_adapters`;
the key is the ``{adapter}`` of ``POST /api/v1/webhooks/{adapter}``. The registry is built per
process from configuration (EDI trading partners), never at import.
"""

from __future__ import annotations

from collections.abc import Mapping

from collectors.adapters.base import Adapter, AdapterAuthError, AdapterError, AdapterSecrets, Event
from collectors.adapters.edi import EdiAdapter, PartnerSource
from collectors.adapters.erp import ErpAdapter
from collectors.adapters.shopify import ShopifyAdapter
from collectors.adapters.threepl import ThreePLAdapter


def build_adapters(edi_partners: PartnerSource | Mapping[str, str]) -> dict[str, Adapter]:
    """Every adapter by the name its webhook path uses."""
    return {
        "shopify": ShopifyAdapter(),
        "3pl": ThreePLAdapter(),
        "erp": ErpAdapter(),
        "edi": EdiAdapter(edi_partners),
    }


__all__ = ["Adapter", "AdapterAuthError", "AdapterError", "AdapterSecrets", "Event", "build_adapters"]
