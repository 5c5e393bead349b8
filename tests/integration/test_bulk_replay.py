"""Bulk replay runs against a real receiver: outcomes, pacing, canary, pause/resume and abort."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.queries.messages import set_message
from tests.factories import event, events_table
from tests.integration.replay_world import (
    add_failures,
    add_flow,
    events_settled,
    rows,
    scalar,
    wait_for_run,
    workbench_server,
)
from tests.live_server import LiveServer, settled
from tests.receiver import Receiver

FLOW = "3pl_north-d365-shipment"


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with workbench_server(tmp_path, replay_timeout_seconds=2.0, ingest_max_delay_seconds=0.5) as server:
        yield server


def _every_tenth(key: str | None) -> bool:
    return key is not None and int(key.rsplit("-", 1)[1]) % 10 == 0


def _bulk(live: LiveServer, **body: Any) -> httpx.Response:
    payload = {"action": "replay", "filter": {"flow_id": [FLOW]}, **body}
    return httpx.post(f"{live.url}/api/v1/exceptions/bulk", json=payload, headers=live.auth("dana.okafor"), timeout=60)


def _items(live: LiveServer, run_id: int) -> list[dict[str, Any]]:
    return httpx.get(f"{live.url}/api/v1/bulk-runs/{run_id}", params={"limit": 10_000}, timeout=30).json()["items"]


def _audit(live: LiveServer, run_id: int) -> dict[int, list[str]]:
    """Replay audit outcomes per exception of one run (via the replay rows the run wrote)."""
    found = rows(
        live.ctx,
        "SELECT a.exception_id, a.outcome FROM exception_actions a "
        "WHERE a.action = 'replay' AND CAST(json_extract(a.detail, '$.replay_id') AS BIGINT) IN "
        "(SELECT replay_id FROM replays WHERE bulk_run_id = :run) ORDER BY a.action_id",
        run=run_id,
    )
    out: dict[int, list[str]] = {}
    for r in found:
        out.setdefault(int(r["exception_id"]), []).append(r["outcome"])
    return out


def test_300_against_a_target_failing_every_tenth(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    ids = add_failures(live.ctx, FLOW, 300)
    receiver.fail_if = _every_tenth

    plan = _bulk(live, dry_run=True)
    assert plan.status_code == 200
    assert {k: plan.json()[k] for k in ("selected", "runnable", "duplicate_risk", "skipped")} == {
        "selected": 300,
        "runnable": 300,
        "duplicate_risk": 0,
        "skipped": 0,
    }
    assert receiver.posts == []  # a dry run sends nothing

    started = time.monotonic()
    r = _bulk(live, rate_per_second=500)
    assert r.status_code == 202, r.text
    run = wait_for_run(live, r.json()["run_id"])
    elapsed = time.monotonic() - started

    assert run["status"] == "completed" and run["counts"] == {"delivered": 270, "failed": 30}
    assert elapsed >= 299 / 500 - 0.05
    items = _items(live, run["run_id"])
    expected = {eid: ("failed" if n % 10 == 0 else "delivered") for n, eid in enumerate(ids, start=1)}
    assert {i["exception_id"]: i["status"] for i in items} == expected
    assert all(i["replay_id"] is not None and i["finished_at"] is not None for i in items)
    assert all(i["error"].startswith("HTTP-500: ") for i in items if i["status"] == "failed")
    # Nothing lost, nothing doubled: each message posted once, 270 distinct deliveries downstream.
    assert sorted(receiver.keys_posted) == [f"evt-{n:05d}" for n in range(1, 301)]
    assert len(receiver.delivered) == 270
    audit = _audit(live, run["run_id"])
    assert audit == {eid: ["delivered" if status == "delivered" else "failed"] for eid, status in expected.items()}
    assert scalar(live.ctx, "SELECT count(*) FROM exceptions WHERE status = 'resolved'") == 270
    assert (
        scalar(
            live.ctx,
            "SELECT count(*) FROM exceptions WHERE status = 'open' "
            "AND last_error LIKE '0 of 1 delivered, 1 failed: HTTP-500%'",
        )
        == 30
    )
    assert (
        scalar(live.ctx, "SELECT count(*) FROM exception_actions WHERE action = 'resolve' AND actor = 'replay'") == 270
    )
    replayed = events_settled(
        live.ctx, "SELECT status FROM business_events WHERE event_id LIKE '%:replay:1'", count=300
    )
    # a failed replay leaves its message as it was (dead-lettered), a delivered one is ok
    assert sorted(r["status"] for r in replayed) == ["dead_lettered"] * 30 + ["ok"] * 270


def test_the_rate_limit_is_respected(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments", rate=20)
    add_failures(live.ctx, FLOW, 30)

    started = time.monotonic()
    r = _bulk(live)  # the flow's own rate: 20/s
    assert r.json()["rate_per_second"] == 20
    run = wait_for_run(live, r.json()["run_id"])
    elapsed = time.monotonic() - started

    assert run["counts"] == {"delivered": 30}
    assert elapsed >= 29 / 20 - 0.05
    # Each replay starts (its row is claimed) right after the pacer lets it go.
    starts = [r["started_at"] for r in rows(live.ctx, "SELECT started_at FROM replays ORDER BY started_at")]
    busiest = max(sum(1 for t in starts if s <= t < s + timedelta(seconds=1)) for s in starts)
    assert busiest <= 21  # 20 a second; one more can straddle the edge of a sliding window
    assert len(receiver.posts) == 30


def test_a_failing_canary_stops_the_run(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    ids = add_failures(live.ctx, FLOW, 50)
    receiver.mode = "error"

    r = _bulk(live, canary=5, rate_per_second=200)
    run = wait_for_run(live, r.json()["run_id"])

    assert run["status"] == "canary_failed"
    assert run["detail"].startswith(f"canary failed on message evt-00001 of exception {ids[0]}: HTTP-500")
    assert run["counts"] == {"failed": 1, "skipped": 49}
    assert len(receiver.posts) == 1
    items = _items(live, run["run_id"])
    assert all(i["error"].startswith("not run: canary failed") for i in items[1:])
    assert _audit(live, run["run_id"]) == {ids[0]: ["failed"]}
    assert scalar(live.ctx, "SELECT count(*) FROM exception_actions") == 1


def test_a_passing_canary_lets_the_run_continue(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    add_failures(live.ctx, FLOW, 20)
    receiver.fail_if = lambda key: key == "evt-00012"  # after the canary: recorded, not a stop

    run = wait_for_run(live, _bulk(live, canary=5, rate_per_second=200).json()["run_id"])

    assert run["status"] == "completed" and run["counts"] == {"delivered": 19, "failed": 1}


def test_pause_then_resume_completes(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    add_failures(live.ctx, FLOW, 60)
    run_id = _bulk(live, rate_per_second=40).json()["run_id"]
    wait_for_run(live, run_id, until=lambda r: r["processed"] >= 10)

    paused = httpx.post(f"{live.url}/api/v1/bulk-runs/{run_id}/pause", headers=live.auth("dana.okafor"), timeout=30)

    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    done_at_pause = paused.json()["processed"]
    assert 10 <= done_at_pause < 60
    assert scalar(live.ctx, "SELECT count(*) FROM replays WHERE status = 'running'") == 0  # nothing half-done
    assert settled(lambda: len(receiver.posts), times=3, every=0.2) == done_at_pause  # nothing more goes out
    assert len(receiver.posts) == done_at_pause == wait_for_run(live, run_id, until=lambda r: True)["processed"]
    again = httpx.post(f"{live.url}/api/v1/bulk-runs/{run_id}/pause", headers=live.auth("dana.okafor"), timeout=30)
    assert (
        again.status_code == 409
        and again.json()["detail"] == f"bulk run {run_id} is paused; only a running run can be paused"
    )

    resumed = httpx.post(f"{live.url}/api/v1/bulk-runs/{run_id}/resume", headers=live.auth("dana.okafor"), timeout=30)
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    run = wait_for_run(live, run_id)

    assert run["status"] == "completed" and run["counts"] == {"delivered": 60}
    assert len(receiver.delivered) == 60 and len(receiver.posts) == 60


def test_abort_leaves_no_item_half_done(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    add_failures(live.ctx, FLOW, 80)
    receiver.mode, receiver.slow_seconds = "slow", 0.05
    run_id = _bulk(live, rate_per_second=40).json()["run_id"]
    wait_for_run(live, run_id, until=lambda r: r["processed"] >= 15)

    aborted = httpx.post(f"{live.url}/api/v1/bulk-runs/{run_id}/abort", headers=live.auth("sam.lee"), timeout=30)

    assert aborted.status_code == 200 and aborted.json()["status"] == "aborted"
    assert aborted.json()["detail"] == "aborted by sam.lee"
    items = _items(live, run_id)
    audit = _audit(live, run_id)
    replayed = [i for i in items if i["status"] in ("delivered", "failed")]
    not_run = [i for i in items if i["status"] == "skipped"]
    assert len(replayed) + len(not_run) == 80 and 15 <= len(replayed) < 80
    assert all(audit.get(i["exception_id"]) == [i["status"]] and i["replay_id"] is not None for i in replayed)
    assert all(i["exception_id"] not in audit and i["replay_id"] is None for i in not_run)
    assert all(i["error"] == "not run: aborted by sam.lee" for i in not_run)
    assert len(receiver.posts) == len(replayed) == len(receiver.delivered)
    assert scalar(live.ctx, "SELECT count(*) FROM replays WHERE status = 'running'") == 0
    gone = httpx.post(f"{live.url}/api/v1/bulk-runs/{run_id}/resume", headers=live.auth("sam.lee"), timeout=30)
    assert gone.status_code == 409


def test_duplicate_risk_is_flagged_and_skipped_unless_included(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    first, second, third = add_failures(live.ctx, FLOW, 3)
    later = event(
        "SHP-1000002",
        "shipment.dispatched",
        live.ctx.now(),
        flow_id=FLOW,
        source="3pl_north",
        target="d365",
        channel=None,
        event_id="evt-later",
    )
    live.ctx.writer.append("business_events", events_table([later]))

    plan = _bulk(live, dry_run=True).json()
    assert (plan["runnable"], plan["duplicate_risk"]) == (2, 1)
    assert [i["duplicate_risk"] for i in plan["items"]] == [False, True, False]

    run = wait_for_run(live, _bulk(live, rate_per_second=100).json()["run_id"])

    assert run["counts"] == {"delivered": 2, "skipped": 1}
    skipped = [i for i in _items(live, run["run_id"]) if i["status"] == "skipped"]
    assert [i["exception_id"] for i in skipped] == [second]
    assert skipped[0]["error"].startswith("duplicate risk")
    assert sorted(receiver.delivered) == ["evt-00001", "evt-00003"]
    assert {first, third} == {i["exception_id"] for i in _items(live, run["run_id"]) if i["status"] == "delivered"}


def test_bulk_resolve_and_assign_over_a_filter(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    ids = add_failures(live.ctx, FLOW, 40)
    httpx.post(f"{live.url}/api/v1/exceptions/{ids[0]}/ignore", headers=live.auth("sam.lee"), timeout=10)

    url = f"{live.url}/api/v1/exceptions/bulk"
    assigned = httpx.post(
        url, json={"action": "assign", "ids": ids[:5], "assignee": "sam.lee"}, headers=live.auth("lead"), timeout=30
    ).json()
    assert assigned["counts"] == {"done": 4, "skipped": 1}
    dry = httpx.post(
        url,
        json={"action": "resolve", "filter": {"status": ["open"]}, "dry_run": True},
        headers=live.auth("lead"),
        timeout=30,
    ).json()
    assert (dry["selected"], dry["runnable"]) == (39, 39)
    resolved = httpx.post(
        url,
        json={"action": "resolve", "filter": {"flow_id": [FLOW]}, "text": "3PL back up"},
        headers=live.auth("lead"),
        timeout=30,
    ).json()

    assert resolved["status"] == "completed" and resolved["counts"] == {"done": 39, "skipped": 1}
    (skip,) = [i for i in resolved["items"] if i["status"] == "skipped"]
    assert skip["exception_id"] == ids[0] and skip["error"] == "cannot resolve an ignored exception; reopen it first"
    grid = httpx.get(f"{live.url}/api/v1/exceptions", params={"status": "resolved", "limit": 1}, timeout=10).json()
    assert grid["total"] == 39 and grid["items"][0]["resolution"] == "3PL back up"
    assert scalar(live.ctx, "SELECT count(*) FROM exception_actions WHERE action = 'resolve' AND actor = 'lead'") == 39
    bad = httpx.post(url, json={"action": "resolve", "filter": {}, "ids": [1]}, headers=live.auth("lead"), timeout=10)
    assert bad.status_code == 422


def test_a_message_delivered_meanwhile_is_skipped_and_the_rest_of_its_exception_goes(
    live: LiveServer, receiver: Receiver
) -> None:
    """One exception over 40 orders: each item reads its own message, so one delivered by its source
    while the run is paused is skipped with the reason, and the other 39 go out once each."""
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments")
    (eid,) = add_failures(live.ctx, FLOW, 40, grouped=True)
    run_id = _bulk(live, rate_per_second=40).json()["run_id"]
    wait_for_run(live, run_id, until=lambda r: r["processed"] >= 5)
    paused = httpx.post(f"{live.url}/api/v1/bulk-runs/{run_id}/pause", headers=live.auth("dana.okafor"), timeout=30)
    assert paused.status_code == 200 and paused.json()["processed"] < 40
    with live.ctx.writer.transaction() as conn:  # as detection records a later ok delivery from the source
        set_message(conn, eid, "evt-00040", state="delivered", delivered_at=live.ctx.now())

    httpx.post(f"{live.url}/api/v1/bulk-runs/{run_id}/resume", headers=live.auth("dana.okafor"), timeout=30)
    run = wait_for_run(live, run_id)

    assert run["status"] == "completed" and run["counts"] == {"delivered": 39, "skipped": 1}
    (skipped,) = [i for i in _items(live, run_id) if i["status"] == "skipped"]
    assert skipped["event_id"] == "evt-00040"
    assert skipped["error"] == f"message evt-00040 of exception {eid} was delivered meanwhile"
    assert sorted(receiver.keys_posted) == [f"evt-{n:05d}" for n in range(1, 40)]
    assert scalar(live.ctx, "SELECT status FROM exceptions WHERE exception_id = :e", e=eid) == "resolved"


def test_a_reopened_exception_whose_messages_were_all_delivered_sends_them_all_again(
    live: LiveServer, receiver: Receiver
) -> None:
    """The target lost what it took: reopened, a bulk replay sends each of the 25 messages again under
    its own key (the target answers duplicates for what it still has)."""
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments", rate=100.0)
    (eid,) = add_failures(live.ctx, FLOW, 25, grouped=True)
    first = httpx.post(f"{live.url}/api/v1/exceptions/{eid}/replay", headers=live.auth("dana.okafor"), timeout=60)
    assert first.status_code == 200 and first.json()["resolved"] is True
    reopened = httpx.post(f"{live.url}/api/v1/exceptions/{eid}/reopen", json={"reason": "3PL lost the batch"},
                          headers=live.auth("dana.okafor"), timeout=30)  # fmt: skip
    assert reopened.status_code == 200
    del receiver.delivered["evt-00007"]  # the one the target lost
    # The replay's 25 ok deliveries are stored events now: they are the messages themselves, not later
    # events the target took (which would hold each as a duplicate risk: so it once read, after a flush).
    live.ctx.buffer.flush()
    replayed = "SELECT count(*) FROM business_events WHERE event_id LIKE '%:replay:%' AND status = 'ok'"
    assert scalar(live.ctx, replayed) == 25

    plan = _bulk(live, dry_run=True).json()
    assert (plan["runnable"], plan["messages"], plan["duplicate_risk"]) == (25, 25, 0)
    run = wait_for_run(live, _bulk(live, rate_per_second=100).json()["run_id"])

    assert run["status"] == "completed" and run["counts"] == {"delivered": 25}
    keys = [f"evt-{n:05d}" for n in range(1, 26)]
    assert sorted(receiver.keys_posted) == sorted(keys * 2)  # each twice: the replay, then the bulk run
    assert sorted(receiver.delivered) == keys
    assert scalar(live.ctx, "SELECT status FROM exceptions WHERE exception_id = :e", e=eid) == "resolved"


def test_a_paused_run_overtaken_by_a_single_replay_lets_its_exception_resolve_when_aborted(
    live: LiveServer, receiver: Receiver
) -> None:
    """While a run is paused an operator replays the exception by itself: every message is delivered,
    but the run still holds items for it, so it resolves when the run is aborted, not before."""
    add_flow(live.ctx, FLOW, target=f"{receiver.url}/erp/d365/shipments", rate=100.0)
    (eid,) = add_failures(live.ctx, FLOW, 30, grouped=True)
    run_id = _bulk(live, rate_per_second=20).json()["run_id"]
    wait_for_run(live, run_id, until=lambda r: r["processed"] >= 3)
    paused = httpx.post(f"{live.url}/api/v1/bulk-runs/{run_id}/pause", headers=live.auth("dana.okafor"), timeout=30)
    done_by_run = paused.json()["processed"]
    assert done_by_run < 30

    single = httpx.post(f"{live.url}/api/v1/exceptions/{eid}/replay", headers=live.auth("sam.lee"), timeout=60)
    assert single.status_code == 200
    assert (single.json()["delivered"], single.json()["total"], single.json()["resolved"]) == (30, 30, False)
    assert scalar(live.ctx, "SELECT status FROM exceptions WHERE exception_id = :e", e=eid) == "open"

    aborted = httpx.post(f"{live.url}/api/v1/bulk-runs/{run_id}/abort", headers=live.auth("sam.lee"), timeout=30)
    assert aborted.status_code == 200 and aborted.json()["counts"] == {"delivered": done_by_run,
                                                                       "skipped": 30 - done_by_run}  # fmt: skip
    assert scalar(live.ctx, "SELECT status FROM exceptions WHERE exception_id = :e", e=eid) == "resolved"
    assert sorted(receiver.delivered) == [f"evt-{n:05d}" for n in range(1, 31)] and len(receiver.posts) == 30
