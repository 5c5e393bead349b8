"""OTLP/HTTP trace decoding, on requests built by the real proto classes and the real SDK."""

from __future__ import annotations

import gzip
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace import Status as SdkStatus
from opentelemetry.trace import StatusCode as SdkStatusCode

from collectors.otlp import (
    DecodedSpans,
    OtlpDecodeError,
    PayloadTooLarge,
    UnsupportedMediaType,
    decode_traces,
    encode_response,
)
from models.store.tables import spans

SAMPLES = Path(__file__).parent / "samples"
PROTOBUF = "application/x-protobuf"
LIMIT = 1 << 20
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
START_NS = 1_714_557_600_000_000_000  # 2024-05-01T10:00:00Z
EPOCH = datetime(1970, 1, 1)
EMPTY_STRING = AnyValue(string_value="")  # set, unlike an AnyValue with no value


def kv(key: str, **value: object) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def span(n: int, **overrides: object) -> Span:
    fields: dict[str, object] = {
        "trace_id": TRACE,
        "span_id": (0xA0 + n).to_bytes(8, "big"),
        "name": f"op-{n}",
        "kind": Span.SPAN_KIND_SERVER,
        "start_time_unix_nano": START_NS + n * 1_000,
        "end_time_unix_nano": START_NS + n * 1_000 + 2_500_000,
    }
    fields.update(overrides)
    return Span(**fields)


def request(*spans_: Span, resource: list[KeyValue] | None = None) -> ExportTraceServiceRequest:
    attributes = [kv("service.name", string_value="order-router")] if resource is None else resource
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=attributes),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="shop.checkout", version="2.1"), spans=spans_)],
            )
        ]
    )


def decode(body: bytes, content_type: str = PROTOBUF, encoding: str | None = None, **kw: object) -> DecodedSpans:
    return decode_traces(body, content_type=content_type, content_encoding=encoding, max_bytes=LIMIT, **kw)


def test_protobuf_span_becomes_one_canonical_row() -> None:
    body = request(
        span(
            1,
            parent_span_id=bytes.fromhex("00f067aa0ba902b7"),
            kind=Span.SPAN_KIND_CLIENT,
            attributes=[
                kv("http.method", string_value="POST"),
                kv("http.status_code", int_value=502),
                kv("retry.ratio", double_value=0.25),
                kv("cache.hit", bool_value=False),
                kv("erp.lines", array_value=ArrayValue(values=[AnyValue(int_value=1), EMPTY_STRING])),
                kv("erp.doc", kvlist_value=KeyValueList(values=[kv("type", string_value="SO")])),
                kv("blob", bytes_value=b"\x00\xff"),
                KeyValue(key="empty"),
            ],
            status=Status(code=Status.STATUS_CODE_ERROR, message="ERP answered 502"),
        )
    ).SerializeToString()

    decoded = decode(body)

    assert decoded.rejected == 0 and decoded.errors == []
    assert decoded.table.schema.names == [c.name for c in spans.columns]
    (row,) = decoded.table.to_pylist()
    attributes = orjson.loads(row.pop("attributes"))
    assert row == {
        "trace_id": "5b8efff798038103d269b633813fc60c",
        "span_id": "00000000000000a1",
        "parent_span_id": "00f067aa0ba902b7",
        "name": "op-1",
        "kind": "client",
        "service_name": "order-router",
        "start_time": datetime(2024, 5, 1, 10, 0, 0, 1),
        "end_time": datetime(2024, 5, 1, 10, 0, 0, 2501),
        "duration_ms": 2.5,
        "status_code": "error",
        "status_message": "ERP answered 502",
        "correlation_id": None,
    }
    assert attributes == {
        "http.method": "POST",
        "http.status_code": 502,
        "retry.ratio": 0.25,
        "cache.hit": False,
        "erp.lines": [1, ""],
        "erp.doc": {"type": "SO"},
        "blob": "AP8=",
        "empty": None,
        "resource.service.name": "order-router",
        "scope.name": "shop.checkout",
        "scope.version": "2.1",
    }


def test_arrow_types_match_the_spans_table() -> None:
    table = decode(request(span(1)).SerializeToString()).table
    assert table.schema.field("start_time").type == pa.timestamp("us")
    assert table.schema.field("duration_ms").type == pa.float64()
    assert not table.schema.field("trace_id").nullable
    assert table.column("parent_span_id").to_pylist() == [None]
    assert table.column("status_code").to_pylist() == ["unset"]


def test_request_from_the_real_sdk_exporter() -> None:
    """What opentelemetry-sdk + the OTLP exporter's encoder actually put on the wire."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=SdkResource.create({"service.name": "erp-connector"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("flowwatch.tests", "0.1")
    server = tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER, attributes={"order.id": "S1"})
    with server, tracer.start_as_current_span("d365.salesorder.create", kind=SpanKind.CLIENT) as child:
        child.set_attribute("erp.document.id", 4711)
        try:
            raise TimeoutError("D365 did not answer in 30 s")
        except TimeoutError as exc:
            child.record_exception(exc)
            child.set_status(SdkStatus(SdkStatusCode.ERROR, "timeout"))
    finished = exporter.get_finished_spans()
    body = encode_spans(finished).SerializeToString()

    decoded = decode(gzip.compress(body), encoding="gzip")

    rows = {r["name"]: r for r in decoded.table.to_pylist()}
    assert decoded.rejected == 0 and set(rows) == {"POST /orders", "d365.salesorder.create"}
    parent, child_row = rows["POST /orders"], rows["d365.salesorder.create"]
    sdk = {s.name: s for s in finished}
    sdk_parent, sdk_child = sdk["POST /orders"], sdk["d365.salesorder.create"]
    assert parent["trace_id"] == f"{sdk_parent.context.trace_id:032x}" == child_row["trace_id"]
    assert parent["span_id"] == f"{sdk_parent.context.span_id:016x}" == child_row["parent_span_id"]
    assert parent["parent_span_id"] is None
    assert (parent["kind"], child_row["kind"]) == ("server", "client")
    assert parent["service_name"] == child_row["service_name"] == "erp-connector"
    assert parent["correlation_id"] == "S1"
    assert child_row["correlation_id"] == "4711"  # integer key attribute, as text
    assert child_row["status_code"] == "error" and child_row["status_message"] == "timeout"
    assert child_row["duration_ms"] == (sdk_child.end_time - sdk_child.start_time) / 1e6
    assert child_row["start_time"] == EPOCH + timedelta(microseconds=sdk_child.start_time // 1000)
    attributes = orjson.loads(child_row["attributes"])
    assert attributes["exception.type"] == "TimeoutError"
    assert attributes["exception.message"] == "D365 did not answer in 30 s"
    assert attributes["resource.telemetry.sdk.language"] == "python"
    assert attributes["scope.name"] == "flowwatch.tests"


def test_otlp_json_with_hex_ids_and_string_int64() -> None:
    body = (SAMPLES / "otlp_traces.json").read_bytes()

    decoded = decode(body, "application/json; charset=utf-8")

    assert decoded.rejected == 1
    assert decoded.errors == ["span 'base64 ids': invalid traceId 'W47/95gDgQPSabYzgT/GDA==' (want 32 hex characters)"]
    rows = decoded.table.to_pylist()
    assert [r["name"] for r in rows] == ["POST /api/orders", "publish order.created"]
    server, producer = rows
    assert server["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert server["span_id"] == "eee19b7ec3c1b174"
    assert server["parent_span_id"] is None
    assert server["kind"] == "server" and producer["kind"] == "producer"
    assert server["start_time"] == datetime(2024, 5, 1, 10, 0, 0)
    assert server["end_time"] == datetime(2024, 5, 1, 10, 0, 0, 120000)
    assert server["duration_ms"] == 120.0
    assert server["status_code"] == "ok" and producer["status_code"] == "error"
    assert producer["status_message"] == "broker unreachable"
    assert producer["parent_span_id"] == "eee19b7ec3c1b174"
    assert server["service_name"] == "storefront-bff"
    assert server["correlation_id"] == "SHP-2002"
    assert producer["correlation_id"] == "msg-77"
    assert orjson.loads(server["attributes"]) == {
        "http.request.method": "POST",
        "http.response.status_code": 201,
        "order.id": "SHP-2002",
        "order.total": 129.9,
        "order.gift": True,
        "order.skus": ["SKU-1", "SKU-2"],
        "order.meta": {"channel": "shopify"},
        "resource.service.name": "storefront-bff",
        "resource.deployment.environment": "prod",
        "scope.name": "bff.http",
    }


def test_json_and_protobuf_decode_to_the_same_rows() -> None:
    proto = request(
        span(3, attributes=[kv("order.id", string_value="SHP-9"), kv("n", int_value=-7)]),
        span(4, parent_span_id=(0xA3).to_bytes(8, "big"), kind=Span.SPAN_KIND_CONSUMER),
    )
    as_json = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "order-router"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "shop.checkout", "version": "2.1"},
                        "spans": [
                            {
                                "traceId": TRACE.hex().upper(),  # case is normalised
                                "spanId": "00000000000000a3",
                                "name": "op-3",
                                "kind": "SPAN_KIND_SERVER",
                                "startTimeUnixNano": str(START_NS + 3000),
                                "endTimeUnixNano": START_NS + 3000 + 2_500_000,
                                "attributes": [
                                    {"key": "order.id", "value": {"stringValue": "SHP-9"}},
                                    {"key": "n", "value": {"intValue": "-7"}},
                                ],
                            },
                            {
                                "traceId": TRACE.hex(),
                                "spanId": "00000000000000a4",
                                "parentSpanId": "00000000000000a3",
                                "name": "op-4",
                                "kind": 5,
                                "startTimeUnixNano": str(START_NS + 4000),
                                "endTimeUnixNano": str(START_NS + 4000 + 2_500_000),
                            },
                        ],
                    }
                ],
            }
        ]
    }
    from_proto = decode(proto.SerializeToString()).table
    from_json = decode(orjson.dumps(as_json), "application/json").table
    assert from_json.to_pylist() == from_proto.to_pylist()


def test_invalid_spans_are_rejected_one_by_one() -> None:
    body = request(
        span(1),
        span(2, trace_id=TRACE[:15]),
        span(3, trace_id=bytes(16)),
        span(4, span_id=b"\x01" * 4),
        span(5, end_time_unix_nano=START_NS - 1),
        span(6, start_time_unix_nano=0, end_time_unix_nano=0),
        span(7, span_id=bytes(8)),
        span(8),
    ).SerializeToString()

    decoded = decode(body)

    assert decoded.table.column("name").to_pylist() == ["op-1", "op-8"]
    assert decoded.rejected == 6
    assert decoded.errors == [
        "span 'op-2': invalid trace_id '5b8efff798038103d269b633813fc6' (want 16 bytes, not all zero)",
        "span 'op-3': invalid trace_id '00000000000000000000000000000000' (want 16 bytes, not all zero)",
        "span 'op-4': invalid span_id '01010101' (want 8 bytes, not all zero)",
        f"span 'op-5': end time {START_NS - 1} is before start time {START_NS + 5000}",
        "span 'op-6': missing start time",
    ]  # only the first five reasons; the count stays exact


def test_everything_rejected_gives_an_empty_table_with_the_schema() -> None:
    decoded = decode(request(span(1, trace_id=b"")).SerializeToString())
    assert decoded.rejected == 1
    assert decoded.table.num_rows == 0
    assert decoded.table.schema.names == [c.name for c in spans.columns]


@pytest.mark.parametrize(
    ("span_attributes", "resource_extra", "expected"),
    [
        ([kv("order.id", string_value="SHP-1")], [], "SHP-1"),
        ([kv("messaging.message.id", string_value="m-1"), kv("po.id", string_value="PO-7")], [], "PO-7"),
        ([kv("erp.document.id", int_value=99)], [kv("order.id", string_value="SHP-R")], "99"),
        ([kv("http.method", string_value="GET")], [kv("correlation.id", string_value="C-1")], "C-1"),
        ([kv("order.id", string_value=""), kv("order.flag", bool_value=True)], [], None),
    ],
    ids=["span", "priority", "span-before-resource", "resource", "none"],
)
def test_business_key_extraction(
    span_attributes: list[KeyValue], resource_extra: list[KeyValue], expected: str | None
) -> None:
    resource = [kv("service.name", string_value="svc"), *resource_extra]
    body = request(span(1, attributes=span_attributes), resource=resource).SerializeToString()
    assert decode(body).table.column("correlation_id").to_pylist() == [expected]


def test_custom_key_attributes() -> None:
    body = request(span(1, attributes=[kv("sap.vbeln", string_value="0080001234")])).SerializeToString()
    table = decode(body, key_attributes=("sap.vbeln",)).table
    assert table.column("correlation_id").to_pylist() == ["0080001234"]


def test_span_attribute_wins_over_exception_event_and_keeps_resource_prefix() -> None:
    event = Span.Event(name="exception", attributes=[kv("exception.type", string_value="ValueError")])
    body = request(
        span(1, attributes=[kv("exception.type", string_value="Mine")], events=[event]),
        resource=[kv("service.name", string_value="svc"), kv("host.name", string_value="h1")],
    ).SerializeToString()
    attributes = orjson.loads(decode(body).table.column("attributes")[0].as_py())
    assert attributes["exception.type"] == "Mine"
    assert attributes["resource.host.name"] == "h1"


def test_gzip_and_deflate_bodies() -> None:
    body = request(span(1), span(2)).SerializeToString()
    assert decode(gzip.compress(body), encoding="gzip").table.num_rows == 2
    assert decode(gzip.compress(body[:20]) + gzip.compress(body[20:]), encoding="GZIP").table.num_rows == 2
    assert decode(zlib.compress(body), encoding="deflate").table.num_rows == 2
    assert decode(body, encoding="identity").table.num_rows == 2


def test_bad_gzip_is_a_decode_error() -> None:
    with pytest.raises(OtlpDecodeError, match="not valid gzip") as caught:
        decode(b"\x1f\x8b\x08\x00garbage-garbage", encoding="gzip")
    assert caught.value.status_code == 400


def test_truncated_gzip_is_a_decode_error() -> None:
    packed = gzip.compress(request(span(1)).SerializeToString())
    with pytest.raises(OtlpDecodeError, match="truncated"):
        decode(packed[: len(packed) // 2], encoding="gzip")


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(bytes(50 * LIMIT))  # 50 MiB of zeros in ~50 KiB
    assert len(bomb) < LIMIT
    with pytest.raises(PayloadTooLarge) as caught:
        decode(bomb, encoding="gzip")
    assert caught.value.status_code == 413


def test_plain_body_over_the_limit() -> None:
    with pytest.raises(PayloadTooLarge, match=f"exceeds the limit of {LIMIT}"):
        decode(bytes(LIMIT + 1))


def test_body_exactly_at_the_limit_is_accepted() -> None:
    body = request(span(1)).SerializeToString()
    packed = gzip.compress(body)
    decoded = decode_traces(packed, content_type=PROTOBUF, content_encoding="gzip", max_bytes=len(body))
    assert decoded.table.num_rows == 1


def test_garbage_protobuf_is_a_decode_error() -> None:
    with pytest.raises(OtlpDecodeError, match="not a protobuf ExportTraceServiceRequest"):
        decode(b"\x0a\xff\xff\xff\xff\x0f")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"resourceSpans": [', "invalid JSON at line 1 column 20"),
        (b"[]", "must be an object with resourceSpans"),
        (b'{"resourceSpans": {}}', "resourceSpans must be an array"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c",'
            b' "spanId": "eee19b7ec3c1b174", "startTimeUnixNano": "soon"}]}]}]}',
            r"resourceSpans\[0\].scopeSpans\[0\].spans\[0\]: startTimeUnixNano 'soon' is not an integer",
        ),
        (
            b'{"resourceSpans": [{"resource": {"attributes": [{"key": "a", "value": {"intValue": "x"}}]}}]}',
            r"resourceSpans\[0\].attributes: invalid key/value",
        ),
    ],
    ids=["syntax", "not-object", "not-array", "bad-time", "bad-attribute"],
)
def test_malformed_otlp_json_is_a_decode_error(body: bytes, message: str) -> None:
    with pytest.raises(OtlpDecodeError, match=message):
        decode(body, "application/json")


def test_empty_request_is_valid_and_empty() -> None:
    assert decode(b"").table.num_rows == 0
    assert decode(b"{}", "application/json").table.num_rows == 0


@pytest.mark.parametrize(
    ("content_type", "encoding"), [("text/plain", None), ("application/grpc", None), (PROTOBUF, "br")]
)
def test_unsupported_media_type(content_type: str, encoding: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode(b"", content_type, encoding)
    assert caught.value.status_code == 415
    assert isinstance(caught.value, OtlpDecodeError)


def test_response_protobuf() -> None:
    full = ExportTraceServiceResponse.FromString(encode_response(0, "", as_json=False))
    assert not full.HasField("partial_success")
    partial = ExportTraceServiceResponse.FromString(encode_response(3, "span 'x': bad", as_json=False))
    assert partial.partial_success.rejected_spans == 3
    assert partial.partial_success.error_message == "span 'x': bad"


def test_response_json() -> None:
    assert encode_response(0, "", as_json=True) == b"{}"
    assert orjson.loads(encode_response(2, "two bad", as_json=True)) == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": "two bad"}
    }
