"""An exception over many failed messages: a replay delivers every one, under its own key, once.

The outage case the console must get right: 32 shipment confirmations dead-lettered over 32
orders make one exception. Replaying it must re-send all 32 (not one), resolve only when all
are delivered, say how many are left when some fail, and re-send only those next time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.replay_world import (
    actions_of,
    add_failures,
    add_flow,
    events_settled,
    scalar,
    wait_for_run,
    workbench_server,
)
from tests.live_server import LiveServer
from tests.receiver import Receiver

FLOW = "3pl_north-d365-shipment"
ORDERS = [f"SHP-{1_000_000 + n}" for n in range(1, 33)]
KEYS = [f"evt-{n:05d}" for n in range(1, 33)]


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[LiveServer]:
    # 200/s keeps 32 paced messages well under a second; the pace itself is tested in test_bulk_replay.
    with workbench_server(tmp_path, replay_timeout_seconds=2.0, replay_rate_per_second=200.0) as server:
        yield server


def _replay(live: LiveServer, exception_id: int, actor: str = "dana.okafor", **body: object) -> httpx.Response:
    return httpx.post(
        f"{live.url}/api/v1/exceptions/{exception_id}/replay", json=body, headers=live.auth(actor), timeout=60
    )


def _detail(live: LiveServer, exception_id: int) -> dict:
    return httpx.get(f"{live.url}/api/v1/exceptions/{exception_id}", timeout=10).json()


def test_32_messages_over_32_orders_are_32_deliveries_with_32_keys(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 32, grouped=True)
    detail = _detail(live, eid)
    assert scalar(live.ctx, "SELECT count(*) FROM order_facts WHERE dispatched_at IS NOT NULL") == 0
    assert (detail["affected_orders"], detail["message_counts"]) == (
        32, {"total": 32, "delivered": 0, "failed": 0, "pending": 32}
    )  # fmt: skip

    r = _replay(live, eid)

    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["total"], body["delivered"], body["failed"], body["resolved"]) == (
        "delivered", 32, 32, 0, True
    )  # fmt: skip
    assert body["summary"] == "32 of 32 delivered"
    assert sorted(m["event_id"] for m in body["messages"]) == KEYS
    assert sorted(receiver.keys_posted) == KEYS and len(set(receiver.keys_posted)) == 32
    assert sorted(receiver.delivered) == KEYS
    # each order's own payload went with its own key
    assert {k: json.loads(b)["order"] for k, b in receiver.delivered.items()} == dict(zip(KEYS, ORDERS, strict=True))
    detail = _detail(live, eid)
    assert detail["status"] == "resolved" and detail["resolution"] == "replayed: all 32 messages delivered"
    assert {m["state"] for m in detail["messages"]} == {"delivered"}
    trail = [(a["action"], a["outcome"]) for a in actions_of(live.ctx, eid)]
    assert trail == [("replay", "delivered")] * 32 + [("resolve", "done")]
    # each order's timeline carries the replay of its own message
    events = events_settled(
        live.ctx,
        "SELECT event_id, correlation_id, status FROM business_events WHERE event_id LIKE '%:replay:%' "
        "ORDER BY event_id",
        count=32,
    )
    assert [(e["event_id"], e["correlation_id"], e["status"]) for e in events] == [
        (f"{k}:replay:1", o, "ok") for k, o in zip(KEYS, ORDERS, strict=True)
    ]
    # and the orders moved on: each is dispatched now that the ERP took its confirmation
    shipped = events_settled(live.ctx, "SELECT correlation_id FROM order_facts WHERE dispatched_at IS NOT NULL",
                             count=32)  # fmt: skip
    assert sorted(r["correlation_id"] for r in shipped) == ORDERS
    timeline = httpx.get(f"{live.url}/api/v1/orders/{ORDERS[7]}", timeout=10).json()
    ids = {e["event_id"] for e in timeline["entries"] if e["type"] == "event"}
    assert f"{KEYS[7]}:replay:1" in ids and not any(i.startswith(KEYS[6]) for i in ids)


def test_three_failures_keep_it_open_and_the_next_replay_sends_only_those(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 32, grouped=True)
    failing = {KEYS[4], KEYS[17], KEYS[30]}
    receiver.fail_if = lambda key: key in failing

    first = _replay(live, eid).json()

    assert (first["status"], first["delivered"], first["failed"], first["resolved"]) == ("failed", 29, 3, False)
    assert first["summary"].startswith("29 of 32 delivered, 3 failed: HTTP-500: ")
    assert {m["event_id"] for m in first["messages"] if m["status"] == "failed"} == failing
    detail = _detail(live, eid)
    assert detail["status"] == "open" and detail["last_error"] == first["summary"]
    assert detail["message_counts"] == {"total": 32, "delivered": 29, "failed": 3, "pending": 0}
    assert [m["event_id"] for m in detail["messages"][:3]] == sorted(failing)  # the undelivered come first

    receiver.fail_if = lambda _key: False
    posted_before = len(receiver.posts)
    second = _replay(live, eid).json()

    assert sorted(receiver.keys_posted[posted_before:]) == sorted(failing)  # exactly those three
    assert (second["status"], second["delivered"], second["resolved"]) == ("delivered", 32, True)
    assert sorted(m["event_id"] for m in second["messages"]) == sorted(failing)
    assert sorted(receiver.delivered) == KEYS
    assert _detail(live, eid)["status"] == "resolved"


def test_two_concurrent_replays_deliver_each_message_once(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 32, grouped=True)
    receiver.mode, receiver.slow_seconds = "slow", 0.02
    answers: list[httpx.Response] = []
    start = threading.Barrier(2)

    def replay(actor: str) -> None:
        start.wait()
        answers.append(_replay(live, eid, actor=actor))

    threads = [threading.Thread(target=replay, args=(a,)) for a in ("dana.okafor", "sam.lee")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert loser.json()["detail"] == f"a replay of exception {eid} is already in flight"
    assert sorted(receiver.keys_posted) == KEYS  # 32 posts, one per message
    assert sorted(receiver.delivered) == KEYS


def test_edit_applies_to_the_chosen_message_and_the_others_keep_theirs(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 4, grouped=True)
    fixed = {"order": "SHP-1000002", "tracking": "1ZFIXED", "lines": [{"sku": "SKU-10001", "qty": 3}]}

    unnamed = _replay(live, eid, payload=fixed, reason="data_correction")
    assert unnamed.status_code == 422
    assert unnamed.json()["detail"] == "the exception has 4 undelivered messages: name the one to edit (event_id)"
    unknown = _replay(live, eid, payload=fixed, reason="data_correction", event_id="evt-99999")
    assert unknown.status_code == 422 and "evt-99999" in unknown.json()["detail"]
    assert receiver.posts == []

    r = _replay(live, eid, payload=fixed, reason="data_correction", event_id="evt-00002")

    assert r.json()["status"] == "delivered", r.text
    assert json.loads(receiver.delivered["evt-00002"]) == fixed
    for n in (1, 3, 4):
        assert json.loads(receiver.delivered[f"evt-{n:05d}"])["tracking"] == f"1Z{n:08d}"
    edited = [a["detail"] for a in actions_of(live.ctx, eid) if a["action"] == "replay" and a["detail"]["edited"]]
    assert [d["event_id"] for d in edited] == ["evt-00002"] and "1ZFIXED" in edited[0]["diff"]


def test_bulk_replay_plans_and_counts_in_messages(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments", rate=50.0)
    groups = [add_failures(live.ctx, FLOW, n, prefix=p, grouped=True)[0] for p, n in (("a", 10), ("b", 20), ("c", 5))]

    plan = httpx.post(f"{live.url}/api/v1/exceptions/bulk",
                      json={"action": "replay", "dry_run": True, "ids": groups},
                      headers=live.auth("dana.okafor"), timeout=30).json()  # fmt: skip
    assert (plan["selected"], plan["exceptions"], plan["messages"], plan["runnable"]) == (3, 3, 35, 35)
    assert plan["text"] == "3 exceptions, 35 messages, ~0.7 s at 50/s"
    assert len(plan["items"]) == 35 and len({i["event_id"] for i in plan["items"]}) == 35

    started = httpx.post(f"{live.url}/api/v1/exceptions/bulk",
                         json={"action": "replay", "ids": groups, "canary": 3},
                         headers=live.auth("dana.okafor"), timeout=30)  # fmt: skip
    assert started.status_code == 202, started.text
    run = wait_for_run(live, started.json()["run_id"])

    assert run["status"] == "completed" and run["total"] == 35 and run["counts"] == {"delivered": 35}
    assert len(receiver.delivered) == 35 and len(receiver.posts) == 35
    assert sorted(receiver.delivered) == sorted(f"{p}-{n:05d}" for p, c in (("a", 10), ("b", 20), ("c", 5))
                                                for n in range(1, c + 1))  # fmt: skip
    for eid in groups:
        assert _detail(live, eid)["status"] == "resolved"


def test_manual_resolve_with_undelivered_messages_needs_a_reason(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 32, grouped=True)
    url = f"{live.url}/api/v1/exceptions/{eid}/resolve"

    refused = httpx.post(url, headers=live.auth("dana.okafor"), timeout=10)
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "32 of its 32 failed messages are not delivered: replay them, or give a reason to resolve it anyway"
    )
    done = httpx.post(
        url, json={"resolution": "re-keyed by hand in D365"}, headers=live.auth("dana.okafor"), timeout=10
    )
    assert done.status_code == 200 and done.json()["exception"]["status"] == "resolved"
    assert receiver.posts == []
