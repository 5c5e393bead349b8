"""The error catalog on a real server: a failed order's exception explains its known error (class,
safe action, runbook) in GET /api/v1/exceptions/{id}; an admin edits a runbook, adds a class, is refused
a bad regex naming the field, and reverts to the file."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from app.jobs import detect
from tests.factories import event, events_table
from tests.live_server import LiveServer

NOW = datetime(2026, 3, 10, 12, 0)


def _exception_of(server: LiveServer, key: str) -> dict:  # type: ignore[type-arg]
    page = httpx.get(f"{server.url}/api/v1/exceptions", params={"q": key, "status": "open"}, timeout=30).json()
    [row] = page["items"]
    return httpx.get(f"{server.url}/api/v1/exceptions/{row['exception_id']}", timeout=30).json()


def test_known_error_in_the_detail_and_admin_edits(server: LiveServer) -> None:
    server.ctx.clock = lambda: NOW
    failed = event(
        "SHP-1000437",
        "order.created",
        NOW - timedelta(minutes=30),
        flow_id="shopify-d365-orders",
        status="failed",
        error_code="VAL-SKU",
        error_message="SKU PP-0440-CS not mapped to a D365 item",
    )
    odd = event(
        "SHP-1000438",
        "order.created",
        NOW - timedelta(minutes=30),
        flow_id="shopify-d365-orders",
        status="failed",
        error_code="VAL-GIFT",
        error_message="Unexpected field 'gift_wrap' in payload",
    )
    server.ctx.writer.append("business_events", events_table([failed, odd]))
    detect(server.ctx)

    detail = _exception_of(server, "SHP-1000437")
    known = detail["known_error"]
    assert known["class_id"] == "unmapped_sku" and known["action"] == "edit_and_replay"
    assert known["suggested_patch"].startswith('[{"op": "replace"') and "item master" in known["runbook"]
    assert _exception_of(server, "SHP-1000438")["known_error"] is None

    url, dana = f"{server.url}/api/v1/error-classes", server.auth("dana", "admin")
    classes = httpx.get(url, timeout=30).json()["classes"]
    assert [c["class_id"] for c in classes][:2] == ["duplicate_external_id", "credit_hold"]
    edited = httpx.put(f"{url}/unmapped_sku", json={"runbook": "Ask **merchandising**."}, headers=dana, timeout=30)
    assert edited.status_code == 200 and edited.json()["updated_by"] == "dana"
    assert _exception_of(server, "SHP-1000437")["known_error"]["runbook"] == "Ask **merchandising**."

    added = httpx.put(f"{url}/gift_wrap", timeout=30, headers=dana, json={
        "name": "Gift wrap not supported", "codes": ["VAL-GIFT"],
        "explanation": "D365 has no gift wrap.", "runbook": "Remove `gift_wrap` and replay.",
        "action": "edit_and_replay",
        "suggested_patch": '[{"op": "remove", "path": "/gift_wrap"}]'})  # fmt: skip
    assert added.status_code == 200 and added.json()["origin"] == "admin" and added.json()["position"] == 9
    assert _exception_of(server, "SHP-1000438")["known_error"]["class_id"] == "gift_wrap"

    for body, field in (({"patterns": ["(unclosed"]}, "patterns"),
                        ({"action": "delete"}, "action"),
                        ({"colour": "red"}, "colour"),
                        ({"actor": "dana", "runbook": "x"}, "actor")):  # fmt: skip  # the actor is the login
        bad = httpx.put(f"{url}/rate_limited", json=body, headers=dana, timeout=30)
        assert bad.status_code == 422 and field in bad.text and "Traceback" not in bad.text, (body, bad.text)

    reverted = httpx.delete(f"{url}/unmapped_sku", headers=dana, timeout=30).json()
    assert reverted["error_class"]["updated_by"] is None and "item master" in reverted["error_class"]["runbook"]
    assert httpx.delete(f"{url}/gift_wrap", headers=dana, timeout=30).json()["error_class"] is None
    assert httpx.delete(f"{url}/nope", headers=dana, timeout=30).status_code == 404
