"""The ingest edges against a real server: what real clients send, and what they get back."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import time

import httpx
import orjson
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.integration.conftest import SHOPIFY_SECRET
from tests.live_server import LiveServer


def _wait_rows(server: LiveServer, sql: str, expected: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while True:
        with server.ctx.engine.connect() as conn:
            got = conn.exec_driver_sql(sql).scalar()
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def _event(i: int, **over: object) -> dict[str, object]:
    base = {
        "event_id": f"e-{i}",
        "correlation_id": f"SHP-{1000 + i}",
        "event_type": "order.created",
        "source": "shopify",
        "target": "d365",
        "occurred_at": "2026-05-01T10:00:00+02:00",
    }
    base.update(over)
    return base


def test_mixed_ndjson_counts_and_idempotency(server: LiveServer) -> None:
    good = [_event(i) for i in range(5)]
    bad = [
        _event(90, attempt="two"),  # wrong type
        {k: v for k, v in _event(91).items() if k != "correlation_id"},  # missing field
        _event(92, occurred_at="yesterday"),  # bad timestamp
    ]
    lines = [json.dumps(r) for r in good[:3] + bad + good[3:]] + [json.dumps(good[0])]  # repeat e-0
    body = "\n".join(lines).encode()
    headers = {"content-type": "application/x-ndjson"}
    r = httpx.post(f"{server.url}/api/v1/events", content=body, headers=headers)
    assert r.status_code == 200
    reply = r.json()
    assert reply["accepted"] == 5
    assert reply["duplicates"] == 1
    assert [x["index"] for x in reply["rejected"]] == [3, 4, 5]
    assert "attempt" in reply["rejected"][0]["error"]
    assert "correlation_id" in reply["rejected"][1]["error"]
    assert "occurred_at" in reply["rejected"][2]["error"]
    assert _wait_rows(server, "SELECT count(*) FROM business_events", 5) == 5
    # the +02:00 offset is normalised to UTC
    with server.ctx.engine.connect() as conn:
        occurred = conn.exec_driver_sql("SELECT min(occurred_at) FROM business_events").scalar()
    assert occurred.isoformat() == "2026-05-01T08:00:00"
    again = httpx.post(f"{server.url}/api/v1/events", content=body, headers=headers).json()
    assert (again["accepted"], again["duplicates"]) == (0, 6)
    server.ctx.buffer.flush()  # whatever the second post might have queued is committed now
    assert _wait_rows(server, "SELECT count(*) FROM business_events", 5) == 5


def test_bad_bodies_get_clear_errors(server: LiveServer) -> None:
    url = f"{server.url}/api/v1/events"
    r = httpx.post(url, content=b"\xff\xfe{}", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]
    r = httpx.post(url, content=b'{"event_id": ', headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = httpx.post(url, content=b"<xml/>", headers={"content-type": "text/xml"})
    assert r.status_code == 415
    r = httpx.post(url, content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 400
    big = b"[" + b" " * (server.ctx.settings.max_request_bytes + 1) + b"]"
    r = httpx.post(url, content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = httpx.post(url, json=[_event(1, event_type="Order Created")])
    assert r.status_code == 422 and r.json()["accepted"] == 0


def test_five_megabyte_ndjson_is_stored_whole(server: LiveServer) -> None:
    rows = [_event(i, payload={"pad": "x" * 400}) for i in range(11_000)]
    body = "\n".join(json.dumps(r) for r in rows).encode()
    assert len(body) > 5_000_000
    r = httpx.post(
        f"{server.url}/api/v1/events", content=body, headers={"content-type": "application/x-ndjson"}, timeout=60
    )
    assert r.status_code == 200 and r.json()["accepted"] == 11_000
    assert _wait_rows(server, "SELECT count(*) FROM business_events", 11_000, timeout=30) == 11_000


def test_real_otel_exporter_spans_join_their_order(server: LiveServer) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "mw-erp-client"}))
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /data/salesorders", kind=trace.SpanKind.CLIENT) as span:
        span.set_attribute("order.id", "SHP-1003")
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    httpx.post(f"{server.url}/api/v1/events", json=_event(3, trace_id=trace_id))
    assert _wait_rows(server, "SELECT count(*) FROM spans", 1) == 1
    _wait_rows(server, "SELECT count(*) FROM business_events", 1)
    with server.ctx.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT s.service_name, s.kind, e.correlation_id FROM spans s "
            "JOIN business_events e ON e.correlation_id = s.correlation_id AND e.trace_id = s.trace_id"
        ).one()
    assert tuple(row) == ("mw-erp-client", "client", "SHP-1003")


def test_otlp_json_gzip_and_partial_success(server: LiveServer) -> None:
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "transform order",
        "kind": 1,
        "startTimeUnixNano": "1714550400000000000",
        "endTimeUnixNano": "1714550400250000000",
        "attributes": [{"key": "order.id", "value": {"stringValue": "ADB-2000001"}}],
    }
    broken = dict(span, spanId="eee19b7ec3c1b175", endTimeUnixNano="1714550300000000000")  # ends first
    doc = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [span, broken]}]}]}
    r = httpx.post(
        f"{server.url}/v1/traces",
        content=gzip.compress(orjson.dumps(doc)),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert _wait_rows(server, "SELECT count(*) FROM spans WHERE correlation_id = 'ADB-2000001'", 1) == 1
    r = httpx.post(
        f"{server.url}/v1/traces", content=b"not protobuf \xff", headers={"content-type": "application/x-protobuf"}
    )
    assert r.status_code == 400
    r = httpx.post(
        f"{server.url}/v1/traces",
        content=b"\x1f\x8bbroken",
        headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"},
    )
    assert r.status_code == 400
    r = httpx.post(f"{server.url}/v1/traces", content=b"", headers={"content-type": "application/x-protobuf"})
    assert r.status_code == 200
    assert ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans == 0


def _shopify(body: bytes, *, webhook_id: str, secret: str | None = SHOPIFY_SECRET) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "x-shopify-topic": "orders/create",
        "x-shopify-webhook-id": webhook_id,
    }
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        headers["x-shopify-hmac-sha256"] = base64.b64encode(digest).decode()
    return headers


SHOPIFY_ORDER = {
    "id": 5870001,
    "name": "#1001",
    "created_at": "2026-05-01T09:15:00-04:00",
    "currency": "USD",
    "total_price": "120.00",
    "line_items": [{"sku": "JAN-1001", "quantity": 2, "price": "60.00"}],
    "shipping_address": {"city": "Albany", "province_code": "NY", "country_code": "US", "zip": "12207"},
    "customer": {"id": 42},
}


def test_shopify_webhook_hmac_and_replay(server: LiveServer) -> None:
    url = f"{server.url}/api/v1/webhooks/shopify"
    body = orjson.dumps(SHOPIFY_ORDER)
    r = httpx.post(url, content=body, headers=_shopify(body, webhook_id="wh-1"))
    assert r.status_code == 200 and r.json()["accepted"] == 1
    r = httpx.post(url, content=body, headers=_shopify(body, webhook_id="wh-1"))
    assert r.status_code == 200 and (r.json()["accepted"], r.json()["duplicates"]) == (0, 1)
    assert httpx.post(url, content=body, headers=_shopify(body, webhook_id="wh-2", secret="wrong")).status_code == 401
    assert httpx.post(url, content=body, headers=_shopify(body, webhook_id="wh-3", secret=None)).status_code == 401
    assert httpx.post(f"{server.url}/api/v1/webhooks/nosuch", content=body).status_code == 404
    assert _wait_rows(server, "SELECT count(*) FROM business_events", 1) == 1
    with server.ctx.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT correlation_id, occurred_at FROM business_events").one()
    assert row[0] == "SHP-1001"
    assert row[1].isoformat() == "2026-05-01T13:15:00"


def test_queue_samples_push_and_validation(server: LiveServer) -> None:
    url = f"{server.url}/api/v1/queue-samples"
    sample = {"broker": "rabbit", "queue": "orders.shopify", "sampled_at": "2026-05-01T10:00:00Z", "depth": 12}
    r = httpx.post(url, json=[sample, dict(sample, queue="orders.shopify.dlq", is_dlq=True, depth=3)])
    assert r.status_code == 200 and r.json()["accepted"] == 2
    r = httpx.post(url, json=[sample, dict(sample, depth=-1)])
    assert r.status_code == 422
    assert r.json()["rejected"][0]["index"] == 1 and "depth" in r.json()["rejected"][0]["error"]
    assert httpx.post(url, content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert _wait_rows(server, "SELECT sum(depth) FROM queue_samples", 15) == 15


def test_metrics_count_what_was_ingested(server: LiveServer) -> None:
    httpx.post(f"{server.url}/api/v1/events", json=[_event(1), _event(2, attempt=0)])
    text = httpx.get(f"{server.url}/metrics").text
    assert 'flowwatch_ingest_records_total{outcome="accepted",source="events"} 1.0' in text
    assert 'flowwatch_ingest_records_total{outcome="rejected",source="events"} 1.0' in text


@pytest.mark.parametrize("path", ["/api/v1/events", "/v1/traces"])
def test_backpressure_answers_503_with_retry_after(server: LiveServer, path: str) -> None:
    server.ctx.buffer._max_pending = 0
    try:
        if path == "/v1/traces":
            req = {
                "resourceSpans": [
                    {
                        "scopeSpans": [
                            {
                                "spans": [
                                    {
                                        "traceId": "5b8efff798038103d269b633813fc60c",
                                        "spanId": "eee19b7ec3c1b174",
                                        "name": "x",
                                        "startTimeUnixNano": "1",
                                        "endTimeUnixNano": "2",
                                    }
                                ]
                            }
                        ]
                    }
                ]
            }
            r = httpx.post(f"{server.url}{path}", json=req)
        else:
            r = httpx.post(f"{server.url}{path}", json=_event(7))
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
    finally:
        server.ctx.buffer._max_pending = 1_000_000
