"""The Flows page's backlog forecast in headless Chromium: one row per queue the query layer forecasts,
with its clear time and cut-off in the same words the builder uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboards.components.forecast import clears_text, cutoff_text
from models.queries.forecast import backlog_forecast
from tests.browser.conftest import ANCHOR, WatchedPage, settle
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser


def test_forecast_rows_match_the_query_layer(
    live_server: LiveServer, watched_page: WatchedPage, artifacts: Path
) -> None:
    with live_server.ctx.engine.connect() as conn:
        forecasts = backlog_forecast(conn, now=ANCHOR)
    assert forecasts, "the seeded demo samples its queues every minute"
    page = watched_page.page
    page.goto(f"{live_server.url}/flows")
    settle(page)
    rows = page.locator("#fl-forecast tr[data-queue]")
    expect(rows).to_have_count(len(forecasts))
    for f in forecasts:
        row = page.locator(f'#fl-forecast tr[data-queue="{f.queue}"] td')
        expect(row.nth(3)).to_have_text(clears_text(f, now=ANCHOR))
        expect(row.nth(4)).to_have_text(cutoff_text(f))
    page.locator("#fl-forecast").screenshot(path=str(artifacts / "flows-forecast.png"))
