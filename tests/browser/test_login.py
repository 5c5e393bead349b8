"""Logging in, in headless Chromium against a real server with auth on: each role sees what it may do,
the session cookie carries its flags, a viewer's forged callback is refused and audited, and logout
ends the session on the server.

Chromium counts http://127.0.0.1 as a secure context, so it keeps the ``__Host-`` (Secure) cookie
there; elsewhere on plain http the server names it ``flowwatch_session`` (see app/auth.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.auth import SECURE_COOKIE
from app.context import open_context
from app.services import access
from app.settings import load_settings
from models.detection.passes import run_detection_job
from models.queries import access as store
from models.queries.exceptions import ExceptionFilter, get_state, list_exceptions
from tests.browser.conftest import ANCHOR, TIMEOUT_MS, WatchedPage
from tests.live_server import LiveServer, seeded_db, serve

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
ROLES = {"vera": "viewer", "otto": "operator", "ada": "admin"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A small seeded demo served with auth on, one user per role."""
    db = seeded_db(tmp_path_factory.mktemp("login") / "fw.duckdb", anchor=ANCHOR, days=3, orders_per_day=200)
    settings = load_settings(db=db, auth=True)
    ctx = open_context(settings)
    ctx.clock = lambda: ANCHOR
    with ctx.writer.transaction() as conn:
        for name, role in ROLES.items():
            access.create_user(conn, name, role, PASSWORD, by="test", now=ANCHOR)
    with serve(settings, ctx=ctx) as live:
        live.ctx.scheduler.pause_job("detection")
        run_detection_job(live.ctx)
        yield live


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    yield context
    context.close()


def _watch(context: BrowserContext) -> WatchedPage:
    page = context.new_page()
    watched = WatchedPage(page)
    page.on("console", watched.on_console)
    page.on("pageerror", lambda exc: watched.errors.append(f"pageerror: {exc}"))
    return watched


def _log_in(page: Page, live: LiveServer, name: str, path: str = "/exceptions") -> None:
    page.goto(f"{live.url}{path}")
    expect(page).to_have_url(f"{live.url}/login?next={path.replace('/', '%2F')}")
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(f"{live.url}{path}")
    expect(page.locator("#fw-user")).to_have_text(f"{name}{ROLES[name]}")


def _open_an_exception(page: Page, live: LiveServer) -> None:
    """Open the newest open exception's detail panel (by URL: the grid's periodic refresh may swap rows
    under a click)."""
    with live.ctx.engine.connect() as conn:
        (first,) = list_exceptions(conn, ExceptionFilter(status=["open"]), now=live.ctx.now(), limit=1).items
    page.goto(f"{live.url}/exceptions?id={first['exception_id']}")
    expect(page.locator("#ex-drawer")).to_have_class("ex-drawer is-open")
    expect(page.locator("#ex-detail-head")).to_contain_text(f"#{first['exception_id']}")


def test_each_role_logs_in_and_a_viewer_sees_no_action_buttons(secured: LiveServer, browser: Browser) -> None:
    for name in ROLES:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        watched = _watch(context)
        page = watched.page
        _log_in(page, secured, name)
        _open_an_exception(page, secured)
        buttons = page.locator("#ex-drawer .ex-actions button:visible, .ex-bulk-actions button:visible")
        if name == "vera":
            expect(page.locator("#ex-drawer .ex-actions")).to_be_hidden()
            expect(page.locator(".ex-bulk-actions")).to_be_hidden()
            expect(buttons).to_have_count(0)
        else:
            expect(page.locator("#ex-drawer .ex-actions")).to_be_visible()
            expect(page.locator(".ex-bulk-actions button:text-is('Resolve')")).to_be_visible()
        context.close()
        assert watched.errors == [], f"{name}'s pages logged errors"


def test_the_session_cookie_is_host_prefixed_secure_httponly_and_lax(
    secured: LiveServer, browser_context: BrowserContext
) -> None:
    watched = _watch(browser_context)
    _log_in(watched.page, secured, "otto")
    (cookie,) = browser_context.cookies()
    assert (cookie["name"], cookie["path"], cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (
        SECURE_COOKIE, "/", True, True, "Lax")  # fmt: skip
    assert cookie["domain"] == "127.0.0.1"  # host-only: no Domain attribute
    assert watched.page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
    assert watched.errors == []


def _callback_body(deps: list[dict[str, Any]], output_part: str, trigger: str) -> dict[str, Any]:
    """A request Dash's renderer would send for the callback whose output names ``output_part``, as if
    ``trigger`` (an input id) had been clicked."""
    dep = next(d for d in deps if output_part in d["output"] and any(trigger in str(i["id"]) for i in d["inputs"]))

    def slot(item: dict[str, Any]) -> Any:
        if str(item["id"]).startswith("{"):  # a pattern (ALL): the list of matches
            return [{"id": json.loads(item["id"]), "property": item["property"], "value": 1}]
        return {"id": item["id"], "property": item["property"], "value": 1 if item["id"] == trigger else None}

    outputs = [{"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]}
               for o in dep["output"].strip(".").split("...")]  # fmt: skip
    return {"output": dep["output"], "outputs": outputs, "inputs": [slot(i) for i in dep["inputs"]],
            "changedPropIds": [f"{trigger}.n_clicks"], "state": [slot(s) for s in dep["state"]]}  # fmt: skip


def test_a_forged_callback_from_a_viewer_is_refused_and_audited(
    secured: LiveServer, browser_context: BrowserContext
) -> None:
    watched = _watch(browser_context)
    _log_in(watched.page, secured, "vera")
    (cookie,) = browser_context.cookies()
    headers = {"Cookie": f"{cookie['name']}={cookie['value']}", "Origin": secured.url}
    deps = httpx.get(f"{secured.url}/_dash-dependencies", headers=headers).json()
    with secured.ctx.engine.connect() as conn:
        victim = list_exceptions(conn, ExceptionFilter(status=["open"]), now=secured.ctx.now(), limit=1).items[0]
    body = _callback_body(deps, "ex-run-poll.disabled", "ex-run-abort")
    body["state"][0]["value"] = 1
    forged_abort = httpx.post(f"{secured.url}/_dash-update-component", json=body, headers=headers)
    panel = _callback_body(deps, "ex-detail-pending.data", "ex-fix-send")
    panel["state"][0]["value"] = victim["exception_id"]  # ex-open: the exception to act on
    forged_send = httpx.post(f"{secured.url}/_dash-update-component", json=panel, headers=headers)
    assert (forged_abort.status_code, forged_send.status_code) == (403, 403)
    assert "vera (user viewer) may not do this: it needs operator role or act scope" in forged_send.text
    with secured.ctx.engine.connect() as conn:
        denied = store.list_audit(conn, kind="denied", principal="vera")
        after = get_state(conn, victim["exception_id"])
    assert [(d["detail"]["callback"], d["detail"]["needs"]) for d in denied] == [
        ("_panel_action", "act"), ("_run_control", "act")]  # fmt: skip
    assert after["status"] == "open" and after["assignee"] == victim["assignee"]
    assert watched.errors == []


def test_logout_ends_the_session_and_the_old_cookie_no_longer_works(
    secured: LiveServer, browser_context: BrowserContext
) -> None:
    watched = _watch(browser_context)
    page = watched.page
    _log_in(page, secured, "ada", path="/")
    (cookie,) = browser_context.cookies()
    old = {"Cookie": f"{cookie['name']}={cookie['value']}"}
    assert httpx.get(f"{secured.url}/api/v1/me", headers=old).json()["name"] == "ada"
    page.click("#fw-logout")
    expect(page).to_have_url(f"{secured.url}/login")
    assert browser_context.cookies() == []
    assert httpx.get(f"{secured.url}/api/v1/me", headers=old).status_code == 401
    page.goto(f"{secured.url}/flows")
    expect(page).to_have_url(f"{secured.url}/login?next=%2Fflows")
    assert watched.errors == []


def test_auth_off_says_so_in_the_banner(tmp_path: Path, browser_context: BrowserContext) -> None:
    with serve(load_settings(db=tmp_path / "fw.duckdb", auth=False)) as live:
        watched = _watch(browser_context)
        watched.page.goto(f"{live.url}/flows")
        expect(watched.page.locator("#fw-auth-off")).to_contain_text("AUTH OFF: local development only")
        assert watched.errors == []


def test_an_admin_creates_a_key_on_the_admin_page_and_sees_it_once(secured: LiveServer, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    watched = _watch(context)
    page = watched.page
    _log_in(page, secured, "ada", path="/admin")
    page.fill("#admin-key-name", "erp-events")
    page.click("#admin-key-create")
    expect(page.locator("#admin-said")).to_have_text("Created key erp-events")
    secret = page.locator("#admin-new-key").inner_text()
    assert secret.startswith("fw_") and len(secret) == 46
    row = page.locator("#admin-keys tr", has=page.locator("td:text-is('erp-events')"))
    expect(row).to_contain_text(f"{secret[:8]}…{secret[-4:]}")
    expect(page.locator("#admin-keys")).not_to_contain_text(secret)
    sample = {"broker": "rmq", "queue": "erp.events", "sampled_at": "2026-03-04T14:00:00Z", "depth": 1}
    used = httpx.post(f"{secured.url}/api/v1/queue-samples", json=sample, headers={"Authorization": f"Bearer {secret}"})
    assert used.status_code == 200  # the key works for what its scope allows
    page.fill("#admin-audit-who", "ada")
    page.locator("#admin-audit-who").press("Enter")
    expect(page.locator("#admin-audit")).to_contain_text("key_created")
    page.reload()
    expect(page.locator("#admin-new-key")).to_have_count(0)  # shown once: gone after a reload
    context.close()
    assert watched.errors == []

    viewer = browser.new_context(viewport={"width": 1440, "height": 900})
    viewer.set_default_timeout(TIMEOUT_MS)
    watched = _watch(viewer)
    _log_in(watched.page, secured, "vera", path="/admin")
    expect(watched.page.locator("#admin-refused")).to_have_text("This page is for admins.")
    expect(watched.page.locator(".nav a:text-is('Admin')")).to_have_count(0)
    viewer.close()
    assert watched.errors == []
