"""Replay over HTTP against a real local receiver and the demo's simulated systems."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from models.store.tables import exceptions
from tests.integration.replay_world import actions_of, add_failures, add_flow, events_settled, workbench_server
from tests.live_server import LiveServer
from tests.receiver import Receiver

FLOW = "3pl_north-d365-shipment"


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with workbench_server(tmp_path, replay_timeout_seconds=1.0) as server:
        yield server


def _replay(live: LiveServer, exception_id: int, actor: str = "dana.okafor", **body: object) -> httpx.Response:
    return httpx.post(
        f"{live.url}/api/v1/exceptions/{exception_id}/replay", json=body, headers=live.auth(actor), timeout=30
    )


def _one(r: httpx.Response) -> dict:
    """The only message outcome of a replay of a one-message exception."""
    (message,) = r.json()["messages"]
    return message


def _detail(live: LiveServer, exception_id: int) -> dict:
    return httpx.get(f"{live.url}/api/v1/exceptions/{exception_id}", timeout=10).json()


def test_success_resolves_and_sends_the_stored_message(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 1)

    r = _replay(live, eid)

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered" and r.json()["resolved"] is True
    assert (r.json()["total"], r.json()["delivered"], r.json()["summary"]) == (1, 1, "1 of 1 delivered")
    assert _one(r)["replay_event_id"] == "evt-00001:replay:1" and _one(r)["http_status"] == 201
    (post,) = receiver.posts
    assert post.key == "evt-00001" and post.content_type == "application/json"
    assert json.loads(post.body) == {
        "order": "SHP-1000001",
        "tracking": "1Z00000001",
        "lines": [{"sku": "SKU-10001", "qty": 2}],
    }
    detail = _detail(live, eid)
    assert detail["status"] == "resolved" and detail["resolution"] == "replayed: message delivered"
    assert [(m["event_id"], m["state"], m["delivered_by"]) for m in detail["messages"]] == [
        ("evt-00001", "delivered", "evt-00001:replay:1")
    ]
    trail = [(a["action"], a["actor"], a["outcome"]) for a in detail["actions"]]
    assert trail == [("replay", "dana.okafor", "delivered"), ("resolve", "replay", "done")]
    assert detail["actions"][0]["before_state"]["status"] == "open"
    assert detail["actions"][1]["after_state"]["status"] == "resolved"


def test_server_error_keeps_it_open_with_the_new_error(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 1)
    receiver.mode = "error"

    r = _replay(live, eid)

    assert r.status_code == 200
    assert (r.json()["status"], _one(r)["error_code"], _one(r)["http_status"]) == ("failed", "HTTP-500", 500)
    detail = _detail(live, eid)
    assert detail["status"] == "open" and detail["resolved_at"] is None
    assert detail["last_error"].startswith("0 of 1 delivered, 1 failed: HTTP-500: ")
    assert "answered 500" in detail["last_error"] and r.json()["summary"] == detail["last_error"]
    (action,) = detail["actions"]
    assert (action["action"], action["outcome"]) == ("replay", "failed")
    assert action["detail"]["error_code"] == "HTTP-500"
    assert [(m["state"], m["replays"]) for m in detail["messages"]] == [("failed", 1)]
    assert receiver.delivered == {}


def test_timeout_keeps_it_open(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 1)
    receiver.mode, receiver.slow_seconds = "slow", 3.0  # the replay timeout is 1 s

    r = _replay(live, eid)

    assert r.json()["status"] == "failed" and _one(r)["error_code"] == "TIMEOUT"
    detail = _detail(live, eid)
    assert detail["status"] == "open"
    assert detail["last_error"].startswith("0 of 1 delivered, 1 failed: TIMEOUT: no answer from")
    assert [row["status"] for row in detail["replays"]] == ["failed"]


def test_concurrent_replay_is_refused_while_one_is_in_flight(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 1)
    receiver.mode, receiver.slow_seconds = "slow", 0.6
    answers: list[httpx.Response] = []
    first = threading.Thread(target=lambda: answers.append(_replay(live, eid)))
    first.start()
    deadline = time.monotonic() + 10
    while not receiver.posts and time.monotonic() < deadline:  # the first replay has reached the target
        time.sleep(0.005)
    second = _replay(live, eid, actor="sam.lee")
    first.join()

    assert second.status_code == 409
    assert second.json()["detail"] == f"a replay of exception {eid} is already in flight"
    assert answers[0].json()["status"] == "delivered"
    assert len(receiver.posts) == 1 and list(receiver.delivered) == ["evt-00001"]


def test_double_replay_delivers_once_and_each_replay_is_a_new_event(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 1)
    receiver.mode = "error"
    assert _replay(live, eid).json()["status"] == "failed"
    receiver.mode = "ok"
    assert _replay(live, eid).json()["status"] == "delivered"
    # Resolved: a third replay needs a reopen first; then the target sees the same key again.
    refused = _replay(live, eid)
    assert refused.status_code == 409
    assert refused.json()["detail"] == "cannot replay a resolved exception; reopen it first"
    httpx.post(f"{live.url}/api/v1/exceptions/{eid}/reopen", headers=live.auth("dana.okafor"), timeout=10)
    assert _replay(live, eid).json()["status"] == "delivered"

    assert receiver.keys_posted == ["evt-00001"] * 3
    assert list(receiver.delivered) == ["evt-00001"]  # one delivery downstream
    events = events_settled(
        live.ctx,
        "SELECT event_id, correlation_id, status, attempt, error_code FROM business_events "
        "WHERE correlation_id = 'SHP-1000001' ORDER BY attempt",
        count=4,
    )
    assert events == [
        {
            "event_id": "evt-00001",
            "correlation_id": "SHP-1000001",
            "status": "dead_lettered",
            "attempt": 1,
            "error_code": "3PL-DOWN",
        },
        {  # the failed replay leaves the message dead-lettered under its error class
            "event_id": "evt-00001:replay:1",
            "correlation_id": "SHP-1000001",
            "status": "dead_lettered",
            "attempt": 2,
            "error_code": "3PL-DOWN",
        },
        {
            "event_id": "evt-00001:replay:2",
            "correlation_id": "SHP-1000001",
            "status": "ok",
            "attempt": 3,
            "error_code": None,
        },
        {
            "event_id": "evt-00001:replay:3",
            "correlation_id": "SHP-1000001",
            "status": "ok",
            "attempt": 4,
            "error_code": None,
        },
    ]
    assert [a["action"] for a in actions_of(live.ctx, eid)] == [
        "replay",
        "replay",
        "resolve",
        "reopen",
        "replay",
        "resolve",
    ]


def test_refusals_are_404_and_409_with_reasons(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    add_flow(live.ctx, "no-target", target=None, kind="none")
    (eid,) = add_failures(live.ctx, FLOW, 1)
    (untargeted,) = add_failures(live.ctx, "no-target", 1, prefix="nt")

    missing = _replay(live, 999_999)
    assert missing.status_code == 404 and missing.json() == {"detail": "exception 999999 does not exist"}
    no_target = _replay(live, untargeted)
    assert no_target.status_code == 409
    assert no_target.json()["detail"] == "flow no-target has no replay target; its messages cannot be replayed"
    self_declared = httpx.post(f"{live.url}/api/v1/exceptions/{eid}/replay", json={"actor": "mallory"},
                               headers=live.auth("dana.okafor"), timeout=10)  # fmt: skip
    assert self_declared.status_code == 422  # who acts is who authenticated, never a typed name
    assert self_declared.json()["errors"] == [{"where": "body.actor", "error": "Extra inputs are not permitted"}]
    httpx.post(f"{live.url}/api/v1/exceptions/{eid}/ignore", headers=live.auth("sam.lee"), timeout=10)
    ignored = _replay(live, eid)
    assert ignored.status_code == 409
    assert ignored.json()["detail"] == "cannot replay an ignored exception; reopen it first"
    assert receiver.posts == []


def test_demo_targets_take_faults_and_honour_the_idempotency_key(live: LiveServer) -> None:
    add_flow(live.ctx, FLOW, target="/sim/erp/d365/shipments")
    first, second = add_failures(live.ctx, FLOW, 2)
    faults = f"{live.url}/api/v1/demo/faults"
    assert httpx.post(faults, json={"system": "d365", "mode": "error"}, timeout=10).status_code == 200

    failed = _replay(live, first)
    assert failed.json()["status"] == "failed" and _one(failed)["http_status"] == 500
    assert _one(failed)["target"].startswith(f"POST {live.url}/sim/erp/d365/shipments")

    httpx.post(faults, json={"system": "d365", "mode": "ok"}, timeout=10)
    assert _replay(live, first).json()["status"] == "delivered"
    httpx.post(f"{live.url}/api/v1/exceptions/{first}/reopen", headers=live.auth("dana.okafor"), timeout=10)
    assert _replay(live, first).json()["status"] == "delivered"  # answered as a duplicate, not delivered again
    assert _replay(live, second).json()["status"] == "delivered"

    (d365,) = httpx.get(faults, timeout=10).json()["systems"]
    assert d365 == {
        "system": "d365",
        "mode": "ok",
        "error_rate": 1.0,
        "delay_seconds": 0.0,
        "received": 4,
        "delivered": 2,
        "duplicates": 1,
        "failed": 1,
    }
    bad = httpx.post(faults, json={"system": "d365", "mode": "melting"}, timeout=10)
    assert bad.status_code == 422


def test_the_key_stays_the_original_event_id_when_detection_points_at_a_replay(
    live: LiveServer, receiver: Receiver
) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 1)
    receiver.mode = "error"
    assert _one(_replay(live, eid))["replay_event_id"] == "evt-00001:replay:1"
    with live.ctx.writer.transaction() as conn:  # detection moves the exception to the newest failed event
        conn.execute(
            sa.update(exceptions).where(exceptions.c.exception_id == eid).values(event_id="evt-00001:replay:1")
        )
    receiver.mode = "ok"

    r = _replay(live, eid)

    assert r.json()["status"] == "delivered" and _one(r)["replay_event_id"] == "evt-00001:replay:2"
    assert receiver.keys_posted == ["evt-00001", "evt-00001"]
