"""GET /api/v1/reconciliation on a real server: the funnel per day and channel, the missing keys with
their source message, a channel filter, and bad inputs answered 422 naming the parameter."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from tests.factories import event, events_table
from tests.live_server import LiveServer

NOW = datetime(2026, 3, 10, 12, 0)
D9 = datetime(2026, 3, 9)
M, H = timedelta(minutes=1), timedelta(hours=1)


def test_funnel_gaps_and_bad_inputs(server: LiveServer) -> None:
    server.ctx.clock = lambda: NOW
    rows = [
        # shopify: one order all the way, one the ERP never got (the silently dropped one)
        event("SHP-1", "order.created", D9 + 9 * H, event_id="SHP-1-c", flow_id="shopify-d365-orders"),
        event("SHP-1", "order.accepted", D9 + 9 * H + M),
        event("SHP-1", "order.released", D9 + 10 * H),
        event("SHP-1", "shipment.dispatched", D9 + 18 * H),
        event("SHP-2", "order.created", D9 + 9 * H, event_id="SHP-2-c", flow_id="shopify-d365-orders"),
        # adobe: accepted and released, not yet shipped (48 h grace)
        event("ADB-1", "order.created", D9 + 11 * H, channel="adobe"),
        event("ADB-1", "order.accepted", D9 + 11 * H + M, channel="adobe"),
        event("ADB-1", "order.released", D9 + 12 * H, channel="adobe"),
    ]
    server.ctx.writer.append("business_events", events_table(rows))
    body = httpx.get(f"{server.url}/api/v1/reconciliation", params={"days": 2}, timeout=30).json()
    assert body["since"] == "2026-03-09T00:00:00" and body["until"] == "2026-03-10T12:00:00"
    assert [s["stage"] for s in body["stages"]] == ["storefront", "erp", "released", "shipped"]
    cells = {(c["channel"], c["stage"]): (c["reached"], c["missing"], c["pending"]) for c in body["funnel"]}
    assert cells == {
        ("adobe", "storefront"): (1, 0, 0), ("adobe", "erp"): (1, 0, 0), ("adobe", "released"): (1, 0, 0),
        ("adobe", "shipped"): (0, 0, 1),
        ("shopify", "storefront"): (2, 0, 0), ("shopify", "erp"): (1, 1, 0), ("shopify", "released"): (1, 0, 0),
        ("shopify", "shipped"): (1, 0, 0),
    }  # fmt: skip
    [gap] = body["gaps"]
    assert gap["correlation_id"] == "SHP-2" and gap["stage"] == "erp" and gap["source_event_id"] == "SHP-2-c"
    assert gap["source_flow_id"] == "shopify-d365-orders" and gap["replay"] is True
    assert gap["due_at"] == "2026-03-09T10:00:00"  # created 09:00 + the ERP stage's 60 min grace

    adobe = httpx.get(f"{server.url}/api/v1/reconciliation", params={"channel": "adobe", "days": 2}, timeout=30)
    assert {c["channel"] for c in adobe.json()["funnel"]} == {"adobe"} and adobe.json()["gaps"] == []

    for params, word in (({"days": 0}, "days"), ({"days": "x"}, "days"), ({"from": "soon"}, "from"),
                         ({"from": "2026-03-10T13:00:00"}, "from")):  # fmt: skip
        bad = httpx.get(f"{server.url}/api/v1/reconciliation", params=params, timeout=30)
        assert bad.status_code == 422 and word in bad.text and "Traceback" not in bad.text, (params, bad.text)
