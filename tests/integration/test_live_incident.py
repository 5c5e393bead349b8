"""The demo's incident story on live traffic, against a real server: break NorthStar, see its
exceptions open within a detection interval on its flows only, fix it, watch the release backlog
drain, bulk-replay the dead letters and see the exceptions resolve and the orders ship."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from app.settings import load_settings
from seed_data.live_simulator import LiveSimulator, SimulatorConfig
from tests.integration.conftest import SHOPIFY_SECRET
from tests.live_server import LiveServer, serve, settled

NORTH_FLOWS = {"d365-3pl_north-release", "3pl_north-d365-shipment"}
SHIPMENTS = "3pl_north-d365-shipment"


def _until(what: str, check: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def _rows(live: LiveServer, sql: str) -> list[dict[str, Any]]:
    with live.ctx.engine.connect() as conn:
        return [dict(r) for r in conn.exec_driver_sql(sql).mappings()]


def _exceptions(live: LiveServer) -> list[dict[str, Any]]:
    return _rows(live, "SELECT x.exception_id, x.kind, x.flow_id, x.status, x.first_error, x.affected_orders, "
                       "(SELECT min(acted_at) FROM exception_actions a WHERE a.exception_id = x.exception_id) "
                       "AS opened FROM exceptions x")  # fmt: skip


def test_northstar_down_live_then_fixed_and_replayed(tmp_path: Path) -> None:
    settings = load_settings(db=tmp_path / "fw.duckdb", shopify_secret=SHOPIFY_SECRET, ingest_max_delay_seconds=0.05,
                             detection_interval_seconds=2, replay_rate_per_second=200)  # fmt: skip
    with serve(settings) as live:
        simulator = LiveSimulator(SimulatorConfig(
            base_url=live.url, shopify_secret=SHOPIFY_SECRET, orders_per_minute=240, speed=3600.0, seed=5,
            tick_seconds=0.2, sample_seconds=0.5, control_seconds=0.2, background_failures=False,
        ))  # fmt: skip
        simulator.start()
        try:
            _until(
                "orders shipping through NorthStar",
                lambda: _rows(live, f"SELECT 1 FROM business_events WHERE flow_id = '{SHIPMENTS}' AND status = 'ok'"),
            )
            faults = f"{live.url}/api/v1/demo/faults"
            assert httpx.post(faults, json={"system": "3pl_north", "mode": "error"}, timeout=10).status_code == 200

            first_failure = _until("a NorthStar failure", lambda: _rows(
                live, "SELECT min(received_at) AS at FROM business_events "
                      "WHERE error_message LIKE '%NorthStar%' HAVING count(*) > 0"))[0]["at"]  # fmt: skip
            opened = _until("exceptions on both NorthStar flows", lambda: (
                lambda xs: xs if {x["flow_id"] for x in xs if "NorthStar" in (x["first_error"] or "")} >= NORTH_FLOWS
                else None)(_exceptions(live)))  # fmt: skip
            northstar = [x for x in opened if "NorthStar" in (x["first_error"] or "")]
            assert {x["flow_id"] for x in northstar} == NORTH_FLOWS  # flows touching the 3PL, and only those
            assert {x["flow_id"] for x in opened} <= NORTH_FLOWS  # (no everyday failures here: nothing else opens)
            kinds = {x["kind"] for x in northstar}  # releases fail and are retried; confirmations dead-letter
            assert "dead_letter" in kinds and kinds <= {"dead_letter", "delivery_failed", "retries_exhausted"}
            first_open = min(x["opened"] for x in northstar)
            # within one detection interval (2 s here; 30 s by default) plus a flush and a pass
            assert (first_open - first_failure).total_seconds() < 2 * settings.detection_interval_seconds + 2

            _until("the outage piling up: five NorthStar dead letters", lambda: _rows(  # releases wait meanwhile
                live, "SELECT 1 FROM business_events WHERE status = 'dead_lettered' "
                      "AND error_message LIKE '%NorthStar%' HAVING count(*) >= 5"))  # fmt: skip
            assert httpx.post(faults, json={"system": "3pl_north", "mode": "ok"}, timeout=10).status_code == 200
            _until("the release backlog drained", lambda: _rows(
                live, "SELECT depth FROM queue_samples WHERE queue = 'release.3pl_north' "
                      "ORDER BY sampled_at DESC LIMIT 1")[0]["depth"] <= 2)  # fmt: skip

            dead = [x for x in northstar if x["kind"] == "dead_letter"]
            # the outage's last dead letters join with the next passes: plan once they all hold still
            settled(lambda: [httpx.get(f"{live.url}/api/v1/exceptions/{x['exception_id']}",
                                       timeout=10).json()["message_counts"] for x in dead])  # fmt: skip
            plan = httpx.post(f"{live.url}/api/v1/exceptions/bulk", headers=live.auth("dana.okafor"), timeout=30, json={
                "action": "replay", "dry_run": True,
                "ids": [x["exception_id"] for x in dead]}).json()  # fmt: skip
            assert plan["messages"] >= 1 and plan["runnable"] == plan["messages"]
            run = httpx.post(
                f"{live.url}/api/v1/exceptions/bulk",
                headers=live.auth("dana.okafor"),
                timeout=30,
                json={"action": "replay", "ids": [x["exception_id"] for x in dead]},
            ).json()
            report = _until(
                "the bulk replay finished",
                lambda: (lambda r: r if r["status"] == "completed" else None)(
                    httpx.get(f"{live.url}/api/v1/bulk-runs/{run['run_id']}", params={"limit": 0}, timeout=10).json()
                ),
            )
            assert report["counts"].get("delivered") == plan["messages"] and not report["counts"].get("failed")
            for x in dead:
                detail = httpx.get(f"{live.url}/api/v1/exceptions/{x['exception_id']}", timeout=10).json()
                assert detail["status"] == "resolved" and detail["resolution"].startswith("replayed:")
            orders = {
                m["correlation_id"]
                for x in dead
                for m in httpx.get(f"{live.url}/api/v1/exceptions/{x['exception_id']}", timeout=10).json()["messages"]
            }
            _until("every replayed order dispatched", lambda: len(_rows(
                live, "SELECT correlation_id FROM order_facts WHERE dispatched_at IS NOT NULL AND correlation_id IN ("
                      + ", ".join(f"'{o}'" for o in orders) + ")")) == len(orders))  # fmt: skip
            _until("the simulator saw the replays", lambda: simulator.stats.replayed >= len(orders))
        finally:
            simulator.stop()
