"""The Order timeline in headless Chromium: search the seeded demo, open a key, see all its events."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from models.queries.flows import flow_exceptions
from models.queries.timeline import find_orders, order_timeline
from tests.browser.conftest import LiveServer, WatchedPage, settle

pytestmark = pytest.mark.browser


def _timeline(server: LiveServer, key: str) -> dict:
    with server.ctx.engine.connect() as conn:
        timeline = order_timeline(conn, correlation_id=key)
    assert timeline is not None
    return timeline


def _shipped(timeline: dict) -> bool:
    return any(e["event_type"] == "shipment.dispatched" and e["status"] == "ok"
               for e in timeline["entries"] if e["type"] == "event")  # fmt: skip


def test_search_then_open_an_order_hit_by_the_outage(
    live_server: LiveServer, watched_page: WatchedPage, artifacts: Path
) -> None:
    with live_server.ctx.engine.connect() as conn:
        outage = flow_exceptions(conn, flow_id="3pl_north-d365-shipment", now=live_server.ctx.now())
    # An order whose shipment confirmation is still dead-lettered, the outage's open wound.
    key, timeline = next((k, t) for k in outage.iloc[0]["orders"] if not _shipped(t := _timeline(live_server, k)))
    events = [e for e in timeline["entries"] if e["type"] == "event"]
    prefix = key[:-2]
    with live_server.ctx.engine.connect() as conn:
        found = [r["correlation_id"] for r in find_orders(conn, query=prefix, limit=25)]
    assert key in found and len(found) > 1

    page = watched_page.page
    page.goto(f"{live_server.url}/orders")
    page.evaluate("window.sameDocument = true")
    page.locator("#or-search").fill(prefix)
    page.locator("#or-search").press("Enter")
    results = page.locator(".or-result")
    expect(results).to_have_count(len(found))
    page.wait_for_url(re.compile(rf"[?&]q={re.escape(prefix)}\b"))

    results.filter(has_text=key).click()
    page.wait_for_url(re.compile(rf"[?&]id={re.escape(key)}\b"))
    expect(page.locator("#or-view")).to_be_visible()
    expect(page.locator("#or-results-card")).to_be_hidden()
    rows = page.locator("#or-events [data-event-id]")
    expect(rows).to_have_count(len(events))
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.eventId)") == [e["event_id"] for e in events]
    expect(page.locator("[data-kpi=events] .tile-value")).to_have_text(str(timeline["counts"]["events"]))
    expect(page.locator("[data-kpi=spans] .tile-value")).to_have_text(str(timeline["counts"]["spans"]))

    dead = next(e for e in events if e["status"] == "dead_lettered")
    failed_row = page.locator(f"#or-events [data-event-id='{dead['event_id']}']")
    expect(failed_row).to_contain_text(dead["error_message"])
    expect(page.locator("[data-stage='shipment.dispatched']")).to_have_attribute("data-state", "failed")
    for step in timeline["steps"]:
        leg = page.locator(f"[data-leg='{step['from']}>{step['to']}']")
        expect(leg).to_have_attribute("data-tone", "ok" if step["within_sla"] else "breach")
    expect(page.locator("#or-exceptions")).to_contain_text(outage.iloc[0]["title"])
    assert page.evaluate("window.sameDocument === true"), "the page reloaded"

    settle(page)
    page.screenshot(path=str(artifacts / "order.png"), full_page=True)


def test_an_exact_order_number_opens_at_once(live_server: LiveServer, watched_page: WatchedPage) -> None:
    with live_server.ctx.engine.connect() as conn:
        key = find_orders(conn, query="SHP-10002", limit=1)[0]["correlation_id"]
    events = [e for e in _timeline(live_server, key)["entries"] if e["type"] == "event"]
    page = watched_page.page
    page.goto(f"{live_server.url}/orders")
    page.locator("#or-search").fill(key)
    page.locator("#or-find").click()
    page.wait_for_url(re.compile(rf"[?&]id={re.escape(key)}\b"))
    expect(page.locator("#or-events [data-event-id]")).to_have_count(len(events))
    expect(page.locator("#or-title")).to_contain_text(key)


def test_a_link_to_an_unknown_order_says_so(live_server: LiveServer, watched_page: WatchedPage) -> None:
    page = watched_page.page
    page.goto(f"{live_server.url}/orders?id=NOPE-404")
    expect(page.locator(".or-no-match")).to_contain_text("No order matches “NOPE-404”")
    expect(page.locator("#or-view")).to_be_hidden()
    page.locator("#or-search").fill("zzz-nothing")
    page.locator("#or-search").press("Enter")
    expect(page.locator("#or-results")).to_contain_text("No order matches “zzz-nothing”")
