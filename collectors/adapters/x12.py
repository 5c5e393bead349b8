"""A minimal, strict ANSI X12 interchange reader: delimiters, segments and the envelopes.

Only structure is checked (ISA/IEA, GS/GE, ST/SE pairing, control numbers and counts),
not transaction-set implementation guides. Every error names the 1-based segment
position, the segment id and the reason, so a partner can be told what to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from collectors.adapters.base import AdapterError

ISA_LENGTH = 106
#: Widths of ISA01..ISA16; the fields are fixed-width so the delimiters sit at fixed offsets.
_ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")


class X12Error(AdapterError):
    """Malformed X12, located by segment position."""

    def __init__(self, position: int, segment_id: str, reason: str) -> None:
        super().__init__(f"X12 segment {position} ({segment_id}): {reason}")
        self.position = position
        self.segment_id = segment_id


@dataclass(frozen=True)
class Segment:
    """One segment; ``elements[0]`` is the segment id, so ``elements[3]`` is e.g. BEG03."""

    position: int
    elements: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, index: int) -> str:
        """Element ``index`` (X12 numbering), '' when the segment stops before it."""
        return self.elements[index] if index < len(self.elements) else ""

    def error(self, reason: str) -> X12Error:
        """An error located at this segment."""
        return X12Error(self.position, self.id, reason)


@dataclass
class Transaction:
    """An ST..SE transaction set; ``segments`` includes ST and SE."""

    set_id: str
    control_number: str
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Group:
    """A GS..GE functional group."""

    header: Segment
    transactions: list[Transaction] = field(default_factory=list)


@dataclass
class Interchange:
    """An ISA..IEA interchange with its delimiters."""

    header: Segment
    element_separator: str
    component_separator: str
    segment_terminator: str
    groups: list[Group] = field(default_factory=list)

    @property
    def sender_id(self) -> str:
        return self.header.get(6).strip()

    @property
    def receiver_id(self) -> str:
        return self.header.get(8).strip()

    @property
    def control_number(self) -> str:
        return self.header.get(13)


def parse(data: bytes | str) -> Interchange:
    """Parse exactly one interchange, validating its envelopes; raise ``X12Error`` otherwise."""
    text = _decode(data).lstrip()
    element, component, terminator = _delimiters(text)
    isa, *rest = _segments(text, element, terminator)
    _check_isa(isa)
    interchange = Interchange(isa, element, component, terminator)
    group: Group | None = None
    transaction: Transaction | None = None
    for index, segment in enumerate(rest):
        if segment.id == "ISA":
            raise segment.error("a second ISA before IEA")
        if segment.id == "IEA":
            _require_closed(segment, transaction, group)
            _check_trailer(segment, len(interchange.groups), interchange.control_number, "ISA13")
            if index + 1 < len(rest):
                raise rest[index + 1].error("data after IEA: one interchange per message")
            return interchange
        if segment.id == "GS":
            _require_closed(segment, transaction, group)
            group = Group(segment)
            interchange.groups.append(group)
        elif segment.id == "GE":
            _require_closed(segment, transaction)
            if group is None:
                raise segment.error("GE without a GS")
            _check_trailer(segment, len(group.transactions), group.header.get(6), "GS06")
            group = None
        elif segment.id == "ST":
            _require_closed(segment, transaction)
            if group is None:
                raise segment.error("ST outside a functional group (GS..GE)")
            transaction = Transaction(segment.get(1), segment.get(2), [segment])
            group.transactions.append(transaction)
        elif transaction is None:
            raise segment.error("segment outside a transaction set (ST..SE)")
        else:
            transaction.segments.append(segment)
            if segment.id == "SE":
                _check_trailer(segment, len(transaction.segments), transaction.control_number, "ST02")
                transaction = None
    raise X12Error(len(rest) + 2, "IEA", "missing: the interchange ends without IEA")


def parse_datetime(segment: Segment, date_index: int, time_index: int | None = None) -> datetime:
    """CCYYMMDD (+ HHMM[SS]) elements as a naive datetime; X12 carries no zone."""
    date = segment.get(date_index)
    time = segment.get(time_index)[:6] if time_index else ""
    name = f"{segment.id}{date_index:02d}"
    if not re.fullmatch(r"\d{8}", date):
        raise segment.error(f"{name} '{date}' is not a CCYYMMDD date")
    if time and not re.fullmatch(r"\d{4}|\d{6}", time):
        raise segment.error(f"{segment.id}{time_index:02d} '{time}' is not an HHMM time")
    try:
        return datetime.strptime(date + time.ljust(6, "0"), "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise segment.error(f"{name} '{date}{time}' is not a valid date/time") from exc


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise X12Error(1, "ISA", f"body is not ASCII/UTF-8 text (byte {exc.start})") from exc


def _delimiters(text: str) -> tuple[str, str, str]:
    """Element separator, component separator and segment terminator, read from the ISA."""
    if not text.startswith("ISA"):
        raise X12Error(1, text[:3] or "ISA", "an interchange must start with ISA")
    if len(text) < ISA_LENGTH:
        raise X12Error(1, "ISA", f"truncated: ISA is {ISA_LENGTH} characters, the body has {len(text)}")
    element = text[3]
    offset = 3
    for number, width in enumerate(_ISA_WIDTHS[:-1], 1):
        offset += width + 1
        if text[offset] != element:
            raise X12Error(1, "ISA", f"ISA{number:02d} is not {width} characters wide (fixed-length ISA)")
    delimiters = (element, text[104], text[105])
    if len(set(delimiters)) < 3 or any(c.isalnum() or c == " " for c in delimiters):
        raise X12Error(1, "ISA", f"unusable delimiters {delimiters!r}: they must be distinct punctuation")
    return delimiters


def _segments(text: str, element: str, terminator: str) -> list[Segment]:
    """Split on the terminator, tolerating line breaks (LF or CRLF) and indentation between segments,
    refusing empty or partial segments."""
    raw = text.split(terminator)
    if tail := raw[-1].strip():
        raise X12Error(len(raw), tail.split(element)[0], "truncated: last segment has no terminator")
    segments = []
    for position, chunk in enumerate(raw[:-1], 1):
        body = chunk.lstrip(" \t\r\n").rstrip("\r\n")
        elements = tuple(body.split(element))
        if not _SEGMENT_ID.fullmatch(elements[0]):
            raise X12Error(position, elements[0] or "?", "empty segment or invalid segment id")
        segments.append(Segment(position, elements))
    return segments


def _check_isa(isa: Segment) -> None:
    if len(isa.elements) != len(_ISA_WIDTHS) + 1:
        raise isa.error(f"ISA has {len(isa.elements) - 1} elements, not {len(_ISA_WIDTHS)}")
    if not isa.get(13).isdigit():
        raise isa.error(f"ISA13 control number '{isa.get(13)}' is not 9 digits")


def _require_closed(segment: Segment, transaction: Transaction | None, group: Group | None = None) -> None:
    """Refuse an envelope segment that arrives while an inner envelope is still open."""
    if transaction is not None:
        raise segment.error(f"ST {transaction.control_number} is not closed by SE")
    if group is not None:
        raise segment.error(f"GS {group.header.get(6)} is not closed by GE")


def _check_trailer(trailer: Segment, count: int, control_number: str, header_field: str) -> None:
    """A trailer's count (element 1) and control number (element 2) must match what it closes."""
    counted = trailer.get(1)
    if not counted.isdigit() or int(counted) != count:
        raise trailer.error(f"{trailer.id}01 says {counted or 'nothing'} but {count} were counted")
    given = trailer.get(2)
    if given != control_number:
        raise trailer.error(f"{trailer.id}02 control number '{given}' does not match {header_field} '{control_number}'")
