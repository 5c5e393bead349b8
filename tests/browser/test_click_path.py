"""From the flow map to a replay, by clicking only: map → the failing flow → one of its orders → that
order's exception → Replay in the workbench, which delivers the waiting messages and resolves it."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from models.queries.flows import flow_exceptions
from models.queries.messages import message_counts
from tests.browser.conftest import MAP_WHERE, LiveServer, WatchedPage, settle

pytestmark = pytest.mark.browser

#: The seeded outage: NorthStar's shipment confirmations dead-lettered (3PL-503).
OUTAGE_FLOW = "3pl_north-d365-shipment"


def test_flow_map_to_replay_by_clicking(live_server: LiveServer, watched_page: WatchedPage, artifacts: Path) -> None:
    with live_server.ctx.engine.connect() as conn:
        open_ = flow_exceptions(conn, flow_id=OUTAGE_FLOW, now=live_server.ctx.now())
        dead = open_[open_["kind"] == "dead_letter"].iloc[0]
        exception_id = int(dead["exception_id"])
        counts = message_counts(conn, [exception_id])[exception_id]
    waiting = counts["total"] - counts["delivered"]
    assert waiting > 0 and len(dead["orders"]) > 0

    page = watched_page.page
    page.goto(f"{live_server.url}/flows")
    page.wait_for_function("() => (document.querySelector('#fl-map-summary') || {}).innerText")
    settle(page)

    # 1. The map: click the failing flow's arrow (read where it is drawn again if the map was still
    # fitting itself, or the page above it still growing, when the click landed).
    for _ in range(5):
        settle(page)
        drawn = page.evaluate(MAP_WHERE, f"flow:{OUTAGE_FLOW}")
        page.mouse.click(drawn["x"], drawn["y"])
        try:
            page.wait_for_url(re.compile(rf"[?&]flow={OUTAGE_FLOW}\b"), timeout=5_000)
            break
        except PlaywrightTimeout:
            continue
    else:
        raise AssertionError(f"clicking the arrow of {OUTAGE_FLOW} never opened it")

    # 2. The flow: its dead-letter exception lists the orders it hurts; click the first.
    item = page.locator(f"#fl-exceptions [data-exception='{exception_id}']")
    order = item.locator(".order-link").first
    expect(order).to_have_text(dead["orders"][0])
    order.click()
    page.wait_for_url(re.compile(rf"/orders\?id={re.escape(quote(dead['orders'][0]))}"))

    # 3. The order: its timeline names the exception; click it.
    link = page.locator(f"#or-exceptions [data-exception='{exception_id}'] a.or-x-title")
    expect(link).to_have_text(dead["title"])
    link.click()
    page.wait_for_url(re.compile(rf"/exceptions\?id={exception_id}\b"))

    # 4. The workbench: the exception open in the drawer; Replay delivers what waited and resolves it.
    expect(page.locator("#ex-drawer")).to_have_class(re.compile(r"\bis-open\b"))
    expect(page.locator(".ex-detail-title")).to_have_text(dead["title"])
    replay = page.locator("#ex-drawer button:text-is('Replay')")
    expect(replay).to_be_enabled()
    replay.click()
    expect(page.locator("#ex-toast")).to_contain_text(
        f"Replayed #{exception_id}: {waiting} message{'s' if waiting != 1 else ''} delivered"
    )
    expect(page.locator(".ex-badges")).to_contain_text("resolved")
    with live_server.ctx.engine.connect() as conn:
        after = message_counts(conn, [exception_id])[exception_id]
    assert after["delivered"] == counts["total"]
    settle(page)
    page.screenshot(path=str(artifacts / "click-path-replayed.png"), full_page=True)
