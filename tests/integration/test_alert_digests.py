"""Shift digests on an explicit clock, through the loopback Slack server and a real SMTP server
(aiosmtpd): at the shift's time, one message per channel of what opened, what is still open and aging,
what was resolved and by whom, and the value still at risk — every number worked out by hand below."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from alerts.config import ChannelConfig
from alerts.runtime import AlertRuntime
from app.services import lifecycle
from models.enums import Action
from tests.integration.alert_world import T0, World, make_world, slack_channel
from tests.integration.test_alert_email import _email, _parts, smtp_server
from tests.slack_server import SlackServer, slack_server

SHIFT_END = datetime(2026, 3, 4, 14, 0)  # the day shift: 06:00–14:00 UTC
DIGEST = {"name": "day-shift", "at": [time(6, 0), time(14, 0), time(22, 0)]}


@pytest.fixture()
def slack() -> Iterator[SlackServer]:
    with slack_server() as server:
        yield server


def _resolve(world: World, ids: list[int], actor: str, at: datetime) -> None:
    with world.writer.transaction() as conn:
        lifecycle.apply_many(Action.RESOLVE, ids, conn=conn, actor=actor, now=at, text="item master fixed")


def test_a_digest_at_the_shift_time_sends_one_message_of_the_shift(tmp_path: Path, slack: SlackServer) -> None:
    with smtp_server() as (inbox, port):
        world = make_world(
            tmp_path, [slack_channel(slack), ChannelConfig.model_validate(_email(port))], digests=[DIGEST]
        )
        # Orders n=0..2 (values $10, $11, $12) fail the day before: exceptions #1–#3, first seen Mar 3 05:40.
        world.fail_orders(3, T0 - timedelta(hours=30))
        # In the shift, orders n=3..7 ($13–$17) fail: exceptions #4–#8, first seen Mar 4 11:40:03–07.
        world.fail_orders(5, T0)
        _resolve(world, [4, 5], "dana.okafor", T0 + timedelta(hours=1))
        _resolve(world, [1], "sam.ito", T0 + timedelta(hours=1, minutes=30))
        # After the shift: order n=8 ($18) fails at 14:10 — the next shift's, not this one's.
        world.fail_orders(1, SHIFT_END + timedelta(minutes=30))

        assert world.runtime.send_digests(SHIFT_END - timedelta(minutes=1)) == []  # 06:00's is 8 h late: skipped
        sent = world.runtime.send_digests(SHIFT_END + timedelta(minutes=30))  # the job ran late; within the hour
        assert [(r["channel"], r["ok"]) for r in sent] == [("slack", True), ("email", True)]
        assert world.runtime.send_digests(SHIFT_END + timedelta(minutes=45)) == []  # once
        restarted = AlertRuntime(world.runtime.config, engine=world.engine, writer=world.writer,
                                 base_url="http://flowwatch.test", channels=world.runtime.channels)  # fmt: skip
        assert restarted.send_digests(SHIFT_END + timedelta(minutes=50)) == []  # the log says it went out

    # Opened in the shift: #4–#8, all medium. Still open of those seen before 14:00: #2, #3 (32 h 20 min
    # old) and #6, #7, #8 (2 h 20 min). Resolved in the shift: #4, #5 by dana.okafor, #1 by sam.ito.
    # Value still at risk: orders n=1, 2, 5, 6, 7 = 11 + 12 + 15 + 16 + 17 = $71.00 in 5 orders.
    lines = [
        "Shift Mar 4 06:00–14:00 UTC",
        "Opened: 5 (5 medium)",
        "Still open: 5 (2 older than 24 h)",
        "Resolved: 3 (by dana.okafor 2, sam.ito 1)",
        "Value still at risk: $71.00 in 5 orders",
    ]
    oldest = [
        "#2 Order SHP-1001 rejected by Dynamics 365: SKU X-1 not mapped in D365 (32 h)",
        "#3 Order SHP-1002 rejected by Dynamics 365: SKU X-2 not mapped in D365 (32 h)",
        "#6 Order SHP-1005 rejected by Dynamics 365: SKU X-5 not mapped in D365 (2 h)",
        "#7 Order SHP-1006 rejected by Dynamics 365: SKU X-6 not mapped in D365 (2 h)",
        "#8 Order SHP-1007 rejected by Dynamics 365: SKU X-7 not mapped in D365 (2 h)",
    ]
    (post,) = slack.of("/api/chat.postMessage")
    blocks = post.body["blocks"]
    assert blocks[0]["text"]["text"] == "Flowwatch shift digest (day-shift)"
    assert blocks[1]["text"]["text"] == "\n".join(lines)
    assert blocks[2]["text"]["text"] == "*Oldest open*\n" + "\n".join(f"• {o}" for o in oldest)
    assert post.body["text"] == "Flowwatch shift digest (day-shift): 5 opened, 5 open, 3 resolved"

    (mail,) = inbox.mails
    assert mail["Subject"] == "[Flowwatch] Flowwatch shift digest (day-shift) Mar 4 14:00 UTC"
    parts = {kind: body.replace("\r\n", "\n") for kind, body in _parts(mail).items()}
    assert parts["text/plain"].startswith("\n".join([*lines, "Oldest open:", *(f"- {o}" for o in oldest)]))
    assert "http://flowwatch.test/exceptions" in parts["text/plain"]
    assert all(f"<p>{line}</p>" in parts["text/html"] for line in lines)

    log = [(r["channel"], r["kind"], r["group_key"], r["result"]) for r in world.log()]
    assert log == [
        ("slack", "digest", "digest:day-shift@2026-03-04T14:00:00", "sent"),
        ("email", "digest", "digest:day-shift@2026-03-04T14:00:00", "sent"),
    ]
