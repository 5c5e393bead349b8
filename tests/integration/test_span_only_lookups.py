"""Look-ups find what was ingested, even with no business events: orders known only from their
spans, and traces that carry no business key, sent by the real OpenTelemetry SDK exporter."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context

from tests.live_server import LiveServer

ORDERS = ("WEB-7700001", "WEB-7700002", "WEB-7700003")


def _export(live: LiveServer) -> str:
    """Three orders of three spans each (root tagged with order.id), and one three-span trace with no
    business key; returns the bare trace's id (hex)."""
    provider = TracerProvider(resource=Resource.create({"service.name": "edge-gateway"}), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{live.url}/v1/traces", timeout=5)))
    tracer = provider.get_tracer("test")
    for order in ORDERS:
        with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER, attributes={"order.id": order}):
            with tracer.start_as_current_span("validate order"):
                pass
            with tracer.start_as_current_span("publish orders.web", kind=SpanKind.PRODUCER):
                pass
    root = tracer.start_span("GET /health", kind=SpanKind.SERVER)
    for name in ("db ping", "cache ping"):
        tracer.start_span(name, context=set_span_in_context(root)).end()
    root.end()
    provider.shutdown()
    return f"{root.get_span_context().trace_id:032x}"


def _wait_spans(live: LiveServer, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with live.ctx.engine.connect() as conn:
            if conn.exec_driver_sql("SELECT count(*) FROM spans").scalar_one() >= count:
                return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} spans stored after 10 s")


def test_orders_known_only_from_spans_and_bare_traces_are_found(server: LiveServer) -> None:
    bare = _export(server)
    _wait_spans(server, 12)
    with server.ctx.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM business_events").scalar_one() == 0

    for order in ORDERS:
        found = httpx.get(f"{server.url}/api/v1/orders", params={"q": order}, timeout=10).json()["results"]
        assert [(r["correlation_id"], r["match"], r["events"]) for r in found] == [(order, "exact", 0)]
        assert found[0]["first_seen"] is not None
        timeline = httpx.get(f"{server.url}/api/v1/orders/{order}", timeout=10)
        assert timeline.status_code == 200, timeline.text
        spans = [e for e in timeline.json()["entries"] if e["type"] == "span"]
        assert [s["name"] for s in spans] == ["POST /orders", "validate order", "publish orders.web"]
        assert len({s["trace_id"] for s in spans}) == 1 and timeline.json()["counts"]["spans"] == 3

    found = httpx.get(f"{server.url}/api/v1/orders", params={"q": bare}, timeout=10).json()["results"]
    assert [(r["correlation_id"], r["matched_on"]) for r in found] == [(bare, "trace_id")]
    timeline = httpx.get(f"{server.url}/api/v1/orders/{bare}", timeout=10).json()
    assert sorted(e["name"] for e in timeline["entries"] if e["type"] == "span") == ["GET /health", "cache ping",
                                                                                       "db ping"]  # fmt: skip
    missing = httpx.get(f"{server.url}/api/v1/orders/{quote('f' * 32)}", timeout=10)
    assert missing.status_code == 404
