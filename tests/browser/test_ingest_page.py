"""The Ingest panel in headless Chromium: counters move when data arrives."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, WatchedPage

pytestmark = pytest.mark.browser


def test_ingest_panel_counts_what_arrived(live_server: LiveServer, watched_page: WatchedPage, artifacts: Path) -> None:
    events = [
        {
            "event_id": f"panel-{i}",
            "correlation_id": f"SHP-88{i:05d}",
            "event_type": "order.created",
            "source": "shopify",
            "occurred_at": "2026-03-04T14:58:00Z",
        }
        for i in range(7)
    ]
    bad = {
        "event_id": "panel-bad",
        "correlation_id": "SHP-1",
        "event_type": "order.created",
        "source": "shopify",
        "occurred_at": "not a time",
    }
    r = httpx.post(f"{live_server.url}/api/v1/events", json=[*events, bad])
    assert r.json()["accepted"] == 7
    accepted = live_server.ctx.counters.snapshot()["events"]["accepted"]

    page = watched_page.page
    page.goto(f"{live_server.url}/ingest")
    expect(page.locator("[data-kpi=accepted] .tile-value")).to_have_text(f"{accepted:,}")
    expect(page.locator("[data-kpi=rejected] .tile-value")).to_have_text(re.compile(r"^[1-9]"))
    expect(page.locator("#in-sources")).to_contain_text("Events API")
    expect(page.locator("#in-pollers")).to_contain_text("No queue pollers configured")
    page.wait_for_function(
        "() => { const p = document.querySelector('#in-received-chart .js-plotly-plot');"
        " return p && (p.data || []).some(t => t.type === 'bar'); }"
    )
    expect(page.locator("a.nav-link.active")).to_have_text("Ingest")
    page.screenshot(path=str(artifacts / "ingest.png"), full_page=True)
