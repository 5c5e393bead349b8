"""The Alerts page in headless Chromium on the seeded demo with a Slack channel (the loopback Slack
server): rules with their state, firing alerts and the notification log as the service reports them;
a silence and a rule created, a rule edited and disabled, and a channel's test send, from the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from app.context import open_context
from app.services.alerts import overview
from app.settings import load_settings
from models.detection.passes import run_detection
from tests.browser.conftest import ANCHOR, WatchedPage
from tests.live_server import LiveServer, seeded_db, serve
from tests.slack_server import TOKEN, SlackServer, slack_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackServer]:
    with slack_server() as server:
        yield server


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory, slack: SlackServer) -> Iterator[LiveServer]:
    """A week of the demo, its default rules evaluated until they fire, notified to the Slack server."""
    settings = load_settings(
        db=seeded_db(tmp_path_factory.mktemp("alerts") / "flowwatch.duckdb", anchor=ANCHOR),
        slack_bot_token=TOKEN,
        slack_channel="#ops",
        slack_api_base_url=slack.api,
    )
    ctx = open_context(settings)
    clock = [ANCHOR]
    ctx.clock = lambda: clock[0]
    with ctx.writer.transaction() as conn:
        run_detection(conn, now=ANCHOR)
    assert ctx.alerts is not None
    ctx.alerts.evaluate(ANCHOR)
    clock[0] = ANCHOR + timedelta(minutes=6)  # past the default rules' `for`
    ctx.alerts.evaluate(clock[0])
    clock[0] = ANCHOR + timedelta(minutes=7)  # past group_wait
    assert any(o.result == "sent" for o in ctx.alerts.notify(clock[0]))
    with serve(settings, ctx=ctx) as live:
        yield live


def _overview(server: LiveServer) -> dict[str, Any]:
    with server.ctx.engine.connect() as conn:
        return overview(server.ctx, conn)


def _rule_row(page: Page, rule_id: str) -> Locator:
    return page.locator("#al-rules tbody tr", has=page.locator(f'span[title="{rule_id}"]'))


def _at(when: datetime) -> str:
    return f"{when:%b %-d %H:%M:%S}"


def test_the_page_shows_rules_firing_alerts_and_the_notification_log(
    alerting: LiveServer, watched_page: WatchedPage, artifacts: Path
) -> None:
    page = watched_page.page
    page.goto(f"{alerting.url}/alerts")
    data = _overview(alerting)
    firing = data["alerts"]["firing"]
    assert len(data["rules"]) == 11 and len(firing) >= 5

    expect(page.locator("#al-rules tbody tr")).to_have_count(len(data["rules"]))
    for rule in data["rules"]:
        row = _rule_row(page, rule["id"])
        expect(row.locator(".badge")).to_have_text(rule["state"])
        expect(row.locator("td").nth(5)).to_have_text("rules file")
    expect(_rule_row(page, "dead-letters").locator(".badge")).to_have_text("firing")

    rows = page.locator("#al-alerts tbody tr")
    expect(rows.filter(has_text="firing")).to_have_count(len(firing))
    north = rows.filter(has_text="3pl_north-d365-shipment").filter(has_text="dead-letters")
    expect(north.locator("td").nth(4)).to_have_text(_at(ANCHOR + timedelta(minutes=6)))

    log = page.locator("#al-log tbody tr")
    expect(log).to_have_count(len(data["notifications"]))
    first = data["notifications"][-1]
    expect(log.last.locator("td").nth(1)).to_have_text("slack")
    expect(log.last.locator("td").nth(2)).to_have_text(first["kind"])
    expect(log.last.locator("td").nth(3)).to_have_text("sent")
    expect(log.last.locator("td").nth(5)).to_have_text(first["payload"]["summary"]["title"])
    expect(page.locator("[data-channel=slack] .badge")).to_have_text("ok")
    expect(page.locator("#al-updated")).to_have_text("Updated 15:07:00 UTC")
    page.screenshot(path=str(artifacts / "alerts-page.png"), full_page=True)


def test_a_silence_is_refused_without_a_comment_and_made_from_the_form(
    alerting: LiveServer, watched_page: WatchedPage
) -> None:
    page = watched_page.page
    page.goto(f"{alerting.url}/alerts")
    expect(page.locator("#al-silences")).to_contain_text("No silences")
    north = (
        page.locator("#al-alerts tbody tr").filter(has_text="3pl_north-d365-shipment").filter(has_text="dead-letters")
    )
    north.get_by_role("button", name="Silence…").click()  # the alert's own matchers fill the form
    expect(page.locator("#al-sf-matchers")).to_have_value(
        'alertname="dead-letters", flow="3pl_north-d365-shipment", kind="dead_letter"'
    )
    page.fill("#al-sf-matchers", 'flow="3pl_north-d365-shipment", kind=~"dead_letter|queue_depth"')
    page.click("#al-sf-create")
    expect(page.locator("#al-sf-result .al-error")).to_have_text("comment is required: why it is silenced")

    page.fill("#al-sf-comment", "NorthStar outage, CHG-4411")
    page.click("#al-sf-create")
    ends = alerting.ctx.now() + timedelta(hours=2)
    expect(page.locator("#al-sf-result .al-ok")).to_have_text(
        f"Silence #1 by local until {ends:%b %-d %H:%M} UTC"  # the admin acting: "local" with auth off (tests)
    )
    row = page.locator("#al-silences tbody tr").first
    expect(row).to_contain_text('flow="3pl_north-d365-shipment", kind=~"dead_letter|queue_depth"')
    expect(row).to_contain_text("NorthStar outage, CHG-4411")
    expect(row.locator("td").nth(5)).to_have_text("active")

    row.get_by_role("button", name="Expire").click()
    expect(page.locator("#al-sf-result .al-ok")).to_have_text("Silence #1 expired by local")
    expect(row.locator("td").nth(5)).to_have_text("ended by local")


def test_a_rule_is_created_edited_and_disabled_from_the_page(
    alerting: LiveServer, watched_page: WatchedPage, artifacts: Path
) -> None:
    page = watched_page.page
    page.goto(f"{alerting.url}/alerts")
    expect(page.locator("#al-rules tbody tr")).to_have_count(11)  # the default rules file (alerts/default_rules.toml)

    page.click("#al-rule-new")
    expect(page.locator("#al-editor")).to_be_visible()
    page.fill("#al-rf-id", "coastal-failing")
    page.fill("#al-rf-name", "Coastal rejecting releases")
    page.fill("#al-rf-threshold", "")
    page.fill("#al-rf-flow", "netsuite-3pl_coastal-release")
    page.fill("#al-rf-labels", "team=fulfilment")
    page.click("#al-rf-save")
    expect(page.locator("#al-rf-result .al-error")).to_have_text("threshold: Field required")
    page.fill("#al-rf-threshold", "3")
    page.fill("#al-rf-for", "2m")
    page.click("#al-rf-save")
    expect(page.locator("#al-rules-result .al-ok")).to_have_text(
        "Rule coastal-failing created by local; applies on the next evaluation"
    )
    expect(page.locator("#al-editor")).to_be_hidden()
    row = _rule_row(page, "coastal-failing")
    expect(row.locator("td").nth(2)).to_have_text("≥ 3 for 2m")
    expect(row.locator("td").nth(5)).to_have_text("API / page")

    dead = _rule_row(page, "dead-letters")
    dead.get_by_role("button", name="Edit").click()
    expect(page.locator("#al-editor-title")).to_have_text("Edit rule dead-letters")
    expect(page.locator("#al-rf-id")).to_be_disabled()
    expect(page.locator("#al-rf-name")).to_have_value("Messages dead-lettered")
    page.fill("#al-rf-threshold", "5")
    page.locator("#al-editor").screenshot(path=str(artifacts / "alerts-rule-editor.png"))
    page.click("#al-rf-save")
    expect(page.locator("#al-rules-result .al-ok")).to_have_text(
        "Rule dead-letters saved by local; applies on the next evaluation"
    )
    expect(dead.locator("td").nth(2)).to_have_text("≥ 5 for 1m")
    expect(dead.locator("td").nth(5)).to_have_text("file, edited")

    dead.get_by_role("button", name="Disable").click()
    expect(page.locator("#al-rules-result .al-ok")).to_have_text("Rule dead-letters disabled by local")
    expect(dead.locator(".badge")).to_have_text("disabled")
    expect(dead.get_by_role("button", name="Enable")).to_be_visible()
    changes = page.locator("#al-changes tbody tr").filter(has_text="dead-letters")
    expect(changes.nth(0)).to_have_text(re.compile(r"local\s*rule disabled\s*dead-letters\s*enabled: yes → no"))
    expect(changes.nth(1)).to_contain_text("threshold: 1 → 5")
    created = page.locator("#al-changes tbody tr").filter(has_text="coastal-failing")
    expect(created).to_contain_text("rule created")
    expect(created).to_contain_text("exceptions ≥ 3 for 2m")
    with alerting.ctx.engine.connect() as conn:
        rules = {r["id"]: r for r in overview(alerting.ctx, conn)["rules"]}
    assert rules["dead-letters"]["threshold"] == 5 and rules["dead-letters"]["enabled"] is False
    assert rules["coastal-failing"]["labels"] == {"team": "fulfilment"}
    assert rules["coastal-failing"]["flow"] == ["netsuite-3pl_coastal-release"]


def test_send_test_shows_the_delivery_result(
    alerting: LiveServer, watched_page: WatchedPage, slack: SlackServer, artifacts: Path
) -> None:
    page = watched_page.page
    page.goto(f"{alerting.url}/alerts")
    before = len(slack.of("/api/chat.postMessage"))
    page.locator("[data-channel=slack]").get_by_role("button", name="Send test").click()
    expect(page.locator("#al-test-result .al-ok")).to_have_text("slack: delivered")
    expect(page.locator("#al-log tbody tr").first.locator("td").nth(2)).to_have_text("test")
    assert len(slack.of("/api/chat.postMessage")) == before + 1
    assert re.search(
        r"Test notification from Flowwatch to channel slack", slack.of("/api/chat.postMessage")[-1].body["text"]
    )
    page.screenshot(path=str(artifacts / "alerts-page-after-actions.png"), full_page=True)
