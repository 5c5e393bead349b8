"""The dark theme: the top bar's toggle, kept across visits, followed by CSS, charts, grids and the map."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from dashboards.theme import DARK_INK, INK, MAP_COLORS
from tests.browser.conftest import LiveServer, WatchedPage, settle

pytestmark = pytest.mark.browser


def _rgb(hex_colour: str) -> str:
    """'#e6ebf3' → 'rgb(230, 235, 243)', as getComputedStyle answers."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def _chart_fonts(page: Page) -> list[str]:
    """The font colour every drawn chart on the page was laid out with."""
    page.wait_for_function(
        "() => { const p = [...document.querySelectorAll('.js-plotly-plot')];"
        " return p.length > 0 && p.every(g => g._fullLayout && (g.data || []).length > 0); }"
    )
    return page.eval_on_selector_all(".js-plotly-plot", "ps => ps.map(p => p._fullLayout.font.color)")


def test_the_toggle_switches_everything_and_is_remembered(live_server: LiveServer, watched_page: WatchedPage) -> None:
    page = watched_page.page
    page.goto(f"{live_server.url}/")
    toggle = page.get_by_role("button", name="Dark theme")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("document.documentElement.dataset.theme || 'light'") == "light"
    assert set(_chart_fonts(page)) == {INK}
    light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert light_bg == _rgb("#f3f5f9")

    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('.js-plotly-plot')].every(p => p._fullLayout.font.color === '{DARK_INK}')"
    )
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == _rgb("#0d1421")
    assert page.evaluate("JSON.parse(localStorage.getItem('fw-theme'))") == "dark"

    # Paper is white: printing from the dark theme prints the light palette and light charts.
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == _rgb("#ffffff")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert set(_chart_fonts(page)) == {INK}
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    page.emulate_media(media="screen")
    assert set(_chart_fonts(page)) == {DARK_INK}

    # A new visit starts dark before Dash has rendered anything: no light flash.
    page.goto(f"{live_server.url}/exceptions")
    page.wait_for_selector("html[data-theme=dark]", state="attached")
    first_paint = page.evaluate("document.documentElement.dataset.theme")
    assert first_paint == "dark"
    page.wait_for_selector(".ag-root-wrapper")  # the grid is drawn by its own component after the page
    settle(page)
    grid_bg = page.eval_on_selector(".ag-root-wrapper", "g => getComputedStyle(g).backgroundColor")
    assert grid_bg == _rgb("#172033")
    expect(page.get_by_role("button", name="Dark theme")).to_have_attribute("aria-pressed", "true")

    page.goto(f"{live_server.url}/flows")
    settle(page)
    node_colour = MAP_COLORS["dark"]["node"]
    page.wait_for_function(
        """c => { const el = document.getElementById('fl-map');
                  if (!el) return false;
                  // The Cytoscape instance hangs off the component's React fiber.
                  let fiber = el[Object.keys(el).find(k => k.startsWith('__reactFiber$'))];
                  while (fiber && !(fiber.stateNode && fiber.stateNode._cy)) { fiber = fiber.return; }
                  const cy = fiber && fiber.stateNode._cy;
                  const card = cy && cy.nodes().filter(n => !n.hasClass('kind-erp'))[0];
                  return !!card && card.style('background-color').replace(/ /g, '') === c.replace(/ /g, ''); }""",
        arg=_rgb(node_colour),
    )

    # And back: the choice is the reader's, both ways.
    page.get_by_role("button", name="Dark theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert page.evaluate("JSON.parse(localStorage.getItem('fw-theme'))") == "light"
    page.goto(f"{live_server.url}/ingest")
    settle(page)
    assert set(_chart_fonts(page)) == {INK}
