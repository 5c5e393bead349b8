"""The scheduled jobs' ledger (``job_runs``): which replica ran each job last, and how often."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_RECORD = sa.text(
    """
    INSERT INTO job_runs (job_id, replica, runs, last_started_at, last_seconds)
    VALUES (:job_id, :replica, 1, :started, :seconds)
    ON CONFLICT (job_id) DO UPDATE SET replica = excluded.replica, runs = job_runs.runs + 1,
        last_started_at = excluded.last_started_at, last_seconds = excluded.last_seconds
    """
)


def record_run(conn: Connection, job_id: str, *, replica: str, started: datetime, seconds: float) -> None:
    """Count one run of ``job_id`` by ``replica``."""
    conn.execute(_RECORD, {"job_id": job_id, "replica": replica, "started": started, "seconds": seconds})


def job_runs(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every job's ledger row, by job id."""
    rows = conn.execute(sa.text("SELECT * FROM job_runs ORDER BY job_id")).mappings()
    return {str(r["job_id"]): dict(r) for r in rows}
