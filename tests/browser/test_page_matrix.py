"""Every page at two viewports in both themes, in one Chromium against the seeded demo.

Each page is opened once and then looked at four ways, as a person would change them: at 1024 px,
widened to 1440 px, switched to the other theme with the top bar's toggle, narrowed back to 1024 px.
The next page opens in the theme the toggle left (it persists), so the pages alternate which theme
they open in. Each view must show the demo's data, log no console error, never scroll sideways,
and leave a screenshot in test-artifacts/ (``matrix-<page>-<width>-<theme>.png``: look at them). At
1440 px in the light theme each page also goes through axe-core (axe-playwright-python): no serious
or critical violation (the dark palette's contrast is worked out in tests/unit/dashboards/test_theme.py,
which keeps axe's second pass out of the suite's time limit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from models.queries.partner_performance import partners
from models.queries.timeline import find_orders
from tests.browser.conftest import LiveServer, overflow, settle, watched

pytestmark = pytest.mark.browser

VIEWPORTS = ((1024, 768), (1440, 900))
THEMES = ("light", "dark")
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


def _load(page: Page, url: str, target: Target) -> None:
    """Open the page and wait for its data and for every chart on it to be drawn."""
    page.goto(url)
    expect(page.locator(target.ready).first).to_have_text(re.compile(r"\S"))
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].every(p => p._fullLayout)")
    settle(page)


def _resize(page: Page, width: int, height: int) -> None:
    """Change the window's size and wait for the responsive charts to have followed it."""
    page.set_viewport_size({"width": width, "height": height})
    page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')]
                   .filter(p => p._context && p._context.responsive && p.offsetParent !== null)
                   .every(p => Math.abs(p._fullLayout.width - p.getBoundingClientRect().width) < 2)"""
    )
    settle(page)


def _toggle_theme(page: Page, to: str) -> None:
    """Switch the theme with the top bar's toggle, as a person would."""
    page.locator("#fw-theme-toggle").click()
    page.wait_for_function(f"() => (document.documentElement.dataset.theme || 'light') === '{to}'")
    settle(page)


def _axe_findings(page: Page) -> list[str]:
    """axe-core's serious and critical violations, one line each, with the first offending nodes."""
    result = Axe().run(page, context={"exclude": AXE_EXCLUDE}, options={"resultTypes": ["violations"]})
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(str(n["target"]) for n in v["nodes"][:4])
        for v in result.response["violations"]
        if v["impact"] in BLOCKING
    ]


def test_every_page_at_both_widths_in_both_themes(
    live_server: LiveServer, targets: list[Target], browser: Browser, artifacts: Path
) -> None:
    problems: list[str] = []
    (narrow, wide), theme = VIEWPORTS, THEMES[0]
    # No stored theme to start with: a first visit opens light, and from then on only the toggle decides.
    with watched(browser, width=narrow[0], height=narrow[1]) as watched_page:
        page = watched_page.page

        def look(target: Target, width: int) -> None:
            where = f"{target.name} at {width}px, {theme}"
            assert page.evaluate("document.documentElement.dataset.theme || 'light'") == theme, where
            if (over := overflow(page)) > 0:
                problems.append(f"{where}: scrolls {over}px sideways")
            page.screenshot(path=str(artifacts / f"matrix-{target.name}-{width}-{theme}.png"), full_page=True)
            if width == AXE_WIDTH and theme == "light":
                problems.extend(f"{where}: axe {f}" for f in _axe_findings(page))

        for target in targets:
            seen = len(watched_page.errors)
            _load(page, f"{live_server.url}{target.path}", target)
            look(target, narrow[0])
            _resize(page, *wide)
            look(target, wide[0])
            theme = THEMES[1 - THEMES.index(theme)]
            _toggle_theme(page, theme)
            look(target, wide[0])
            _resize(page, *narrow)
            look(target, narrow[0])
            problems += [f"{target.name}: {e}" for e in watched_page.errors[seen:]]
        watched_page.errors.clear()  # reported above, page by page
    assert problems == [], "\n".join(problems)
