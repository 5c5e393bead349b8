"""The overview in headless Chromium against a real server: numbers, charts, URL state."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from models.queries.common import Window
from models.queries.overview import needs_attention, order_counts
from tests.browser.conftest import LiveServer, WatchedPage, settle

pytestmark = pytest.mark.browser


def _tile_value(page: Page, kpi: str) -> str:
    """The value of a tile once its numbers have replaced the skeleton."""
    value = page.locator(f"[data-kpi={kpi}] .tile-value")
    expect(value).to_have_text(re.compile(r"\S"))
    return value.inner_text()


def _counts(server: LiveServer, range_: str) -> dict[str, int]:
    now = server.ctx.now()
    with server.ctx.engine.connect() as conn:
        return order_counts(conn, now=now, window=Window.named(range_, now=now))


def _wait_for_charts(page: Page, count: int) -> list[int]:
    """Wait until ``count`` Plotly charts hold traces; return each chart's trace count."""
    page.wait_for_function(
        """n => {
            const plots = [...document.querySelectorAll('.js-plotly-plot')];
            return plots.length >= n && plots.every(p => (p.data || []).length > 0);
        }""",
        arg=count,
    )
    return page.eval_on_selector_all(".js-plotly-plot", "plots => plots.map(p => p.data.length)")


def test_overview_shows_the_query_layers_numbers(
    live_server: LiveServer, watched_page: WatchedPage, artifacts: Path
) -> None:
    page = watched_page.page
    page.goto(f"{live_server.url}/")
    expected = _counts(live_server, "24h")

    in_flight = _tile_value(page, "in_flight")
    orders_today = _tile_value(page, "orders_today")

    assert expected["in_flight"] > 0
    assert in_flight == f"{expected['in_flight']:,}"
    assert orders_today == f"{expected['orders_today']:,}"
    assert int(orders_today.replace(",", "")) > 0
    assert all(_tile_value(page, k) for k in ("cycle_time", "sync_lag", "exceptions", "queues"))
    expect(page.locator("#ov-updated")).to_have_text("Updated 15:00:00 UTC")

    traces = _wait_for_charts(page, 3)
    assert len(traces) == 3 and min(traces) > 0

    with live_server.ctx.engine.connect() as conn:
        worst = needs_attention(conn, now=live_server.ctx.now(), limit=8)
    assert not worst.empty, "the demo seeds open exceptions"
    first_row = page.locator("#ov-attention .ag-row[row-index='0'] [col-id='title']")
    expect(first_row).to_have_text(worst.iloc[0]["title"])
    expect(page.locator("#ov-flow-table tbody tr")).not_to_have_count(0)

    settle(page)
    page.screenshot(path=str(artifacts / "overview.png"), full_page=True)


def test_range_selector_writes_the_url_and_refreshes_tiles(live_server: LiveServer, watched_page: WatchedPage) -> None:
    page = watched_page.page
    page.goto(f"{live_server.url}/")
    _tile_value(page, "orders_today")
    week = _counts(live_server, "7d")
    page.evaluate("window.sameDocument = true")

    page.locator("#ov-range label", has_text="7d").click()

    page.wait_for_url(re.compile(r"[?&]range=7d\b"))
    expect(page.locator("[data-kpi=orders_today] .tile-detail")).to_have_text(
        f"{week['orders_in_range']:,} in the last 7 days"
    )
    assert page.evaluate("window.sameDocument === true"), "the page reloaded"


def test_range_in_the_query_string_is_preselected(live_server: LiveServer, watched_page: WatchedPage) -> None:
    page = watched_page.page
    page.goto(f"{live_server.url}/?range=6h")

    expect(page.locator("#ov-range input[value='6h']")).to_be_checked()
    six_hours = _counts(live_server, "6h")
    expect(page.locator("[data-kpi=orders_today] .tile-detail")).to_have_text(
        f"{six_hours['orders_in_range']:,} in the last 6 hours"
    )
