"""A reconciliation gap is replayable where the source message exists: the storefront's order the ERP
never got is re-sent from the gap's exception to the flow's target, under its original id as the
idempotency key, and the exception resolves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from models.store.tables import flows
from tests.factories import event, events_table
from tests.integration.replay_world import workbench_server
from tests.live_server import LiveServer
from tests.receiver import Receiver

NOW = datetime(2026, 3, 10, 12, 0)
FLOW = "shopify-d365-orders"


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with workbench_server(tmp_path, replay_timeout_seconds=2.0) as server:
        server.ctx.clock = lambda: NOW
        yield server


def test_the_dropped_order_is_replayed_from_the_gap(live: LiveServer, receiver: Receiver) -> None:
    with live.ctx.writer.transaction() as conn:
        conn.execute(flows.update().where(flows.c.flow_id == FLOW)
                     .values(replay_target=f"{receiver.url}/erp/d365/sales-orders"))  # fmt: skip
    created = event("SHP-7", "order.created", NOW - timedelta(hours=3), flow_id=FLOW, event_id="SHP-7-c")
    created["payload"] = json.dumps({"order_id": "SHP-7", "total": "42.00"})
    accepted = [
        event("SHP-8", "order.created", NOW - timedelta(hours=3), flow_id=FLOW),
        event("SHP-8", "order.accepted", NOW - timedelta(hours=3) + timedelta(minutes=1), flow_id=FLOW),
    ]
    live.ctx.writer.append("business_events", events_table([created, *accepted]))  # fmt: skip
    assert httpx.post(f"{live.url}/api/v1/detection/run", timeout=60).status_code == 200

    page = httpx.get(f"{live.url}/api/v1/exceptions", params={"kind": "reconciliation_gap"}, timeout=30).json()
    [gap] = page["items"]
    assert gap["business_key"] == "erp/2026-03-10" and gap["flow_id"] == FLOW and gap["affected_orders"] == 1
    detail = httpx.get(f"{live.url}/api/v1/exceptions/{gap['exception_id']}", timeout=30).json()
    assert detail["orders"] == ["SHP-7"] and [m["event_id"] for m in detail["messages"]] == ["SHP-7-c"]

    r = httpx.post(f"{live.url}/api/v1/exceptions/{gap['exception_id']}/replay", json={"actor": "dana"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered" and r.json()["resolved"] is True
    [post] = receiver.posts
    assert post.key == "SHP-7-c" and json.loads(post.body) == {"order_id": "SHP-7", "total": "42.00"}
