"""ERP sales-order status updates (Dynamics 365, NetSuite) as one JSON document each.

Schema, as the ERP's integration layer sends it::

    {"erp": "d365" | "netsuite", "document_id": "SO-0012345", "order_number": "SHP-1001",
     "status": "accepted" | "released" | "held" | "invoiced" | "cancelled" | "rejected",
     "timestamp": "2026-05-14T13:17:05Z", "fulfilment_node": "3pl_north",
     "invoice_number": "INV-88123", "error": {"code": "...", "message": "..."}}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from collectors.adapters.base import (
    AdapterError,
    Event,
    SignedJsonAdapter,
    channel_of,
    load_object,
    make_event,
    parse_timestamp,
    require,
    require_str,
    trace_id_from,
)

ERPS = ("d365", "netsuite")
#: ERP status → canonical event type. A rejection is a failed acceptance, not a new lifecycle step.
EVENT_TYPES = {
    "accepted": "order.accepted",
    "rejected": "order.accepted",
    "held": "order.held",
    "released": "order.released",
    "invoiced": "invoice.posted",
    "cancelled": "order.cancelled",
}


class ErpAdapter(SignedJsonAdapter):
    """Signed JSON from the ERPs' integration layer (``X-Flowwatch-Signature``, secret ``erp``)."""

    name = "erp"

    def event_id(self, doc: dict[str, Any]) -> str:
        """Deterministic per document, status and time: a re-send is a duplicate, a second hold is not."""
        parts = [require_str(doc, key, "erp") for key in ("erp", "document_id", "status", "timestamp")]
        return "erp:" + ":".join(parts)

    def to_events(self, headers: Mapping[str, str], body: bytes, *, received_at: datetime) -> list[Event]:
        """One event per status update."""
        doc = load_object(body, self.name)
        erp = require_str(doc, "erp", self.name)
        if erp not in ERPS:
            raise AdapterError(f"erp: unknown erp '{erp}' (known: {', '.join(ERPS)})")
        where = f"erp {erp}"
        status = require_str(doc, "status", where)
        if status not in EVENT_TYPES:
            raise AdapterError(f"{where}: status '{status}' is not one of {', '.join(EVENT_TYPES)}")
        order_number = require_str(doc, "order_number", where)
        require_str(doc, "document_id", where)
        occurred_at = parse_timestamp(require(doc, "timestamp", where), f"{where} timestamp")
        channel = channel_of(order_number)
        error = doc.get("error") or {}
        if not isinstance(error, dict):
            raise AdapterError(f"{where}: 'error' must be an object with 'code' and 'message'")
        node = doc.get("fulfilment_node")
        if status == "released" and not node:
            raise AdapterError(f"{where}: status 'released' needs 'fulfilment_node'")
        return [
            make_event(
                event_id=self.event_id(doc),
                correlation_id=order_number,
                event_type=EVENT_TYPES[status],
                source=erp,
                target=node if status == "released" else None,
                flow_id=_flow_id(status, erp, channel, node),
                channel=channel,
                occurred_at=occurred_at,
                received_at=received_at,
                status="failed" if status == "rejected" else "ok",
                error_code=error.get("code") or ("rejected" if status == "rejected" else None),
                error_message=error.get("message"),
                trace_id=trace_id_from(headers),
                payload={
                    key: doc[key]
                    for key in ("document_id", "order_number", "status", "fulfilment_node", "invoice_number")
                    if doc.get(key) is not None
                },
            )
        ]


def _flow_id(status: str, erp: str, channel: str | None, node: str | None) -> str | None:
    """The flow whose step this status completes; cancellation can end any step, so none."""
    if status == "released":
        return f"{erp}-{node}-release"
    if status == "invoiced":
        return f"{erp}-invoice"
    if status in ("accepted", "rejected", "held") and channel:
        return f"{channel}-{erp}-orders"
    return None
