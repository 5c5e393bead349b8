"""The write-ahead buffer: acknowledged rows survive a crash and are applied exactly once."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pyarrow as pa
import pytest

from models.ingest.buffer import Backpressure, IngestBuffer
from models.ingest.writer import IngestWriter
from tests.factories import event, events_table, fresh_db

T0 = datetime(2026, 5, 1, 9, 0)


def _count(engine, table: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()


def test_flush_commits_and_removes_segment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, writer = fresh_db(tmp_path)
    buf = IngestBuffer(writer, tmp_path / "wal", max_delay_seconds=60)
    buf.submit("business_events", events_table([event("A1", "order.created", T0)]))
    assert buf.pending_rows == 1
    assert _count(engine, "business_events") == 0  # acknowledged, not yet committed
    buf.flush()
    assert _count(engine, "business_events") == 1
    assert buf.pending_rows == 0
    assert [p for p in (tmp_path / "wal").glob("*.wal") if p.stat().st_size] == []


def test_unflushed_rows_are_replayed_after_a_crash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, writer = fresh_db(tmp_path)
    crashed = IngestBuffer(writer, tmp_path / "wal", max_delay_seconds=60)
    rows = [event(f"C{i}", "order.created", T0) for i in range(3)]
    crashed.submit("business_events", events_table(rows))
    # no flush, no stop: the process "dies" here
    restarted = IngestBuffer(IngestWriter(engine), tmp_path / "wal")
    assert restarted.recover() == 3
    assert _count(engine, "business_events") == 3
    assert _count(engine, "order_facts") == 3
    assert restarted.recover() == 0  # a second recovery finds nothing left


def test_segment_committed_but_not_deleted_is_not_applied_twice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, writer = fresh_db(tmp_path)
    buf = IngestBuffer(writer, tmp_path / "wal", max_delay_seconds=60)
    buf.submit("queue_samples", _samples(2))  # no natural key: double-apply would double rows
    segment = next((tmp_path / "wal").glob("*.wal"))
    saved = segment.read_bytes()
    buf.flush()
    segment.write_bytes(saved)  # as if the process died between commit and unlink
    IngestBuffer(writer, tmp_path / "wal").recover()
    assert _count(engine, "queue_samples") == 2


def test_torn_last_frame_is_skipped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, writer = fresh_db(tmp_path)
    buf = IngestBuffer(writer, tmp_path / "wal", max_delay_seconds=60)
    buf.submit("queue_samples", _samples(1))
    buf.submit("queue_samples", _samples(1))
    segment = next((tmp_path / "wal").glob("*.wal"))
    segment.write_bytes(segment.read_bytes()[:-10])  # crash mid-write of the second frame
    IngestBuffer(writer, tmp_path / "wal").recover()
    assert _count(engine, "queue_samples") == 1


def test_backpressure_when_full(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, writer = fresh_db(tmp_path)
    buf = IngestBuffer(writer, tmp_path / "wal", max_pending_rows=3, max_delay_seconds=60)
    buf.submit("queue_samples", _samples(3))
    with pytest.raises(Backpressure) as info:
        buf.submit("queue_samples", _samples(1))
    assert info.value.retry_after >= 1
    assert buf.pending_rows == 3


def test_background_flusher_commits_by_age(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, writer = fresh_db(tmp_path)
    buf = IngestBuffer(writer, tmp_path / "wal", max_delay_seconds=0.05)
    buf.start()
    try:
        buf.submit("queue_samples", _samples(4))
        deadline = time.monotonic() + 30  # by age (0.05 s), never flushed by hand; generous for a busy machine
        # the stats are counted just after the commit, so a reader can see the rows a moment before them
        while time.monotonic() < deadline and (
            _count(engine, "queue_samples") < 4 or buf.stats.flushed_rows["queue_samples"] < 4
        ):
            time.sleep(0.02)
        assert _count(engine, "queue_samples") == 4
        assert buf.stats.flushed_rows["queue_samples"] == 4
    finally:
        buf.stop()


class _GatedWriter(IngestWriter):
    """Holds the first commit open until the test lets it go: a flush caught mid-commit."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        super().__init__(engine)
        self.entered, self.gate = threading.Event(), threading.Event()

    def append_in(self, conn, table, data, **kwargs):  # type: ignore[no-untyped-def]
        self.entered.set()
        assert self.gate.wait(timeout=30)
        return super().append_in(conn, table, data, **kwargs)


def test_flush_waits_for_the_batch_the_background_flusher_is_committing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, _ = fresh_db(tmp_path)
    writer = _GatedWriter(engine)
    buf = IngestBuffer(writer, tmp_path / "wal", max_delay_seconds=0.01)
    buf.start()
    try:
        buf.submit("queue_samples", _samples(3))
        assert writer.entered.wait(timeout=10)  # the flusher took the batch and is inside its commit
        flusher = threading.Thread(target=buf.flush)
        flusher.start()
        flusher.join(timeout=0.3)
        returned_before_commit = not flusher.is_alive()
        writer.gate.set()
        flusher.join(timeout=30)
        assert not returned_before_commit, "flush() returned while an acknowledged batch was still uncommitted"
        assert _count(engine, "queue_samples") == 3
    finally:
        writer.gate.set()
        buf.stop()


def _samples(n: int) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "broker": "b",
                "queue": f"q{i}",
                "sampled_at": T0,
                "depth": i,
                "consumers": 1,
                "oldest_age_seconds": 0.0,
                "is_dlq": False,
                "flow_id": None,
            }
            for i in range(n)
        ]
    )


def test_a_segment_repeating_stored_events_stores_only_the_new_ones_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The unique index refuses the repeated ids, the segment's transaction is voided and applied
    # again with the stored-id check: 2 new rows, 2 duplicates, and the order's failures counted once.
    engine, writer = fresh_db(tmp_path)
    buf = IngestBuffer(writer, tmp_path / "wal", max_delay_seconds=60)
    first = [event("R1", "order.created", T0), event("R2", "order.created", T0, status="failed")]
    buf.submit("business_events", events_table(first))
    buf.flush()
    again = [*first, event("R3", "order.created", T0), event("R4", "order.created", T0)]
    buf.submit("business_events", events_table(again))
    buf.flush()
    assert _count(engine, "business_events") == 4
    assert (buf.stats.flushed_rows["business_events"], buf.stats.duplicates) == (4, 2)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT failures FROM order_facts WHERE correlation_id = 'R2'").scalar() == 1
    assert [p for p in (tmp_path / "wal").glob("*.wal") if p.stat().st_size] == []


def test_writer_append_skips_stored_ids_and_keeps_the_first_of_a_batch(fresh) -> None:  # type: ignore[no-untyped-def]
    engine, writer = fresh  # DuckDB: unique index + anti-join retry; PostgreSQL: ON CONFLICT DO NOTHING
    w1 = event("W1", "order.created", T0, event_id="w1")
    assert writer.append("business_events", events_table([w1])).written == 1
    repeat = events_table([w1, event("W2", "order.created", T0, event_id="w2")])
    doubled = pa.concat_tables([repeat, repeat])  # W1 stored; W2 twice in the batch
    result = writer.append("business_events", doubled)
    assert (result.written, result.duplicates) == (1, 3)
    assert _count(engine, "business_events") == 2
    with engine.connect() as conn:  # the first of each id is kept, and only new rows fold into order_facts
        assert conn.exec_driver_sql("SELECT count(*) FROM order_facts").scalar() == 2
