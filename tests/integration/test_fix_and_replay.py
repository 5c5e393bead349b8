"""Fix and replay: edited payloads with a reason, the original kept, and four-eyes approval."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.replay_world import (
    actions_of,
    add_failures,
    add_flow,
    events_settled,
    replay_rows,
    rows,
    workbench_server,
)
from tests.live_server import LiveServer
from tests.receiver import Receiver

FLOW = "shopify-d365-orders"
INVOICES = "d365-invoice"


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with workbench_server(tmp_path) as server:
        yield server


def _order(n: int) -> dict:
    return {"order": f"SHP-{1_000_000 + n}", "lines": [{"sku": "JAN-1001", "qty": 2}], "ship_to": {"zip": "12207"}}


def _post(
    live: LiveServer, exception_id: int, action: str, actor: str = "dana.okafor", **body: object
) -> httpx.Response:
    """POST an action as ``actor`` (an API key of that name: the actor is who authenticated)."""
    url = f"{live.url}/api/v1/exceptions/{exception_id}/{action}"
    return httpx.post(url, json=body, headers=live.auth(actor), timeout=30)


def test_edited_payload_reaches_the_target_and_the_original_is_kept(live: LiveServer, receiver: Receiver) -> None:
    add_flow(
        live.ctx, FLOW, target=f"{receiver.url}/erp/d365/sales-orders", end_event="order.accepted", category="orders"
    )
    (eid,) = add_failures(live.ctx, FLOW, 1, event_type="order.created", payload=_order, kind="delivery_failed")
    fixed = {**_order(1), "lines": [{"sku": "SKU-10042", "qty": 2}]}

    r = _post(live, eid, "replay", actor="dana.okafor", payload=fixed, reason="unmapped_sku")

    assert r.status_code == 200 and r.json()["status"] == "delivered", r.text
    (post,) = receiver.posts
    assert json.loads(post.body) == fixed and post.key == "evt-00001"
    stored = rows(live.ctx, "SELECT payload FROM business_events WHERE event_id = 'evt-00001'")
    assert [json.loads(s["payload"]) for s in stored] == [_order(1)]  # the original is never changed
    replay, resolve = actions_of(live.ctx, eid)
    assert (replay["action"], replay["outcome"], resolve["action"]) == ("replay", "delivered", "resolve")
    assert replay["detail"]["edited"] is True and replay["detail"]["reason"] == "unmapped_sku"
    assert replay["detail"]["diff"] == (
        '--- original\n+++ edited\n@@ -2,7 +2,7 @@\n   "lines": [\n     {\n       "qty": 2,\n'
        '-      "sku": "JAN-1001"\n+      "sku": "SKU-10042"\n     }\n   ],\n   "order": "SHP-1000001",\n'
    )
    (ledger,) = replay_rows(live.ctx, eid)
    assert json.loads(ledger["payload"]) == fixed and ledger["diff"] == replay["detail"]["diff"]
    (new_event,) = events_settled(
        live.ctx, "SELECT payload, attempt FROM business_events WHERE event_id = 'evt-00001:replay:1'", count=1
    )
    assert json.loads(new_event["payload"]) == fixed and new_event["attempt"] == 2
    detail = httpx.get(f"{live.url}/api/v1/exceptions/{eid}", timeout=10).json()
    assert detail["event"]["payload"] == _order(1) and detail["replays"][0]["payload"] == fixed


def test_an_edit_needs_a_reason_and_a_change(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/sales-orders", end_event="order.accepted")
    (eid,) = add_failures(live.ctx, FLOW, 1, event_type="order.created", payload=_order)

    no_reason = _post(live, eid, "replay", actor="dana.okafor", payload={"order": "x"})
    same = _post(live, eid, "replay", actor="dana.okafor", payload=_order(1), reason="data_correction")
    bad_code = _post(live, eid, "replay", actor="dana.okafor", payload={"order": "x"}, reason="because")

    assert no_reason.status_code == 422
    assert no_reason.json()["detail"].startswith("an edited payload needs a reason code: one of unmapped_sku")
    assert same.status_code == 422
    assert same.json()["detail"] == "the edited payload is the same as the original; replay without an edit"
    assert bad_code.status_code == 422
    assert receiver.posts == [] and actions_of(live.ctx, eid) == []


def test_four_eyes_flow_waits_for_a_second_operator(live: LiveServer, receiver: Receiver) -> None:
    add_flow(
        live.ctx, INVOICES, target=f"{receiver.url}/erp/d365/invoices", end_event="invoice.posted", category="invoice"
    )
    (eid,) = add_failures(live.ctx, INVOICES, 1, event_type="invoice.posted", kind="delivery_failed")
    corrected = {"order": "SHP-1000001", "tracking": "1Z00000001", "lines": [{"sku": "SKU-10001", "qty": 3}]}

    parked = _post(live, eid, "replay", actor="alice", payload=corrected, reason="data_correction")
    assert parked.status_code == 202 and parked.json()["status"] == "pending_approval"
    assert receiver.posts == []
    again = _post(live, eid, "replay", actor="bob")
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"a replay of exception {eid} requested by alice awaits approval by a second operator"
    )
    self_approval = _post(live, eid, "approve-replay", actor="alice")
    assert self_approval.status_code == 403
    assert self_approval.json()["detail"] == (
        "four-eyes: alice requested this replay and cannot also approve it; another operator must approve"
    )
    assert receiver.posts == []

    approved = _post(live, eid, "approve-replay", actor="bob")

    assert approved.status_code == 200 and approved.json()["status"] == "delivered", approved.text
    (post,) = receiver.posts
    assert json.loads(post.body) == corrected
    trail = [(a["action"], a["actor"], a["outcome"]) for a in actions_of(live.ctx, eid)]
    assert trail == [
        ("replay_request", "alice", "pending_approval"),
        ("replay_approve", "bob", "approved"),
        ("replay", "bob", "delivered"),
        ("resolve", "replay", "done"),
    ]
    replay_detail = actions_of(live.ctx, eid)[2]["detail"]
    assert (replay_detail["requested_by"], replay_detail["approved_by"]) == ("alice", "bob")
    assert replay_detail["reason"] == "data_correction" and '-      "qty": 2' in replay_detail["diff"]
    assert _post(live, eid, "approve-replay", actor="carol").status_code == 409  # resolved: nothing to approve


def test_a_parked_replay_can_be_rejected(live: LiveServer, receiver: Receiver) -> None:
    add_flow(
        live.ctx, INVOICES, target=f"{receiver.url}/erp/d365/invoices", end_event="invoice.posted", category="invoice"
    )
    (eid,) = add_failures(live.ctx, INVOICES, 1, event_type="invoice.posted")

    assert _post(live, eid, "replay", actor="alice").status_code == 202
    rejected = _post(live, eid, "reject-replay", actor="bob", reason="amount looks wrong")

    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    nothing = _post(live, eid, "approve-replay", actor="carol")
    assert nothing.status_code == 409 and nothing.json()["detail"] == f"no replay of exception {eid} awaits approval"
    assert receiver.posts == []
    assert _post(live, eid, "replay", actor="alice").status_code == 202  # a new request may follow


def test_four_eyes_over_many_messages_edits_one_and_approval_delivers_all(live: LiveServer, receiver: Receiver) -> None:
    add_flow(
        live.ctx, INVOICES, target=f"{receiver.url}/erp/d365/invoices", end_event="invoice.posted", category="invoice"
    )
    (eid,) = add_failures(live.ctx, INVOICES, 6, event_type="invoice.posted", kind="delivery_failed", grouped=True)
    corrected = {"order": "SHP-1000004", "tracking": "1ZCORRECT", "lines": [{"sku": "SKU-10001", "qty": 1}]}

    parked = _post(live, eid, "replay", actor="alice", payload=corrected, reason="data_correction",
                   event_id="evt-00004")  # fmt: skip
    assert parked.status_code == 202 and parked.json()["summary"] == "6 messages await a second operator's approval"
    assert receiver.posts == []
    assert _post(live, eid, "approve-replay", actor="alice").status_code == 403

    approved = _post(live, eid, "approve-replay", actor="bob")

    assert approved.status_code == 200 and approved.json()["status"] == "delivered", approved.text
    assert (approved.json()["delivered"], approved.json()["resolved"]) == (6, True)
    assert sorted(receiver.delivered) == [f"evt-{n:05d}" for n in range(1, 7)]
    assert json.loads(receiver.delivered["evt-00004"]) == corrected
    assert all(json.loads(receiver.delivered[f"evt-{n:05d}"])["tracking"] == f"1Z{n:08d}" for n in (1, 2, 3, 5, 6))
    trail = [(a["action"], a["actor"]) for a in actions_of(live.ctx, eid)]
    assert trail == [("replay_request", "alice"), ("replay_approve", "bob"), *[("replay", "bob")] * 6,
                     ("resolve", "replay")]  # fmt: skip
