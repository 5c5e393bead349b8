"""The incidents page in headless Chromium: three exceptions on three D365 flows make (or join) the D365
incident; the page lists it with its impact and exceptions, and Acknowledge then Resolve act through the
service as the logged-in operator (auth is off here: "local"), resolving its exceptions with it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from models.detection.incidents import correlate
from models.detection.occurrences import DetectionSettings
from models.queries.impact import refresh_impact
from models.queries.incidents import get_incident, list_incidents
from models.store.tables import exception_orders, exceptions, order_facts
from tests.browser.conftest import ANCHOR, WatchedPage, settle
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser


def test_acknowledge_and_resolve_an_incident(live_server: LiveServer, watched_page: WatchedPage,
                                             artifacts: Path) -> None:  # fmt: skip
    with live_server.ctx.writer.transaction() as conn:
        # 11 seeded orders with a known total, 4 held by each exception: the first two share one
        valued = conn.execute(sa.select(order_facts.c.correlation_id, order_facts.c.order_value).where(
            order_facts.c.order_value.is_not(None)).order_by(order_facts.c.correlation_id).limit(11)).all()  # fmt: skip
        held = [valued[0:4], valued[3:7], valued[7:11]]
        for n, flow in enumerate(("shopify-d365-orders", "adobe-d365-orders", "d365-wms-release")):
            exception_id = conn.execute(exceptions.insert().values(
                fingerprint=f"browser-incident:{flow}", kind="delivery_failed", flow_id=flow, system_id="d365",
                business_key=f"B{n}", title=f"{flow}: deliveries failing (ERP-503)", severity="high", status="open",
                first_seen=ANCHOR - timedelta(minutes=5), last_seen=ANCHOR, occurrences=4, affected_orders=4,
                updated_at=ANCHOR,
            ).returning(exceptions.c.exception_id)).scalar_one()  # fmt: skip
            conn.execute(
                exception_orders.insert(), [{"exception_id": exception_id, "correlation_id": o} for o, _ in held[n]]
            )
        refresh_impact(conn)  # as the detection pass that linked them would
        correlate(conn, now=ANCHOR, settings=DetectionSettings())
    with live_server.ctx.engine.connect() as conn:
        rows, total = list_incidents(conn)
        incident = next(r for r in rows if r["system_id"] == "d365" and r["status"] == "open")
        detail = get_incident(conn, int(incident["incident_id"]))
    assert detail is not None and detail["active_exceptions"] >= 3
    n, active = int(incident["incident_id"]), int(detail["active_exceptions"])
    # its impact, by hand: every order of its exceptions once (the first two share one), their totals
    with live_server.ctx.engine.connect() as conn:
        ids = [int(x["exception_id"]) for x in detail["exception_list"]]
        linked = set(conn.execute(sa.select(exception_orders.c.correlation_id).where(
            exception_orders.c.exception_id.in_(ids))).scalars())  # fmt: skip
        totals = dict(conn.execute(sa.select(order_facts.c.correlation_id, order_facts.c.order_value).where(
            order_facts.c.correlation_id.in_(linked))).all())  # fmt: skip
    assert {o for o, _ in valued} <= linked
    assert detail["orders"] == len(linked) >= 11
    assert detail["value_at_risk"] == round(float(sum(v for v in totals.values() if v is not None)), 2)

    page = watched_page.page
    page.goto(f"{live_server.url}/incidents?id={n}")
    expect(page.locator("#in-title")).to_contain_text(incident["title"])
    expect(page.locator("#in-list tr[data-incident]")).to_have_count(total)
    expect(page.locator(f'#in-list tr[data-incident="{n}"]')).to_have_class("is-selected")
    expect(page.locator("#in-exceptions a[href^='/exceptions?id=']")).to_have_count(min(active, 50))
    expect(page.locator("#in-summary a[href^='/flows?flow=']")).not_to_have_count(0)
    facts = page.locator("#in-summary .in-fact")
    expect(facts.filter(has_text="Orders affected")).to_contain_text(f"{detail['orders']:,}")
    expect(facts.filter(has_text="Value at risk")).to_contain_text(f"${round(detail['value_at_risk']):,}")

    page.locator("#in-ack").click()
    expect(page.locator("#in-message")).to_have_text(f"Acknowledged incident #{n}; owner local")
    expect(page.locator("#in-ack")).to_be_disabled()
    expect(page.locator("#in-timeline li[data-what=ack]")).to_contain_text("Acknowledged by local")

    page.locator("#in-resolution").fill("D365 back after failover")
    page.locator("#in-resolve").click()  # asks first, in the page: what closes with it
    dialog = page.locator("#in-resolve-ask")
    expect(dialog).to_be_visible()
    expect(page.locator("#in-resolve-ask-title")).to_have_text(f"Resolve incident #{n}: {incident['title']}?")
    expect(page.locator("#in-resolve-ask-body")).to_contain_text(
        f"Its {active} open exceptions across {detail['flows']} flows close with it: {detail['orders']} orders"
    )
    expect(page.locator("#in-resolve-ask-body")).to_contain_text("Resolution: D365 back after failover")
    page.screenshot(path=str(artifacts / "incidents-resolve-confirm.png"))
    page.locator("#in-resolve-ask-no").click()  # cancel: nothing happens
    expect(dialog).to_be_hidden()
    expect(page.locator("#in-title .badge")).not_to_have_text("resolved")
    page.locator("#in-resolve").click()
    expect(page.locator("#in-resolve-ask-yes")).to_have_text(f"Resolve with {active} open exceptions")
    page.locator("#in-resolve-ask-yes").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#in-message")).to_have_text(f"Resolved incident #{n} and {active} exceptions")
    expect(page.locator("#in-title .badge")).to_have_text("resolved")
    expect(page.locator("#in-resolve")).to_be_disabled()
    with live_server.ctx.engine.connect() as conn:
        after = get_incident(conn, n)
    assert after is not None and (after["status"], after["active_exceptions"], after["owner"]) == (
        "resolved",
        0,
        "local",
    )
    settle(page)
    page.screenshot(path=str(artifacts / "incidents.png"), full_page=True)
