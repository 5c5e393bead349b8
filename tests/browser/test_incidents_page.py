"""The incidents page in headless Chromium: three exceptions on three D365 flows make (or join) the D365
incident; the page lists it with its impact and exceptions, and Acknowledge then Resolve act through the
service as the logged-in operator (auth is off here: "local"), resolving its exceptions with it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from models.detection.incidents import correlate
from models.detection.occurrences import DetectionSettings
from models.queries.incidents import get_incident, list_incidents
from models.store.tables import exceptions
from tests.browser.conftest import ANCHOR, WatchedPage, settle
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser


def test_acknowledge_and_resolve_an_incident(live_server: LiveServer, watched_page: WatchedPage,
                                             artifacts: Path) -> None:  # fmt: skip
    with live_server.ctx.writer.transaction() as conn:
        for n, flow in enumerate(("shopify-d365-orders", "adobe-d365-orders", "d365-wms-release")):
            conn.execute(exceptions.insert().values(
                fingerprint=f"browser-incident:{flow}", kind="delivery_failed", flow_id=flow, system_id="d365",
                business_key=f"B{n}", title=f"{flow}: deliveries failing (ERP-503)", severity="high", status="open",
                first_seen=ANCHOR - timedelta(minutes=5), last_seen=ANCHOR, occurrences=1, affected_orders=0,
                updated_at=ANCHOR,
            ))  # fmt: skip
        correlate(conn, now=ANCHOR, settings=DetectionSettings())
    with live_server.ctx.engine.connect() as conn:
        rows, total = list_incidents(conn)
        incident = next(r for r in rows if r["system_id"] == "d365" and r["status"] == "open")
        detail = get_incident(conn, int(incident["incident_id"]))
    assert detail is not None and detail["active_exceptions"] >= 3
    n, active = int(incident["incident_id"]), int(detail["active_exceptions"])

    page = watched_page.page
    page.goto(f"{live_server.url}/incidents?id={n}")
    expect(page.locator("#in-title")).to_contain_text(incident["title"])
    expect(page.locator("#in-list tr[data-incident]")).to_have_count(total)
    expect(page.locator(f'#in-list tr[data-incident="{n}"]')).to_have_class("is-selected")
    expect(page.locator("#in-exceptions a[href^='/exceptions?id=']")).to_have_count(min(active, 50))
    expect(page.locator("#in-summary a[href^='/flows?flow=']")).not_to_have_count(0)

    page.locator("#in-ack").click()
    expect(page.locator("#in-message")).to_have_text(f"Acknowledged incident #{n}; owner local")
    expect(page.locator("#in-ack")).to_be_disabled()
    expect(page.locator("#in-timeline li[data-what=ack]")).to_contain_text("Acknowledged by local")

    page.locator("#in-resolution").fill("D365 back after failover")
    page.locator("#in-resolve").click()  # asks first, in the page: what closes with it
    dialog = page.locator("#in-resolve-ask")
    expect(dialog).to_be_visible()
    expect(page.locator("#in-resolve-ask-title")).to_have_text(f"Resolve incident #{n}: {incident['title']}?")
    expect(page.locator("#in-resolve-ask-body")).to_contain_text(
        f"Its {active} open exceptions across {detail['flows']} flows close with it: {detail['orders']} orders"
    )
    expect(page.locator("#in-resolve-ask-body")).to_contain_text("Resolution: D365 back after failover")
    page.screenshot(path=str(artifacts / "incidents-resolve-confirm.png"))
    page.locator("#in-resolve-ask-no").click()  # cancel: nothing happens
    expect(dialog).to_be_hidden()
    expect(page.locator("#in-title .badge")).not_to_have_text("resolved")
    page.locator("#in-resolve").click()
    expect(page.locator("#in-resolve-ask-yes")).to_have_text(f"Resolve with {active} open exceptions")
    page.locator("#in-resolve-ask-yes").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#in-message")).to_have_text(f"Resolved incident #{n} and {active} exceptions")
    expect(page.locator("#in-title .badge")).to_have_text("resolved")
    expect(page.locator("#in-resolve")).to_be_disabled()
    with live_server.ctx.engine.connect() as conn:
        after = get_incident(conn, n)
    assert after is not None and (after["status"], after["active_exceptions"], after["owner"]) == (
        "resolved",
        0,
        "local",
    )
    settle(page)
    page.screenshot(path=str(artifacts / "incidents.png"), full_page=True)
