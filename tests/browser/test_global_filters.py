"""The global filters in headless Chromium: set on the overview, kept in the URL and by the nav links,
applied by the next pages, and reproduced by a pasted link."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from models.queries.common import Window
from models.queries.exceptions import ExceptionFilter, list_exceptions
from models.queries.flows import flows_health
from models.queries.overview import order_counts
from models.queries.scope import Scope
from tests.browser.conftest import TIMEOUT_MS, LiveServer, WatchedPage, settle

pytestmark = pytest.mark.browser

CHANNEL = "adobe"


def _tile(page: Page, kpi: str) -> str:
    value = page.locator(f"[data-kpi={kpi}] .tile-value")
    expect(value).to_have_text(re.compile(r"\d"))
    return value.inner_text()


def _expected(server: LiveServer, scope: Scope) -> tuple[int, int, int]:
    """Orders today on the overview, flows on the Flows page, active exceptions on the workbench."""
    now = server.ctx.now()
    with server.ctx.engine.connect() as conn:
        today = order_counts(conn, now=now, window=Window.named("7d", now=now), scope=scope)["orders_today"]
        flows = len(flows_health(conn, now=now, window=Window.named("7d", now=now), scope=scope))
        flt = ExceptionFilter(status=["open", "acknowledged"], snoozed=False, **scope.chosen())
        active = list_exceptions(conn, flt, now=now, limit=1).total
    return today, flows, active


def _choose(page: Page, dim: str, label: str) -> None:
    settle(page)  # a render still in flight (the last change's) would close the menu under the click
    page.locator(f"#fw-f-{dim}").click()
    page.get_by_role("option", name=label, exact=True).click()
    expect(page.locator(f"#fw-f-{dim}")).to_contain_text(label)


def test_a_filter_follows_the_nav_and_a_pasted_link(
    live_server: LiveServer, watched_page: WatchedPage, browser: Browser
) -> None:
    everything, scoped = _expected(live_server, Scope()), _expected(live_server, Scope(channel=CHANNEL))
    assert all(s < e for s, e in zip(scoped, everything, strict=True)), (scoped, everything)
    page = watched_page.page
    page.goto(f"{live_server.url}/")
    expect(page.locator("[data-kpi=orders_today] .tile-value")).to_have_text(f"{everything[0]:,}")
    page.locator("#ov-range label", has_text="7d").click()  # the page writes its range past dcc.Location
    page.wait_for_url(re.compile(r"/\?range=7d$"))

    _choose(page, "channel", "Adobe Commerce")
    page.wait_for_url(re.compile(rf"[?&]channel={CHANNEL}\b"))
    assert "range=7d" in page.url
    expect(page.locator("[data-kpi=orders_today] .tile-value")).to_have_text(f"{scoped[0]:,}")

    page.locator(".nav-link", has_text="Flows").click()
    page.wait_for_url(re.compile(rf"/flows\?range=7d&channel={CHANNEL}$"))
    expect(page.locator("#fl-range input[value='7d']")).to_be_checked()
    expect(page.locator("#fl-grid .ag-center-cols-container .ag-row")).to_have_count(scoped[1])

    page.locator(".nav-link", has_text="Exceptions").click()
    page.wait_for_url(re.compile(rf"/exceptions\?.*channel={CHANNEL}"))
    expect(page.locator("#ex-selection")).to_have_text(f"0 selected / {scoped[2]:,} matching exceptions")
    settle(page)

    pasted = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    pasted.set_default_timeout(TIMEOUT_MS)
    pasted.goto(f"{live_server.url}/?range=7d&channel={CHANNEL}&erp=nonsense")
    expect(pasted.locator("#ov-range input[value='7d']")).to_be_checked()
    expect(pasted.locator("[data-kpi=orders_today] .tile-value")).to_have_text(f"{scoped[0]:,}")
    expect(pasted.locator("#fw-f-channel")).to_contain_text("Adobe Commerce")
    expect(pasted.locator("#fw-f-erp")).to_contain_text("All ERPs")
    pasted.context.close()
