"""The Reconciliation page in headless Chromium over the seeded demo: the funnel cells are the query
layer's numbers, a gap opens its keys (the demo's silently dropped Shopify orders among them) and a
key opens its order timeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from models.queries.reconciliation import reconcile
from tests.browser.conftest import ANCHOR, WatchedPage, settle
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser


def test_funnel_gap_keys_and_timeline(live_server: LiveServer, watched_page: WatchedPage, artifacts: Path) -> None:
    since = datetime(ANCHOR.year, ANCHOR.month, ANCHOR.day) - timedelta(days=2)
    with live_server.ctx.engine.connect() as conn:
        result = reconcile(conn, since=since, until=ANCHOR, now=ANCHOR)
    today = ANCHOR.strftime("%Y-%m-%d")
    gaps = result.gaps[
        (result.gaps["stage"] == "erp") & (result.gaps["channel"] == "shopify")
        & (result.gaps["day"].dt.strftime("%Y-%m-%d") == today)
    ]  # fmt: skip
    dropped = sorted(gaps["correlation_id"])
    assert len(dropped) >= 2, "the demo plants two Shopify orders D365 never accepted today"

    page = watched_page.page
    page.goto(f"{live_server.url}/reconciliation")
    settle(page)
    cells = page.locator("#rc-funnel tbody tr")
    expect(cells).to_have_count(result.funnel.groupby(["day", "channel"]).ngroups)
    link = page.locator(f'#rc-funnel a.rc-gap[href*="day={today}&in=shopify&stage=erp"]')
    expect(link).to_have_text(f"{len(dropped)} missing")
    page.screenshot(path=str(artifacts / "reconciliation.png"), full_page=True)

    link.click()
    settle(page)
    keys = page.locator("#rc-keys a.order-link")
    expect(keys).to_have_count(len(dropped))
    assert sorted(keys.all_inner_texts()) == dropped
    first = keys.first.inner_text()
    keys.first.click()
    expect(page).to_have_url(f"{live_server.url}/orders?id={first}")
    expect(page.locator("#or-title")).to_contain_text(first)
