"""The README's incident story, followed step by step in Chromium on live demo traffic (a fast clock):
break NorthStar on the Demo panel → its exceptions appear in the workbench → set it back to OK →
bulk-replay the dead letters → the exception is resolved and its orders are dispatched."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from app.context import open_context
from app.demo_state import orders_in_flight
from app.settings import load_settings
from models.queries.common import utcnow
from seed_data import seed_demo
from seed_data.live_simulator import LiveSimulator, SimulatorConfig
from tests.browser.conftest import WatchedPage, open_in_drawer, settle
from tests.live_server import LiveServer, serve, settled

SECRET = "story-shopify-secret"
SHIPMENTS = "3pl_north-d365-shipment"
ROWS = "#ex-grid .ag-center-cols-container .ag-row"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveSimulator]]:
    """A one-day demo served in demo mode with its live traffic running an hour a second."""
    settings = load_settings(
        db=tmp_path_factory.mktemp("story") / "flowwatch.duckdb", demo_mode=True, shopify_secret=SECRET,
        detection_interval_seconds=2, ingest_max_delay_seconds=0.1, replay_rate_per_second=50,
    )  # fmt: skip
    ctx = open_context(settings)
    seed_demo(ctx.engine, ctx.writer, days=1, orders_per_day=300, seed=11, anchor=utcnow().replace(microsecond=0))
    with serve(settings, ctx=ctx) as live:
        simulator = LiveSimulator(SimulatorConfig(
            base_url=live.url, shopify_secret=SECRET, orders_per_minute=240, speed=3600.0, seed=11,
            tick_seconds=0.2, sample_seconds=0.5, control_seconds=0.2, background_failures=False,
            in_flight=orders_in_flight(ctx),
        ))  # fmt: skip
        simulator.start()
        try:
            yield live, simulator
        finally:
            simulator.stop()


def _switch(page: Page, live: LiveServer, system: str, label: str, mode: str) -> None:
    page.goto(f"{live.url}/demo")
    row = page.locator(f".demo-systems tr[data-system='{system}']")
    row.locator("label", has_text=label).click()
    expect(row).to_have_attribute("data-mode", mode)
    expect(page.locator("#demo-said")).to_have_text(f"{system} switched to {mode}")


def _rows_appear(page: Page, url: str, timeout: float = 60.0) -> int:
    """Reload the workbench until detection has opened something there (it runs every 2 s here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.goto(url)
        page.wait_for_selector("#ex-selection")
        settle(page)
        count = page.locator(ROWS).count()
        if count:
            return count
    raise AssertionError(f"no exception appeared at {url} within {timeout} s")


def test_the_incident_story_step_by_step(
    demo: tuple[LiveServer, LiveSimulator], watched_page: WatchedPage, artifacts: Path
) -> None:
    live, simulator = demo
    page = watched_page.page
    expect_nav = page.goto(f"{live.url}/")
    assert expect_nav is not None
    expect(page.locator(".nav a", has_text="Demo")).to_be_visible()  # the panel shows in demo mode

    deadline = time.monotonic() + 60  # the live traffic is shipping through NorthStar before it breaks
    while time.monotonic() < deadline:
        with live.ctx.engine.connect() as conn:
            shipped = conn.exec_driver_sql(f"SELECT count(*) FROM business_events WHERE flow_id = '{SHIPMENTS}' "
                                           "AND status = 'ok' AND event_id LIKE 'evt_live_%'").scalar_one()  # fmt: skip
        if shipped >= 5:
            break
        time.sleep(0.3)

    # 1. Break a partner on the Demo panel
    _switch(page, live, "3pl_north", "Down", "error")
    page.screenshot(path=str(artifacts / "story-1-demo-panel.png"), full_page=True)

    # 2. See it: the dead-letter exception on NorthStar's shipment confirmations, with its waiting messages
    url = f"{live.url}/exceptions?flow={SHIPMENTS}&kind=dead_letter"
    assert _rows_appear(page, url) == 1
    open_in_drawer(page, page.locator(f"{ROWS} [col-id='title']").first)
    expect(page.locator(".ex-detail-title")).to_contain_text("messages dead-lettered (3PL-503)")
    expect(page.locator("#ex-messages .ex-message-progress")).to_contain_text("not replayed yet")
    expect(page.locator("#ex-detail-body")).to_contain_text("Upstream 503 Service Unavailable from NorthStar WMS API")
    page.screenshot(path=str(artifacts / "story-2-exception.png"), full_page=True)
    release = httpx.get(f"{live.url}/api/v1/exceptions", params={"flow_id": "d365-3pl_north-release"},
                        timeout=10).json()["items"]  # fmt: skip
    assert release, "the releases NorthStar refuses show up too"

    # the outage goes on for a while: confirmations keep piling up on the same exception
    exception_id = int(page.locator(ROWS).first.get_attribute("row-id") or 0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = httpx.get(f"{live.url}/api/v1/exceptions/{exception_id}", timeout=10).json()["message_counts"]
        if counts["total"] >= 3:
            break
        time.sleep(0.5)
    assert counts["total"] >= 3, counts

    # 3. Fix it: NorthStar back to OK
    _switch(page, live, "3pl_north", "OK", "ok")
    # the outage's last dead letters reach the exception with the next detection passes: wait until it
    # holds still (the same count over three passes), so the replay below plans all of them
    settled(lambda: httpx.get(f"{live.url}/api/v1/exceptions/{exception_id}", timeout=10).json()["message_counts"])

    # 4. Replay: select the exception, plan (in messages), start
    page.goto(url)
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_have_attribute("row-id", str(exception_id))
    page.locator(f"{ROWS} .ag-selection-checkbox input").first.check()
    page.locator("#ex-bulk-replay").click()
    headline = page.locator(".ex-plan-headline")
    expect(headline).to_have_text(re.compile(r"^1 exception, \d+ messages, ~[\d.]+ s at 50/s$"))
    messages = int(re.search(r"(\d+) messages", headline.inner_text()).group(1))  # type: ignore[union-attr]
    assert messages >= 2
    page.screenshot(path=str(artifacts / "story-3-plan.png"), full_page=True)
    page.locator("#ex-bulk-start").click()
    expect(page.locator("#ex-bulk-ask-title")).to_have_text(f"Start replaying {messages} messages?")
    page.locator("#ex-bulk-ask-yes").click()
    expect(page.locator("#ex-toast")).to_contain_text("Bulk replay #")
    expect(page.locator("#ex-run-progress")).to_contain_text(f"{messages} delivered", timeout=60_000)

    # 5. Resolved: the exception closed by the replay, its orders dispatched
    detail = httpx.get(f"{live.url}/api/v1/exceptions/{exception_id}", timeout=10).json()
    assert detail["status"] == "resolved" and detail["message_counts"]["delivered"] == messages
    page.goto(url)
    expect(page.locator("#ex-selection")).to_contain_text("0 matching")
    orders = sorted({m["correlation_id"] for m in detail["messages"]})
    page.goto(f"{live.url}/orders?id={orders[0]}")
    expect(page.locator("body")).to_contain_text("Upstream 503 Service Unavailable from NorthStar WMS API")
    expect(page.locator("body")).to_contain_text("attempt 2")  # the replay, delivered ok, on its own order
    timeline = httpx.get(f"{live.url}/api/v1/orders/{orders[0]}", timeout=10).json()
    replays = [e for e in timeline["entries"] if e["type"] == "event" and ":replay:" in e["event_id"]]
    assert [(e["event_type"], e["status"]) for e in replays] == [("shipment.dispatched", "ok")]
    page.screenshot(path=str(artifacts / "story-4-order.png"), full_page=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with live.ctx.engine.connect() as conn:
            shipped = conn.exec_driver_sql(
                "SELECT count(*) FROM order_facts WHERE dispatched_at IS NOT NULL AND correlation_id IN ("
                + ", ".join(f"'{o}'" for o in orders)
                + ")"
            ).scalar_one()
        if shipped == len(orders):
            break
        time.sleep(0.3)
    assert shipped == len(orders)
    assert simulator.stats.replayed >= 1  # the live traffic saw the replays leave its DLQ
