"""Browser fixtures: the system Chromium, and a real Flowwatch server over a seeded demo DB.

The server runs in a thread of the test process, so tests can read the same database
through the query layer and compare what the page shows with what the queries return.
The clock is pinned to the seed's anchor: "today" and "in flight" do not drift while
a test runs, whatever the wall-clock time.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect, sync_playwright

from tests.live_server import LiveServer, serve_seeded

#: End of the seeded history and the server's "now": a mid-afternoon, so "today" has orders.
ANCHOR = datetime(2026, 3, 4, 15, 0)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: Generous waits: CI shares two cores between Chromium, the server and the seed.
TIMEOUT_MS = 30_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Where Cytoscape draws an element, in page pixels (the instance hangs off the component's React fiber).
MAP_WHERE = """(id) => {
    const el = document.getElementById('fl-map');
    const key = Object.keys(el).find(k => k.startsWith('__reactFiber$'));
    let fiber = el[key];
    while (fiber && !(fiber.stateNode && fiber.stateNode._cy)) { fiber = fiber.return; }
    const cy = fiber.stateNode._cy, item = cy.getElementById(id);
    const p = item.isEdge() ? item.midpoint() : item.position();
    const box = el.getBoundingClientRect(), pan = cy.pan(), zoom = cy.zoom();
    return {x: box.left + p.x * zoom + pan.x, y: box.top + p.y * zoom + pan.y,
            edges: cy.edges().map(e => [e.data('flow_id'), e.classes().join(' ')]), nodes: cy.nodes().length};
}"""


@dataclass
class WatchedPage:
    """A page plus every console error and uncaught exception it produced."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        """Keep console errors; warnings and logs are not failures."""
        if message.type == "error":
            self.errors.append(f"console: {message.text}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Debian Chromium; never a downloaded browser."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium not installed: .ci/run should have installed it")
        pytest.skip("chromium not installed: apt-get install chromium")
    return path


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Seed a small demo (7 days × 300 orders) once per module and serve it with uvicorn."""
    with serve_seeded(tmp_path_factory.mktemp("browser") / "flowwatch.duckdb", anchor=ANCHOR) as live:
        yield live


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    """One headless Chromium for the session."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def watched(browser: Browser, *, width: int = 1440, height: int = 900, theme: str | None = None,
            **context_options: Any) -> Iterator[WatchedPage]:  # fmt: skip
    """A fresh page of that size (its browser having stored ``theme`` as the toggle would), whose
    console errors fail the test."""
    context = browser.new_context(viewport={"width": width, "height": height}, **context_options)
    if theme is not None:
        context.add_init_script(f"window.localStorage.setItem('fw-theme', JSON.stringify('{theme}'))")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    seen = WatchedPage(page)
    page.on("console", seen.on_console)
    page.on("pageerror", lambda exc: seen.errors.append(f"pageerror: {exc}"))
    yield seen
    context.close()
    assert seen.errors == [], "the page logged errors"


@pytest.fixture
def watched_page(browser: Browser) -> Iterator[WatchedPage]:
    """A fresh 1440×900 page whose console errors fail the test."""
    with watched(browser) as page:
        yield page


def overflow(page: Page) -> int:
    """How far the document scrolls sideways (0 when it fits the window)."""
    return int(page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth"))


def settle(page: Page) -> None:
    """Wait until Dash has no callback in flight, no CSS transition or animation is running (a
    drawer sliding in) and the browser has painted twice since: the page a person would see, ready
    for a screenshot or a count (instead of a fixed pause)."""
    page.wait_for_function(
        """() => document.querySelectorAll('[data-dash-is-loading="true"]').length === 0
                 && !document.querySelector('._dash-loading')
                 && document.getAnimations().every(
                     a => a.playState !== 'running' || a.effect?.getTiming().iterations === Infinity)""",
        timeout=TIMEOUT_MS,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def open_in_drawer(page: Page, cell: Locator, tries: int = 3) -> None:
    """Click a workbench row's cell until its exception opens in the drawer, as a person clicks again
    when nothing happened: a click that lands while the live grid swaps its rows in is lost."""
    drawer = page.locator("#ex-drawer")
    for attempt in range(tries):
        cell.click()
        try:
            expect(drawer).to_have_class(re.compile(r"\bis-open\b"), timeout=TIMEOUT_MS // tries)
            return
        except AssertionError:
            if attempt == tries - 1:
                raise


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (repo-root test-artifacts/, git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
