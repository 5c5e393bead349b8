"""Small typed helpers that build canonical rows for tests."""

from __future__ import annotations

import functools
import itertools
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import pyarrow as pa
from sqlalchemy.engine import Engine

from models.ingest.writer import IngestWriter
from models.store.db import make_engine
from models.store.flow_config import flow_config_changed
from models.store.schema import create_schema
from models.store.tables import business_events, flows, systems

_ids = itertools.count(1)


def fresh_db(tmp_path: Path) -> tuple[Engine, IngestWriter]:
    """A new database with the current schema, and its writer: a copy of one empty database made
    once per test process (creating the schema takes ~0.25 s, hundreds of tests need one)."""
    db = tmp_path / "test.duckdb"
    shutil.copyfile(_empty_db(), db)
    engine = make_engine(db)
    return engine, IngestWriter(engine)


@functools.cache
def _empty_db() -> Path:
    """An empty database with the current schema, checkpointed, so its one file is all of it."""
    db = Path(tempfile.mkdtemp(prefix="flowwatch-empty-")) / "empty.duckdb"
    engine = make_engine(db)
    create_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CHECKPOINT")
    engine.dispose()
    return db


def event(
    correlation_id: str,
    event_type: str,
    occurred_at: datetime,
    *,
    flow_id: str | None = None,
    status: str = "ok",
    attempt: int = 1,
    channel: str | None = "shopify",
    source: str = "shopify",
    target: str | None = "d365",
    event_id: str | None = None,
    received_at: datetime | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    trace_id: str | None = None,
) -> dict[str, object]:
    """One business event as a row dict; unspecified fields take plausible values."""
    return {
        "event_id": event_id or f"ev-{next(_ids)}",
        "correlation_id": correlation_id,
        "event_type": event_type,
        "flow_id": flow_id,
        "source": source,
        "target": target,
        "channel": channel,
        "occurred_at": occurred_at,
        "received_at": received_at or occurred_at,
        "status": status,
        "attempt": attempt,
        "error_code": error_code,
        "error_message": error_message,
        "trace_id": trace_id,
        "payload": "{}",
    }


def events_table(rows: list[dict[str, object]]) -> pa.Table:
    """Rows → an Arrow table with the business_events column order and types."""
    columns = [c.name for c in business_events.columns]
    table = pa.Table.from_pylist(rows)
    return table.select(columns).cast(
        table.select(columns).schema.set(columns.index("attempt"), pa.field("attempt", pa.int16()))
    )


def add_flow(
    engine: Engine,
    flow_id: str,
    start_event: str,
    end_event: str,
    sla_seconds: int,
    category: str = "orders",
    *,
    source_system: str = "a",
    target_system: str = "b",
    lag_threshold_seconds: int | None = None,
    queue: str | None = None,
) -> None:
    """Insert one flow definition."""
    with engine.begin() as conn:
        conn.execute(
            flows.insert().values(
                flow_id=flow_id,
                name=flow_id.replace("-", " "),
                source_system=source_system,
                target_system=target_system,
                start_event=start_event,
                end_event=end_event,
                sla_seconds=sla_seconds,
                lag_threshold_seconds=lag_threshold_seconds or sla_seconds,
                category=category,
                queue=queue,
            )
        )
    flow_config_changed()


def add_system(engine: Engine, system_id: str, kind: str, name: str | None = None) -> None:
    """Insert one system of the estate."""
    with engine.begin() as conn:
        conn.execute(systems.insert().values(system_id=system_id, name=name or system_id, kind=kind))
    flow_config_changed()
