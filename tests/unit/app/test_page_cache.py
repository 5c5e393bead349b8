"""The period pages' shared reads: once a minute (the last minute's view answered while it is
recomputed in the background, an older one never), at once after an action, one computation for
many viewers at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from app.services import lifecycle
from app.services.page_cache import PageCache
from models.store.tables import exceptions
from tests.factories import fresh_db

NOW = datetime(2026, 11, 20, 12, 0, 5)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Counted:
    """A read that counts its computations and answers with the count."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def _eventually(check: Callable[[], bool]) -> None:
    """Wait (at most 10 s) for the background recomputation to land."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "the background recomputation never landed"
        time.sleep(0.01)


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine, _ = fresh_db(tmp_path)
    yield engine
    engine.dispose()


def _resolve_one(engine: Engine, n: int) -> None:
    """An operator resolves an exception: the action that must show on the next read."""
    with engine.begin() as conn:
        exception_id = conn.execute(
            exceptions.insert()
            .values(fingerprint=f"delivery_failed:f:{n}", kind="delivery_failed", flow_id="f", title="t",
                    severity="medium", status="open", first_seen=NOW - timedelta(hours=3), last_seen=NOW,
                    occurrences=1, affected_orders=1, updated_at=NOW)
            .returning(exceptions.c.exception_id)
        ).scalar_one()  # fmt: skip
        lifecycle.resolve(int(exception_id), conn=conn, actor="dana", now=NOW, resolution="fixed")


def test_once_a_minute_and_again_after_an_action(engine: Engine) -> None:
    clock = Clock()
    cache, read, other = PageCache(engine, clock), Counted(), Counted()
    assert [cache.get("kpis", read) for _ in range(5)] == [1, 1, 1, 1, 1]
    assert cache.get("partners", other) == 1 and read.calls == 1  # each key is its own read
    clock.now = NOW + timedelta(seconds=50)  # the same minute
    assert cache.get("kpis", read) == 1
    clock.now = NOW + timedelta(seconds=55)  # 12:01:00: the minute turned
    assert cache.get("kpis", read) == 1  # the view there is, at once…
    _eventually(lambda: read.calls == 2)  # …while it is recomputed in the background
    _eventually(lambda: cache.get("kpis", read) == 2)
    assert [cache.get("kpis", read) for _ in range(3)] == [2, 2, 2] and read.calls == 2
    _resolve_one(engine, 1)
    assert cache.get("kpis", read) == 3 and cache.get("partners", other) == 2  # an action: computed now
    assert cache.get("kpis", read) == 3
    cache.close()


def test_a_pinned_clock_still_reads_afresh_after_the_ttl(engine: Engine) -> None:
    cache, read = PageCache(engine, Clock(), ttl=0.2), Counted()
    assert cache.get("k", read) == 1 and cache.get("k", read) == 1
    time.sleep(0.25)
    cache.get("k", read)
    _eventually(lambda: cache.get("k", read) == 2)
    off = PageCache(engine, Clock(), ttl=0)  # page_cache_seconds = 0: no sharing at all
    assert [off.get("k", read) for _ in range(3)] == [3, 4, 5]


def test_a_slow_recomputation_runs_once_and_keeps_answering(engine: Engine) -> None:
    clock, release, calls = Clock(), threading.Event(), []
    cache = PageCache(engine, clock)

    def slow() -> int:
        calls.append(1)
        if len(calls) > 1:
            release.wait(10)
        return len(calls)

    assert cache.get("sc", slow) == 1
    clock.now = NOW + timedelta(minutes=1)
    began = time.monotonic()
    assert [cache.get("sc", slow) for _ in range(20)] == [1] * 20  # nobody waits on the recomputation
    assert time.monotonic() - began < 5 and len(calls) == 2  # queued once, not once per viewer
    release.set()
    _eventually(lambda: cache.get("sc", slow) == 2)
    cache.close()


def test_viewers_asking_at_once_share_one_computation(engine: Engine) -> None:
    cache, started, release = PageCache(engine, Clock()), threading.Event(), threading.Event()
    calls = []

    def slow() -> str:
        calls.append(1)
        started.set()
        release.wait(10)
        return "funnel"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("rc", slow))) for _ in range(8)]
    threads[0].start()
    assert started.wait(10)
    for t in threads[1:]:
        t.start()
    time.sleep(0.2)  # the others are waiting on the first one's computation
    release.set()
    for t in threads:
        t.join(10)
    assert results == ["funnel"] * 8 and len(calls) == 1


def test_a_failed_read_is_not_kept(engine: Engine) -> None:
    cache, attempts = PageCache(engine, Clock()), []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database busy")
        return "ok"

    with pytest.raises(RuntimeError, match="database busy"):
        cache.get("k", flaky)
    assert cache.get("k", flaky) == "ok" and cache.get("k", flaky) == "ok" and len(attempts) == 2


def test_a_view_older_than_two_minutes_is_computed_before_answering(engine: Engine) -> None:
    clock = Clock()
    cache, read = PageCache(engine, clock, ttl=0.2), Counted()
    assert cache.get("k", read) == 1
    time.sleep(0.45)  # past 2 × ttl: nobody asked meanwhile
    clock.now = NOW + timedelta(hours=1)
    assert cache.get("k", read) == 2  # not the hour-old view


def test_the_oldest_read_goes_when_full(engine: Engine) -> None:
    cache = PageCache(engine, Clock(), max_entries=3)
    reads = {k: Counted() for k in "abcd"}
    for k in "abcd":
        cache.get(k, reads[k])
    assert cache.get("a", reads["a"]) == 2  # "a" was the oldest of four: dropped
    assert cache.get("d", reads["d"]) == 1
