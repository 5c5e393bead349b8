"""OTLP/HTTP traces: request bytes in, ``spans`` Arrow rows out, and the response bytes.

Pure codec, no transport: the ``POST /v1/traces`` route maps the exceptions to statuses
(``exc.status_code``) and hands the table to the ingest writer.

Protobuf is walked field by field and JSON (parsed by orjson) dict by dict; protobuf's
``json_format`` is 6x the cost of the whole decode (PERF-NOTES "Decoding OTLP").

The ``attributes`` column is one flat JSON object: the span's attributes under their
own keys, the resource's under ``resource.<key>``, the instrumentation scope as
``scope.name`` / ``scope.version``, and the attributes of the span's first
``exception`` event (``exception.type``, ``exception.message``, ...) since the table
keeps no span events. On a key clash the span's own attribute wins.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collectors._arrow import arrow_schema, table_from_rows
from models.store.tables import spans

SCHEMA = arrow_schema(spans)

#: Attributes that carry the business key, most specific first (DESIGN "span").
DEFAULT_KEY_ATTRIBUTES: tuple[str, ...] = (
    "order.id",
    "erp.document.id",
    "po.id",
    "correlation.id",
    "messaging.message.id",
)

MAX_ERRORS = 5  # rejection reasons kept for the response; the count is exact

_KINDS = (None, "internal", "server", "client", "producer", "consumer")
_STATUSES = ("unset", "ok", "error")
_KIND_NAMES = {f"SPAN_KIND_{k.upper()}": i for i, k in enumerate(_KINDS) if k} | {"SPAN_KIND_UNSPECIFIED": 0}
_STATUS_NAMES = {f"STATUS_CODE_{s.upper()}": i for i, s in enumerate(_STATUSES)}
_PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})
_JSON_TYPES = frozenset({"application/json"})
_GZIP, _DEFLATE = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS
_ENCODINGS = {"gzip": _GZIP, "x-gzip": _GZIP, "deflate": _DEFLATE}
_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)
_MAX_NS = 2**64 - 1  # fixed64 in the protobuf; JSON numbers could be anything
_INT64 = range(-(2**63), 2**63)


class OtlpDecodeError(ValueError):
    """The body cannot be decoded (400); nothing in it is accepted."""

    status_code = 400


class UnsupportedMediaType(OtlpDecodeError):
    """A Content-Type or Content-Encoding this receiver does not read (415)."""

    status_code = 415


class PayloadTooLarge(OtlpDecodeError):
    """The body, once decompressed, exceeds the size limit (413)."""

    status_code = 413


@dataclass(frozen=True)
class DecodedSpans:
    """Accepted spans (``spans`` columns in table order) and what was rejected, and why."""

    table: pa.Table
    rejected: int = 0
    errors: list[str] = field(default_factory=list)  # the first MAX_ERRORS reasons


def decode_traces(
    body: bytes,
    *,
    content_type: str,
    content_encoding: str | None,
    max_bytes: int,
    key_attributes: Sequence[str] = DEFAULT_KEY_ATTRIBUTES,
) -> DecodedSpans:
    """Decode an OTLP/HTTP ``ExportTraceServiceRequest`` (protobuf or JSON, maybe gzipped).

    Spans with an invalid trace or span id or an end before their start are rejected
    one by one (OTLP partial success); the rest are kept.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in _PROTOBUF_TYPES and media_type not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"unsupported content type {content_type!r}: send application/x-protobuf or application/json"
        )
    data = _decompress(body, content_encoding, max_bytes)
    builder = _SpanBuilder(tuple(key_attributes))
    if media_type in _JSON_TYPES:
        _walk_json(_load_json(data), builder)
    else:
        try:
            request = ExportTraceServiceRequest.FromString(data)
        except DecodeError as exc:
            raise OtlpDecodeError(f"body is not a protobuf ExportTraceServiceRequest: {exc}") from None
        _walk_protobuf(request, builder)
    return builder.result()


def encode_response(rejected: int, message: str, *, as_json: bool) -> bytes:
    """The ``ExportTraceServiceResponse`` body, in the request's encoding.

    ``partial_success`` is set when spans were rejected, or to carry a warning
    ``message`` with nothing rejected, as the OTLP specification allows.
    """
    if as_json:
        if not rejected and not message:
            return b"{}"
        # proto3 JSON renders int64 as a string
        return orjson.dumps({"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}})
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.CopyFrom(ExportTracePartialSuccess(rejected_spans=rejected, error_message=message))
    return response.SerializeToString()


def _decompress(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Inflate a gzip/deflate body without ever holding more than ``max_bytes + 1`` bytes."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", "none", ""):
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"body of {len(body)} bytes exceeds the limit of {max_bytes}")
        return body
    wbits = _ENCODINGS.get(encoding)
    if wbits is None:
        raise UnsupportedMediaType(f"unsupported content encoding {content_encoding!r}: send gzip, deflate or identity")
    chunks: list[bytes] = []
    size, rest = 0, body
    try:
        while rest:  # gzip allows several concatenated members
            inflater = zlib.decompressobj(wbits)
            chunk = inflater.decompress(rest, max_bytes + 1 - size)
            size += len(chunk)
            chunks.append(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"decompressed body exceeds the limit of {max_bytes} bytes")
            if not inflater.eof:
                raise OtlpDecodeError(f"{encoding} body is truncated")
            rest = inflater.unused_data if wbits == _GZIP else b""
    except zlib.error as exc:
        raise OtlpDecodeError(f"body is not valid {encoding}: {exc}") from None
    return b"".join(chunks)


def _load_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


class _SpanBuilder:
    """Rows of the spans table, added one span at a time, and the rejections."""

    def __init__(self, key_attributes: tuple[str, ...]) -> None:
        self.key_attributes = key_attributes
        self.rows: list[tuple[Any, ...]] = []
        self.rejected = 0
        self.errors: list[str] = []

    def reject(self, name: str, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"span {name!r}: {reason}")

    def correlation_id(self, attributes: Mapping[str, Any]) -> str | None:
        """The first key attribute present with a usable (string or integer) value."""
        for key in self.key_attributes:
            value = attributes.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
        return None

    def result(self) -> DecodedSpans:
        return DecodedSpans(table_from_rows(SCHEMA, self.rows), self.rejected, self.errors)


class _Resource:
    """What every span of one resource + scope shares, computed once per scope."""

    __slots__ = ("attributes", "correlation_id", "service_name")

    def __init__(self, builder: _SpanBuilder, attributes: dict[str, Any], scope_name: str, scope_version: str) -> None:
        service = attributes.get("service.name")
        self.service_name = service if isinstance(service, str) else None
        self.correlation_id = builder.correlation_id(attributes)
        flat = {f"resource.{k}": v for k, v in attributes.items()}
        if scope_name:
            flat["scope.name"] = scope_name
        if scope_version:
            flat["scope.version"] = scope_version
        self.attributes = flat


def _add_span(
    builder: _SpanBuilder,
    resource: _Resource,
    ids: tuple[str, str, str | None],
    name: str,
    kind: int,
    times: tuple[int, int],
    status: tuple[int, str],
    attributes: dict[str, Any],
) -> None:
    """Append one validated span's row: times to naive-UTC microseconds, enums to names."""
    start_ns, end_ns = times
    code, message = status
    builder.rows.append(
        (
            *ids,
            name,
            _KINDS[kind] if 0 <= kind < len(_KINDS) else None,
            resource.service_name,
            start_ns // 1000,
            end_ns // 1000,
            (end_ns - start_ns) / 1e6,
            _STATUSES[code] if 0 <= code < len(_STATUSES) else "unset",
            message or None,
            builder.correlation_id(attributes) or resource.correlation_id,
            orjson.dumps(resource.attributes | attributes),
        )
    )


def _check_times(start_ns: int, end_ns: int) -> str | None:
    if start_ns <= 0:
        return "missing start time"
    if end_ns < start_ns:
        return f"end time {end_ns} is before start time {start_ns}"
    if end_ns > _MAX_NS:
        return f"end time {end_ns} is out of range"
    return None


# --- protobuf ----------------------------------------------------------------------------


def _walk_protobuf(request: ExportTraceServiceRequest, builder: _SpanBuilder) -> None:
    for resource_spans in request.resource_spans:
        resource_attributes = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            resource = _Resource(builder, resource_attributes, scope.name, scope.version)
            for span in scope_spans.spans:
                _pb_span(span, resource, builder)


def _pb_span(span: Any, resource: _Resource, builder: _SpanBuilder) -> None:
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    start_ns, end_ns = span.start_time_unix_nano, span.end_time_unix_nano
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return builder.reject(span.name, f"invalid trace_id {trace_id.hex()!r} (want 16 bytes, not all zero)")
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return builder.reject(span.name, f"invalid span_id {span_id.hex()!r} (want 8 bytes, not all zero)")
    if parent and len(parent) != 8:
        return builder.reject(span.name, f"invalid parent_span_id {parent.hex()!r} (want 8 bytes)")
    problem = _check_times(start_ns, end_ns)
    if problem:
        return builder.reject(span.name, problem)
    attributes = _pb_attributes(span.attributes)
    if span.events:
        _lift_exception(attributes, ((e.name, e.attributes) for e in span.events), _pb_attributes)
    status = span.status
    _add_span(
        builder,
        resource,
        (trace_id.hex(), span_id.hex(), parent.hex() if parent and parent != _ZERO_SPAN else None),
        span.name,
        span.kind,
        (start_ns, end_ns),
        (status.code, status.message),
        attributes,
    )
    return None


def _pb_attributes(key_values: Iterable[Any]) -> dict[str, Any]:
    # Most attributes are strings: reading string_value first saves the WhichOneof call for them
    # (an unset or empty string reads "", and then WhichOneof decides). This loop is ~70 % of the
    # decode: every upb field access costs ~0.25 µs, so it does as few as it can.
    result = {}
    for kv in key_values:
        value = kv.value
        text = value.string_value
        result[kv.key] = text if text else _pb_value(value, value.WhichOneof("value"))
    return result


def _pb_value(value: Any, which: str | None) -> Any:
    """An AnyValue as plain JSON data; bytes as base64, as OTLP/JSON writes them."""
    if which is None:
        return None
    if which == "array_value":
        return [_pb_value(v, v.WhichOneof("value")) for v in value.array_value.values]
    if which == "kvlist_value":
        return _pb_attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, which)


def _lift_exception(
    attributes: dict[str, Any],
    events: Iterable[tuple[str, Any]],
    convert: Callable[[Any], dict[str, Any]],
) -> None:
    """Merge the first ``exception`` event's attributes (the span's own keys win)."""
    for name, event_attributes in events:
        if name == "exception":
            for key, value in convert(event_attributes).items():
                attributes.setdefault(key, value)
            return


# --- JSON --------------------------------------------------------------------------------


def _walk_json(document: Any, builder: _SpanBuilder) -> None:
    """Walk OTLP/JSON (lowerCamelCase keys, hex ids, int64 as string or number)."""
    if not isinstance(document, dict):
        raise OtlpDecodeError("JSON body must be an object with resourceSpans")
    for r, resource_spans in enumerate(_json_list(document, "resourceSpans", "")):
        where = f"resourceSpans[{r}]"
        resource_attributes = _json_attributes(_json_dict(resource_spans, "resource", where), where)
        for s, scope_spans in enumerate(_json_list(resource_spans, "scopeSpans", where)):
            where = f"resourceSpans[{r}].scopeSpans[{s}]"
            scope = _json_dict(scope_spans, "scope", where)
            resource = _Resource(builder, resource_attributes, scope.get("name") or "", scope.get("version") or "")
            for i, span in enumerate(_json_list(scope_spans, "spans", where)):
                try:
                    _json_span(span, resource, builder)
                except (TypeError, ValueError, AttributeError) as exc:
                    raise OtlpDecodeError(f"{where}.spans[{i}]: {exc}") from None


def _json_span(span: dict[str, Any], resource: _Resource, builder: _SpanBuilder) -> None:
    name = span.get("name") or ""
    if not isinstance(name, str):
        raise TypeError("name must be a string")
    trace_id = _hex_id(span.get("traceId"), 16)
    if trace_id is None:
        return builder.reject(name, f"invalid traceId {span.get('traceId')!r} (want 32 hex characters)")
    span_id = _hex_id(span.get("spanId"), 8)
    if span_id is None:
        return builder.reject(name, f"invalid spanId {span.get('spanId')!r} (want 16 hex characters)")
    parent = span.get("parentSpanId") or None
    if parent is not None:
        parent = _hex_id(parent, 8, allow_zero=True)
        if parent is None:
            return builder.reject(name, f"invalid parentSpanId {span['parentSpanId']!r}")
    start_ns = _json_int(span.get("startTimeUnixNano", 0), "startTimeUnixNano")
    end_ns = _json_int(span.get("endTimeUnixNano", 0), "endTimeUnixNano")
    problem = _check_times(start_ns, end_ns)
    if problem:
        return builder.reject(name, problem)
    attributes = _json_attributes(span, "")
    events = span.get("events")
    if events:
        _lift_exception(attributes, ((e.get("name"), e) for e in events), lambda e: _json_attributes(e, "event"))
    status = span.get("status") or {}
    _add_span(
        builder,
        resource,
        (trace_id, span_id, None if parent == "0" * 16 else parent),
        name,
        _json_enum(span.get("kind", 0), _KIND_NAMES, "kind"),
        (start_ns, end_ns),
        (_json_enum(status.get("code", 0), _STATUS_NAMES, "status.code"), status.get("message") or ""),
        attributes,
    )
    return None


def _hex_id(value: Any, size: int, *, allow_zero: bool = False) -> str | None:
    """A lower-case hex id of ``size`` bytes, or None when it is not one (base64 included)."""
    if not isinstance(value, str) or len(value) != 2 * size:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    if len(raw) != size or (not allow_zero and not any(raw)):
        return None
    return raw.hex()


def _json_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{what} must be an integer or a decimal string")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an integer") from None


def _json_enum(value: Any, names: Mapping[str, int], what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value in names:
        return names[value]
    raise ValueError(f"{what} {value!r} is not one of {', '.join(names)} or their numbers")


def _json_list(parent: Any, key: str, where: str) -> list[Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpDecodeError(f"{where}.{key} must be an array".lstrip("."))
    return value


def _json_dict(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OtlpDecodeError(f"{where}.{key} must be an object")
    return value


def _json_attributes(holder: dict[str, Any], where: str) -> dict[str, Any]:
    result = {}
    kv: Any = None
    try:
        for kv in holder.get("attributes") or ():
            value = kv.get("value")
            if value:
                ((kind, inner),) = value.items()
                result[kv["key"]] = inner if kind == "stringValue" else _json_value(kind, inner)
            else:
                result[kv["key"]] = None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        where = f"{where}.attributes".lstrip(".")
        raise OtlpDecodeError(f"{where}: invalid key/value {kv!r} ({exc})") from None
    return result


def _json_value(kind: str, inner: Any) -> Any:
    """An OTLP/JSON AnyValue as plain JSON data (intValue may arrive as a string)."""
    if kind == "stringValue" or kind == "boolValue":
        return inner
    if kind == "intValue":
        number = _json_int(inner, "intValue")
        if number not in _INT64:
            raise ValueError(f"intValue {inner!r} is out of the int64 range")
        return number
    if kind == "doubleValue":
        return float(inner)  # proto3 JSON also allows "NaN", "Infinity" as strings
    if kind == "arrayValue":
        return [_json_value(*_one(v)) if v else None for v in inner.get("values") or ()]
    if kind == "kvlistValue":
        return _json_attributes({"attributes": inner.get("values")}, "kvlistValue")
    if kind == "bytesValue":
        return inner  # already base64 in OTLP/JSON
    raise ValueError(f"unknown AnyValue field {kind!r}")


def _one(value: dict[str, Any]) -> tuple[str, Any]:
    ((kind, inner),) = value.items()
    return kind, inner
