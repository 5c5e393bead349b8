"""Cost of ``collectors.otlp.decode_traces`` per span, on PERF-NOTES' reference request.

Run: ``python -m bench.otlp_decode [--spans N] [--attributes A] [--repeat R]``. The
request is N spans with A attributes each (mostly strings, some ints, doubles and
booleans, one business key), over 10 traces and 3 services, encoded by the real
opentelemetry-proto classes; its OTLP/JSON form uses hex ids as the spec requires.
Prints µs/span per encoding: the best of R runs (the code's cost) and the median (what a
shared 2-core machine gives; it swings by up to 1.7x between runs).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import statistics
import time

import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from collectors.otlp import decode_traces

START_NS = 1_714_557_600_000_000_000  # 2024-05-01T10:00:00Z


def _value(i: int) -> AnyValue:
    match i % 5:
        case 0:
            return AnyValue(int_value=i * 1000)
        case 1:
            return AnyValue(double_value=i / 7)
        case 2:
            return AnyValue(bool_value=i % 2 == 0)
        case _:
            return AnyValue(string_value=f"value-{i}-lorem-ipsum")


def make_request(spans: int, attributes: int) -> ExportTraceServiceRequest:
    """A request shaped like an SDK batch: a few resources, many spans with attributes."""
    request = ExportTraceServiceRequest()
    services = ("order-router", "erp-connector", "3pl-gateway")
    per_service = -(-spans // len(services))
    for s, service in enumerate(services):
        resource_spans = ResourceSpans(
            resource=Resource(
                attributes=[
                    KeyValue(key="service.name", value=AnyValue(string_value=service)),
                    KeyValue(key="deployment.environment", value=AnyValue(string_value="prod")),
                    KeyValue(key="telemetry.sdk.language", value=AnyValue(string_value="python")),
                ]
            )
        )
        scope_spans = ScopeSpans(scope=InstrumentationScope(name="flowwatch.bench", version="1.0"))
        for n in range(s * per_service, min(spans, (s + 1) * per_service)):
            attrs = [KeyValue(key="order.id", value=AnyValue(string_value=f"SHP-{100000 + n // 10}"))]
            attrs += [KeyValue(key=f"app.attr_{a}", value=_value(a + n)) for a in range(attributes - 1)]
            scope_spans.spans.append(
                Span(
                    trace_id=(n % 10 + 1).to_bytes(16, "big"),
                    span_id=(n + 1).to_bytes(8, "big"),
                    parent_span_id=n.to_bytes(8, "big") if n % 10 else b"",
                    name=f"erp.push {n % 7}",
                    kind=Span.SPAN_KIND_CLIENT,
                    start_time_unix_nano=START_NS + n * 1_000_000,
                    end_time_unix_nano=START_NS + n * 1_000_000 + 2_500_000,
                    attributes=attrs,
                    status=Status(code=Status.STATUS_CODE_ERROR if n % 50 == 0 else Status.STATUS_CODE_OK),
                )
            )
        resource_spans.scope_spans.append(scope_spans)
        request.resource_spans.append(resource_spans)
    return request


def to_otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON of the request: like json_format's output but with hex ids (OTLP spec)."""
    document = MessageToDict(request)  # json_format writes ids as base64
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return orjson.dumps(document)


def measure(body: bytes, content_type: str, encoding: str | None, spans: int, repeat: int) -> tuple[float, float]:
    """Best and median µs per span of decode_traces over ``repeat`` runs, after a warm-up."""
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        decoded = decode_traces(body, content_type=content_type, content_encoding=encoding, max_bytes=64 << 20)
        times.append(time.perf_counter() - start)
    assert decoded.table.num_rows == spans and decoded.rejected == 0
    times = times[1:]
    return min(times) / spans * 1e6, statistics.median(times) / spans * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1000)
    parser.add_argument("--attributes", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    request = make_request(args.spans, args.attributes)
    protobuf = request.SerializeToString()
    json_body = to_otlp_json(request)
    cases = (
        ("protobuf", protobuf, "application/x-protobuf", None),
        ("protobuf + gzip", gzip.compress(protobuf), "application/x-protobuf", "gzip"),
        ("json", json_body, "application/json", None),
        ("json + gzip", gzip.compress(json_body), "application/json", "gzip"),
    )
    print(f"{args.spans} spans x {args.attributes} attributes, {args.repeat} runs: best / median")
    for label, body, content_type, encoding in cases:
        best, median = measure(body, content_type, encoding, args.spans, args.repeat)
        print(
            f"  {label:16} {len(body) / 1024:5.0f} KiB  {best:5.1f} / {median:5.1f} µs/span"
            f"  {1e6 / best:7,.0f} / {1e6 / median:7,.0f} spans/s"
        )


if __name__ == "__main__":
    main()
