"""The Flows page in headless Chromium: live health as the query layer has it, one flow's signals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboards.components.format import fmt_duration
from models.queries.common import Window
from models.queries.correlation import flow_signals
from models.queries.flows import flow_exceptions, flows_health
from tests.browser.conftest import LiveServer, WatchedPage, settle

pytestmark = pytest.mark.browser

OUTAGE_FLOW = "3pl_north-d365-shipment"


def _cell(page: Page, flow_id: str, column: str) -> str:
    cell = page.locator(f"#fl-grid .ag-center-cols-container .ag-row[row-id='{flow_id}'] [col-id='{column}']")
    expect(cell).to_have_text(re.compile(r"\S"))
    return cell.inner_text()


def _signals_figure(page: Page) -> dict:
    """The drawn figure; y values from Plotly's decoded traces (the JSON carries typed arrays)."""
    page.wait_for_function(
        "() => { const p = document.querySelector('#fl-signals .js-plotly-plot');"
        " return p && (p._fullData || []).length > 3; }"
    )
    return page.evaluate(
        """() => { const p = document.querySelector('#fl-signals .js-plotly-plot');
                   return {data: p._fullData.map(t => ({name: t.name, type: t.type, y: Array.from(t.y || [])})),
                           xaxes: Object.keys(p.layout).filter(k => k.startsWith('xaxis')),
                           matches: Object.entries(p.layout).filter(([k]) => k.startsWith('xaxis'))
                                          .map(([, v]) => v.matches || null)}; }"""
    )


def test_a_flow_opened_from_the_url_shows_its_signals_on_one_axis(
    live_server: LiveServer, watched_page: WatchedPage, artifacts: Path
) -> None:
    page = watched_page.page
    page.goto(f"{live_server.url}/flows?flow={OUTAGE_FLOW}&range=7d")
    now = live_server.ctx.now()
    with live_server.ctx.engine.connect() as conn:
        health = {f["flow_id"]: f for f in flows_health(conn, now=now, window=Window.named("7d", now=now))}
        signals = flow_signals(conn, flow_id=OUTAGE_FLOW, window=Window.named("7d", now=now))
        exceptions = flow_exceptions(conn, flow_id=OUTAGE_FLOW, now=now)

    failing = sum(1 for f in health.values() if f["health"] == "failing")
    expect(page.locator("[data-kpi=failing] .tile-value")).to_have_text(str(failing))
    expect(page.locator("[data-kpi=failures] .tile-value")).to_have_text(
        f"{sum(f['failures_last_hour'] for f in health.values()):,}"
    )
    for flow_id in ("wms-adobe-inventory", OUTAGE_FLOW):
        assert _cell(page, flow_id, "lag_p95") == fmt_duration(health[flow_id]["sync_lag_p95_seconds"])
    assert _cell(page, OUTAGE_FLOW, "open_exceptions") == str(health[OUTAGE_FLOW]["open_exceptions"])
    expect(page.locator(f"#fl-grid .ag-row[row-id='{OUTAGE_FLOW}']").first).to_have_class(re.compile("ag-row-selected"))

    expect(page.locator("#fl-detail")).to_be_visible()
    expect(page.locator("#fl-title")).to_contain_text("NorthStar Logistics → Dynamics 365 shipment confirmation")
    figure = _signals_figure(page)
    assert len(figure["xaxes"]) == 5, "latency, errors, queue, sync lag, orders stuck"
    assert figure["matches"].count("x5") == 4, "every panel shares the bottom time axis"
    stuck = next(t for t in figure["data"] if t["name"] == "orders past SLA")
    assert sum(stuck["y"]) == signals["orders_stuck"].sum() > 0
    dlq = next(t for t in figure["data"] if t["name"] == "dead-letter queue")
    assert max(dlq["y"]) == signals["dlq_depth"].max()
    assert any(t["name"].startswith("SLA") for t in figure["data"])

    assert not exceptions.empty, "the demo's 3PL outage leaves an open dead-letter exception"
    first = page.locator(f"[data-exception='{exceptions.iloc[0]['exception_id']}']")
    expect(first).to_contain_text(exceptions.iloc[0]["title"])
    expect(first.locator(".fl-cause")).to_be_visible()
    link = first.locator("a.order-link").first
    expect(link).to_have_attribute("href", f"/orders?id={exceptions.iloc[0]['orders'][0]}")

    settle(page)
    page.screenshot(path=str(artifacts / "flows.png"), full_page=True)


def test_clicking_a_flow_opens_it_without_a_reload_and_the_url_follows(
    live_server: LiveServer, watched_page: WatchedPage
) -> None:
    page = watched_page.page
    page.goto(f"{live_server.url}/flows")
    expect(page.locator("#fl-grid .ag-row").first).to_be_visible()
    expect(page.locator("#fl-detail")).to_be_hidden()
    page.evaluate("window.sameDocument = true")

    page.locator("#fl-grid .ag-center-cols-container .ag-row[row-id='wms-adobe-inventory'] [col-id='name']").click()
    page.wait_for_url(re.compile(r"[?&]flow=wms-adobe-inventory\b"))
    expect(page.locator("#fl-title")).to_contain_text("Central WMS → Adobe Commerce inventory")
    _signals_figure(page)

    page.locator("#fl-range label", has_text="6h").click()
    page.wait_for_url(re.compile(r"[?&]range=6h\b"))
    settle(page)  # the range change has redrawn the flow (a close pressed mid-redraw is undone by it)
    page.locator("#fl-close").click()
    expect(page.locator("#fl-detail")).to_be_hidden()
    page.wait_for_url(re.compile(r"/flows\?range=6h$"))
    assert page.evaluate("window.sameDocument === true"), "the page reloaded"
