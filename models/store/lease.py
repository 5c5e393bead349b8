"""Leadership among replicas: the one process that runs the scheduled jobs.

On PostgreSQL the leader is the replica whose dedicated connection holds a session advisory
lock. PostgreSQL releases the lock when that connection ends — a clean stop, a crash, a
``kill -9`` (the kernel closes the socket) — so another replica takes over at its next job tick.
Embedded DuckDB has one process by construction: it always leads.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

#: pg advisory lock key of the scheduler leader ("fwlead" in ASCII, within a signed bigint).
LEADER_LOCK = 0x66776C656164


class LeaderLease:
    """``held()`` answers whether this process leads now, taking the lead when it is free."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    @property
    def shared(self) -> bool:
        """True when other processes may share the database (PostgreSQL)."""
        return self._engine.dialect.name == "postgresql"

    def held(self) -> bool:
        """Lead now? Checks that the lock's connection is alive; tries to take the lock when free."""
        if not self.shared:
            return True
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.exec_driver_sql("SELECT 1")
                    return True
                except sa.exc.SQLAlchemyError:  # the server ended the session (or never answers)
                    log.warning("the scheduler leader's connection was lost: leading no more")
                    self._drop()
                    return False  # this tick: another replica may take the lead meanwhile
            try:
                conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            except sa.exc.DBAPIError:
                return False
            conn.detach()  # never back to the pool: closing it is what hands the lead over
            try:
                got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK}).scalar())
            except sa.exc.DBAPIError:
                conn.close()
                return False
            if not got:
                conn.close()
                return False
            log.info("this replica now runs the scheduled jobs (leader)")
            self._conn = conn
            return True

    def release(self) -> None:
        """Hand the lead over (process stop), unlocking first so the next replica need not wait
        for the server to notice the closed connection."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    self._conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK})
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._conn.close()
            self._conn = None
