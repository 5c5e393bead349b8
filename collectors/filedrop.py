"""File drops: CSV / NDJSON exports of canonical events from batch ERP interfaces.

A partner writes files into ``<drop_dir>/incoming/``; a scheduled scan reads each file
once it is complete (no ``.tmp``/``.part`` suffix, not a dot-file, unchanged for
``settle_seconds``), validates every record with the events API's rules and hands the
valid ones to the ingest buffer. Then the file moves:

- every record valid → ``processed/<name>``;
- some or all records invalid, or the file unreadable → ``rejected/<name>`` with
  ``rejected/<name>.errors.json`` beside it (counts, and ``{index, line, error}`` per bad
  record). The valid records of a partly bad file ARE stored: holding back good orders
  because a neighbour row is bad would turn one typo into a business outage; the report
  says exactly which rows to fix and re-drop (re-dropping the whole file is safe, see below).

Nothing is dropped silently: a file of an unknown type is rejected with a report too.
Crash safety: a file leaves ``incoming/`` only after its records were acknowledged by
the buffer (durable). A crash before the move re-reads the file on the next scan; events
are de-duplicated on ``event_id`` by the ingest writer, so nothing is stored twice.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv

from collectors.events import EventIn, EventsDecodeError, parse_events, validate_events
from models.ingest.buffer import Backpressure

log = logging.getLogger(__name__)

Submit = Callable[[str, pa.Table], None]

#: Suffixes of files still being written (browsers, WinSCP, rsync-like copies, our own reports).
IN_PROGRESS = (".tmp", ".part", ".partial", ".crdownload", ".filepart", ".swp")
#: Extension → how the file is read.
FORMATS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "json"}
FIELDS = tuple(EventIn.model_fields)
REQUIRED = tuple(name for name, f in EventIn.model_fields.items() if f.is_required())


class FileError(ValueError):
    """The file as a whole cannot be read; nothing in it is accepted."""


@dataclass(frozen=True)
class FileOutcome:
    """What became of one dropped file."""

    name: str
    moved_to: Path
    records: int
    accepted: int
    rejected: int
    error: str | None = None  # why the whole file was refused


@dataclass
class _Read:
    """A file's valid rows and its per-record errors (``index`` 0-based, ``line`` 1-based)."""

    table: pa.Table
    errors: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0


class FileDrop:
    """One drop folder: ``incoming/`` is scanned, ``processed/`` and ``rejected/`` receive files."""

    def __init__(self, root: Path, *, settle_seconds: float = 1.0, chunk_rows: int = 50_000) -> None:
        self.root = root
        self.incoming, self.processed, self.rejected = root / "incoming", root / "processed", root / "rejected"
        for folder in (self.incoming, self.processed, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)
        self.settle_seconds = settle_seconds
        self.chunk_rows = chunk_rows

    def ready_files(self) -> list[Path]:
        """Files in ``incoming/`` that are complete, oldest first."""
        cutoff = time.time() - self.settle_seconds
        ready = []
        for path in self.incoming.iterdir():
            if path.name.startswith(".") or path.name.lower().endswith(IN_PROGRESS):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # moved away by its writer meanwhile
                continue
            if path.is_file() and stat.st_mtime <= cutoff:
                ready.append((stat.st_mtime, path.name, path))
        return [path for *_, path in sorted(ready)]

    def scan(self, submit: Submit, now: datetime) -> list[FileOutcome]:
        """Process every complete file; stops early (files stay) when the buffer is full."""
        outcomes = []
        for path in self.ready_files():
            try:
                outcomes.append(self.process(path, submit, now))
            except Backpressure as exc:
                log.info("file drop paused, %s stays in incoming/: %s", path.name, exc)
                break
            except OSError as exc:  # unreadable right now (permissions, vanished): retried next scan
                log.warning("file drop: cannot process %s: %s", path.name, exc)
        return outcomes

    def process(self, path: Path, submit: Submit, now: datetime) -> FileOutcome:
        """Read, validate, submit the valid records, then move the file (and report) out of incoming."""
        try:
            read = read_file(path, received_at=now)
        except FileError as exc:
            return self._reject(path, now, records=0, accepted=0, errors=[], error=str(exc))
        for batch in read.table.to_batches(max_chunksize=self.chunk_rows):
            submit("business_events", pa.Table.from_batches([batch], schema=read.table.schema))
        if read.errors:
            return self._reject(path, now, read.records, read.table.num_rows, read.errors, None)
        moved = _move(path, self.processed)
        log.info("file drop: %s processed, %d events", path.name, read.table.num_rows)
        return FileOutcome(path.name, moved, read.records, read.table.num_rows, 0)

    def _reject(
        self,
        path: Path,
        now: datetime,
        records: int,
        accepted: int,
        errors: list[dict[str, Any]],
        error: str | None,
    ) -> FileOutcome:
        target = _free_name(self.rejected, path.name)
        report = {
            "file": path.name,
            "rejected_at": now.isoformat() + "Z",
            "records": records,
            "accepted": accepted,
            "rejected": len(errors),
            "file_error": error,
            "errors": errors,
        }
        # The report is complete on disk before the file moves: a crash in between re-reads the file.
        _write_atomic(target.with_name(target.name + ".errors.json"), orjson.dumps(report, option=orjson.OPT_INDENT_2))
        os.replace(path, target)
        log.warning(
            "file drop: %s rejected (%s)",
            path.name,
            error or f"{len(errors)} of {records} records invalid, {accepted} stored",
        )
        return FileOutcome(path.name, target, records, accepted, len(errors), error)


def read_file(path: Path, *, received_at: datetime) -> _Read:
    """Valid rows and per-record errors of one dropped file, by its extension."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise FileError(f"unsupported file type {path.suffix or '(none)'!r}: drop .csv, .ndjson, .jsonl or .json")
    data = path.read_bytes()
    if not data.strip():
        raise FileError("the file is empty")
    if kind == "csv":
        return _read_csv(data, received_at)
    try:
        media = "application/x-ndjson" if kind == "ndjson" else "application/json"
        parsed = parse_events(data, content_type=media, received_at=received_at)
    except EventsDecodeError as exc:
        raise FileError(str(exc)) from None
    lines = [n for n, text in enumerate(data.split(b"\n"), start=1) if text.strip()] if kind == "ndjson" else None
    return _Read(parsed.table, [_located(e, lines) for e in parsed.rejected], parsed.count)


def _read_csv(data: bytes, received_at: datetime) -> _Read:
    """A header of canonical field names, one record per line; values are text, parsed like JSON's."""
    bad_rows: list[tuple[int, str]] = []

    def invalid_row(row: Any) -> str:
        bad_rows.append((row.number, f"expected {row.expected_columns} columns, got {row.actual_columns}"))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            # One thread: the parser then knows each bad row's line number.
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=invalid_row, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(FIELDS, pa.string()), strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise FileError(f"not a readable CSV file: {exc}") from None
    _check_header(table.column_names)
    skipped = {number for number, _ in bad_rows}
    # Without quoted newlines every row is one line: data row k sits on the k-th line not skipped.
    lines = (n for n in range(2, 2 + table.num_rows + len(bad_rows)) if n not in skipped)
    records: list[tuple[int, dict[str, Any]]] = []
    errors = dict(bad_rows)  # line → error
    for line, row in zip(lines, table.to_pylist(), strict=True):
        if all(v is None for v in row.values()):
            continue  # a blank line
        try:
            records.append((line, _typed(row)))
        except ValueError as exc:
            errors[line] = str(exc)
    parsed = validate_events([r for _, r in records], received_at=received_at)
    errors.update((records[e["index"]][0], e["error"]) for e in parsed.rejected)
    data_lines = sorted({line for line, _ in records} | errors.keys())
    report = [{"index": i, "line": line, "error": errors[line]} for i, line in enumerate(data_lines) if line in errors]
    return _Read(parsed.table, report, len(data_lines))


def _check_header(columns: Sequence[str]) -> None:
    unknown = [c for c in columns if c not in FIELDS]
    missing = [c for c in REQUIRED if c not in columns]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    problems = []
    if unknown:
        problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    if problems:
        raise FileError(f"bad CSV header: {'; '.join(problems)} (canonical fields: {', '.join(FIELDS)})")


def _typed(row: Mapping[str, str | None]) -> dict[str, Any]:
    """A CSV row as the JSON record it stands for: empty cells absent, numbers and payload parsed."""
    record: dict[str, Any] = {k: v for k, v in row.items() if v is not None}
    attempt = record.get("attempt")
    if isinstance(attempt, str) and attempt.strip().isdigit():
        record["attempt"] = int(attempt)  # anything else stays text and EventIn words the error
    if "payload" in record:
        try:
            record["payload"] = orjson.loads(record["payload"])
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"payload: not JSON: {exc}") from None
    return record


def _located(error: dict[str, Any], lines: list[int] | None) -> dict[str, Any]:
    """``{index, line, error}``: NDJSON indexes count non-blank lines, so map them back."""
    if lines is None:
        return error
    return {"index": error["index"], "line": lines[error["index"]], "error": error["error"]}


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name`` with ``.1``, ``.2`` … before its extension when taken."""
    target = folder / name
    stem, suffix = os.path.splitext(name)
    n = 0
    while target.exists():
        n += 1
        target = folder / f"{stem}.{n}{suffix}"
    return target


def _move(path: Path, folder: Path) -> Path:
    target = _free_name(folder, path.name)
    os.replace(path, target)
    return target


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
