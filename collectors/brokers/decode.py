"""One broker message → its valid rows, and why the rest were refused (the HTTP endpoint's codec)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from collectors.events import SCHEMA, EventsDecodeError, parse_events

#: Longest reason carried in a dead-letter header (brokers cap header sizes).
MAX_REASON = 2_000


@dataclass(frozen=True)
class Decoded:
    """The message's valid rows (maybe none) and, when anything was refused, the reason."""

    table: pa.Table
    refused: int
    reason: str | None


def decode(body: bytes, content_type: str | None, received_at: datetime) -> Decoded:
    """Decode like ``POST /api/v1/events``; a message without a content type is read as JSON."""
    try:
        parsed = parse_events(body, content_type=content_type or "application/json", received_at=received_at)
    except EventsDecodeError as exc:
        return Decoded(SCHEMA.empty_table(), 1, str(exc)[:MAX_REASON])
    if parsed.count == 0:
        return Decoded(parsed.table, 1, "the message holds no events")
    if not parsed.rejected:
        return Decoded(parsed.table, 0, None)
    reason = "; ".join(f"record {r['index']}: {r['error']}" for r in parsed.rejected)
    return Decoded(parsed.table, len(parsed.rejected), reason[:MAX_REASON])
