"""3PL shipment confirmations and inbound ASNs (one JSON document per message).

Schema, as the 3PLs are asked to send it::

    {"partner": "3pl_north", "type": "shipment" | "asn",
     "shipment_id": "NSL-778812", "order_number": "SHP-1001",  # shipment: the sales order
     "po_number": "PO-4500123", "supplier": "sup_acme",         # asn: the purchase order
     "shipped_at": "2026-05-15T16:42:00-04:00", "warehouse": "NSL-CHI-01",
     "carrier": "UPS", "service": "GROUND", "tracking_number": "1Z...",
     "lines": [{"line": 1, "sku": "NW-10021", "quantity": 2}],
     "status": "confirmed" | "exception", "error": {"code": "...", "message": "..."}}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from collectors.adapters.base import (
    AdapterError,
    Event,
    SignedJsonAdapter,
    Status,
    channel_of,
    load_object,
    make_event,
    parse_timestamp,
    require,
    require_str,
    trace_id_from,
)

#: Which ERP each 3PL confirms shipments into.
PARTNER_ERP = {"3pl_north": "d365", "3pl_coastal": "netsuite"}
_STATUSES: dict[str, Status] = {"confirmed": "ok", "exception": "failed"}
_TYPES = {"shipment": ("shipment.dispatched", "order_number"), "asn": ("asn.received", "po_number")}


class ThreePLAdapter(SignedJsonAdapter):
    """Signed JSON from the 3PLs (``X-Flowwatch-Signature``, secret ``3pl``)."""

    name = "3pl"

    def __init__(self, partner_erp: Mapping[str, str] = PARTNER_ERP) -> None:
        self.partner_erp = dict(partner_erp)

    def event_id(self, doc: dict[str, Any]) -> str:
        """Deterministic per partner, shipment, type and status: an exact re-send is a duplicate,
        while a corrected confirmation after an exception still counts as a new fact."""
        parts = [require_str(doc, key, "3pl") for key in ("partner", "type", "shipment_id", "status")]
        return "3pl:" + ":".join(parts)

    def to_events(self, headers: Mapping[str, str], body: bytes, *, received_at: datetime) -> list[Event]:
        """One event per message: a shipment confirmation or an inbound ASN."""
        doc = load_object(body, self.name)
        partner = require_str(doc, "partner", self.name)
        erp = self.partner_erp.get(partner)
        if erp is None:
            raise AdapterError(f"3pl: unknown partner '{partner}' (known: {', '.join(self.partner_erp)})")
        where = f"3pl {partner}"
        kind = require_str(doc, "type", where)
        if kind not in _TYPES:
            raise AdapterError(f"{where}: type '{kind}' is not one of {', '.join(_TYPES)}")
        event_type, key_field = _TYPES[kind]
        status = require_str(doc, "status", where)
        if status not in _STATUSES:
            raise AdapterError(f"{where}: status '{status}' is not one of {', '.join(_STATUSES)}")
        error = doc.get("error") or {}
        if not isinstance(error, dict):
            raise AdapterError(f"{where}: 'error' must be an object with 'code' and 'message'")
        correlation_id = require_str(doc, key_field, where)
        require_str(doc, "shipment_id", where)
        occurred_at = parse_timestamp(require(doc, "shipped_at", where), f"{where} shipped_at")
        return [
            make_event(
                event_id=self.event_id(doc),
                correlation_id=correlation_id,
                event_type=event_type,
                source=partner,
                target=erp,
                # A relayed ASN belongs to no 3PL flow: the supply flows run supplier → ERP.
                flow_id=f"{partner}-{erp}-shipment" if kind == "shipment" else None,
                channel=channel_of(correlation_id) if kind == "shipment" else None,
                occurred_at=occurred_at,
                received_at=received_at,
                status=_STATUSES[status],
                error_code=error.get("code"),
                error_message=error.get("message"),
                trace_id=trace_id_from(headers),
                payload=_payload(doc, where),
            )
        ]


def _payload(doc: dict[str, Any], where: str) -> dict[str, Any]:
    lines = doc["lines"] if doc.get("lines") is not None else []
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise AdapterError(f"{where}: 'lines' must be a list of objects")
    for index, line in enumerate(lines):
        for key in ("sku", "quantity"):
            require(line, key, f"{where} lines[{index}]")
    keys = ("shipment_id", "order_number", "po_number", "supplier", "warehouse", "carrier", "service")
    return {
        **{key: doc[key] for key in keys if doc.get(key) is not None},
        "tracking_number": doc.get("tracking_number"),
        "lines": lines,
    }
