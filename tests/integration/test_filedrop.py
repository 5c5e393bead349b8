"""The drop folder, scanned by the real scheduler job and stored through the real buffer."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from app.context import AppContext, open_context
from app.settings import load_settings
from collectors.filedrop import FileDrop

HEADER = "event_id,correlation_id,event_type,source,target,occurred_at,status,attempt,error_code,payload"
GOOD_CSV = f"""{HEADER}
erp-1,SO-1001,order.accepted,d365,shopify,2026-03-04T10:00:00Z,ok,1,,"{{""erp_order"": ""SO-1001""}}"
erp-2,SO-1002,order.accepted,d365,shopify,2026-03-04T12:30:00+02:00,failed,2,ERP-429,
"""


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[AppContext]:
    """A started context whose ``filedrop`` job scans every half second."""
    settings = load_settings(
        db=tmp_path / "fw.duckdb",
        filedrop_interval_seconds=0.5,
        filedrop_settle_seconds=0.3,
        ingest_max_delay_seconds=0.05,
    )
    ctx = open_context(settings)
    ctx.start()
    try:
        yield ctx
    finally:
        ctx.close()


def _wait(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _rows(ctx: AppContext, sql: str) -> list[tuple]:
    with ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql).fetchall()]


def _drop(ctx: AppContext, name: str, data: str | bytes) -> Path:
    """Write like a careful partner: to ``.part``, then rename into place."""
    assert ctx.filedrop is not None
    part = ctx.filedrop.incoming / f"{name}.part"
    part.write_bytes(data.encode() if isinstance(data, str) else data)
    return part.rename(ctx.filedrop.incoming / name)


def test_default_drop_dir_sits_beside_the_database(app: AppContext, tmp_path: Path) -> None:
    assert app.filedrop is not None and app.filedrop.root == tmp_path / "fw.duckdb.drops"
    assert sorted(p.name for p in app.filedrop.root.iterdir()) == ["incoming", "processed", "rejected"]
    assert app.scheduler.get_job("filedrop") is not None


def test_good_csv_is_stored_and_moved_to_processed(app: AppContext) -> None:
    drop = app.filedrop
    _drop(app, "erp-status-0304.csv", GOOD_CSV)
    _wait(lambda: (drop.processed / "erp-status-0304.csv").exists(), "the file to be processed")
    assert list(drop.incoming.iterdir()) == [] and list(drop.rejected.iterdir()) == []
    _wait(lambda: len(_rows(app, "SELECT 1 FROM business_events")) == 2, "two stored events")
    assert _rows(
        app,
        "SELECT event_id, correlation_id, source, target, occurred_at, status, attempt, error_code, payload "
        "FROM business_events ORDER BY event_id",
    ) == [
        ("erp-1", "SO-1001", "d365", "shopify", datetime(2026, 3, 4, 10, 0), "ok", 1, None, '{"erp_order":"SO-1001"}'),
        ("erp-2", "SO-1002", "d365", "shopify", datetime(2026, 3, 4, 10, 30), "failed", 2, "ERP-429", None),
    ]
    assert app.counters.snapshot()["filedrop"] == {"accepted": 2, "rejected": 0, "duplicates": 0, "ignored": 0}


def test_mixed_ndjson_stores_the_good_and_reports_the_bad(app: AppContext) -> None:
    good = {"event_id": "n-1", "correlation_id": "SO-7", "event_type": "order.released", "source": "d365",
            "occurred_at": "2026-03-04T09:00:00Z"}  # fmt: skip
    lines = [
        json.dumps(good),
        "",  # blank lines are not records, but they count as lines
        json.dumps({**good, "event_id": "n-2", "occurred_at": "yesterday"}),
        json.dumps({**good, "event_id": "n-3", "attempt": "2"}),
        "{not json",
        json.dumps({**good, "event_id": "n-4", "correlation_id": "SO-8"}),
    ]
    _drop(app, "releases.ndjson", "\n".join(lines) + "\n")
    drop = app.filedrop
    report_path = drop.rejected / "releases.ndjson.errors.json"
    _wait(report_path.exists, "the error report")
    assert (drop.rejected / "releases.ndjson").exists() and list(drop.incoming.iterdir()) == []
    report = json.loads(report_path.read_text())
    assert {k: report[k] for k in ("file", "records", "accepted", "rejected", "file_error")} == {
        "file": "releases.ndjson", "records": 5, "accepted": 2, "rejected": 3, "file_error": None,
    }  # fmt: skip
    assert report["errors"] == [
        {"index": 1, "line": 3, "error": "occurred_at: invalid datetime 'yesterday'"},
        {"index": 2, "line": 4, "error": "attempt: expected an integer, got string '2'"},
        {
            "index": 3,
            "line": 5,
            "error": "invalid JSON at line 5 column 2: unexpected character, expected a string key",
        },
    ]
    _wait(lambda: len(_rows(app, "SELECT 1 FROM business_events")) == 2, "the two valid events")
    assert _rows(app, "SELECT event_id, correlation_id FROM business_events ORDER BY 1") == [
        ("n-1", "SO-7"), ("n-4", "SO-8"),
    ]  # fmt: skip


def test_csv_with_bad_rows_names_their_lines(app: AppContext) -> None:
    data = GOOD_CSV + "erp-3,SO-1003\nerp-4,SO-1004,order.accepted,d365,,2026-03-04T10:00:00Z,lost,1,,\n"
    _drop(app, "mixed.csv", data)
    report_path = app.filedrop.rejected / "mixed.csv.errors.json"
    _wait(report_path.exists, "the error report")
    report = json.loads(report_path.read_text())
    assert (report["records"], report["accepted"], report["rejected"]) == (4, 2, 2)
    assert report["errors"] == [
        {"index": 2, "line": 4, "error": "expected 10 columns, got 2"},
        {
            "index": 3,
            "line": 5,
            "error": "status: must be one of ok, failed, retrying, dead_lettered; got string 'lost'",
        },
    ]
    _wait(lambda: len(_rows(app, "SELECT 1 FROM business_events")) == 2, "the two valid events")


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("garbage.csv", b"\x00\xff\xfe binary \x00 junk", "not a readable CSV file: CSV parse error"),
        ("wrong-header.csv", "order,qty\nSO-1,2\n", "bad CSV header: unknown column(s) 'order', 'qty'; missing"),
        ("garbage.ndjson", b"\xff\xfe\x00bad", "body is not valid UTF-8 at byte 0"),
        ("orders.xlsx", b"PK\x03\x04", "unsupported file type '.xlsx'"),
        ("empty.csv", b"", "the file is empty"),
    ],
)
def test_unreadable_files_are_rejected_with_a_report(app: AppContext, name: str, data: bytes | str, error: str) -> None:
    _drop(app, name, data)
    report_path = app.filedrop.rejected / f"{name}.errors.json"
    _wait(report_path.exists, "the error report")
    report = json.loads(report_path.read_text())
    assert report["file_error"].startswith(error)
    assert (report["records"], report["accepted"], report["errors"]) == (0, 0, [])
    assert (app.filedrop.rejected / name).read_bytes() == (data.encode() if isinstance(data, str) else data)
    assert app.counters.snapshot()["filedrop"]["rejected"] == 1


def test_files_being_written_are_left_alone(app: AppContext) -> None:
    drop = app.filedrop
    partial = drop.incoming / "big-export.csv.part"
    partial.write_text(GOOD_CSV)
    hidden = drop.incoming / ".big-export.csv"
    hidden.write_text(GOOD_CSV)
    sentinel = drop.incoming / "sentinel.csv"
    sentinel.write_text(GOOD_CSV.replace("erp-", "sentinel-"))
    _wait(lambda: (drop.processed / "sentinel.csv").exists(), "a scan that saw the files being written")
    assert sorted(p.name for p in drop.incoming.iterdir()) == [".big-export.csv", "big-export.csv.part"]
    assert [p.name for p in drop.processed.iterdir()] == ["sentinel.csv"] and list(drop.rejected.iterdir()) == []
    partial.rename(drop.incoming / "big-export.csv")
    _wait(lambda: (drop.processed / "big-export.csv").exists(), "the completed file")


def test_a_fresh_file_waits_until_it_settles(tmp_path: Path) -> None:
    drop = FileDrop(tmp_path / "drops", settle_seconds=60)
    path = drop.incoming / "growing.csv"
    path.write_text(GOOD_CSV)
    assert drop.ready_files() == []
    old = time.time() - 61
    os.utime(path, (old, old))
    assert drop.ready_files() == [path]


def test_a_re_dropped_file_is_not_stored_twice(app: AppContext) -> None:
    drop = app.filedrop
    _drop(app, "daily.csv", GOOD_CSV)
    _wait(lambda: (drop.processed / "daily.csv").exists(), "the first file")
    _drop(app, "daily.csv", GOOD_CSV)  # what a crash before the move amounts to: the same file read again
    _wait(lambda: (drop.processed / "daily.1.csv").exists(), "the second file")
    app.buffer.flush()
    assert _rows(app, "SELECT count(*), count(DISTINCT event_id) FROM business_events") == [(2, 2)]
