"""What every vendor adapter shares: its interface, its errors and the canonical event shape.

An adapter is a pure codec: raw request headers and bytes in, canonical business-event dicts
out. It never touches HTTP or the database, so the webhook route only checks the request,
calls the adapter and hands the dicts to ``EventIn`` validation and the ingest writer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeAlias

Event: TypeAlias = dict[str, Any]
#: Shared secret per adapter name; an adapter whose secret is missing refuses every request.
AdapterSecrets: TypeAlias = Mapping[str, str | None]
Status: TypeAlias = Literal["ok", "failed", "retrying", "dead_lettered"]

#: Header carrying ``sha256=<hex HMAC-SHA256 of the raw body>`` for partner (non-Shopify) adapters.
SIGNATURE_HEADER = "X-Flowwatch-Signature"
#: Order-number prefix → sales channel (system id), as the storefronts and the B2B portal number orders.
CHANNEL_PREFIXES = {"SHP-": "shopify", "ADB-": "adobe", "B2B-": "b2b"}

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


class AdapterError(ValueError):
    """The payload cannot be mapped; the message says what is wrong and where (HTTP 400/422)."""


class AdapterAuthError(Exception):
    """The request is not proven to come from the partner (HTTP 401)."""


class Adapter(Protocol):
    """A vendor-native payload codec, registered by ``name`` in ``collectors.adapters.build_adapters``."""

    name: str
    content_types: tuple[str, ...]

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: AdapterSecrets) -> None:
        """Raise ``AdapterAuthError`` unless the request is signed with this adapter's secret."""
        ...

    def dedup_key(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """A stable key of the delivery, equal for re-sends, or None when it cannot be read."""
        ...

    def to_events(self, headers: Mapping[str, str], body: bytes, *, received_at: datetime) -> list[Event]:
        """Map the payload to canonical events or raise ``AdapterError``."""
        ...


class SignedJsonAdapter(ABC):
    """A JSON document per message, signed with ``X-Flowwatch-Signature`` and keyed by an event id."""

    name: str
    content_types: tuple[str, ...] = ("application/json",)

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: AdapterSecrets) -> None:
        """Shared-secret HMAC of the body."""
        verify_signature(self.name, headers, body, secrets)

    def dedup_key(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """The event id: a re-sent message is the same message."""
        try:
            return self.event_id(load_object(body, self.name))
        except AdapterError:
            return None

    @abstractmethod
    def event_id(self, doc: dict[str, Any]) -> str:
        """The stable id of one message (raises AdapterError when the document lacks its keys)."""


def make_event(
    *,
    event_id: str,
    correlation_id: str,
    event_type: str,
    source: str,
    occurred_at: datetime,
    received_at: datetime,
    payload: dict[str, Any],
    target: str | None = None,
    flow_id: str | None = None,
    channel: str | None = None,
    status: Status = "ok",
    attempt: int = 1,
    error_code: str | None = None,
    error_message: str | None = None,
    trace_id: str | None = None,
) -> Event:
    """One canonical event with exactly the keys ``EventIn`` validates, times in naive UTC."""
    return {
        "event_id": event_id,
        "correlation_id": correlation_id,
        "event_type": event_type,
        "source": source,
        "target": target,
        "flow_id": flow_id,
        "channel": channel,
        "occurred_at": to_utc_naive(occurred_at),
        "received_at": to_utc_naive(received_at),
        "status": status,
        "attempt": attempt,
        "error_code": error_code,
        "error_message": error_message,
        "trace_id": trace_id,
        "payload": payload,
    }


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works for plain dicts and Starlette headers alike."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def trace_id_from(headers: Mapping[str, str]) -> str | None:
    """The trace id of a W3C ``traceparent`` header, so events sit beside the sender's spans."""
    match = _TRACEPARENT.fullmatch((header(headers, "traceparent") or "").strip().lower())
    return match.group(1) if match else None


def verify_signature(adapter: str, headers: Mapping[str, str], body: bytes, secrets: AdapterSecrets) -> None:
    """Check ``X-Flowwatch-Signature: sha256=<hex>`` against the adapter's secret; fail closed."""
    secret = secrets.get(adapter)
    if not secret:
        raise AdapterAuthError(f"{adapter} secret not configured")
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise AdapterAuthError(f"missing {SIGNATURE_HEADER} header")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace")):
        raise AdapterAuthError(f"{SIGNATURE_HEADER} does not match the body")


def load_object(body: bytes, where: str) -> dict[str, Any]:
    """Parse a JSON object body, naming the adapter in the error."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{where}: body is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise AdapterError(f"{where}: body must be a JSON object, got {type(data).__name__}")
    return data


def require(obj: Mapping[str, Any], key: str, where: str) -> Any:
    """``obj[key]``, or an ``AdapterError`` naming the missing field when it is absent or empty."""
    value = obj.get(key)
    if value is None or value == "":
        raise AdapterError(f"{where}: missing '{key}'")
    return value


def require_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    """A required field as text (ids arrive as numbers from some systems)."""
    value = require(obj, key, where)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise AdapterError(f"{where}: '{key}' must be a string, got {type(value).__name__}")
    return str(value)


def parse_timestamp(value: Any, where: str) -> datetime:
    """An ISO-8601 timestamp with a UTC offset, as naive UTC; a bare local time is refused
    because guessing its zone would silently skew every lag KPI."""
    if not isinstance(value, str):
        raise AdapterError(f"{where}: expected an ISO-8601 timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise AdapterError(f"{where}: {value!r} is not an ISO-8601 timestamp") from exc
    if parsed.tzinfo is None:
        raise AdapterError(f"{where}: timestamp {value!r} has no UTC offset")
    return to_utc_naive(parsed)


def to_utc_naive(value: datetime) -> datetime:
    """Naive UTC, the convention of every canonical table; naive input is taken as UTC already."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def channel_of(order_number: str) -> str | None:
    """The sales channel an order number belongs to, from its prefix, or None when unknown."""
    return next((ch for prefix, ch in CHANNEL_PREFIXES.items() if order_number.startswith(prefix)), None)
