"""Durable ingest buffer: acknowledge from a write-ahead log, commit in the background.

Request handlers must not wait on DuckDB commits (checkpoints stall them for seconds,
PERF-NOTES), yet a 2xx must never lose data. So ``submit`` appends the batch to a
write-ahead segment file before it returns, and a background thread folds pending
batches into one writer transaction by size or age, whichever comes first. The
segment's name is recorded in ``ingest_segments`` in that same transaction, so a
restart replays exactly the segments that never committed.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BufferedWriter
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from models.ingest.writer import DuplicateEvents, IngestWriter
from models.queries.common import utcnow
from models.store.tables import ingest_segments

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<HQ")  # table-name length, Arrow IPC length


class Backpressure(Exception):
    """The buffer is full: the client should retry after ``retry_after`` seconds."""

    def __init__(self, pending_rows: int, retry_after: int = 1) -> None:
        super().__init__(f"ingest buffer full ({pending_rows:,} rows pending); retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class BufferStats:
    """Counters exposed at /metrics and on the Ingest panel."""

    flushed_rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    duplicates: int = 0
    flushes: int = 0
    failed_flushes: int = 0
    last_flush_at: float | None = None
    last_flush_seconds: float = 0.0
    recovered_rows: int = 0


class IngestBuffer:
    """Write-ahead buffer in front of the :class:`IngestWriter`; one per process."""

    def __init__(
        self,
        writer: IngestWriter,
        wal_dir: Path,
        *,
        max_batch_rows: int = 50_000,
        max_delay_seconds: float = 0.5,
        max_pending_rows: int = 1_000_000,
        fsync: bool = False,
    ) -> None:
        self._writer = writer
        self._dir = wal_dir
        self._dir.mkdir(parents=True, exist_ok=True)
        self._max_rows = max_batch_rows
        self._max_delay = max_delay_seconds
        self._max_pending = max_pending_rows
        self._fsync = fsync
        self._cond = threading.Condition()
        self._pending: list[tuple[str, pa.Table]] = []
        self._pending_rows = 0
        self._pending_since: float | None = None
        self._pending_event_ids: set[str] = set()
        # ids of batches taken by the flusher and not yet committed: still "pending" to callers
        self._committing_ids: dict[str, set[str]] = {}
        self._seq = 0
        self._segment = self._open_segment()
        self._retry: list[Path] = []
        self._stop = False
        self._thread: threading.Thread | None = None
        self.stats = BufferStats()

    # -- producer side -------------------------------------------------------------
    def submit(self, table: str, data: pa.Table) -> None:
        """Make ``data`` durable (write-ahead) and queue it; returns once it is safe to ack."""
        if data.num_rows == 0:
            return
        payload = _encode(table, data)
        with self._cond:
            if self._pending_rows + data.num_rows > self._max_pending:
                raise Backpressure(self._pending_rows)
            self._segment.write(payload)
            self._segment.flush()
            if self._fsync:
                os.fsync(self._segment.fileno())
            self._pending.append((table, data))
            self._pending_rows += data.num_rows
            self._pending_since = self._pending_since or time.monotonic()
            if table == "business_events":
                self._pending_event_ids.update(data.column("event_id").to_pylist())
            if self._pending_rows >= self._max_rows:
                self._cond.notify()

    def pending_event_ids(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` are acknowledged but not yet committed."""
        with self._cond:
            found = self._pending_event_ids.intersection(ids)
            for committing in self._committing_ids.values():
                found |= committing.intersection(ids)
            return found

    @property
    def pending_rows(self) -> int:
        """Rows acknowledged and not yet committed."""
        return self._pending_rows

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Replay what a previous process left, then start the background flusher."""
        self.recover()
        self._thread = threading.Thread(target=self._run, name="ingest-flusher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Flush what is pending and stop the flusher."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()
        self._segment.close()
        self._remove_if_empty(Path(self._segment.name))

    def recover(self) -> int:
        """Apply every segment left on disk that was never committed; returns rows applied."""
        current = Path(self._segment.name)
        rows = 0
        for path in sorted(self._dir.glob("*.wal")):
            if path == current:
                continue
            rows += self._apply_segment(path, list(_read_segment(path)))
        self.stats.recovered_rows += rows
        return rows

    def flush(self) -> None:
        """Commit everything acknowledged so far (shutdown, tests), including a batch the
        background flusher took just before: returning earlier would let a reader miss it."""
        with self._cond:
            batches, segment = self._swap()
        self._commit(segment, batches)
        with self._cond:
            self._cond.wait_for(lambda: not self._committing_ids, timeout=30)
        for path in list(self._retry):
            self._retry.remove(path)
            self._apply_segment(path, list(_read_segment(path)))

    # -- flusher -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._due():
                    self._cond.wait(timeout=self._wait_time())
                if self._stop:
                    return
                batches, segment = self._swap()
            self._commit(segment, batches)
            if self._retry:
                time.sleep(min(5.0, 0.5 * len(self._retry)))
                self.flush()

    def _due(self) -> bool:
        if not self._pending:
            return False
        age = time.monotonic() - (self._pending_since or time.monotonic())
        return self._pending_rows >= self._max_rows or age >= self._max_delay

    def _wait_time(self) -> float:
        if not self._pending_since:
            return self._max_delay
        return max(0.01, self._max_delay - (time.monotonic() - self._pending_since))

    def _swap(self) -> tuple[list[tuple[str, pa.Table]], Path]:
        """Take the pending batches and their segment; new submits go to a new segment."""
        batches, segment = self._pending, Path(self._segment.name)
        self._segment.close()
        self._segment = self._open_segment()
        self._pending, self._pending_rows, self._pending_since = [], 0, None
        self._committing_ids[segment.name] = self._pending_event_ids
        self._pending_event_ids = set()
        return batches, segment

    def _commit(self, segment: Path, batches: list[tuple[str, pa.Table]]) -> None:
        try:
            if batches:
                self._apply_segment(segment, batches)
            else:
                self._remove_if_empty(segment)
        except Exception:
            self.stats.failed_flushes += 1
            log.exception("ingest flush failed; segment %s kept for retry", segment.name)
            self._retry.append(segment)
        finally:
            with self._cond:
                self._committing_ids.pop(segment.name, None)
                self._cond.notify_all()

    def _apply_segment(self, segment: Path, batches: list[tuple[str, pa.Table]]) -> int:
        """Append a segment's batches in one transaction, record it, then delete the file."""
        started = time.monotonic()
        grouped: dict[str, list[pa.Table]] = defaultdict(list)
        for table, data in batches:
            grouped[table].append(data)
        merged = {table: pa.concat_tables(parts, promote_options="default") for table, parts in grouped.items()}
        try:
            rows = self._apply(segment.name, merged, check_stored=False)
        except DuplicateEvents:  # the segment repeats stored event ids: void, applied again with the check
            rows = self._apply(segment.name, merged, check_stored=True)
        segment.unlink(missing_ok=True)
        self.stats.flushes += 1
        self.stats.last_flush_at = time.time()
        self.stats.last_flush_seconds = time.monotonic() - started
        return rows

    def _apply(self, name: str, merged: dict[str, pa.Table], *, check_stored: bool) -> int:
        """One transaction: every table's batch and the segment's record (none if recorded already)."""
        rows = 0
        written: dict[str, int] = defaultdict(int)
        duplicates = 0
        with self._writer.transaction() as conn:
            done = conn.execute(sa.select(ingest_segments.c.segment).where(ingest_segments.c.segment == name)).first()
            if done is None:
                for table, data in merged.items():
                    result = self._writer.append_in(conn, table, data, check_stored=check_stored)
                    written[table] += result.written
                    duplicates += result.duplicates
                    rows += result.written
                conn.execute(ingest_segments.insert().values(segment=name, rows=rows, applied_at=utcnow()))
        for table, count in written.items():  # counted once the transaction committed
            self.stats.flushed_rows[table] += count
        self.stats.duplicates += duplicates
        return rows

    def _open_segment(self) -> BufferedWriter:
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.wal"
        return open(self._dir / name, "ab")

    @staticmethod
    def _remove_if_empty(path: Path) -> None:
        if path.exists() and path.stat().st_size == 0:
            path.unlink()


def _encode(table: str, data: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as stream:
        stream.write_table(data)
    body: bytes = sink.getvalue().to_pybytes()
    name = table.encode()
    return _HEADER.pack(len(name), len(body)) + name + body


def _read_segment(path: Path) -> Iterator[tuple[str, pa.Table]]:
    """Frames of a segment; a torn last frame (crash mid-write, never acked) is skipped."""
    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        name_len, body_len = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        end = start + name_len + body_len
        if end > len(data):
            log.warning("segment %s ends in a torn frame at byte %d; skipped", path.name, offset)
            return
        table = data[start : start + name_len].decode()
        yield table, pa.ipc.open_stream(data[start + name_len : end]).read_all()
        offset = end
