"""KPI targets, print and export in headless Chromium at 1024×768 and 1440×900, against a real server.

The scorecard shows each KPI's target and a status the query layer and the RAG rule agree on,
never widens the page, prints as a report (print media emulated), downloads its table and its
chart as CSV, and lets an admin change a target. The order search shows a loading state and an
empty state instead of the previous order's timeline, and a bulk replay asks in the page.
Screenshots go to test-artifacts/ (looked at, not just taken).
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from dashboards.components.format import fmt_pct
from models.queries.common import Window
from models.queries.kpi_targets import list_targets
from models.queries.kpis import kpi_breakdown
from models.queries.overview import exception_aging_in_period
from models.queries.timeline import find_orders
from models.store.kpi_targets import rag_status
from tests.browser.conftest import ANCHOR, TIMEOUT_MS, WatchedPage, overflow, settle, watched
from tests.live_server import LiveServer, serve_seeded

pytestmark = pytest.mark.browser
#: One width here (the narrow one, where layouts break first); every page at both widths and in both
#: themes is test_page_matrix.py's.
VIEWPORTS = {"1024": {"width": 1024, "height": 768}}
ROWS = "#ex-grid .ag-center-cols-container .ag-row"


@pytest.fixture(scope="module")
def fortnight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Fourteen days of the demo (300 orders a day), the shipped targets, the clock at ANCHOR."""
    with serve_seeded(tmp_path_factory.mktemp("targets") / "flowwatch.duckdb", anchor=ANCHOR, days=14) as live:
        yield live


@pytest.fixture(params=list(VIEWPORTS))
def sized(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[str, WatchedPage]]:
    """A fresh page at one of the two widths, accepting downloads; console errors fail the test."""
    with watched(browser, **VIEWPORTS[request.param], accept_downloads=True) as page:
        yield request.param, page


def _perfect(server: LiveServer) -> tuple[float, dict]:
    """This week's perfect order rate and its stored target, from the query layer."""
    with server.ctx.engine.connect() as conn:
        totals = kpi_breakdown(conn, window=Window.named("7d", now=server.ctx.now()))
        target = list_targets(conn)["perfect_order_rate"]
    row = next(k for k in totals["kpis"] if k["kpi"] == "perfect_order_rate")["rows"][0]
    return row["value"], target


def _loaded(page: Page) -> None:
    expect(page.locator("#sc-kpis [data-metric=perfect_order_rate] .rag")).to_be_visible()
    expect(page.locator("#sc-kpis [data-metric=perfect_order_rate] img.sparkline")).to_be_visible()
    expect(page.locator("[data-kpi=perfect_order_rate] img.sparkline")).to_be_visible()
    expect(page.locator("#sc-flows [data-flow]").first).to_be_visible()
    page.wait_for_function(
        "() => { const p = document.querySelector('#sc-aging-chart .js-plotly-plot');"
        " return p && (p.data || []).length > 0; }"
    )


def test_scorecard_shows_targets_and_status_without_overflow_and_prints(
    fortnight: LiveServer, sized: tuple[str, WatchedPage], artifacts: Path
) -> None:
    width, watched = sized
    page = watched.page
    page.goto(f"{fortnight.url}/scorecard?period=7d")
    _loaded(page)
    value, target = _perfect(fortnight)
    rag = rag_status(value, target["target"], target["direction"])

    tile = page.locator("[data-kpi=perfect_order_rate]")
    expect(tile.locator(".tile-value")).to_have_text(fmt_pct(value))
    expect(tile).to_contain_text(f"Target ≥ {fmt_pct(target['target'])}")
    expect(tile.locator("[data-rag]")).to_have_attribute("data-rag", str(rag))
    words = {"green": "On target", "amber": "Near target", "red": "Off target"}[str(rag)]
    row = page.locator("#sc-kpis [data-metric=perfect_order_rate]")
    expect(row.locator(".sc-target")).to_have_text(f"≥ {fmt_pct(target['target'])}")
    expect(row.locator(".rag")).to_contain_text(words)  # status in words, not colour alone
    expect(row.locator("img.sparkline")).to_have_attribute("alt", re.compile(r"^Perfect order rate rate trend: "))
    expect(page.get_by_text("holds no KPI targets")).to_have_count(0)
    parts = page.locator("#sc-perfect [data-component]")  # the rate taken apart, each proxy said
    expect(parts).to_have_count(5)
    expect(parts.first.locator(".sc-value")).to_have_text(fmt_pct(value))
    for metric in ("otif_rate", "on_time_shipment_rate", "manual_intervention_rate"):
        expect(page.locator(f"#sc-kpis [data-metric={metric}] .rag")).to_be_visible()

    assert overflow(page) == 0, "the page scrolls sideways"
    page.wait_for_timeout(300)  # let the charts finish their resize animation before the picture
    page.screenshot(path=str(artifacts / f"scorecard-targets-{width}.png"), full_page=True)

    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("#sc-admin")).to_be_hidden()
    expect(page.locator(".csv-button").first).to_be_hidden()
    expect(page.locator("#sc-kpis [data-metric=perfect_order_rate] .rag")).to_be_visible()
    expect(page.locator("#sc-period-label")).to_be_visible()  # the printed page says which period
    assert overflow(page) == 0, "the page scrolls sideways"
    page.screenshot(path=str(artifacts / f"scorecard-print-{width}.png"), full_page=True)
    for paper in ("A4", "Letter"):  # the report as the browser would print it (Save as PDF)
        pdf = page.pdf(path=str(artifacts / f"scorecard-{paper.lower()}-{width}.pdf"), format=paper,
                       print_background=True)  # fmt: skip
        pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
        assert pdf.startswith(b"%PDF") and 1 <= pages <= 8, f"{paper}: {pages} pages"
    page.emulate_media(media="screen")


def test_the_url_reproduces_the_view_and_the_csv_holds_what_is_shown(
    fortnight: LiveServer, sized: tuple[str, WatchedPage], artifacts: Path
) -> None:
    _width, watched = sized
    page = watched.page
    page.goto(f"{fortnight.url}/scorecard?period=30d&group=channel")
    expect(page.locator("#sc-period input[value='30d']")).to_be_checked()
    expect(page.locator("#sc-kpis thead")).to_contain_text("Shopify storefront")
    page.goto(f"{fortnight.url}/scorecard?period=7d")
    _loaded(page)

    kpi_card = page.locator("section.card", has=page.locator("#sc-kpis"))
    with page.expect_download() as download:
        kpi_card.locator(".csv-button").click()
    assert re.fullmatch(r"every-kpi-against-its-target-7d-\d{4}-\d{2}-\d{2}\.csv", download.value.suggested_filename)
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["KPI", "", "This period", "Previous", "Change", "Target", "Status", "Trend"]
    value, target = _perfect(fortnight)
    perfect = next(r for r in rows if r[0] == "Perfect order rate")
    assert perfect[2] == fmt_pct(value) and perfect[5] == f"≥ {fmt_pct(target['target'])}"
    assert perfect[7].startswith("Perfect order rate rate trend: ")

    def raised() -> int:
        with fortnight.ctx.engine.connect() as conn:
            aging = exception_aging_in_period(conn, window=Window.named("7d", now=fortnight.ctx.now()))
        return int(aging["exceptions"].sum())

    # Detection runs on its schedule in this server and may open exceptions while we look: compare
    # with a count that held still across the chart's drawing and its download.
    for _attempt in range(3):
        before = raised()
        page.reload()
        _loaded(page)
        aging_card = page.locator("section.card", has=page.locator("#sc-aging-chart"))
        with page.expect_download() as chart_download:
            aging_card.locator(".csv-button").click()
        text = Path(chart_download.value.path()).read_text(encoding="utf-8-sig")
        if raised() == before:
            break
    points = list(csv.DictReader(io.StringIO(text)))
    assert points and set(points[0]) == {"series", "x", "y"}
    assert sum(int(p["y"]) for p in points) == before, "every exception of the chart"


def test_an_admin_sets_a_target_and_the_status_follows(
    fortnight: LiveServer, sized: tuple[str, WatchedPage], artifacts: Path
) -> None:
    width, watched = sized
    page = watched.page
    page.goto(f"{fortnight.url}/scorecard")
    _loaded(page)
    page.locator("#sc-admin summary").click()
    expect(page.locator("#sc-target-unit")).to_have_text("Target (%)")
    expect(page.locator("#sc-targets [data-metric=perfect_order_rate]")).to_be_visible()

    page.locator("#sc-target-value").fill("")
    page.locator("#sc-target-save").click()  # no value: refused, said on the page
    expect(page.locator("#sc-target-message")).to_have_text("Enter a target value.")

    page.locator("#sc-target-value").fill("99.9")
    page.locator("#sc-target-save").click()  # saved as the logged-in admin (auth is off here: "local")
    expect(page.locator("#sc-target-message")).to_contain_text("Saved: perfect_order_rate target 99.9%")
    value, target = _perfect(fortnight)
    assert (target["target"], target["updated_by"]) == (pytest.approx(0.999), "local")
    rag = rag_status(value, 0.999, "higher")
    expect(page.locator("[data-kpi=perfect_order_rate] [data-rag]")).to_have_attribute("data-rag", str(rag))
    expect(page.locator("[data-kpi=perfect_order_rate]")).to_contain_text("Target ≥ 99.9%")
    expect(page.locator("#sc-targets [data-metric=perfect_order_rate]")).to_contain_text("local")
    page.screenshot(path=str(artifacts / f"scorecard-admin-{width}.png"), full_page=True)
    # put the shipped target back through the API, which the page and the API share
    put = httpx.put(f"{fortnight.url}/api/v1/kpis/targets/perfect_order_rate",
                    json={"target": 0.95, "direction": "higher"}, timeout=10)  # fmt: skip
    assert put.status_code == 200


def test_order_search_shows_loading_then_empty_state_never_the_previous_order(
    fortnight: LiveServer, sized: tuple[str, WatchedPage], artifacts: Path
) -> None:
    width, watched = sized
    page = watched.page
    with fortnight.ctx.engine.connect() as conn:
        first, second = (r["correlation_id"] for r in find_orders(conn, query="SHP-", limit=2))
    page.goto(f"{fortnight.url}/orders?id={first}")
    expect(page.locator("#or-title")).to_contain_text(first)

    held: list[Route] = []

    def hold_timeline(route: Route) -> None:
        if "or-events" in (route.request.post_data or ""):  # the timeline callback's request
            held.append(route)
        else:
            route.continue_()

    page.route("**/_dash-update-component*", hold_timeline)
    page.locator("#or-search").fill(second)
    page.locator("#or-search").press("Enter")
    expect(page.locator("#or-pending-text")).to_have_text(f"Loading the timeline of {second}…")
    expect(page.locator("#or-view")).to_be_hidden()  # the previous order is not left on screen
    page.screenshot(path=str(artifacts / f"orders-loading-{width}.png"), full_page=True)
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not held and time.monotonic() < deadline:  # waiting pumps Playwright's events: the route arrives
        page.wait_for_timeout(50)
    assert held, "the timeline request was held"
    for route in held:
        route.continue_()
    page.unroute("**/_dash-update-component*")
    expect(page.locator("#or-title")).to_contain_text(second)
    expect(page.locator("#or-pending")).to_be_hidden()

    page.locator("#or-search").fill("zzz-nothing")
    page.locator("#or-search").press("Enter")
    expect(page.locator("#or-results")).to_contain_text("No order matches “zzz-nothing”")
    expect(page.locator("#or-view")).to_be_hidden()
    expect(page.locator("#or-title")).not_to_be_visible()
    assert overflow(page) == 0, "the page scrolls sideways"
    page.screenshot(path=str(artifacts / f"orders-empty-{width}.png"), full_page=True)


def test_bulk_replay_start_asks_in_the_page_with_counts_rate_and_duration(
    fortnight: LiveServer, sized: tuple[str, WatchedPage], artifacts: Path
) -> None:
    width, watched = sized
    page = watched.page
    page.on("dialog", lambda d: pytest.fail(f"a native dialog opened: {d.message}"))
    page.goto(f"{fortnight.url}/exceptions?kind=dead_letter")
    expect(page.locator(ROWS).first).to_be_visible()
    settle(page)  # the grid's loads done: a tick before the last one lands can be re-rendered away
    page.locator(f"{ROWS} .ag-selection-checkbox input").first.check()
    expect(page.locator("#ex-bulk-replay")).to_be_enabled()
    page.locator("#ex-bulk-replay").click()
    headline = page.locator(".ex-plan-headline")
    expect(headline).to_have_text(re.compile(r"messages"))
    planned = re.search(r"([\d,]+) messages?, ~", headline.inner_text())
    assert planned is not None
    page.locator("#ex-rate").fill("2")
    page.locator("#ex-canary").fill("3")
    page.locator("#ex-bulk-start").click()

    ask = page.locator("#ex-bulk-ask")
    expect(ask).to_be_visible()
    messages = int(planned.group(1).replace(",", ""))
    noun = "message" if messages == 1 else "messages"
    expect(page.locator("#ex-bulk-ask-title")).to_have_text(f"Start replaying {messages:,} {noun}?")
    expect(ask).to_contain_text("Paced at2/s")
    expect(ask).to_contain_text(re.compile(r"Takes about(under 1 s|\d+ s|\d+ min|[\d.]+ h)"))
    expect(ask).to_contain_text(f"Canary batch{min(3, messages)}")
    expect(page.locator("#ex-bulk-ask-yes")).to_have_text(f"Start replay of {messages:,} {noun}")
    assert overflow(page) == 0, "the page scrolls sideways"
    page.screenshot(path=str(artifacts / f"bulk-confirm-{width}.png"), full_page=False)

    expect(page.locator("#ex-bulk-ask-yes")).to_be_focused()  # keyboard: Enter goes, Escape cancels
    page.keyboard.press("Escape")
    expect(ask).to_be_hidden()
    expect(page.locator("#ex-run-view")).to_be_hidden()  # cancelled: nothing started
