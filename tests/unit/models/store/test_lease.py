"""The scheduler lead among replicas: one holder at a time, handed over when its connection ends."""

from __future__ import annotations

from pathlib import Path

from models.store.db import make_engine
from models.store.lease import LeaderLease
from tests.postgres import PgSession


def test_one_replica_leads_and_the_lead_passes_when_its_connection_ends(pg_session: PgSession) -> None:
    first, second = LeaderLease(pg_session.engine), LeaderLease(pg_session.engine)
    assert first.held() and not second.held()
    assert first.held() and not second.held()  # asking again keeps it where it is
    first._conn.invalidate()  # type: ignore[union-attr]  # the leader's connection is gone (a crash)
    assert not first.held()  # it notices: it leads no more…
    assert second.held()  # …and the other replica takes the lead at its next tick
    assert not first.held()
    second.release()
    assert first.held()
    first.release()


def test_embedded_duckdb_always_leads(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "x.duckdb")
    assert LeaderLease(engine).held() and LeaderLease(engine).held()
    engine.dispose()
