"""Time normalisation shared by the codecs: every stored timestamp is naive UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

# RFC 3339 date-time; the offset is optional because many sources send naive UTC.
# Fractions beyond microseconds (Go and .NET send 7-9 digits) are truncated.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[Zz]|[+-]\d\d:\d\d)?")


def to_naive_utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (offset optional) to naive UTC; ValueError otherwise.

    Stricter than ``datetime.fromisoformat`` alone, which also takes bare dates and week
    dates: a business timestamp must name an instant. The offset is applied by hand
    because ``astimezone`` costs more than the parse itself (this runs per event).
    """
    if _RFC3339.fullmatch(text) is None:
        raise ValueError(f"invalid datetime {text!r}")
    iso = f"{text[:10]}T{text[11:]}" if text[10] == "t" else text
    try:
        if iso[-1] in "Zz":
            return datetime.fromisoformat(iso[:-1])
        if iso[-6] in "+-":
            return datetime.fromisoformat(iso[:-6]) - _offset(iso[-6:])
        return datetime.fromisoformat(iso)
    except (ValueError, OverflowError):
        raise ValueError(f"invalid datetime {text!r}") from None


@lru_cache(maxsize=64)
def _offset(text: str) -> timedelta:
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(text)
    offset = timedelta(hours=hours, minutes=minutes)
    return -offset if text[0] == "-" else offset
