"""The error catalog admin page in headless Chromium: a class opened from the list, its runbook edited
(previewed as Markdown, stored by the service as the logged-in admin), an emptied explanation refused naming the
field, and Revert back to the file's runbook."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from models.queries.error_classes import list_error_classes
from tests.browser.conftest import WatchedPage, settle
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser


def _stored(server: LiveServer, class_id: str) -> dict:  # type: ignore[type-arg]
    with server.ctx.engine.connect() as conn:
        return next(c for c in list_error_classes(conn) if c["class_id"] == class_id)


def test_edit_refuse_and_revert_a_runbook(live_server: LiveServer, watched_page: WatchedPage, artifacts: Path) -> None:
    page = watched_page.page
    original = _stored(live_server, "rate_limited")["runbook"]
    page.goto(f"{live_server.url}/error-catalog")
    settle(page)
    with live_server.ctx.engine.connect() as conn:
        count = len(list_error_classes(conn))
    expect(page.locator("#ec-list tr[data-class]")).to_have_count(count)
    page.locator('#ec-list tr[data-class="rate_limited"] a').click()
    expect(page.locator("#ec-name")).to_have_text("Rate limited by the target")
    expect(page.locator("#ec-runbook")).to_have_value(original)

    page.locator("#ec-runbook").fill("1. Call **the vendor**.")
    expect(page.locator("#ec-preview strong")).to_have_text("the vendor")
    page.locator("#ec-save").click()
    expect(page.locator("#ec-message")).to_have_text("Saved runbook")
    stored = _stored(live_server, "rate_limited")
    assert (
        stored["runbook"] == "1. Call **the vendor**." and stored["updated_by"] == "local"
    )  # the logged-in admin (auth is off here)
    expect(page.locator('#ec-list tr[data-class="rate_limited"]')).to_contain_text("edited by local")
    page.screenshot(path=str(artifacts / "error-catalog.png"), full_page=True)

    page.locator("#ec-explanation").fill("")
    page.locator("#ec-save").click()
    expect(page.locator("#ec-message")).to_contain_text("Refused: explanation:")

    page.locator("#ec-revert").click()
    expect(page.locator("#ec-message")).to_have_text("Reverted to the catalogue file")
    expect(page.locator("#ec-runbook")).to_have_value(original)
    assert _stored(live_server, "rate_limited")["updated_by"] is None
