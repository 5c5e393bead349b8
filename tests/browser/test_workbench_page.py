"""The exception workbench in headless Chromium against a real server: filter, bulk-resolve, replay.

The page's numbers are compared with what the query layer returns from the same database,
and every action is checked where it lands: the grid, the counts, the exception row and
its audit trail, and the simulated downstream system that took (or refused) the replay.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from dashboards.components.workbench import filter_from_query
from models.detection.passes import run_detection_job
from models.queries.exceptions import ExceptionFilter, action_history, get_state, list_exceptions
from models.queries.messages import message_counts
from tests.browser.conftest import LiveServer, WatchedPage, open_in_drawer, settle

pytestmark = pytest.mark.browser

NORTHSTAR_SHIPMENTS = "3pl_north-d365-shipment"
BRIGHTLINE_POS = "d365-sup_brightline-po"
ROWS = "#ex-grid .ag-center-cols-container .ag-row"


@pytest.fixture(scope="module", autouse=True)
def settled(live_server: LiveServer) -> Iterator[None]:
    """One detection pass, then the scheduled one paused: the counts a test compares stay put under it."""
    live_server.ctx.scheduler.pause_job("detection")
    run_detection_job(live_server.ctx)
    yield
    live_server.ctx.scheduler.resume_job("detection")


def _page(server: LiveServer, flt: ExceptionFilter, **kw: object) -> list[dict]:
    with server.ctx.engine.connect() as conn:
        return list_exceptions(conn, flt, now=server.ctx.now(), limit=500, **kw).items  # type: ignore[arg-type]


def _total(server: LiveServer, flt: ExceptionFilter) -> int:
    with server.ctx.engine.connect() as conn:
        return list_exceptions(conn, flt, now=server.ctx.now(), limit=1).total


def _matching(page: Page, total: int, selected: int = 0) -> None:
    noun = "exception" if total == 1 else "exceptions"
    expect(page.locator("#ex-selection")).to_have_text(f"{selected} selected / {total:,} matching {noun}")


def _grid_ids(page: Page) -> set[str]:
    expect(page.locator(ROWS).first).to_be_visible()
    return set(page.locator(ROWS).evaluate_all("rows => rows.map(r => r.getAttribute('row-id'))"))


def _pick(page: Page, picker: str, option: str) -> None:
    """Tick one option of a multi-select filter and close it."""
    page.locator(f"#ex-f-{picker}").click()
    page.locator("[role=option]", has_text=option).click()
    page.keyboard.press("Escape")


def _open_row(page: Page, exception_id: int) -> None:
    open_in_drawer(page, page.locator(f"{ROWS}[row-id='{exception_id}'] [col-id='title']"))
    expect(page.locator(".ex-kicker")).to_contain_text(f"#{exception_id}")


def _button(page: Page, name: str) -> Locator:
    """An action button of the detail panel by its label."""
    return page.locator(f"#ex-drawer button:text-is('{name}')")


def test_filtering_by_flow_shows_the_query_layers_count_and_writes_the_url(
    live_server: LiveServer, watched_page: WatchedPage, artifacts: Path
) -> None:
    page = watched_page.page
    page.goto(f"{live_server.url}/exceptions")
    default = filter_from_query({})
    _matching(page, _total(live_server, default))
    expect(page.locator("[data-kpi=active] .tile-value")).to_have_text(
        str(_total(live_server, ExceptionFilter(status=["open", "acknowledged"])))
    )
    settle(page)
    page.screenshot(path=str(artifacts / "workbench.png"), full_page=True)
    page.evaluate("window.sameDocument = true")

    _pick(page, "flow", "NorthStar Logistics → Dynamics 365 shipment confirmation")

    page.wait_for_url(re.compile(rf"[?&]flow={NORTHSTAR_SHIPMENTS}\b"))
    flt = filter_from_query({"flow": NORTHSTAR_SHIPMENTS})
    expected = _page(live_server, flt)
    assert expected, "the demo's 3PL outage leaves NorthStar shipment exceptions open"
    _matching(page, len(expected))
    expect(page.locator(ROWS)).to_have_count(len(expected))
    assert _grid_ids(page) == {str(x["exception_id"]) for x in expected}
    assert page.evaluate("window.sameDocument === true"), "filtering reloaded the page"

    # sorting is the server's: the most orders first over the whole filtered set
    page.locator("#ex-grid .ag-header-cell[col-id='affected_orders']").click()
    top = _page(live_server, flt, sort="affected_orders", descending=True)[0]
    expect(page.locator(f"{ROWS}[row-index='0']")).to_have_attribute("row-id", str(top["exception_id"]))

    # the URL alone reproduces the view
    page.goto(page.url)
    _matching(page, len(expected))
    expect(page.locator("#ex-f-flow")).to_contain_text("NorthStar Logistics")


def test_bulk_resolve_of_selected_rows_updates_grid_counts_and_audit(
    live_server: LiveServer, watched_page: WatchedPage
) -> None:
    page = watched_page.page
    flt = filter_from_query({"flow": BRIGHTLINE_POS})
    before = _page(live_server, flt, sort="exception_id", descending=False)
    assert len(before) >= 3, "the demo's late 855s leave several Brightline PO exceptions open"
    active = _total(live_server, filter_from_query({}))
    chosen = [x["exception_id"] for x in before[:2]]
    page.goto(f"{live_server.url}/exceptions?flow={BRIGHTLINE_POS}")
    _matching(page, len(before))
    expect(page.locator("#ex-bulk-resolve")).to_be_disabled()

    for exception_id in chosen:
        page.locator(f"{ROWS}[row-id='{exception_id}'] .ag-selection-checkbox input").check()
    _matching(page, len(before), selected=2)
    page.on("dialog", lambda d: pytest.fail(f"a native dialog opened: {d.message}"))
    page.locator("#ex-bulk-resolve").click()
    ask = page.locator("#ex-bulk-ask")  # the in-page confirmation, not the browser's confirm()
    expect(ask).to_be_visible()
    expect(page.locator("#ex-bulk-ask-title")).to_have_text("Resolve 2 selected exceptions?")
    expect(ask).to_contain_text("Each one is audited under your name; reopen brings one back.")
    page.locator("#ex-bulk-ask-yes").click()

    expect(page.locator("#ex-toast")).to_contain_text("Resolved 2 exceptions")
    expect(ask).to_be_hidden()
    _matching(page, len(before) - 2)
    expect(page.locator(ROWS)).to_have_count(len(before) - 2)
    assert not _grid_ids(page) & {str(i) for i in chosen}
    expect(page.locator("[data-kpi=active] .tile-value")).to_have_text(str(active - 2))

    with live_server.ctx.engine.connect() as conn:
        for exception_id in chosen:
            assert get_state(conn, exception_id)["status"] == "resolved"  # type: ignore[index]
            [audit] = [a for a in action_history(conn, exception_id) if a["action"] == "resolve"]
            assert audit["actor"] == "local"  # auth off: the local developer
            assert audit["after_state"]["status"] == "resolved"
            assert audit["detail"]["bulk"] is True
        assert get_state(conn, before[2]["exception_id"])["status"] != "resolved"  # type: ignore[index]


def test_replaying_a_dead_letter_from_the_detail_panel_delivers_and_resolves_it(
    live_server: LiveServer, watched_page: WatchedPage, artifacts: Path
) -> None:
    page = watched_page.page
    [dead] = _page(live_server, filter_from_query({"flow": NORTHSTAR_SHIPMENTS, "kind": "dead_letter"}))
    exception_id = dead["exception_id"]
    with live_server.ctx.engine.connect() as conn:
        counts = message_counts(conn, [exception_id])[exception_id]
    waiting = counts["total"] - counts["delivered"]
    assert waiting > 1  # the seeded outage left several orders' confirmations dead-lettered
    page.goto(f"{live_server.url}/exceptions?flow={NORTHSTAR_SHIPMENTS}")
    expect(page.locator(ROWS)).not_to_have_count(0)

    _open_row(page, exception_id)
    page.wait_for_url(re.compile(rf"[?&]id={exception_id}\b"))
    expect(page.locator(".ex-detail-title")).to_have_text(dead["title"])
    expect(page.locator(".ex-payload")).to_contain_text('"order_id"')
    expect(page.locator("#ex-detail-body .order-link").first).to_have_attribute("href", re.compile(r"^/orders\?id="))
    expect(_button(page, "Reopen")).to_be_disabled()
    expect(page.locator("#ex-detail-body .ex-message-progress")).to_contain_text(
        f"{counts['delivered']} of {counts['total']} delivered"
    )
    _button(page, "Replay").click()

    expect(page.locator("#ex-toast")).to_have_text(
        re.compile(
            rf"Replayed #{exception_id}: {waiting} messages delivered to /sim/erp/d365/shipments — "
            "exception resolved"
        )
    )
    expect(page.locator("#ex-detail-body .ex-message-progress")).to_have_text(
        f"{counts['total']} of {counts['total']} delivered"
    )
    expect(page.locator(".ex-badges")).to_contain_text("resolved")
    history = page.locator("#ex-history tbody tr")
    expect(history.first).to_have_attribute("data-action", "resolve")
    expect(history.nth(1)).to_have_attribute("data-action", "replay")
    expect(history.nth(1)).to_contain_text("to /sim/erp/d365/shipments · HTTP 201")
    expect(page.locator("#ex-replays .ex-replay")).to_have_count(waiting)
    expect(page.locator('#ex-replays .ex-replay[data-status="delivered"]')).to_have_count(waiting)
    expect(page.locator('#ex-messages tr[data-state="delivered"]')).to_have_count(counts["total"])
    # closed now: the lifecycle greys out what no longer applies, and says why
    expect(_button(page, "Resolve")).to_be_disabled()
    expect(page.locator("#ex-drawer .ex-act", has=page.locator("button:text-is('Resolve')"))).to_have_attribute(
        "title", "cannot resolve a resolved exception; reopen it first"
    )
    expect(_button(page, "Reopen")).to_be_enabled()
    expect(page.locator(f"{ROWS}[row-id='{exception_id}']")).to_have_count(0)  # it left the open filter

    with live_server.ctx.engine.connect() as conn:
        assert get_state(conn, exception_id)["status"] == "resolved"  # type: ignore[index]
        actions = [(a["action"], a["actor"], a["outcome"]) for a in action_history(conn, exception_id)]
    assert actions[-2:] == [("replay", "local", "delivered"), ("resolve", "replay", "done")]
    sims = {s["system"]: s for s in httpx.get(f"{live_server.url}/api/v1/demo/faults").json()["systems"]}
    assert sims["d365"]["delivered"] >= 1

    page.locator("#ex-drawer").evaluate("drawer => drawer.scrollTo(0, 0)")
    settle(page)
    page.screenshot(path=str(artifacts / "workbench-detail.png"))


def test_a_replay_against_a_failing_target_keeps_the_exception_open_with_the_new_error(
    live_server: LiveServer, watched_page: WatchedPage
) -> None:
    page = watched_page.page
    candidates = _page(live_server, filter_from_query({"flow": "shopify-d365-orders", "kind": "delivery_failed"}))
    subject = next(x for x in candidates if x["event_id"])
    exception_id, status = subject["exception_id"], subject["status"]
    faults = f"{live_server.url}/api/v1/demo/faults"
    httpx.post(faults, json={"system": "d365", "mode": "error"}).raise_for_status()
    try:
        page.goto(f"{live_server.url}/exceptions?id={exception_id}")
        expect(page.locator(".ex-detail-title")).to_have_text(subject["title"])
        _button(page, "Replay").click()

        expect(page.locator("#ex-toast")).to_contain_text(f"Replay of #{exception_id}: 0 of 1 delivered, 1 failed")
        expect(page.locator("#ex-toast")).to_contain_text("HTTP-500")
        expect(page.locator("#ex-toast")).to_contain_text("it stays open")
        expect(page.locator(".ex-error.is-latest")).to_contain_text("HTTP-500")
        expect(page.locator(".ex-error.is-latest")).to_contain_text("simulated fault")
        expect(page.locator(".ex-badges")).to_contain_text(status)
        expect(page.locator("#ex-replays .ex-replay")).to_have_attribute("data-status", "failed")
        expect(_button(page, "Replay")).to_be_enabled()  # it may be tried again once the target recovers
    finally:
        httpx.post(faults, json={"system": "d365", "mode": "ok"}).raise_for_status()

    with live_server.ctx.engine.connect() as conn:
        row = get_state(conn, exception_id)
        assert row is not None and row["status"] == status
        assert row["last_error"].startswith("0 of 1 delivered, 1 failed: HTTP-500")
        assert action_history(conn, exception_id)[-1]["outcome"] == "failed"


def test_the_overviews_needs_attention_rows_open_the_workbench(
    live_server: LiveServer, watched_page: WatchedPage
) -> None:
    page = watched_page.page
    page.goto(f"{live_server.url}/")
    link = page.locator("#ov-attention .ag-row[row-index='0'] [col-id='title'] a")
    expect(link).to_have_attribute("href", re.compile(r"^/exceptions\?id=\d+$"))
    exception_id = int(str(link.get_attribute("href")).rsplit("=", 1)[1])
    title = link.inner_text()

    link.click()

    page.wait_for_url(re.compile(rf"/exceptions\?id={exception_id}$"))
    expect(page.locator("#ex-drawer")).to_have_class(re.compile(r"\bis-open\b"))
    expect(page.locator(".ex-detail-title")).to_have_text(title)
