"""The flow map (the entry to /flows) and the partner pages in headless Chromium, at 1024×768 and
1440×900, on a seeded demo: what they show is what the query layer returns, and the paths work
by clicking — map edge → flow; partners → partner → its exceptions in the workbench.

The map is drawn on a canvas, so the test asks Cytoscape (found through the component's React
fiber) where an element is drawn and moves the real mouse there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dashboards.components.flows import STATUS, flow_status
from dashboards.components.format import fmt_duration, fmt_pct
from dashboards.components.partners import rank
from dashboards.components.workbench import filter_from_query
from models.queries.common import Window
from models.queries.exceptions import list_exceptions
from models.queries.flows import flows_health
from models.queries.partner_performance import partner_scorecards
from tests.browser.conftest import ANCHOR, MAP_WHERE, WatchedPage, overflow, settle, watched
from tests.live_server import LiveServer, serve_seeded

pytestmark = pytest.mark.browser

#: One width here; every page at 1024 and 1440 px, light and dark, is test_page_matrix.py's.
VIEWPORTS = {"1440": {"width": 1440, "height": 900}}
OUTAGE_FLOW = "3pl_north-d365-shipment"
LATE_SUPPLIER = "sup_brightline"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """14 days × 300 orders, so the partners' previous 7 days hold data too (the default 7 do not)."""
    with serve_seeded(tmp_path_factory.mktemp("map") / "flowwatch.duckdb", anchor=ANCHOR, days=14) as live:
        yield live


@pytest.fixture(params=list(VIEWPORTS))
def viewed(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[WatchedPage, str]]:
    """A fresh page at each viewport whose console errors fail the test."""
    with watched(browser, **VIEWPORTS[request.param]) as page:
        yield page, request.param


def _shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def _map(page: Page, element: str) -> dict[str, Any]:
    page.wait_for_function("() => (document.querySelector('#fl-map-summary') || {}).innerText")
    return page.evaluate(MAP_WHERE, element)


def _hover(page: Page, element: str, shown: str) -> dict[str, Any]:
    """Point at ``element`` once the page has settled, until its panel ``shown`` appears: the map may
    still be fitting itself when the page first paints, which moves the element under the pointer."""
    for _ in range(5):
        settle(page)
        where = _map(page, element)
        page.mouse.move(0, 0)
        page.mouse.move(where["x"], where["y"])
        try:
            page.locator(shown).wait_for(state="visible", timeout=3_000)
            return where
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"pointing at {element} never showed {shown}")


def _health(server: LiveServer, range_: str) -> dict[str, dict[str, Any]]:
    now = server.ctx.now()
    with server.ctx.engine.connect() as conn:
        return {f["flow_id"]: f for f in flows_health(conn, now=now, window=Window.named(range_, now=now))}


def test_flow_map_shows_health_hover_numbers_and_opens_a_flow(
    live_server: LiveServer, viewed: tuple[WatchedPage, str], artifacts: Path
) -> None:
    watched, size = viewed
    page = watched.page
    page.goto(f"{live_server.url}/flows")
    health = _health(live_server, "24h")
    drawn = _map(page, f"flow:{OUTAGE_FLOW}")
    assert sorted(f for f, _ in drawn["edges"]) == sorted(health), "one edge per flow"
    for flow_id, classes in drawn["edges"]:
        assert f"status-{flow_status(health[flow_id])}" in classes.split()
    systems = {f["source_system"] for f in health.values()} | {f["target_system"] for f in health.values()}
    assert drawn["nodes"] == len(systems)
    expect(page.locator(".fm-legend")).to_contain_text("Failing")
    expect(page.locator(".fm-legend-item")).to_have_count(len(STATUS))
    assert overflow(page) == 0, "the page scrolls sideways"
    _shot(page, artifacts, f"flow-map-{size}")

    outage = health[OUTAGE_FLOW]
    shown = f".fm-info[data-flow='{OUTAGE_FLOW}']"
    drawn = _hover(page, f"flow:{OUTAGE_FLOW}", shown)
    panel = page.locator(shown)
    expect(panel).to_be_visible()
    expect(panel).to_contain_text(STATUS[flow_status(outage)][1])
    expect(panel).to_contain_text(f"Deliveries{outage['deliveries_last_hour']:,}")
    expect(panel).to_contain_text(f"Open exceptions{outage['open_exceptions']}")
    expect(panel).to_contain_text(f"{fmt_duration(outage['sync_lag_p95_seconds'])} of 24.0 h SLA")

    page.mouse.click(drawn["x"], drawn["y"])
    page.wait_for_url(re.compile(rf"[?&]flow={OUTAGE_FLOW}\b"))
    expect(page.locator("#fl-detail")).to_be_visible()
    expect(page.locator("#fl-title")).to_contain_text("NorthStar Logistics → Dynamics 365 shipment confirmation")
    assert overflow(page) == 0, "the page scrolls sideways"


def test_the_flow_list_and_tiles_follow_the_range(live_server: LiveServer, viewed: tuple[WatchedPage, str]) -> None:
    watched, _size = viewed
    page = watched.page
    page.goto(f"{live_server.url}/flows?range=6h")
    for range_ in ("6h", "7d"):
        if range_ != "6h":
            page.locator("#fl-range label", has_text=range_).click()
            page.wait_for_url(re.compile(rf"[?&]range={range_}\b"))
        health = _health(live_server, range_)
        steps = sum(f["steps_last_hour"] for f in health.values())
        expect(page.locator("[data-kpi=steps] .tile-value")).to_have_text(f"{steps:,}")
        cell = page.locator(f"#fl-grid .ag-row[row-id='{OUTAGE_FLOW}'] [col-id='deliveries']").first
        expect(cell).to_have_text(str(health[OUTAGE_FLOW]["deliveries_last_hour"]))
        expect(page.locator("#fl-map-summary")).to_contain_text(
            {"6h": "last 6 hours", "7d": "last 7 days"}[range_]
        )  # fmt: skip


def test_partners_ranked_then_one_partner_then_its_exceptions(
    live_server: LiveServer, viewed: tuple[WatchedPage, str], artifacts: Path
) -> None:
    watched, size = viewed
    page = watched.page
    page.goto(f"{live_server.url}/partners")
    now = live_server.ctx.now()
    with live_server.ctx.engine.connect() as conn:
        cards = partner_scorecards(conn, window=Window.named("7d", now=now))
        flt = filter_from_query({"system": LATE_SUPPLIER})
        total = list_exceptions(conn, flt, now=now, limit=1).total
    rows = page.locator(".pt-table tbody tr")
    expect(rows).to_have_count(len(cards))
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.partner)") == [c["partner"] for c in rank(cards)]
    late = next(c for c in cards if c["partner"] == LATE_SUPPLIER)
    completeness = late["measures"]["event_completeness"]
    cell = page.locator(f"tr[data-partner='{LATE_SUPPLIER}'] [data-measure='event_completeness']")
    expect(cell.locator(".pt-value")).to_have_text(fmt_pct(completeness["value"]))
    assert completeness["previous"] is not None, "14 days seeded: the previous 7 days have data"
    expect(cell.locator(".sc-delta")).not_to_have_text("no prior data")
    expect(page.locator("nav .nav-link", has_text="Partners")).to_have_class(re.compile(r"\bactive\b"))
    assert overflow(page) == 0, "the page scrolls sideways"
    _shot(page, artifacts, f"partners-{size}")

    page.locator(f"tr[data-partner='{LATE_SUPPLIER}'] a.pt-name").click()
    page.wait_for_url(re.compile(rf"/partners/{LATE_SUPPLIER}\?period=7d$"))
    expect(page.locator("#pd-title")).to_have_text("Brightline Chemicals")
    expect(page.locator("#pd-tiles [data-kpi=asn_completeness] .tile-value")).to_have_text(
        fmt_pct(late["measures"]["asn_completeness"]["value"])
    )
    listed = page.locator("#pd-exceptions li[data-exception]")
    expect(listed).to_have_count(min(total, 8))
    expect(page.locator("#pd-orders tr[data-order]").first).to_be_visible()
    expect(page.locator("#pd-flows li[data-flow]")).to_have_count(
        sum(1 for f in _health(live_server, "7d").values() if LATE_SUPPLIER in (f["source_system"], f["target_system"]))
    )
    assert overflow(page) == 0, "the page scrolls sideways"
    _shot(page, artifacts, f"partner-{LATE_SUPPLIER}-{size}")

    page.locator("#pd-exceptions a.pt-all").click()
    page.wait_for_url(re.compile(rf"/exceptions\?system={LATE_SUPPLIER}$"))
    noun = "exception" if total == 1 else "exceptions"
    expect(page.locator("#ex-selection")).to_have_text(f"0 selected / {total:,} matching {noun}")
    expect(page.locator("#ex-grid .ag-center-cols-container .ag-row")).to_have_count(total)


def test_an_unknown_partner_says_so(live_server: LiveServer, viewed: tuple[WatchedPage, str]) -> None:
    watched, _size = viewed
    page = watched.page
    page.goto(f"{live_server.url}/partners/nobody?period=30d")
    expect(page.locator("#pd-title")).to_have_text("Unknown partner")
    expect(page.locator("#pd-missing")).to_contain_text("No 3PL or supplier has the id “nobody”")
    expect(page.locator("#pd-body")).to_be_hidden()
    page.locator("#pd-missing a", has_text="See every partner").click()
    page.wait_for_url(re.compile(r"/partners\?period=30d$"))
    expect(page.locator(".pt-table tbody tr").first).to_be_visible()
