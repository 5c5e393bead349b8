"""The alerts API on a real Flowwatch server: Slack interactivity (signature, stale requests, a linked
user's Acknowledge), silences (refused without comment or end; suppress; expiry lets through), rules,
test notifications and the overview."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa

from alerts.slack_signature import sign
from app.settings import load_settings
from tests.integration.alert_world import World
from tests.live_server import LiveServer, serve
from tests.slack_server import TOKEN, SlackServer, slack_server

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
RULES = """
[[rules]]
id = "failing"
name = "Deliveries failing"
kind = "exceptions"
exception_kind = ["delivery_failed"]
threshold = 1
for = "0s"
"""


@pytest.fixture()
def slack() -> Iterator[SlackServer]:
    with slack_server() as server:
        yield server


@pytest.fixture()
def live(tmp_path: Path, slack: SlackServer) -> Iterator[tuple[LiveServer, World]]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    settings = load_settings(
        db=tmp_path / "fw.duckdb",
        ingest_max_delay_seconds=0.05,
        slack_bot_token=TOKEN,
        slack_channel="#ops",
        slack_api_base_url=slack.api,
        slack_signing_secret=SECRET,
        alerts={"rules_file": str(rules), "slack_users": {"U0DANA": "dana.okafor"}},
    )
    with serve(settings) as server:
        ctx = server.ctx  # the demo's flow model is loaded: shopify-d365-orders and its downstream steps
        assert ctx.alerts is not None
        yield server, World(ctx.engine, ctx.writer, ctx.alerts)


def _fire(world: World, server: LiveServer, orders: int) -> dict[str, Any]:
    """Failures now, then evaluate and notify past group_wait: the message posted."""
    now = server.ctx.now()
    world.fail_orders(orders, now)
    world.runtime.evaluate(now)
    world.runtime.notify(now + timedelta(seconds=31))
    return world.runtime  # type: ignore[return-value]


def _button(slack: SlackServer, action_id: str) -> dict[str, Any]:
    (post,) = [c for c in slack.of("/api/chat.postMessage") if not c.body.get("thread_ts")]
    return next(e for e in post.body["blocks"][-1]["elements"] if e["action_id"] == action_id)


def _interaction(slack: SlackServer, button: dict[str, Any], user: str) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "response_url": f"{slack.url}/respond/T000/1234",
        "actions": [{"action_id": button["action_id"], "value": button.get("value"), "type": "button"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def _post(server: LiveServer, body: bytes, *, timestamp: int, secret: str = SECRET) -> httpx.Response:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": sign(secret, str(timestamp), body),
    }
    return httpx.post(f"{server.url}/api/v1/alerts/slack/interactivity", content=body, headers=headers, timeout=10)


def _statuses(world: World) -> list[tuple[str, str | None]]:
    with world.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT status, assignee FROM exceptions ORDER BY exception_id")).all())


def _wait_for(read: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_interactivity_refuses_bad_signatures_and_acknowledges_as_the_linked_user(
    live: tuple[LiveServer, World], slack: SlackServer
) -> None:
    server, world = live
    _fire(world, server, 32)
    ack = _button(slack, "fw_ack")
    body = _interaction(slack, ack, "U0DANA")
    now = int(time.time())

    forged = _post(server, body, timestamp=now, secret="not-the-secret")
    stale = _post(server, body, timestamp=now - 6 * 60)
    answered = time.time()  # the server read its clock between ``now`` and this (a busy machine adds seconds)
    tampered = httpx.post(
        f"{server.url}/api/v1/alerts/slack/interactivity",
        content=body.replace(b"U0DANA", b"U0EVE"),
        headers={"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": sign(SECRET, str(now), body)},
    )
    unsigned = httpx.post(f"{server.url}/api/v1/alerts/slack/interactivity", content=body)
    assert [r.status_code for r in (forged, stale, tampered, unsigned)] == [401, 401, 401, 401]
    said = re.fullmatch(
        r"request timestamp is (\d+) s away from now \(more than 5 minutes\): refused", stale.json()["detail"]
    )
    assert said is not None and 360 <= int(said.group(1)) <= 360 + (answered - now) + 1
    assert forged.json()["detail"] == "signature does not match the signing secret"
    assert _statuses(world) == [("open", None)] * 32  # nothing changed

    started = time.monotonic()
    answer = _post(server, body, timestamp=int(time.time()))
    assert answer.status_code == 200 and time.monotonic() - started < 3.0

    _wait_for(lambda: slack.of("/respond/T000/1234"))
    assert _statuses(world) == [("acknowledged", "dana.okafor")] * 32
    with world.engine.connect() as conn:
        audit = conn.execute(sa.text("SELECT DISTINCT action, actor FROM exception_actions WHERE action = 'ack'")).all()
    assert audit == [("ack", "dana.okafor")]
    (reply,) = slack.of("/respond/T000/1234")
    assert reply.body["response_type"] == "ephemeral"
    assert reply.body["text"] == "Acknowledged 32 exceptions as dana.okafor."


def test_an_unlinked_slack_user_is_told_how_to_link_and_nothing_changes(
    live: tuple[LiveServer, World], slack: SlackServer
) -> None:
    server, world = live
    _fire(world, server, 3)
    answer = _post(server, _interaction(slack, _button(slack, "fw_assign"), "U0STRANGER"), timestamp=int(time.time()))
    assert answer.status_code == 200
    assert answer.json()["response_type"] == "ephemeral" and "U0STRANGER" in answer.json()["text"]
    (reply,) = _wait_for(lambda: slack.of("/respond/T000/1234"))
    assert "not linked to a Flowwatch user" in reply.body["text"]
    assert "/api/v1/alerts/slack-users/U0STRANGER" in reply.body["text"]
    assert _statuses(world) == [("open", None)] * 3

    linked = httpx.put(
        f"{server.url}/api/v1/alerts/slack-users/U0STRANGER",
        json={"user_name": "sam.ito"},
        headers=server.auth("admin", "admin"),
    )
    assert linked.status_code == 200
    _post(server, _interaction(slack, _button(slack, "fw_assign"), "U0STRANGER"), timestamp=int(time.time()))
    _wait_for(lambda: len(slack.of("/respond/T000/1234")) == 2)
    assert _statuses(world) == [("open", "sam.ito")] * 3
    assert slack.of("/respond/T000/1234")[-1].body["text"] == "Assigned to sam.ito: 3 exceptions as sam.ito."


def test_silences_need_author_comment_and_end_suppress_and_expire(
    live: tuple[LiveServer, World], slack: SlackServer
) -> None:
    server, world = live
    url = f"{server.url}/api/v1/alerts/silences"
    end = (server.ctx.now() + timedelta(hours=1)).isoformat()
    matchers = ['flow="shopify-d365-orders"']
    no_comment = httpx.post(url, json={"matchers": matchers, "ends_at": end}, headers=server.auth("dana", "admin"))
    no_end = httpx.post(
        url, json={"matchers": matchers, "comment": "ERP upgrade"}, headers=server.auth("dana", "admin")
    )
    bad_matcher = httpx.post(
        url, json={"matchers": ["ERP upgrade"], "comment": "c", "ends_at": end}, headers=server.auth("d", "admin")
    )
    past = httpx.post(
        url,
        json={"matchers": matchers, "comment": "c", "ends_at": "2001-01-01T00:00"},
        headers=server.auth("d", "admin"),
    )
    assert [r.status_code for r in (no_comment, no_end, bad_matcher, past)] == [422] * 4
    assert no_comment.json()["detail"] == "comment is required: why it is silenced"
    assert no_end.json()["detail"] == "ends_at is required: a silence always ends"
    assert "is not a matcher" in bad_matcher.json()["detail"]
    with world.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alert_silences")).scalar_one() == 0

    made = httpx.post(
        url, json={"matchers": matchers, "comment": "ERP upgrade", "ends_at": end}, headers=server.auth("dana", "admin")
    )
    assert made.status_code == 201 and made.json()["author"] == "dana"
    now = server.ctx.now()
    world.fail_orders(5, now)
    world.runtime.evaluate(now)
    outcomes = world.runtime.notify(now + timedelta(seconds=31))
    assert [(o.result, o.detail) for o in outcomes] == [
        ("skipped", "nothing firing that was not muted, and nothing was sent")
    ]
    assert slack.calls == []

    ended = httpx.delete(f"{url}/{made.json()['silence_id']}", headers=server.auth("dana", "admin"))
    assert ended.status_code == 200 and ended.json()["expired_by"] == "dana"
    trail = httpx.get(f"{server.url}/api/v1/alerts/changes").json()
    assert [(c["action"], c["target"], c["actor"]) for c in trail] == [
        ("silence_expired", f"silence #{made.json()['silence_id']}", "dana"),
        ("silence_created", f"silence #{made.json()['silence_id']}", "dana"),
    ]
    assert trail[1]["after"]["comment"] == "ERP upgrade" and trail[0]["after"]["expired_by"] == "dana"
    again = httpx.delete(f"{url}/{made.json()['silence_id']}", headers=server.auth("dana", "admin"))
    assert again.status_code == 409
    world.runtime.evaluate(now + timedelta(minutes=1))
    outcomes = world.runtime.notify(now + timedelta(minutes=6))  # the group's next flush
    assert [(o.kind, o.result) for o in outcomes] == [("firing", "sent")]
    assert len(slack.of("/api/chat.postMessage")) == 1


def test_rules_api_validates_and_the_overview_and_test_send_answer(
    live: tuple[LiveServer, World], slack: SlackServer
) -> None:
    server, _world = live
    base = f"{server.url}/api/v1/alerts"
    bad = httpx.post(
        f"{base}/rules", json={"rule": {"id": "x", "name": "X", "kind": "lag"}}, headers=server.auth("admin", "admin")
    )
    assert bad.status_code == 422 and "kind: Input should be" in bad.json()["detail"]
    assert "threshold: Field required" in bad.json()["detail"]
    rule = {"id": "dlq", "name": "DLQ", "kind": "queue_depth", "dlq": True, "threshold": 1, "for": "2m"}
    made = httpx.post(f"{base}/rules", json={"rule": rule}, headers=server.auth("admin", "admin"))
    assert made.status_code == 201 and made.json()["updated_by"] == "admin"
    assert httpx.post(f"{base}/rules", json={"rule": rule}, headers=server.auth("admin", "admin")).status_code == 409
    edited = httpx.put(
        f"{base}/rules/dlq", json={"rule": {**rule, "threshold": 10}}, headers=server.auth("sam", "admin")
    )
    assert edited.status_code == 200 and edited.json()["definition"]["threshold"] == 10
    assert httpx.put(f"{base}/rules/nope", json={"rule": rule}, headers=server.auth("sam", "admin")).status_code == 404
    assert (
        httpx.post(f"{base}/rules/failing/disable", json={}, headers=server.auth("sam", "admin")).json()["enabled"]
        is False
    )
    (disabled,) = httpx.get(f"{base}/changes", params={"target": "failing"}).json()
    assert (disabled["action"], disabled["actor"]) == ("rule_disabled", "sam")
    assert httpx.post(f"{base}/rules/failing/explode", json={}, headers=server.auth("sam", "admin")).status_code == 404

    tested = httpx.post(f"{base}/test", timeout=30)
    assert tested.status_code == 200
    assert tested.json()["results"] == [
        {
            "channel": "slack",
            "type": "slack",
            "ok": True,
            "detail": tested.json()["results"][0]["detail"],
            "attempts": 1,
        }
    ]
    assert "Test notification from Flowwatch" in slack.of("/api/chat.postMessage")[0].body["text"]
    assert httpx.post(f"{base}/test", params={"channel": "pager"}).status_code == 404

    ran = httpx.post(f"{base}/evaluate", timeout=30)
    assert ran.status_code == 200 and ran.json()["evaluation"]["rules"] == 1  # 'failing' is disabled
    overview = httpx.get(base).json()
    states = {r["id"]: r["state"] for r in overview["rules"]}
    assert states == {"dlq": "nodata", "failing": "disabled"}
    assert overview["channels"][0]["channel"] == "slack" and overview["channels"][0]["status"] == "ok"
    assert overview["notifications"][0]["kind"] == "test" and overview["notifications"][0]["result"] == "sent"


def test_rule_admin_names_the_bad_field_and_an_edit_applies_on_the_next_evaluation(
    live: tuple[LiveServer, World], tmp_path: Path
) -> None:
    server, world = live
    base = f"{server.url}/api/v1/alerts/rules"
    good = {"id": "dlq", "name": "DLQ", "kind": "queue_depth", "dlq": True, "threshold": 1, "for": "2m"}
    cases = [
        ({"threshold": -1}, "threshold: Input should be greater than or equal to 0"),
        ({"for": "5 minutes"}, "for: '5 minutes' is not a duration like 30s, 5m, 4h or 1d"),
        ({"for": "2d"}, "for: at most 1d (a condition held longer is already news)"),
        ({"severity": "urgent"}, "severity: Input should be 'critical', 'high', 'medium' or 'low'"),
        ({"labels": {"alertname": "x"}}, "labels: label 'alertname' is set by Flowwatch"),
        ({"labels": {"team name": "ops"}}, "labels: label name 'team name' must be letters"),
        ({"route": "pager"}, "route: no route named 'pager'; configured: default"),
        ({"kind": "sync_lag", "threshold": 0}, "threshold: for sync_lag it is a multiple of the flow's SLA"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ]
    for change, expected in cases:
        answer = httpx.post(base, headers=server.auth("admin", "admin"), json={"rule": {**good, **change}})
        assert answer.status_code == 422, change
        assert answer.json()["detail"].startswith(expected), answer.json()["detail"]
    assert httpx.post(base, json={"actor": "admin", "rule": good}).status_code == 422  # the actor is the login
    assert [r["rule_id"] for r in httpx.get(base).json()] == ["failing"]  # nothing half-made

    # The file's rule fires at 1 exception; an edit to 10 applies on the next evaluation.
    now = server.ctx.now()
    world.fail_orders(5, now)
    assert world.runtime.evaluate(now).firing == 1
    patched = httpx.patch(f"{base}/failing", headers=server.auth("sam", "admin"), json={"rule": {"threshold": 10}})
    assert patched.status_code == 200
    assert (patched.json()["defined_in"], patched.json()["updated_by"]) == ("edited", "sam")
    assert patched.json()["definition"]["exception_kind"] == ["delivery_failed"]  # the rest kept
    later = world.runtime.evaluate(now + timedelta(seconds=30))
    assert (later.firing, later.resolved) == (0, 1)  # 5 < 10
    assert (
        httpx.patch(f"{base}/failing", headers=server.auth("sam", "admin"), json={"rule": {"threshold": 5}}).status_code
        == 200
    )
    assert world.runtime.evaluate(now + timedelta(seconds=60)).firing == 1  # 5 ≥ 5 again

    refused = [
        httpx.patch(f"{base}/failing", headers=server.auth("sam", "admin"), json={"rule": {}}),
        httpx.patch(f"{base}/failing", headers=server.auth("sam", "admin"), json={"rule": {"id": "other"}}),
        httpx.patch(f"{base}/failing", headers=server.auth("sam", "admin"), json={"rule": {"for": "soon"}}),
        httpx.patch(f"{base}/nope", headers=server.auth("sam", "admin"), json={"rule": {"threshold": 2}}),
    ]
    assert [r.status_code for r in refused] == [422, 422, 422, 404]
    assert refused[0].json()["detail"] == "nothing to change: give at least one field of the rule"
    assert refused[1].json()["detail"].startswith("id: 'other' differs from 'failing'")

    # One source of truth per rule: the edited row wins over a changed file until it is reverted.
    rules_file = server.ctx.settings.alerts.rules_file
    assert rules_file is not None
    rules_file.write_text(RULES.replace("threshold = 1", "threshold = 3"))
    world.runtime.sync_rules(now)
    assert httpx.get(base).json()[0]["definition"]["threshold"] == 5
    reverted = httpx.delete(f"{base}/failing", headers=server.auth("sam", "admin"))
    assert reverted.status_code == 200 and reverted.json()["defined_in"] == "file"
    assert reverted.json()["definition"]["threshold"] == 3 and reverted.json()["reverted_by"] == "sam"
    again = httpx.delete(f"{base}/failing", headers=server.auth("sam", "admin"))
    assert again.status_code == 409 and "defined in the rules file" in again.json()["detail"]

    assert httpx.post(base, headers=server.auth("admin", "admin"), json={"rule": good}).json()["defined_in"] == "api"
    gone = httpx.delete(f"{base}/dlq", headers=server.auth("admin", "admin"))
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert [r["rule_id"] for r in httpx.get(base).json()] == ["failing"]

    # Every change is in the audit trail, with who and what it was before and after.
    trail = httpx.get(f"{server.url}/api/v1/alerts/changes").json()
    assert [(c["action"], c["target"], c["actor"]) for c in reversed(trail)] == [
        ("rule_edited", "failing", "sam"),
        ("rule_edited", "failing", "sam"),
        ("rule_reverted", "failing", "sam"),
        ("rule_created", "dlq", "admin"),
        ("rule_deleted", "dlq", "admin"),
    ]
    first_edit = trail[-1]
    assert (first_edit["before"]["threshold"], first_edit["after"]["threshold"]) == (1, 10)
    assert (trail[2]["before"]["threshold"], trail[2]["after"]["threshold"]) == (5, 3)  # back to the file's
    assert trail[0]["after"] is None and trail[0]["before"]["kind"] == "queue_depth"
    as_file = {k: v for k, v in trail[2]["after"].items() if k != "id"}
    unchanged = httpx.put(f"{base}/failing", headers=server.auth("eve", "admin"), json={"rule": as_file})
    assert unchanged.status_code == 200 and unchanged.json()["defined_in"] == "file"  # the same: still the file's
    assert len(httpx.get(f"{server.url}/api/v1/alerts/changes").json()) == 5
