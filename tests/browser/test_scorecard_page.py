"""The KPI scorecard in headless Chromium: the query layer's numbers and the right arrows.

A fortnight is seeded (not the usual week) so the default 7-day period has a previous one
to be compared with.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboards.components.format import fmt_duration, fmt_in_unit, fmt_pct
from models.queries.common import Window
from models.queries.kpis import kpi_breakdown, previous_window
from models.queries.scorecard import partner_scorecard
from tests.browser.conftest import ANCHOR, WatchedPage, settle
from tests.live_server import LiveServer, serve_seeded

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fortnight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Fourteen days of the demo (300 orders a day) served with the clock at ANCHOR."""
    with serve_seeded(tmp_path_factory.mktemp("scorecard") / "flowwatch.duckdb", anchor=ANCHOR, days=14) as live:
        yield live


def _totals(server: LiveServer, period: str, group: str | None = None) -> dict[str, dict]:
    with server.ctx.engine.connect() as conn:
        report = kpi_breakdown(conn, window=Window.named(period, now=server.ctx.now()), group_by=group)
    return {k["kpi"]: k for k in report["kpis"]}


def _tile(page: Page, kpi: str) -> str:
    value = page.locator(f"[data-kpi={kpi}] .tile-value")
    expect(value).to_have_text(re.compile(r"\S"))
    return value.inner_text()


def test_headline_kpis_match_the_query_layer_with_arrows_the_right_way(
    fortnight: LiveServer, watched_page: WatchedPage, artifacts: Path
) -> None:
    page = watched_page.page
    page.goto(f"{fortnight.url}/scorecard")
    kpis = _totals(fortnight, "7d")

    perfect = kpis["perfect_order_rate"]["rows"][0]
    cycle = kpis["order_cycle_time_p50_hours"]["rows"][0]
    assert perfect["previous"] is not None and cycle["previous"] is not None, "a fortnight has a previous week"
    assert _tile(page, "perfect_order_rate") == fmt_pct(perfect["value"])
    assert _tile(page, "order_cycle_time") == fmt_duration(cycle["value"] * 3600)

    # Cycle time: lower is better, so a fall points down in green and a rise up in red.
    delta = page.locator("[data-kpi=order_cycle_time] .sc-delta")
    shorter = cycle["value"] < cycle["previous"]
    expect(delta).to_have_attribute("data-arrow", "▼" if shorter else "▲")
    expect(delta).to_have_attribute("data-tone", "good" if shorter else "bad")
    # Perfect order rate: higher is better.
    better = perfect["value"] > perfect["previous"]
    expect(page.locator("[data-kpi=perfect_order_rate] .sc-delta")).to_have_attribute(
        "data-tone", "good" if better else "bad"
    )

    rows = page.locator("#sc-kpis [data-metric]")
    expect(rows).to_have_count(len(kpis))
    sla = page.locator("#sc-kpis [data-metric=sla_adherence] td.sc-value")
    expect(sla).to_have_text(fmt_pct(kpis["sla_adherence"]["rows"][0]["value"]))

    with fortnight.ctx.engine.connect() as conn:
        window = Window.named("7d", now=fortnight.ctx.now())
        partners = {p["partner"]: p for p in partner_scorecard(conn, window=window, previous=previous_window(window))}
    north = partners["3pl_north"]["metrics"]["confirmation_lag_p95_hours"]["value"]
    # confirmation lags and SLAs up to 72 h: the column is in hours, said once in its header
    expect(page.locator("#sc-3pl thead")).to_contain_text("Shipment confirmation p95 (h)")
    expect(page.locator("#sc-3pl [data-partner='3pl_north'] td").nth(1)).to_contain_text(
        fmt_in_unit(north * 3600, 3600)
    )
    expect(page.locator("#sc-suppliers [data-partner]")).to_have_count(3)
    expect(page.locator("#sc-flows [data-flow]")).not_to_have_count(0)
    page.wait_for_function(
        "() => { const p = document.querySelector('#sc-aging-chart .js-plotly-plot');"
        " return p && (p.data || []).length > 0; }"
    )
    settle(page)
    page.screenshot(path=str(artifacts / "scorecard.png"), full_page=True)


def test_grouping_and_period_come_from_and_go_to_the_url(fortnight: LiveServer, watched_page: WatchedPage) -> None:
    page = watched_page.page
    page.goto(f"{fortnight.url}/scorecard?group=channel")
    by_channel = _totals(fortnight, "7d", "channel")
    shopify = next(r for r in by_channel["perfect_order_rate"]["rows"] if r["group"] == "shopify")
    expect(page.locator("#sc-kpis thead")).to_contain_text("Shopify storefront")
    header = page.locator("#sc-kpis thead th").all_inner_texts()
    column = [h.strip().lower() for h in header].index("shopify storefront")
    cell = page.locator("#sc-kpis [data-metric=perfect_order_rate] td").nth(column)
    expect(cell).to_contain_text(fmt_pct(shopify["value"]))
    expect(page.locator("#sc-kpis")).to_contain_text("Not measured per channel")

    page.evaluate("window.sameDocument = true")
    page.locator("#sc-period label", has_text="Last 30 days").click()
    page.wait_for_url(re.compile(r"[?&]period=30d\b"))
    assert "group=channel" in page.url
    month = _totals(fortnight, "30d")["perfect_order_rate"]["rows"][0]
    expect(page.locator("[data-kpi=perfect_order_rate] .tile-value")).to_have_text(fmt_pct(month["value"]))
    assert page.evaluate("window.sameDocument === true"), "the page reloaded"
