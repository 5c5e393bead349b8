"""The notification pipeline end to end against a real Slack-shaped server on loopback, on an injected
clock (group_wait, group_interval and repeat are times passed in, never slept)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.channels import build_channel
from alerts.channels.base import Pacer, RetryPolicy
from alerts.config import ChannelConfig, RuleConfig
from models.queries.alerts import list_groups, load_states, rule_health
from tests.integration.alert_world import PROMISE, T0, make_world, slack_channel, value_of
from tests.slack_server import CHANNEL_ID, SlackServer, slack_server


@pytest.fixture()
def slack() -> Iterator[SlackServer]:
    with slack_server() as server:
        yield server


def _top_level(slack: SlackServer) -> list:
    return [c for c in slack.of("/api/chat.postMessage") if not c.body.get("thread_ts")]


def test_200_exceptions_within_group_wait_make_one_message_with_the_value_at_risk(
    tmp_path: Path, slack: SlackServer
) -> None:
    world = make_world(tmp_path, [slack_channel(slack)])
    world.fail_orders(50, T0)
    assert world.tick(T0) == []  # firing, but the group waits 30 s for more
    world.fail_orders(150, T0 + timedelta(seconds=20))
    assert world.tick(T0 + timedelta(seconds=20)) == []

    outcomes = world.tick(T0 + timedelta(seconds=30))
    world.tick(T0 + timedelta(seconds=45))  # nothing new: nothing more is sent

    assert [(o.kind, o.result) for o in outcomes] == [("firing", "sent")]
    (post,) = slack.calls
    assert post.path == "/api/chat.postMessage" and post.body["channel"] == "#ops"
    text = post.body["text"]
    value = sum(value_of(n) for n in range(200))  # 200 × 10 + (0 + … + 199) = 21,900.00
    assert value == 21_900.0
    assert "200 orders" in text and "$21,900.00 at risk" in text
    earliest = T0 - timedelta(minutes=20) + PROMISE  # the first order's creation + the fulfilment SLA
    assert f"{earliest:%b %-d %H:%M} UTC" in text
    blocks = post.body["blocks"]
    flat = str(blocks)
    assert "200 open exceptions holding 200 orders" in flat
    assert "*Value at risk*\\n$21,900.00" in flat and "*Orders affected*\\n200" in flat
    assert blocks[0]["text"]["text"].startswith("🔴 FIRING · Deliveries failing · shopify d365 orders")
    assert "SHP-1199" in flat and "$209.00" in flat  # the top order by value: 10 + 199
    assert "and 190 more" in flat and "http://flowwatch.test/exceptions?flow=shopify-d365-orders" in flat
    assert [e["action_id"] for e in blocks[-1]["elements"]] == ["fw_ack", "fw_snooze", "fw_assign", "fw_open"]
    (logged,) = world.log()
    assert (logged["channel"], logged["kind"], logged["result"]) == ("slack", "firing", "sent")
    assert CHANNEL_ID in logged["message_ref"] and '"orders":200' in logged["payload"]


def test_a_condition_that_clears_within_group_wait_sends_nothing(tmp_path: Path, slack: SlackServer) -> None:
    world = make_world(tmp_path, [slack_channel(slack)])
    world.fail_orders(12, T0)
    world.tick(T0)
    world.resolve_all(T0 + timedelta(seconds=10))
    world.tick(T0 + timedelta(seconds=15))  # resolved before anyone was told

    world.tick(T0 + timedelta(seconds=30))
    world.tick(T0 + timedelta(minutes=10))

    assert slack.calls == []
    assert world.log() == []
    with world.engine.connect() as conn:
        (group,) = list_groups(conn)
    assert group["status"] == "closed"


def test_counts_change_update_the_same_message_with_a_thread_reply_and_resolve_updates_it_again(
    tmp_path: Path, slack: SlackServer
) -> None:
    world = make_world(tmp_path, [slack_channel(slack)])
    world.fail_orders(30, T0)
    world.tick(T0)
    world.tick(T0 + timedelta(seconds=30))
    (first,) = _top_level(slack)
    ts = f"{1_700_000_001}.000001"
    assert first.body["blocks"] and slack.messages[ts]

    world.fail_orders(20, T0 + timedelta(minutes=2))
    assert [o.result for o in world.tick(T0 + timedelta(minutes=2))] == []  # group_interval not over yet
    outcomes = world.tick(T0 + timedelta(minutes=5, seconds=30))
    assert [(o.kind, o.result) for o in outcomes] == [("update", "sent")]
    (update,) = slack.of("/api/chat.update")
    assert (update.body["channel"], update.body["ts"]) == (CHANNEL_ID, ts)
    assert "50 open exceptions holding 50 orders" in str(update.body["blocks"])
    (reply,) = [c for c in slack.of("/api/chat.postMessage") if c.body.get("thread_ts")]
    assert reply.body["thread_ts"] == ts and "50 exceptions, 50 orders" in reply.body["text"]
    assert "(was 30 exceptions, 30 orders)" in reply.body["text"]
    assert pytest.approx(1.0, abs=0.2) == max(world.waits)  # the reply waited its turn: 1 message/s/channel

    world.resolve_all(T0 + timedelta(minutes=6))
    world.tick(T0 + timedelta(minutes=6))
    outcomes = world.tick(T0 + timedelta(minutes=10, seconds=30))
    assert [(o.kind, o.result) for o in outcomes] == [("resolved", "sent")]
    updates = slack.of("/api/chat.update")
    assert len(updates) == 2 and updates[-1].body["ts"] == ts
    assert updates[-1].body["blocks"][0]["text"]["text"].startswith("✅ RESOLVED")
    assert "fw_ack" not in str(updates[-1].body["blocks"])  # nothing left to acknowledge
    replies = [c for c in slack.of("/api/chat.postMessage") if c.body.get("thread_ts")]
    assert len(replies) == 2 and replies[-1].body["text"].startswith("✅ Resolved at 12:06 UTC")
    assert len(_top_level(slack)) == 1  # one message per group episode, never a new one per change
    assert [r["kind"] for r in world.log()] == ["firing", "update", "resolved"]
    world.tick(T0 + timedelta(minutes=20))
    assert len(slack.calls) == 5


def test_429_waits_retry_after_and_5xx_are_retried_then_logged_failed(tmp_path: Path, slack: SlackServer) -> None:
    config = slack_channel(slack, max_attempts=3)
    real = build_channel(config, policy=RetryPolicy(attempts=3, base=0.05), pacer=Pacer())  # real sleeps
    world = make_world(tmp_path, [config], built={"slack": real})
    world.fail_orders(3, T0)
    world.tick(T0)
    slack.fail_next = [(429, {"Retry-After": "2"}, '{"ok": false, "error": "ratelimited"}')]

    outcomes = world.tick(T0 + timedelta(seconds=30))

    assert [(o.kind, o.result) for o in outcomes] == [("firing", "sent")]
    limited, delivered = slack.calls
    assert delivered.at - limited.at >= 2.0
    assert world.log()[-1]["attempts"] == 2

    world.fail_orders(2, T0 + timedelta(minutes=1))
    slack.fail_next = [(500, {}, "upstream error")] * 3
    outcomes = world.tick(T0 + timedelta(minutes=5, seconds=30))
    assert [(o.kind, o.result) for o in outcomes] == [("update", "failed")]
    assert len(slack.calls) == 2 + 3
    failed = world.log()[-1]
    assert (failed["result"], failed["attempts"]) == ("failed", 3)
    assert failed["detail"] == "gave up after 3 attempts: chat.update: HTTP 500"
    (state,) = world.runtime.channel_states(T0 + timedelta(minutes=6))
    assert state["status"] == "failing" and state["last_error"] == failed["detail"]
    # the owed update is tried again within a minute, not a whole group_interval later
    outcomes = world.tick(T0 + timedelta(minutes=6, seconds=30))
    assert [(o.kind, o.result) for o in outcomes] == [("update", "sent")]


def test_a_channel_that_keeps_failing_rests_and_never_blocks_evaluation(tmp_path: Path, slack: SlackServer) -> None:
    world = make_world(tmp_path, [slack_channel(slack, max_attempts=1)])
    world.fail_orders(3, T0)
    world.tick(T0)
    slack.fail_next = [(500, {}, "down")] * 3
    for k in range(3):
        world.tick(T0 + timedelta(seconds=30 + 60 * k))
    assert [r["result"] for r in world.log()] == ["failed"] * 3
    calls = len(slack.calls)
    report = world.runtime.evaluate(T0 + timedelta(minutes=3, seconds=30))  # evaluation goes on regardless
    assert report.firing == 1 and not report.errors
    outcomes = world.runtime.notify(T0 + timedelta(minutes=3, seconds=30))
    assert [o.result for o in outcomes] == ["resting"] and len(slack.calls) == calls
    state = world.runtime.channel_states(T0 + timedelta(minutes=3, seconds=30))[0]
    assert state["failures_in_a_row"] == 3 and state["next_try_at"] == T0 + timedelta(minutes=4, seconds=30)
    outcomes = world.tick(T0 + timedelta(minutes=4, seconds=30))  # rested 2 min after the third failure
    assert [(o.kind, o.result) for o in outcomes] == [("firing", "sent")]


def test_webhook_posts_the_same_blocks_and_a_new_message_for_resolve(tmp_path: Path, slack: SlackServer) -> None:
    hook = {"name": "hook", "type": "slack_webhook", "webhook_url": slack.webhook}
    world = make_world(tmp_path, [ChannelConfig.model_validate(hook)])
    world.fail_orders(4, T0)
    world.tick(T0)
    world.tick(T0 + timedelta(seconds=30))
    world.fail_orders(1, T0 + timedelta(minutes=1))
    assert [o.result for o in world.tick(T0 + timedelta(minutes=5, seconds=30))] == ["skipped"]  # cannot edit
    world.resolve_all(T0 + timedelta(minutes=6))
    world.tick(T0 + timedelta(minutes=6))
    world.tick(T0 + timedelta(minutes=10, seconds=30))

    firing, resolved = slack.of("/services/T000/B000/XXXX")
    assert firing.body["blocks"][0]["text"]["text"].startswith("🔴 FIRING")
    assert "4 open exceptions" in str(firing.body["blocks"])
    assert resolved.body["blocks"][0]["text"]["text"].startswith("✅ RESOLVED")
    assert [r["kind"] for r in world.log()] == ["firing", "resolved"]


def test_rules_are_not_silently_ok_when_their_query_fails(tmp_path: Path, slack: SlackServer) -> None:
    rule = RuleConfig.model_validate(
        {"id": "lag", "name": "Lag", "kind": "sync_lag", "threshold": 1, "flow": ["shopify-d365-orders"]}
    )
    world = make_world(tmp_path, [slack_channel(slack)], rules=[rule])
    report = world.runtime.evaluate(T0)
    assert report.nodata == {"lag": "no step of shopify-d365-orders completed in the last 0:15:00"}
    with world.engine.begin() as conn:  # break the rule's query
        conn.exec_driver_sql("ALTER TABLE order_facts RENAME TO order_facts_gone")
    report = world.runtime.evaluate(T0 + timedelta(seconds=30))
    assert list(report.errors) == ["lag"] and "order_facts" in report.errors["lag"]
    with world.engine.connect() as conn:
        assert rule_health(conn)["lag"]["health"] == "error"


def test_a_rule_whose_query_fails_notifies_once_and_its_resolve_updates_the_same_message(
    tmp_path: Path, slack: SlackServer
) -> None:
    rule = RuleConfig.model_validate(
        {"id": "lag", "name": "Lag", "kind": "sync_lag", "threshold": 1, "flow": ["shopify-d365-orders"],
         "on_nodata": "ignore"}
    )  # fmt: skip
    world = make_world(tmp_path, [slack_channel(slack)], rules=[rule])
    assert world.tick(T0) == [] and world.runtime.evaluate(T0).nodata  # no data, told to stay quiet about it
    with world.engine.begin() as conn:  # break the rule's query
        conn.exec_driver_sql("ALTER TABLE order_facts RENAME TO order_facts_gone")
    for at in (60, 75):  # failing twice inside group_wait
        assert world.tick(T0 + timedelta(seconds=at)) == []
    outcomes = world.tick(T0 + timedelta(seconds=90))
    assert [(o.kind, o.result) for o in outcomes] == [("firing", "sent")]
    (post,) = _top_level(slack)
    assert post.body["blocks"][0]["text"]["text"] == "🔴 FIRING · Rule 'Lag' cannot be evaluated"
    assert post.body["blocks"][1]["text"]["text"] == (
        "• *Lag*: Rule 'Lag' cannot be evaluated: ProgrammingError: (_duckdb.CatalogException) Catalog Error: "
        "Table with name order_facts does not exist!"
    )
    with world.engine.connect() as conn:
        (state,) = load_states(conn)
    assert (state["state"], state["labels"]["rule_health"], state["labels"]["kind"]) == (
        "firing",
        "error",
        "rule_health",
    )

    # still failing: nothing more (group_interval after the flush, and nothing changed)
    assert [o.result for o in world.tick(T0 + timedelta(minutes=6, seconds=30))] == ["skipped"]
    assert len(slack.calls) == 1

    with world.engine.begin() as conn:  # the query reads again (no data, which this rule ignores)
        conn.exec_driver_sql("ALTER TABLE order_facts_gone RENAME TO order_facts")
    world.tick(T0 + timedelta(minutes=7))
    outcomes = world.tick(T0 + timedelta(minutes=11, seconds=30))  # the group's next flush
    assert [(o.kind, o.result) for o in outcomes] == [("resolved", "sent")]
    (update,) = slack.of("/api/chat.update")
    assert update.body["ts"] in slack.messages  # the first message, edited in place
    assert slack.messages[update.body["ts"]]["blocks"][0]["text"]["text"].startswith("✅ RESOLVED · Rule 'Lag'")
    assert len(_top_level(slack)) == 1  # never a second message


def test_a_rule_without_data_notifies_once_unless_told_to_ignore_it(tmp_path: Path, slack: SlackServer) -> None:
    rule = RuleConfig.model_validate(
        {"id": "dlq", "name": "Dead letters waiting", "kind": "queue_depth", "dlq": True, "threshold": 1,
         "for": "1m", "severity": "medium"}
    )  # fmt: skip
    world = make_world(tmp_path, [slack_channel(slack)], rules=[rule])
    world.tick(T0)
    assert world.tick(T0 + timedelta(seconds=30)) == []  # pending: it waits the rule's `for` like any condition
    world.tick(T0 + timedelta(minutes=1))
    outcomes = world.tick(T0 + timedelta(minutes=1, seconds=30))
    assert [(o.kind, o.result) for o in outcomes] == [("firing", "sent")]
    (post,) = _top_level(slack)
    assert post.body["blocks"][0]["text"]["text"] == "🔴 FIRING · Rule 'Dead letters waiting' has no data"
    assert "no matching queue was sampled in the last 10 minutes" in str(post.body["blocks"])
    for minutes in (2, 3, 7):
        world.tick(T0 + timedelta(minutes=minutes))
    assert len(slack.calls) == 1  # once

    with world.engine.connect() as conn:
        overview_rule = rule_health(conn)["dlq"]
    assert overview_rule["health"] == "nodata"
    with world.writer.transaction() as conn:  # told to ignore no data: the alert resolves, the rule still says nodata
        from models.queries.alerts import get_rule, save_rule

        row = get_rule(conn, "dlq")
        assert row is not None
        save_rule(conn, "dlq", definition={**row["definition"], "on_nodata": "ignore"}, origin="api", now=T0, by="sam")
    report = world.runtime.evaluate(T0 + timedelta(minutes=8))
    assert report.nodata == {"dlq": "no matching queue was sampled in the last 10 minutes"} and report.resolved == 1
