"""Every page at two viewports (light) and in the dark theme, in one Chromium against the seeded demo.

Each page must load with the demo's data, log no console error, never scroll sideways, and leave a
screenshot in test-artifacts/ (``matrix-<page>-<width>-<theme>.png``: look at them). At 1440 px in the
light theme each page also goes through axe-core (axe-playwright-python): no serious or critical
violation (the dark palette's contrast is worked out in tests/unit/dashboards/test_theme.py, which
keeps axe's second pass out of the suite's time limit). One page per theme is reused across the pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from models.queries.partner_performance import partners
from models.queries.timeline import find_orders
from tests.browser.conftest import LiveServer, WatchedPage, overflow, settle, watched

pytestmark = pytest.mark.browser

VIEWPORTS = ((1024, 768), (1440, 900))
THEMES = ("light", "dark")
#: The widths each theme is looked at: the dark theme changes colours only (CSS variables; its layout,
#: overflow included, is the light one's, measured at both widths), so it is loaded at 1440 px.
WIDTHS = {"light": VIEWPORTS, "dark": VIEWPORTS[1:]}
AXE_WIDTH = 1440
#: axe-core's impacts that fail the test (minor and moderate findings are reported, not failed).
BLOCKING = ("serious", "critical")
#: Left out of axe's run: Dash 4's dcc.Dropdown keeps an aria-hidden, focusable, read-only input as
#: its keyboard focus target beside its labelled button (aria-hidden-focus); it is the component's
#: markup, not ours, and the button carries the dropdown's name and state.
AXE_EXCLUDE = [[".dash-dropdown-focus-target"]]


@dataclass(frozen=True)
class Target:
    """A page of the app and the element that shows it has its data (not a skeleton)."""

    name: str
    path: str
    ready: str


@pytest.fixture(scope="module")
def targets(live_server: LiveServer) -> list[Target]:
    """The pages, with a real order and a real partner of the seeded demo."""
    with live_server.ctx.engine.connect() as conn:
        order = find_orders(conn, query="SHP-1000", limit=1)[0]["correlation_id"]
        partner = next(p["system_id"] for p in partners(conn) if p["kind"] == "3pl")
    return [
        Target("overview", "/", "[data-kpi=in_flight] .tile-value"),
        Target("exceptions", "/exceptions", ".ex-grid .ag-center-cols-container .ag-row"),
        Target("incidents", "/incidents", "#in-list"),
        Target("flows", "/flows", ".fl-grid .ag-center-cols-container .ag-row"),
        Target("order", f"/orders?id={order}", "#or-events [data-event-id]"),
        Target("partners", "/partners", "#pt-list .pt-name"),
        Target("partner", f"/partners/{partner}", "#pd-tiles .tile-value"),
        Target("scorecard", "/scorecard", "#sc-tiles .tile-value"),
        Target("alerts", "/alerts", "#al-rules tbody tr"),
        Target("ingest", "/ingest", "[data-kpi=accepted] .tile-value"),
        # Pages that landed with issues 11 and 15, in the same top bar.
        Target("reconciliation", "/reconciliation", "#rc-funnel"),
        Target("error-catalog", "/error-catalog", "#ec-list"),
        Target("admin", "/admin", "#admin-users"),
    ]


@pytest.fixture
def themed_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[tuple[WatchedPage, str]]:
    """One page whose browser already chose ``request.param`` (as the toggle would have stored it)."""
    with watched(browser, width=VIEWPORTS[0][0], height=VIEWPORTS[0][1], theme=request.param) as page:
        yield page, request.param


def _load(page: Page, url: str, target: Target) -> None:
    """Open the page and wait for its data and for every chart on it to be drawn."""
    page.goto(url)
    expect(page.locator(target.ready).first).to_have_text(re.compile(r"\S"))
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].every(p => p._fullLayout)")
    settle(page)


def _axe_findings(page: Page) -> list[str]:
    """axe-core's serious and critical violations, one line each, with the first offending nodes."""
    result = Axe().run(page, context={"exclude": AXE_EXCLUDE}, options={"resultTypes": ["violations"]})
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(str(n["target"]) for n in v["nodes"][:4])
        for v in result.response["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("themed_page", THEMES, indirect=True)
def test_every_page_at_both_widths(
    live_server: LiveServer, targets: list[Target], themed_page: tuple[WatchedPage, str], artifacts: Path
) -> None:
    watched, theme = themed_page
    page = watched.page
    problems: list[str] = []
    for width, height in WIDTHS[theme]:
        page.set_viewport_size({"width": width, "height": height})
        for target in targets:
            seen = len(watched.errors)
            _load(page, f"{live_server.url}{target.path}", target)
            where = f"{target.name} at {width}px, {theme}"
            assert page.evaluate("document.documentElement.dataset.theme || 'light'") == theme, where
            if (over := overflow(page)) > 0:
                problems.append(f"{where}: scrolls {over}px sideways")
            problems += [f"{where}: {e}" for e in watched.errors[seen:]]
            page.screenshot(path=str(artifacts / f"matrix-{target.name}-{width}-{theme}.png"), full_page=True)
            if width == AXE_WIDTH and theme == "light":
                problems += [f"{where}: axe {f}" for f in _axe_findings(page)]
    assert problems == [], "\n".join(problems)
