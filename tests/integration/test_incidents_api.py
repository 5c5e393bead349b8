"""Incidents on a real server: three exceptions on three D365 flows become one incident; acknowledge,
assign and resolve it over the API (resolving resolves its exceptions, each audited under the caller);
bad input answers 404, 409 or 422 with what is wrong, and a viewer may read but not act."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import sqlalchemy as sa

from models.detection.incidents import correlate
from models.detection.occurrences import DetectionSettings
from models.queries.impact import refresh_impact
from models.store.tables import exception_messages, exception_orders, exceptions, order_facts
from tests.live_server import LiveServer

NOW = datetime(2026, 3, 10, 12, 0)
FLOWS = ("shopify-d365-orders", "adobe-d365-orders", "d365-wms-release")


def _outage(server: LiveServer) -> None:
    """One exception per flow, each holding one order (12.50, 30.00, 7.25), the first with a failed
    message not yet delivered (resolving it by hand needs a reason: the incident gives one)."""
    with server.ctx.writer.transaction() as conn:
        for i, (flow, value) in enumerate(zip(FLOWS, ("12.50", "30.00", "7.25"), strict=True), start=1):
            conn.execute(exceptions.insert().values(
                exception_id=i, fingerprint=f"fp{i}", kind="delivery_failed", flow_id=flow, system_id="d365",
                business_key=f"K{i}", title=f"{flow}: deliveries failing (ERP-503)", severity="high", status="open",
                first_seen=NOW - timedelta(minutes=10), last_seen=NOW, occurrences=1, affected_orders=1,
                updated_at=NOW,
            ))  # fmt: skip
            conn.execute(exception_orders.insert().values(exception_id=i, correlation_id=f"SHP-{i}"))
            conn.execute(order_facts.insert().values(correlation_id=f"SHP-{i}", failures=1, created_at=NOW,
                                                     order_value=Decimal(value)))  # fmt: skip
        conn.execute(exception_messages.insert().values(
            exception_id=1, event_id="ev-1", correlation_id="SHP-1", first_failed_at=NOW, last_failed_at=NOW,
            state="pending", replays=0,
        ))  # fmt: skip
        refresh_impact(conn)  # as the detection pass that linked the orders would
        correlate(conn, now=NOW, settings=DetectionSettings())


def test_incident_actions_and_refusals(server: LiveServer) -> None:
    server.ctx.clock = lambda: NOW
    _outage(server)
    url, dana = f"{server.url}/api/v1/incidents", server.auth("dana")

    page = httpx.get(url, timeout=30).json()
    assert page["total"] == 1
    [row] = page["items"]
    assert (row["incident_id"], row["system_id"], row["title"], row["status"]) == (
        1, "d365", "Dynamics 365 (main ERP) unavailable", "open",
    )  # fmt: skip
    assert (row["exceptions"], row["flows"], row["orders"], row["value_at_risk"]) == (3, 3, 3, 49.75)
    assert httpx.get(url, params={"status": "resolved"}, timeout=30).json() == {"items": [], "total": 0}

    bad = httpx.get(url, params={"status": "closed"}, timeout=30)
    assert bad.status_code == 422 and "status: unknown closed" in bad.json()["detail"]
    missing = httpx.get(f"{url}/99", timeout=30)
    assert missing.status_code == 404 and missing.json()["detail"] == "incident 99 does not exist"

    acked = httpx.post(f"{url}/1/ack", headers=dana, timeout=30)
    assert acked.status_code == 200, acked.text
    assert acked.json()["after"] == {"status": "acknowledged", "owner": "dana"}
    again = httpx.post(f"{url}/1/ack", headers=dana, timeout=30)
    assert again.status_code == 409 and "already acknowledged" in again.json()["detail"]

    for body, where in (({"owner": ""}, "owner"), ({"owner": "sam", "actor": "mallory"}, "actor")):
        refused = httpx.post(f"{url}/1/assign", json=body, headers=dana, timeout=30)
        assert refused.status_code == 422 and where in refused.text
    assigned = httpx.post(f"{url}/1/assign", json={"owner": "sam"}, headers=dana, timeout=30).json()
    assert (assigned["before"]["owner"], assigned["after"]["owner"]) == ("dana", "sam")

    viewer = httpx.post(f"{url}/1/resolve", headers=server.auth("vic", "read"), timeout=30)
    assert viewer.status_code == 403

    resolved = httpx.post(f"{url}/1/resolve", json={"resolution": "D365 back"}, headers=dana, timeout=30)
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert (body["resolved_exceptions"], body["incident"]["status"], body["incident"]["active_exceptions"]) == (
        3, "resolved", 0,
    )  # fmt: skip
    assert [e["what"] for e in body["incident"]["timeline"] if e["what"] != "exception"] == [
        "open", "ack", "assign", "resolve",
    ]  # fmt: skip
    with server.ctx.engine.connect() as conn:
        audit = conn.execute(sa.text(
            "SELECT x.status, x.resolution, a.actor FROM exceptions x JOIN exception_actions a USING (exception_id) "
            "WHERE a.action = 'resolve' ORDER BY x.exception_id"
        )).all()  # fmt: skip
    assert audit == [("resolved", "incident #1 resolved: D365 back", "dana")] * 3
    shown = httpx.get(f"{server.url}/api/v1/exceptions/1", timeout=30).json()
    assert (shown["incident"], shown["value_at_risk"]) == (
        {"incident_id": 1, "title": "Dynamics 365 (main ERP) unavailable", "status": "resolved"}, 12.5,
    )  # fmt: skip

    for path, code in (("1/resolve", 409), ("99/resolve", 404), ("99/ack", 404)):
        answer = httpx.post(f"{url}/{path}", headers=dana, timeout=30)
        assert answer.status_code == code, (path, answer.text)
    late = httpx.post(f"{url}/1/assign", json={"owner": "x"}, headers=dana, timeout=30)
    assert late.status_code == 409 and late.json()["detail"] == "cannot assign a resolved incident"
