"""Two `flowwatch serve` processes on one real PostgreSQL database, as behind a load balancer.

Scheduled jobs run on one replica (the leader, a PostgreSQL advisory lock): detection runs once per
interval across both, and when the leader is killed (SIGKILL: no clean shutdown) the other takes
over at its next tick. Two operators replaying the same exception on the two replicas at once
deliver each message once; the later request is refused with 409.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from app.context import open_context
from app.settings import load_settings
from models.queries.jobs import job_runs
from tests.integration.replay_world import add_failures, add_flow
from tests.live_server import free_port
from tests.postgres import pg_database
from tests.receiver import Receiver, receiving

ROOT = Path(__file__).resolve().parents[2]
FLOW = "replica-test-shipments"
INTERVAL = 1  # seconds between detection runs


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class World:
    url: str  # the database
    engine: sa.Engine
    replicas: list[Replica]
    receiver: Receiver
    exception_ids: list[int]


def _start(db_url: str, folder: Path) -> Replica:
    port = free_port()
    env = {**os.environ, "FLOWWATCH_DB_URL": db_url, "FLOWWATCH_PORT": str(port), "FLOWWATCH_AUTH": "off",
           "FLOWWATCH_INGEST_WAL_DIR": str(folder / "wal"), "FLOWWATCH_DROP_DIR": str(folder / "drops"),
           "FLOWWATCH_DETECTION_INTERVAL_SECONDS": str(INTERVAL),
           "FLOWWATCH_INGEST_MAX_DELAY_SECONDS": "0.05"}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "serve.log"  # a file, not a pipe nobody drains
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "app", "serve"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    return Replica(f"http://127.0.0.1:{port}", process, log)


def _wait_healthy(replica: Replica) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise AssertionError(f"replica exited: {replica.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{replica.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("replica did not answer /healthz within 60 s")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("replicas")
    with pg_database() as url, receiving(mode="slow", slow_seconds=1.5) as receiver:
        replicas = [_start(url, folder / f"r{n}") for n in (1, 2)]  # they start (imports: seconds) meanwhile…
        engine = sa.create_engine(url)
        try:
            # …the test's own context (no scheduler) writes the flow and the failures to replay.
            ctx = open_context(load_settings(db_url=url, ingest_wal_dir=folder / "test-wal"))
            try:
                add_flow(ctx, FLOW, target=f"{receiver.url}/erp/shipments")
                exception_ids = add_failures(ctx, FLOW, 3, prefix="rep")
            finally:
                ctx.close()
            for replica in replicas:
                _wait_healthy(replica)
            yield World(url, engine, replicas, receiver, exception_ids)
        finally:
            for replica in replicas:
                if replica.process.poll() is None:
                    replica.process.terminate()
                    replica.process.wait(timeout=30)
            engine.dispose()


def _detection(world: World) -> dict[str, object] | None:
    with world.engine.connect() as conn:
        return job_runs(conn).get("detection")


def test_a_double_replay_across_replicas_delivers_each_message_once(world: World) -> None:
    answers: dict[tuple[int, int], httpx.Response] = {}

    def replay(replica: int, exception_id: int) -> None:
        answers[(replica, exception_id)] = httpx.post(
            f"{world.replicas[replica].url}/api/v1/exceptions/{exception_id}/replay",
            json={}, timeout=30)  # fmt: skip

    threads = [threading.Thread(target=replay, args=(r, x))
               for x in world.exception_ids for r in (0, 1)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    refusals = []
    for x in world.exception_ids:  # per exception: one replica delivered, the other was refused
        codes = sorted(answers[(r, x)].status_code for r in (0, 1))
        assert codes == [200, 409], [answers[(r, x)].text for r in (0, 1)]
        refused = next(answers[(r, x)] for r in (0, 1) if answers[(r, x)].status_code == 409)
        refusals.append(refused.json()["detail"])
        # a late loser (the first already delivered and resolved it) is refused for that instead
        assert refusals[-1] in (f"a replay of exception {x} is already in flight",
                                "cannot replay a resolved exception; reopen it first"), refusals  # fmt: skip
    assert any(r.endswith("already in flight") for r in refusals), refusals  # the claims did race
    assert sorted(world.receiver.keys_posted) == ["rep-00001", "rep-00002", "rep-00003"]  # each sent once
    assert sorted(world.receiver.delivered) == ["rep-00001", "rep-00002", "rep-00003"]


def test_detection_runs_once_per_interval_and_fails_over_when_the_leader_is_killed(world: World) -> None:
    deadline = time.monotonic() + 30
    while (first := _detection(world)) is None or int(first["runs"]) < 2:  # type: ignore[call-overload]
        assert time.monotonic() < deadline, "detection never ran"
        time.sleep(0.2)
    start, started = int(first["runs"]), time.monotonic()  # type: ignore[call-overload]
    leaders = set()
    while time.monotonic() - started < 4 * INTERVAL:
        now = _detection(world)
        assert now is not None
        leaders.add(now["replica"])
        time.sleep(0.2)
    after = _detection(world)
    assert after is not None
    runs, elapsed = int(after["runs"]) - start, time.monotonic() - started  # type: ignore[call-overload]
    # One replica ran every pass (both would have made about twice as many runs).
    assert len(leaders) == 1 and runs <= elapsed / INTERVAL + 1.5, (leaders, runs, elapsed)
    assert runs >= 2, (runs, elapsed)  # and it kept running (a slow pass may skip a tick under load)
    (leader,) = leaders
    pids = {r.pid: r for r in world.replicas}
    killed = pids[int(str(leader).rsplit(":", 1)[1])]
    survivor = next(r for r in world.replicas if r is not killed)

    os.kill(killed.pid, signal.SIGKILL)
    killed.process.wait(timeout=10)
    taken_over, deadline = None, time.monotonic() + 60
    while taken_over is None:
        assert time.monotonic() < deadline, "no replica took over detection within a minute"
        now = _detection(world)
        if now is not None and now["replica"] != leader:
            taken_over = now
        time.sleep(0.2)
    assert str(taken_over["replica"]).endswith(f":{survivor.pid}")
    assert httpx.get(f"{survivor.url}/healthz", timeout=5).status_code == 200  # it still serves pages too
