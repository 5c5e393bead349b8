"""Supplier EDI: X12 850 purchase orders, 855 acknowledgments and 856 ship notices.

Trading partners are resolved from the ISA sender/receiver ids (falling back to the GS
application codes) through a map to system ids that is configuration, read on every
interchange: the partners added with ``flowwatch partners add`` (kept in the database) and
the ``edi_partners`` setting (TOML table or ``FLOWWATCH_EDI_PARTNERS``). An interchange from
or to a partner that is in neither is refused with both ids and how to add them. The correlation id is the
PO number (BEG03 / BAK03 / PRF01), so the three documents line up on one timeline.

Times: an 856 carries its own issue date and time (BSN03/BSN04). An 850 or 855 carries
dates only, and BEG05 and BAK04 are both the *PO* date, so they would make the supplier
ack cycle time zero; their ``occurred_at`` is the functional group's creation time
(GS04/GS05), which is when the sender's translator issued the document. X12 times have
no zone and are taken as UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.adapters import x12
from collectors.adapters.base import (
    AdapterError,
    AdapterSecrets,
    Event,
    make_event,
    trace_id_from,
    verify_signature,
)

#: Where the current trading partners come from (ISA/GS id → system id).
PartnerSource = Callable[[], Mapping[str, str]]
#: BAK02 acknowledgment types that refuse the order.
_REJECTIONS = {"RJ": "rejected", "RD": "rejected (with detail)"}


@dataclass(frozen=True)
class _Envelope:
    """What a transaction set inherits from its interchange and group."""

    interchange: x12.Interchange
    group: x12.Group
    transaction: x12.Transaction
    source: str
    target: str


class EdiAdapter:
    """X12 interchanges posted by the EDI gateway (``X-Flowwatch-Signature``, secret ``edi``)."""

    name = "edi"
    content_types = ("application/edi-x12", "text/plain")

    def __init__(self, partners: PartnerSource | Mapping[str, str]) -> None:
        self._partners = partners if callable(partners) else (lambda: partners)

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: AdapterSecrets) -> None:
        """Shared-secret HMAC of the body."""
        verify_signature(self.name, headers, body, secrets)

    def dedup_key(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """Sender and interchange control number (ISA06 + ISA13), unique per sender by the standard."""
        try:
            interchange = x12.parse(body)
        except AdapterError:
            return None
        return f"edi:{interchange.sender_id}:{interchange.control_number}"

    def to_events(self, headers: Mapping[str, str], body: bytes, *, received_at: datetime) -> list[Event]:
        """One event per 850/855 transaction set and per purchase order of an 856."""
        interchange = x12.parse(body)
        trace_id = trace_id_from(headers)
        partners = {key.strip().upper(): value for key, value in self._partners().items()}
        events = []
        for group in interchange.groups:
            source, target = _parties(interchange, group, partners)
            for transaction in group.transactions:
                mapper = _MAPPERS.get(transaction.set_id)
                if mapper is None:
                    raise transaction.segments[0].error(
                        f"transaction set {transaction.set_id} is not supported ({', '.join(_MAPPERS)})"
                    )
                envelope = _Envelope(interchange, group, transaction, source, target)
                for fields in mapper(envelope):
                    events.append(
                        make_event(
                            event_id=_event_id(envelope, fields["correlation_id"]),
                            source=source,
                            target=target,
                            received_at=received_at,
                            trace_id=trace_id,
                            **fields,
                        )
                    )
        return events


def _parties(interchange: x12.Interchange, group: x12.Group, partners: Mapping[str, str]) -> tuple[str, str]:
    """Sender and receiver system ids; refuses the interchange naming every id that is unknown."""
    found, unknown = [], []
    for role, isa_field, isa_id, gs_id in (
        ("sender", "ISA06", interchange.sender_id, group.header.get(2).strip()),
        ("receiver", "ISA08", interchange.receiver_id, group.header.get(3).strip()),
    ):
        system = partners.get(isa_id.upper()) or partners.get(gs_id.upper())
        found.append(system)
        if system is None:
            unknown.append((role, isa_field, isa_id, gs_id))
    if unknown:
        names = " and ".join(f"{role} {field} '{isa}' (GS '{gs}')" for role, field, isa, gs in unknown)
        first = unknown[0][2]
        raise interchange.header.error(
            f"{names} {'is not a known trading partner' if len(unknown) == 1 else 'are not known trading partners'}"
            f"; add it with `flowwatch partners add {first} <system id>` (server stopped), or in the "
            f"edi_partners setting ([edi_partners] in the TOML file or FLOWWATCH_EDI_PARTNERS)"
        )
    return found[0], found[1]  # type: ignore[return-value]


def _purchase_order(env: _Envelope) -> list[dict[str, Any]]:
    beg = _required(env.transaction, "BEG")
    po = _po_number(beg, 3)
    cur = _find(env.transaction, "CUR")
    return [
        {
            "event_type": "po.sent",
            "correlation_id": po,
            "occurred_at": _group_time(env),
            "flow_id": f"{env.source}-{env.target}-po",
            "payload": {
                "po_number": po,
                "po_date": x12.parse_datetime(beg, 5).date().isoformat(),
                "purpose": beg.get(1),
                "po_type": beg.get(2),
                "currency": cur.get(2) if cur else None,
                "lines": [_po_line(seg) for seg in env.transaction.segments if seg.id == "PO1"],
                "envelope": _envelope(env),
            },
        }
    ]


def _po_acknowledgment(env: _Envelope) -> list[dict[str, Any]]:
    bak = _required(env.transaction, "BAK")
    po = _po_number(bak, 3)
    ack_type = bak.get(2)
    failure: dict[str, Any] = {}
    if rejection := _REJECTIONS.get(ack_type):
        message = f"supplier {rejection} the purchase order (BAK02 {ack_type})"
        failure = {"status": "failed", "error_code": f"855_{ack_type}", "error_message": message}
    lines: list[dict[str, Any]] = []
    for seg in env.transaction.segments:
        if seg.id == "PO1":
            lines.append(_po_line(seg))
        elif seg.id == "ACK" and lines:
            lines[-1].update(status=seg.get(1), ack_quantity=_number(seg, 2), ack_uom=seg.get(3) or None)
    return [
        {
            "event_type": "po.acknowledged",
            "correlation_id": po,
            "occurred_at": _group_time(env),
            # The ack closes the buyer → supplier PO flow, so the flow runs target → source.
            "flow_id": f"{env.target}-{env.source}-po",
            **failure,
            "payload": {
                "po_number": po,
                "ack_type": ack_type,
                "po_date": x12.parse_datetime(bak, 4).date().isoformat(),
                "ack_date": x12.parse_datetime(bak, 9).date().isoformat() if bak.get(9) else None,
                "seller_order": bak.get(8) or None,
                "lines": lines,
                "envelope": _envelope(env),
            },
        }
    ]


def _ship_notice(env: _Envelope) -> list[dict[str, Any]]:
    bsn = _required(env.transaction, "BSN")
    shipment_id = bsn.get(2)
    if not shipment_id:
        raise bsn.error("BSN02 shipment identification is empty")
    shipment: dict[str, Any] = {"asn_number": shipment_id}
    orders: list[dict[str, Any]] = []
    for seg in env.transaction.segments:
        if seg.id == "TD5":
            shipment["carrier"] = seg.get(3) or None
        elif seg.id == "REF" and seg.get(1) in ("BM", "CN"):
            shipment["bill_of_lading" if seg.get(1) == "BM" else "tracking_number"] = seg.get(2)
        elif seg.id == "DTM" and seg.get(1) == "011":
            shipment["shipped_at"] = x12.parse_datetime(seg, 2, 3).isoformat()
        elif seg.id == "PRF":
            orders.append({"po_number": _po_number(seg, 1), "lines": []})
        elif seg.id == "LIN":
            if not orders:
                raise seg.error("item (LIN) before any order level (PRF)")
            orders[-1]["lines"].append({"line": seg.get(1) or None, **_product_ids(seg, 2)})
        elif seg.id == "SN1":
            if not orders or not orders[-1]["lines"]:
                raise seg.error("SN1 without a preceding LIN")
            orders[-1]["lines"][-1].update(quantity=_number(seg, 2, required=True), uom=seg.get(3) or None)
    if not orders:
        raise bsn.error(f"856 {env.transaction.control_number} names no purchase order (PRF)")
    issued_at = x12.parse_datetime(bsn, 3, 4)
    return [
        {
            "event_type": "asn.received",
            "correlation_id": order["po_number"],
            "occurred_at": issued_at,
            "flow_id": f"{env.source}-{env.target}-asn",
            "payload": {**shipment, **order, "envelope": _envelope(env)},
        }
        for order in orders
    ]


def _po_line(seg: x12.Segment) -> dict[str, Any]:
    return {
        "line": seg.get(1) or None,
        **_product_ids(seg, 6),
        "quantity": _number(seg, 2, required=True),
        "uom": seg.get(3) or None,
        "unit_price": _number(seg, 4),
    }


#: Product/service id qualifiers that name *our* item, in the order they resolve to the SKU:
#: the buyer's part number, the buyer's item number, the buyer's catalog number, a stock-keeping
#: unit. Global (UP UPC, EN EAN, UK GTIN) and the supplier's own ids (VP vendor part, VN vendor
#: item, VC vendor catalog, MG manufacturer part) are kept but never taken for our SKU.
SKU_QUALIFIERS = ("BP", "IN", "CB", "SK")
#: The supplier's own id of the item, first found wins.
VENDOR_QUALIFIERS = ("VP", "VN", "VC", "MG")


def _product_ids(seg: x12.Segment, start: int) -> dict[str, Any]:
    """Every (qualifier, id) pair of a PO1/LIN segment, in order, and the SKU and vendor part they resolve to."""
    pairs = [(seg.get(i), seg.get(i + 1)) for i in range(start, len(seg.elements), 2) if seg.get(i)]
    for qualifier, value in pairs:
        if not value:
            raise seg.error(f"product id qualifier {qualifier} has no id")
    ids = dict(reversed(pairs))  # the first of a repeated qualifier wins
    return {
        "sku": next((ids[q] for q in SKU_QUALIFIERS if q in ids), None),
        "vendor_part": next((ids[q] for q in VENDOR_QUALIFIERS if q in ids), None),
        "item_ids": [[q, v] for q, v in pairs],
    }


def _number(seg: x12.Segment, index: int, *, required: bool = False) -> int | float | None:
    value = seg.get(index)
    if not value:
        if required:
            raise seg.error(f"{seg.id}{index:02d} is required")
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise seg.error(f"{seg.id}{index:02d} '{value}' is not a number") from exc
    return int(number) if number.is_integer() else number


def _po_number(seg: x12.Segment, index: int) -> str:
    po = seg.get(index).strip()
    if not po:
        raise seg.error(f"{seg.id}{index:02d} purchase order number is empty")
    return po


def _required(transaction: x12.Transaction, segment_id: str) -> x12.Segment:
    found = _find(transaction, segment_id)
    if found is None:
        raise transaction.segments[0].error(
            f"{transaction.set_id} {transaction.control_number} has no {segment_id} segment"
        )
    return found


def _find(transaction: x12.Transaction, segment_id: str) -> x12.Segment | None:
    return next((s for s in transaction.segments if s.id == segment_id), None)


def _event_id(env: _Envelope, po: str) -> str:
    """Sender, interchange, group and transaction control numbers plus the PO: unique per fact."""
    parts = (env.interchange.sender_id, env.interchange.control_number, env.group.header.get(6))
    return ":".join(("edi", *parts, env.transaction.control_number, po))


def _group_time(env: _Envelope) -> datetime:
    return x12.parse_datetime(env.group.header, 4, 5)


def _envelope(env: _Envelope) -> dict[str, str]:
    """Control numbers, so an operator can find the original interchange at the gateway."""
    return {
        "isa13": env.interchange.control_number,
        "gs06": env.group.header.get(6),
        "st02": env.transaction.control_number,
    }


_MAPPERS: dict[str, Callable[[_Envelope], list[dict[str, Any]]]] = {
    "850": _purchase_order,
    "855": _po_acknowledgment,
    "856": _ship_notice,
}
