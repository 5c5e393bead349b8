"""Inhibition by dependency, restarts while pending and firing (a new process context over the same
database file), and the demo's default rules on a small seeded demo."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.config import AlertsConfig, RuleConfig
from alerts.runtime import AlertRuntime
from app.context import AppContext, open_context
from app.settings import Settings, load_settings
from models.detection.passes import run_detection
from models.ingest.writer import IngestWriter
from models.queries.alerts import load_states
from seed_data import seed_demo
from tests.factories import event, events_table, fresh_db
from tests.integration.alert_world import EXCEPTIONS_RULE, FLOW, T0, World, make_world, slack_channel
from tests.slack_server import TOKEN, SlackServer, slack_server

SILENCE_RULE = RuleConfig.model_validate(
    {"id": "quiet", "name": "No events from a system", "kind": "ingest_silence", "threshold": 30,
     "source": ["shopify"], "for": "0s", "severity": "critical"}
)  # fmt: skip


@pytest.fixture()
def slack() -> Iterator[SlackServer]:
    with slack_server() as server:
        yield server


def test_an_ingest_silence_on_a_system_inhibits_the_flow_alerts_downstream_of_it(
    tmp_path: Path, slack: SlackServer, fresh: tuple[Engine, IngestWriter]
) -> None:
    """On DuckDB and on PostgreSQL: rules, detection, evaluation, the stages, the notification log."""
    world = make_world(tmp_path, [slack_channel(slack)], rules=[EXCEPTIONS_RULE, SILENCE_RULE], db=fresh)
    world.fail_orders(40, T0 - timedelta(hours=1))  # shopify's last events: an hour before T0
    world.detect(T0)
    world.tick(T0)
    outcomes = world.tick(T0 + timedelta(seconds=30))

    with world.engine.connect() as conn:
        firing = sorted((s["rule_id"], s["labels"]["kind"]) for s in load_states(conn) if s["state"] == "firing")
    assert firing == [("failing", "delivery_failed"), ("quiet", "ingest_silence")]
    sent = [o for o in outcomes if o.result == "sent"]
    assert len(sent) == 1 and len(slack.calls) == 1
    (post,) = slack.calls
    assert post.body["blocks"][0]["text"]["text"] == "🔴 FIRING · No events from a system · Shopify storefront"
    # shopify's last event: T0 − 1 h − 20 min + 39 s; at the flush's evaluation (T0 + 30 s) 79 min 51 s ago
    assert "no events from shopify for 80 min (threshold 30 min)" in str(post.body["blocks"])
    # its business impact is the downstream flow's: the 40 orders its exceptions hold
    assert "*Orders affected*\\n40" in str(post.body["blocks"])
    skipped = [o for o in outcomes if o.result == "skipped"]
    assert [o.detail for o in skipped] == ["nothing firing that was not muted, and nothing was sent"]

    # shopify talks again: the silence resolves, and the flow's alert is let through at its next flush
    shopify = event("SHP-9999", "order.created", T0 + timedelta(minutes=1), flow_id=FLOW, source="shopify")
    world.writer.append("business_events", events_table([shopify]))
    world.tick(T0 + timedelta(minutes=2))
    outcomes = world.tick(T0 + timedelta(minutes=5, seconds=30))
    assert sorted((o.kind, o.result) for o in outcomes) == [("firing", "sent"), ("resolved", "sent")]
    flow_message = next(c for c in slack.of("/api/chat.postMessage") if "Deliveries failing" in c.body["text"])
    assert "40 open exceptions holding 40 orders" in str(flow_message.body["blocks"])


def _settings(tmp_path: Path, slack: SlackServer) -> Settings:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rules]]\nid = "failing"\nname = "Deliveries failing"\nkind = "exceptions"\n'
        'exception_kind = ["delivery_failed"]\nthreshold = 1\nfor = "2m"\n'
    )
    return load_settings(
        db=tmp_path / "fw.duckdb",
        slack_bot_token=TOKEN,
        slack_channel="#ops",
        slack_api_base_url=slack.api,
        alerts={"rules_file": str(rules)},
    )


def _world(ctx: AppContext) -> World:
    assert ctx.alerts is not None
    return World(ctx.engine, ctx.writer, ctx.alerts)


def _reopen(ctx: AppContext, settings: Settings) -> AppContext:
    """Stop this process's context and open a new one over the same file (what a restart does)."""
    ctx.close()
    return open_context(settings)


def test_restart_while_pending_and_firing_neither_duplicates_nor_loses_and_the_resolve_updates_the_original(
    tmp_path: Path, slack: SlackServer
) -> None:
    settings = _settings(tmp_path, slack)
    ctx = open_context(settings)
    world = _world(ctx)
    world.numbered = 0
    world.fail_orders(9, T0)
    world.tick(T0)
    with ctx.engine.connect() as conn:
        assert [s["state"] for s in load_states(conn)] == ["pending"]

    ctx = _reopen(ctx, settings)  # restart while pending: the `for` keeps counting from T0
    world = _world(ctx)
    assert world.tick(T0 + timedelta(minutes=1)) == []
    world.tick(T0 + timedelta(minutes=2))  # fires now: 2 min after it first held
    with ctx.engine.connect() as conn:
        (state,) = load_states(conn)
    assert (state["state"], state["active_since"], state["firing_since"]) == ("firing", T0, T0 + timedelta(minutes=2))

    ctx = _reopen(ctx, settings)  # restart within group_wait: the group's timer is in the database
    world = _world(ctx)
    outcomes = world.tick(T0 + timedelta(minutes=2, seconds=30))
    assert [(o.kind, o.result) for o in outcomes] == [("firing", "sent")]
    assert [c.path for c in slack.calls] == ["/api/chat.postMessage"]

    ctx = _reopen(ctx, settings)  # restart while firing: nothing is sent again
    world = _world(ctx)
    for minutes in (3, 8, 13):
        assert [o.result for o in world.tick(T0 + timedelta(minutes=minutes))] in ([], ["skipped"])
    assert len(slack.calls) == 1

    world.resolve_all(T0 + timedelta(minutes=14))
    world.tick(T0 + timedelta(minutes=14))
    ctx = _reopen(ctx, settings)  # restart with the resolve pending
    world = _world(ctx)
    outcomes = world.tick(T0 + timedelta(minutes=18))
    assert [(o.kind, o.result) for o in outcomes] == [("resolved", "sent")]
    (update,) = slack.of("/api/chat.update")
    first_ts = next(iter(slack.messages))
    assert update.body["ts"] == first_ts and update.body["blocks"][0]["text"]["text"].startswith("✅ RESOLVED")
    assert len([c for c in slack.of("/api/chat.postMessage") if not c.body.get("thread_ts")]) == 1
    ctx.close()


ANCHOR = datetime(2026, 3, 12, 14, 0)


def test_the_default_rules_fire_on_the_seeded_demos_incidents(tmp_path: Path) -> None:
    engine, writer = fresh_db(tmp_path)
    seed_demo(engine, writer, days=6, orders_per_day=300, seed=11, anchor=ANCHOR)
    with writer.transaction() as conn:
        run_detection(conn, now=ANCHOR)
    runtime = AlertRuntime(AlertsConfig(), engine=engine, writer=writer, base_url="http://fw", channels={})
    assert runtime.sync_rules(ANCHOR)["added"] == 11
    first = runtime.evaluate(ANCHOR)
    later = runtime.evaluate(ANCHOR + timedelta(minutes=5))

    assert first.firing == 0 and first.pending > 0  # every default rule waits its `for`
    assert not later.errors and not later.nodata
    with engine.connect() as conn:
        firing = {(s["rule_id"], s["labels"].get("flow") or s["labels"].get("system"))
                  for s in load_states(conn) if s["state"] == "firing"}  # fmt: skip
    # the NorthStar outage: dead letters on its shipment confirmations, and its DLQ
    assert ("dead-letters", "3pl_north-d365-shipment") in firing
    assert ("dlq-not-empty", "3pl_north-d365-shipment") in firing
    # Coastal rejecting releases now; Brightline acknowledging POs late; Adobe inventory lagging now
    assert ("failed-deliveries", "netsuite-3pl_coastal-release") in firing
    assert ("supplier-acks-late", "sup_brightline") in firing
    assert ("sync-lag-over-sla", "wms-adobe-inventory") in firing
    # and nothing about systems that are fine: no ingest silence in the demo
    assert not {f for f in firing if f[0] == "ingest-silence"}
    with engine.connect() as conn:
        groups = conn.execute(sa.text("SELECT count(*) FROM alert_groups WHERE status = 'active'")).scalar_one()
    assert groups == len({s for s in firing})  # default grouping: one group per flow (or system) and kind
