"""EDI X12 850/855/856: envelope validation with located errors, and mapping to supply events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.adapters import AdapterError, build_adapters, x12
from collectors.adapters.edi import EdiAdapter
from seed_data.distributor import EDI_PARTNERS

ADAPTERS = build_adapters(EDI_PARTNERS)

SAMPLES = Path(__file__).parent / "samples" / "adapters"
RECEIVED = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
edi = ADAPTERS["edi"]


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def events(text: str) -> list[dict[str, Any]]:
    return edi.to_events({}, text.encode(), received_at=RECEIVED)


def test_850_maps_to_po_sent() -> None:
    assert events(sample("edi_850_po.x12")) == [
        {
            "event_id": "edi:NORTHWIND:000004817:4817:0001:PO-4500123",
            "correlation_id": "PO-4500123",
            "event_type": "po.sent",
            "source": "d365",
            "target": "sup_acme",
            "flow_id": "d365-sup_acme-po",
            "channel": None,
            "occurred_at": datetime(2026, 5, 12, 14, 5),  # GS04/GS05: when the PO left
            "received_at": datetime(2026, 5, 20, 12, 0),
            "status": "ok",
            "attempt": 1,
            "error_code": None,
            "error_message": None,
            "trace_id": None,
            "payload": {
                "po_number": "PO-4500123",
                "po_date": "2026-05-11",
                "purpose": "00",
                "po_type": "SA",
                "currency": "USD",
                "lines": [
                    {
                        "line": "1",
                        "sku": "NW-10021",
                        "vendor_part": "ACM-GLV-NIT-L",
                        "item_ids": [["BP", "NW-10021"], ["VP", "ACM-GLV-NIT-L"]],
                        "quantity": 120,
                        "uom": "EA",
                        "unit_price": 4.85,
                    },
                    {
                        "line": "2",
                        "sku": "NW-10455",
                        "vendor_part": "ACM-TWL-C24",
                        "item_ids": [["BP", "NW-10455"], ["VP", "ACM-TWL-C24"]],
                        "quantity": 40,
                        "uom": "CA",
                        "unit_price": 18.2,
                    },
                ],
                "envelope": {"isa13": "000004817", "gs06": "4817", "st02": "0001"},
            },
        }
    ]


def test_855_maps_to_po_acknowledged_on_the_po_flow() -> None:
    [event] = events(sample("edi_855_ack.x12"))

    assert (event["event_type"], event["correlation_id"], event["status"]) == (
        "po.acknowledged",
        "PO-4500123",
        "ok",
    )
    assert (event["source"], event["target"], event["flow_id"]) == ("sup_acme", "d365", "d365-sup_acme-po")
    assert event["occurred_at"] == datetime(2026, 5, 13, 8, 12, 33)  # GS04/GS05, not BAK04 (the PO date)
    payload = event["payload"]
    assert (payload["ack_type"], payload["po_date"], payload["ack_date"], payload["seller_order"]) == (
        "AC",
        "2026-05-11",
        "2026-05-13",
        "SO-77120",
    )
    assert [(line["sku"], line["quantity"], line["status"], line["ack_quantity"]) for line in payload["lines"]] == [
        ("NW-10021", 120, "IA", 120),
        ("NW-10455", 40, "IQ", 30),
    ]


def test_rejected_855_is_a_failed_acknowledgment() -> None:
    text = sample("edi_855_ack.x12").replace("BAK*00*AC*", "BAK*00*RJ*")

    [event] = events(text)

    assert (event["status"], event["error_code"]) == ("failed", "855_RJ")
    assert event["error_message"] == "supplier rejected the purchase order (BAK02 RJ)"


def test_856_maps_to_asn_received_with_shipment_and_lines() -> None:
    [event] = events(sample("edi_856_asn.x12"))

    assert (event["event_type"], event["correlation_id"]) == ("asn.received", "PO-4500123")
    assert (event["source"], event["target"], event["flow_id"]) == ("sup_acme", "d365", "sup_acme-d365-asn")
    assert event["occurred_at"] == datetime(2026, 5, 16, 15, 22)  # BSN03 + BSN04
    assert event["payload"] == {
        "asn_number": "ASN-88231",
        "carrier": "RDWY",
        "bill_of_lading": "BOL-5531207",
        "tracking_number": "PRO-99812034",
        "shipped_at": "2026-05-16T15:00:00",
        "po_number": "PO-4500123",
        "lines": [
            {
                "line": "1",
                "sku": "NW-10021",
                "vendor_part": "ACM-GLV-NIT-L",
                "item_ids": [["BP", "NW-10021"], ["VP", "ACM-GLV-NIT-L"]],
                "quantity": 120,
                "uom": "EA",
            },
            {
                "line": "2",
                "sku": "NW-10455",
                "vendor_part": "ACM-TWL-C24",
                "item_ids": [["BP", "NW-10455"], ["VP", "ACM-TWL-C24"]],
                "quantity": 30,
                "uom": "CA",
            },
        ],
        "envelope": {"isa13": "000000402", "gs06": "402", "st02": "4021"},
    }


def test_856_covering_two_pos_gives_one_event_per_po() -> None:
    second_order = "HL*5*1*O~\nPRF*PO-4500124~\nHL*6*5*I~\nLIN*1*BP*NW-20310~\nSN1**6*EA~\nCTT*6~\nSE*25*4021~"
    text = sample("edi_856_asn.x12").replace("CTT*4~\nSE*20*4021~", second_order)

    first, second = events(text)

    assert (first["correlation_id"], second["correlation_id"]) == ("PO-4500123", "PO-4500124")
    assert second["payload"]["lines"] == [
        {
            "line": "1",
            "sku": "NW-20310",
            "vendor_part": None,
            "item_ids": [["BP", "NW-20310"]],
            "quantity": 6,
            "uom": "EA",
        }
    ]
    assert first["event_id"] != second["event_id"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("edi_bad_se_count.x12", r"X12 segment 14 \(SE\): SE01 says 11 but 12 were counted"),
        ("edi_missing_iea.x12", r"X12 segment 16 \(IEA\): missing: the interchange ends without IEA"),
        ("edi_truncated_isa.x12", r"X12 segment 1 \(ISA\): ISA06 is not 15 characters wide"),
        (
            "edi_wrong_control_number.x12",
            r"X12 segment 15 \(GE\): GE02 control number '4818' does not match GS06 '4817'",
        ),
    ],
)
def test_malformed_samples_are_rejected_naming_segment_and_reason(name: str, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        events(sample(name))


PO = sample("edi_850_po.x12")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            PO.replace("SE*12*0001~", "SE*12*0002~"),
            r"segment 14 \(SE\): SE02 control number '0002' does not match ST02",
        ),
        (
            PO.replace("IEA*1*000004817~", "IEA*1*000004818~"),
            r"segment 16 \(IEA\): IEA02 .* does not match ISA13",
        ),
        (PO.replace("IEA*1*", "IEA*2*"), r"segment 16 \(IEA\): IEA01 says 2 but 1 were counted"),
        (PO.replace("GE*1*", "GE*3*"), r"segment 15 \(GE\): GE01 says 3 but 1 were counted"),
        (PO + "GS*PO*X*Y*20260512*1405*2*X*004010~\n", r"segment 17 \(GS\): data after IEA"),
        (PO.replace("CUR*BY*USD~\n", "~\n"), r"segment 5 \(\?\): empty segment"),
        (PO.replace("SE*12*0001~\n", ""), r"segment 14 \(GE\): ST 0001 is not closed by SE"),
        (PO.replace("GE*1*4817~\n", ""), r"segment 15 \(IEA\): GS 4817 is not closed by GE"),
        (PO.replace("ST*850*0001~\n", ""), r"segment 3 \(BEG\): segment outside a transaction set"),
        (PO.rstrip("\n")[:-1], r"segment 16 \(IEA\): truncated: last segment has no terminator"),
        (PO[:80], r"segment 1 \(ISA\): truncated: ISA is 106 characters, the body has 80"),
        ("UNA:+.? 'UNB+UNOC:3'", r"segment 1 \(UNA\): an interchange must start with ISA"),
        (PO.replace("ST*850*", "ST*810*"), r"segment 3 \(ST\): transaction set 810 is not supported"),
        (
            PO.replace("BEG*00*SA*PO-4500123**20260511", "BEG*00*SA*PO-4500123**2026051"),
            r"segment 4 \(BEG\): BEG05 '2026051' is not a CCYYMMDD date",
        ),
        (
            PO.replace("BEG*00*SA*PO-4500123*", "BEG*00*SA**"),
            r"segment 4 \(BEG\): BEG03 purchase order number is empty",
        ),
        (PO.replace("PO1*1*120*", "PO1*1*ten*"), r"segment 9 \(PO1\): PO102 'ten' is not a number"),
        (
            PO.replace("ACMEIND        ", "UNKNOWNCO      ").replace("*ACMEIND*", "*UNKNOWNCO*"),
            r"segment 1 \(ISA\): receiver ISA08 'UNKNOWNCO' \(GS 'UNKNOWNCO'\) is not a known trading partner; "
            r"add it with `flowwatch partners add UNKNOWNCO <system id>`",
        ),
    ],
    ids=[
        "se-control",
        "iea-control",
        "iea-count",
        "ge-count",
        "after-iea",
        "empty-segment",
        "unclosed-st",
        "unclosed-gs",
        "outside-st",
        "no-terminator",
        "short-isa",
        "not-x12",
        "unsupported-set",
        "bad-date",
        "no-po-number",
        "bad-quantity",
        "unknown-partner",
    ],
)
def test_malformed_interchanges_are_located(text: str, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        events(text)


def test_delimiters_are_read_from_the_isa() -> None:
    text = PO.replace("~\n", "\n").replace("*", "|").replace("|>\n", "|^\n", 1)

    [event] = events(text)

    assert event["correlation_id"] == "PO-4500123"
    assert [line["sku"] for line in event["payload"]["lines"]] == ["NW-10021", "NW-10455"]


@pytest.mark.parametrize(("separator"), ["", "\r\n"], ids=["one-line", "crlf"])
def test_line_breaks_after_terminators_are_optional(separator: str) -> None:
    [event] = events(PO.replace("~\n", "~" + separator))

    assert event["correlation_id"] == "PO-4500123"


def test_interchange_structure() -> None:
    interchange = x12.parse(PO.encode())

    assert (interchange.sender_id, interchange.receiver_id, interchange.control_number) == (
        "NORTHWIND",
        "ACMEIND",
        "000004817",
    )
    assert (
        interchange.element_separator,
        interchange.component_separator,
        interchange.segment_terminator,
    ) == (
        "*",
        ">",
        "~",
    )
    [group] = interchange.groups
    [transaction] = group.transactions
    assert (transaction.set_id, transaction.control_number, len(transaction.segments)) == ("850", "0001", 12)
    assert transaction.segments[1].get(3) == "PO-4500123"
    assert transaction.segments[1].get(40) == ""


def test_dedup_key_is_sender_and_interchange_control_number() -> None:
    assert edi.dedup_key({}, PO.encode()) == "edi:NORTHWIND:000004817"
    assert edi.dedup_key({}, PO.replace("\n", "").encode()) == "edi:NORTHWIND:000004817"
    assert edi.dedup_key({}, b"garbage") is None


def test_event_ids_are_stable_across_resends() -> None:
    assert events(PO)[0]["event_id"] == events(PO.replace("\n", ""))[0]["event_id"]


def test_partner_map_is_configurable() -> None:
    adapter = EdiAdapter(partners={"northwind": "d365", "acmeind": "sup_acme_new"})

    [event] = adapter.to_events({}, PO.encode(), received_at=RECEIVED)

    assert (event["target"], event["flow_id"]) == ("sup_acme_new", "d365-sup_acme_new-po")


def test_every_item_qualifier_is_kept_and_crlf_indented_x12_is_read() -> None:
    """An 850 in the layout people paste from editors and the X12 guides (CRLF after each segment,
    indented envelopes), whose lines name items by every common qualifier."""
    partners = {**EDI_PARTNERS, "GLOBALPARTS": "sup_acme"}
    [event] = build_adapters(lambda: partners)["edi"].to_events(
        {}, sample("edi_850_qualifiers_crlf.x12").encode(), received_at=RECEIVED
    )
    lines = event["payload"]["lines"]
    assert [(line["sku"], line["vendor_part"]) for line in lines] == [
        ("NW-30001", "GP-88-1"),  # BP, the buyer's part number
        ("NW-30002", "GP-99"),  # IN, the buyer's item number; VN the vendor's item
        ("CAT-7781", "MFR-5521"),  # CB before SK; MG the manufacturer's part
        (None, "GPC-12"),  # only a UPC and the vendor's catalog number: not our SKU
    ]
    assert [line["item_ids"] for line in lines] == [
        [["BP", "NW-30001"], ["VP", "GP-88-1"], ["UP", "012345678905"]],
        [["IN", "NW-30002"], ["VN", "GP-99"], ["EN", "4006381333931"]],
        [["CB", "CAT-7781"], ["SK", "NW-30003"], ["MG", "MFR-5521"]],
        [["UP", "036000291452"], ["VC", "GPC-12"]],
    ]
    assert (event["correlation_id"], event["target"]) == ("PO-4600001", "sup_acme")


def test_partners_are_read_on_every_interchange_and_both_unknown_ids_are_named() -> None:
    partners: dict[str, str] = {}
    adapter = build_adapters(lambda: partners)["edi"]
    with pytest.raises(AdapterError) as refused:
        adapter.to_events({}, PO.encode(), received_at=RECEIVED)
    assert str(refused.value) == (
        "X12 segment 1 (ISA): sender ISA06 'NORTHWIND' (GS 'NORTHWIND') and receiver ISA08 'ACMEIND' "
        "(GS 'ACMEIND') are not known trading partners; add it with `flowwatch partners add NORTHWIND "
        "<system id>` (server stopped), or in the edi_partners setting ([edi_partners] in the TOML file or "
        "FLOWWATCH_EDI_PARTNERS)"
    )
    partners.update(northwind="d365", acmeind="sup_acme")  # ids compare upper case, as X12 does
    [event] = adapter.to_events({}, PO.encode(), received_at=RECEIVED)
    assert (event["source"], event["target"]) == ("d365", "sup_acme")


def test_an_item_qualifier_without_its_id_is_refused_where_it_stands() -> None:
    text = PO.replace("PO1*2*40*CA*18.2**BP*NW-10455*VP*ACM-TWL-C24~", "PO1*2*40*CA*18.2**BP*NW-10455*VP*~")
    with pytest.raises(AdapterError, match=r"X12 segment 11 \(PO1\): product id qualifier VP has no id"):
        events(text)
