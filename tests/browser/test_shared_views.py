"""The README's promise for the period pages, in headless Chromium: a scorecard view is shared for a
minute — an operator's action shows on the next load, new events once the minute has turned (the
view is recomputed in the background meanwhile) — and the page says the time its numbers were read;
the overview's exception panel, shared the same way, drops a resolved exception on the next load."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.services import lifecycle
from dashboards.components.format import fmt_duration
from models.queries.common import Window
from models.queries.kpis import kpi_breakdown
from tests.browser.conftest import ANCHOR, WatchedPage
from tests.factories import event, events_table
from tests.live_server import LiveServer, serve_seeded

pytestmark = pytest.mark.browser

#: Orders added in the test: created 30 hours before they ship, far above the demo's median.
LATE_ORDERS = 600


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_seeded(tmp_path_factory.mktemp("shared") / "flowwatch.duckdb", anchor=ANCHOR, days=7) as live:
        yield live


def _kpi(server: LiveServer, metric: str) -> float:
    """The 7-day total of ``metric`` as the query layer computes it now."""
    with server.ctx.engine.connect() as conn:
        report = kpi_breakdown(conn, window=Window.named("7d", now=server.ctx.now()), only=None)
    value = next(k for k in report["kpis"] if k["kpi"] == metric)["rows"][0]["value"]
    assert value is not None, metric
    return float(value)


def _tile(page: Page, kpi: str) -> str:
    value = page.locator(f"[data-kpi={kpi}] .tile-value")
    expect(value).to_have_text(re.compile(r"\S"))
    return value.inner_text()


def _open(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/scorecard?period=7d")
    expect(page.locator("#sc-period-label")).to_contain_text(f"{server.ctx.now():%H:%M}")  # read as of now


def test_an_action_shows_at_once_new_events_when_the_minute_turns(
    server: LiveServer, watched_page: WatchedPage, artifacts: Path
) -> None:
    page, ctx = watched_page.page, server.ctx
    _open(page, server)
    mttr_before = _kpi(server, "mttr_hours")
    assert _tile(page, "mttr") == fmt_duration(mttr_before * 3600)

    # An operator resolves the oldest open exception: mean time to resolve rises, and the next load shows it.
    with ctx.engine.connect() as conn:
        oldest = conn.execute(
            sa.text("SELECT exception_id FROM exceptions WHERE status = 'open' ORDER BY first_seen LIMIT 1")
        ).scalar_one()
    acted = ctx.now() - timedelta(seconds=30)  # within the period, which ends (exclusive) at the pinned now
    with ctx.writer.transaction() as conn:
        lifecycle.resolve(int(oldest), conn=conn, actor="dana", now=acted, resolution="fixed at the 3PL")
    mttr_after = _kpi(server, "mttr_hours")
    assert fmt_duration(mttr_after * 3600) != fmt_duration(mttr_before * 3600)  # a change the tile can show
    _open(page, server)
    expect(page.locator("[data-kpi=mttr] .tile-value")).to_have_text(fmt_duration(mttr_after * 3600))

    # Late orders arrive within the same minute: the view read this minute stands (its label too)…
    cycle_before = _kpi(server, "order_cycle_time_p50_hours")
    shipped = ctx.now() - timedelta(days=1)
    rows = [
        event(f"LATE-{n:04d}", kind, at, source=source, target="d365", channel="shopify")
        for n in range(LATE_ORDERS)
        for kind, at, source in (("order.created", shipped - timedelta(hours=30), "shopify"),
                                 ("shipment.dispatched", shipped, "wms"))
    ]  # fmt: skip
    ctx.writer.append("business_events", events_table(rows))
    cycle_after = _kpi(server, "order_cycle_time_p50_hours")
    assert cycle_after > cycle_before and fmt_duration(cycle_after * 3600) != fmt_duration(cycle_before * 3600)
    _open(page, server)
    assert _tile(page, "order_cycle_time") == fmt_duration(cycle_before * 3600)

    # …and once the minute turns they are read (in the background: a load meanwhile shows the last
    # view), labelled with the new time.
    minute_later = ctx.now() + timedelta(minutes=1)
    ctx.clock = lambda: minute_later
    cycle_now = _kpi(server, "order_cycle_time_p50_hours")
    assert fmt_duration(cycle_now * 3600) != fmt_duration(cycle_before * 3600)  # the late orders count now
    deadline = time.monotonic() + 20
    while True:
        page.goto(f"{server.url}/scorecard?period=7d")
        label = page.locator("#sc-period-label")
        expect(label).to_contain_text("UTC")
        if f"{minute_later:%H:%M}" in label.inner_text():
            break
        assert time.monotonic() < deadline, "the scorecard never read the new minute"
        time.sleep(0.5)
    expect(page.locator("[data-kpi=order_cycle_time] .tile-value")).to_have_text(fmt_duration(cycle_now * 3600))
    page.screenshot(path=str(artifacts / "scorecard-shared-view.png"), full_page=True)


def test_the_overview_panel_drops_a_resolved_exception_on_the_next_load(
    server: LiveServer, watched_page: WatchedPage
) -> None:
    """The overview's exception panel is shared a minute too; an operator's resolve shows at once."""
    page, ctx = watched_page.page, server.ctx
    page.goto(f"{server.url}/")
    first = page.locator("#ov-attention .ag-row[row-index='0'] [col-id='title'] a")
    expect(first).to_have_attribute("href", re.compile(r"^/exceptions\?id=\d+$"))
    top = int(str(first.get_attribute("href")).rsplit("=", 1)[1])
    listed = page.locator(f"#ov-attention a[href='/exceptions?id={top}']")
    page.goto(f"{server.url}/")  # within the minute: the shared view
    expect(first).to_have_attribute("href", f"/exceptions?id={top}")

    with ctx.writer.transaction() as conn:
        lifecycle.resolve(top, conn=conn, actor="dana", now=ctx.now(), resolution="fixed at the ERP")
    page.goto(f"{server.url}/")
    expect(first).to_have_attribute("href", re.compile(r"^/exceptions\?id=\d+$"))
    expect(listed).to_have_count(0)
