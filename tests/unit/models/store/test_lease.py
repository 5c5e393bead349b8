"""The scheduler lead among replicas: one holder at a time, handed over when its connection ends."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy.engine import Engine

from models.store.db import make_engine, make_pg_engine
from models.store.lease import LeaderLease
from tests.postgres import PgSession, pg_database


def test_one_replica_leads_and_the_lead_passes_when_its_connection_ends(pg_session: PgSession) -> None:
    # A database of its own: an advisory lock is the database's, and other tests of this worker may
    # still hold the session database's lead through a context they opened on it.
    with pg_database() as url:
        engine = make_pg_engine(url)
        try:
            _lead_passes(engine)
        finally:
            engine.dispose()


def _lead_passes(engine: Engine) -> None:
    first, second = LeaderLease(engine), LeaderLease(engine)
    assert first.held() and not second.held()
    assert first.held() and not second.held()  # asking again keeps it where it is
    first._conn.invalidate()  # type: ignore[union-attr]  # the leader's connection is gone (a crash)
    assert not first.held()  # it notices: it leads no more…
    # …and the other replica takes the lead at one of its next ticks (the server frees the lock once it
    # has seen the connection end, which takes a moment on a busy machine)
    deadline = time.monotonic() + 10
    while not second.held():
        assert time.monotonic() < deadline, "the lead never passed to the other replica"
        time.sleep(0.1)
    assert not first.held()
    second.release()
    assert first.held()
    first.release()


def test_embedded_duckdb_always_leads(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "x.duckdb")
    assert LeaderLease(engine).held() and LeaderLease(engine).held()
    engine.dispose()
