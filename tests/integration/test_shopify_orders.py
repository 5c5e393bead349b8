"""Shopify's own example webhooks through a real server: refunds and fulfillments land on their
order (Shopify's numeric order id resolved to the order number, across a restart), pending
fulfillments are not dispatches, and topics Flowwatch does not use are acknowledged as ignored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import httpx

from app.settings import load_settings
from tests.integration.conftest import SHOPIFY_SECRET
from tests.live_server import LiveServer, serve

DOCS = Path(__file__).resolve().parents[1] / "unit" / "collectors" / "samples" / "adapters" / "shopify_docs"
ORDER = "SHP-9999"  # Shopify's example order is "#9999", id 820982911946154508


def _post(live: LiveServer, topic: str, body: bytes, webhook_id: str) -> httpx.Response:
    digest = base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    headers = {"content-type": "application/json", "x-shopify-topic": topic, "x-shopify-webhook-id": webhook_id,
               "x-shopify-hmac-sha256": digest, "x-shopify-shop-domain": "jsmith.myshopify.com"}  # fmt: skip
    return httpx.post(f"{live.url}/api/v1/webhooks/shopify", content=body, headers=headers, timeout=10)


def _events(live: LiveServer) -> list[tuple[str, str, str]]:
    live.ctx.buffer.flush()
    with live.ctx.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT event_type, correlation_id, status FROM business_events ORDER BY received_at, event_id"
        ).fetchall()
    return [tuple(r) for r in rows]


def test_refunds_and_fulfillments_attach_to_their_order_across_a_restart(tmp_path: Path) -> None:
    settings = load_settings(db=tmp_path / "fw.duckdb", shopify_secret=SHOPIFY_SECRET, ingest_max_delay_seconds=0.05)
    order, refund = (DOCS / "orders_create.json").read_bytes(), (DOCS / "refunds_create.json").read_bytes()
    fulfillment = json.loads((DOCS / "fulfillments_create.json").read_bytes())
    with serve(settings) as live:
        assert _post(live, "orders/create", order, "wh-order").json()["accepted"] == 1
        _events(live)  # the order is stored (and its alias with it) before the refund arrives
        assert _post(live, "refunds/create", refund, "wh-refund-1").json()["accepted"] == 1
        pending = json.dumps(fulfillment).encode()
        assert _post(live, "fulfillments/create", pending, "wh-ful-1").json()["accepted"] == 1
        assert _events(live) == [
            ("order.created", ORDER, "ok"),
            ("refund.issued", ORDER, "ok"),
            ("fulfillment.created", ORDER, "ok"),  # pending: not dispatched
        ]
        with live.ctx.engine.connect() as conn:
            facts = conn.exec_driver_sql(
                "SELECT correlation_id, dispatched_at FROM order_facts ORDER BY correlation_id"
            ).fetchall()
        assert [tuple(r) for r in facts] == [(ORDER, None)]

    with serve(settings) as live:  # a new process: the id → order alias was kept in the database
        again = json.loads(refund)
        again["id"] = 890088186047892320
        assert _post(live, "refunds/create", json.dumps(again).encode(), "wh-refund-2").json()["accepted"] == 1
        shipped = json.dumps({**fulfillment, "status": "success",
                              "updated_at": "2022-01-01T10:00:00-05:00"}).encode()  # fmt: skip
        assert _post(live, "fulfillments/update", shipped, "wh-ful-2").json()["accepted"] == 1
        assert [e for e in _events(live) if e[0] in ("refund.issued", "shipment.dispatched")] == [
            ("refund.issued", ORDER, "ok"),
            ("refund.issued", ORDER, "ok"),
            ("shipment.dispatched", ORDER, "ok"),
        ]
        timeline = httpx.get(f"{live.url}/api/v1/orders/{ORDER}", timeout=10).json()
        kinds = [e["event_type"] for e in timeline["entries"] if e["type"] == "event"]
        assert kinds.count("refund.issued") == 2 and "shipment.dispatched" in kinds


def test_a_refund_before_its_order_keeps_its_reference_and_unused_topics_are_ignored(server: LiveServer) -> None:
    refund = (DOCS / "refunds_create.json").read_bytes()
    assert _post(server, "refunds/create", refund, "wh-early").json()["accepted"] == 1
    assert _events(server) == [("refund.issued", "@shopify:order:820982911946154508", "ok")]

    for n, topic in enumerate(("products/update", "customers/create", "app/uninstalled")):
        r = _post(server, topic, b'{"id": 1}', f"wh-ignored-{n}")
        assert (r.status_code, r.json()) == (200, {"accepted": 0, "duplicates": 0, "rejected": [], "ignored": 1})
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert 'flowwatch_ingest_records_total{outcome="ignored",source="webhook:shopify"} 3.0' in metrics
    assert len(_events(server)) == 1
