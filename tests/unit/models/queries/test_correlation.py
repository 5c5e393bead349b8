"""Flow signals on one time axis, and the likely cause computed from them, on planted telemetry."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from models.queries.common import Window
from models.queries.correlation import flow_signals, likely_cause
from tests.factories import add_flow, add_system, event, events_table, fresh_db

FIRST_SEEN = datetime(2026, 3, 10, 11, 57)
M, H = timedelta(minutes=1), timedelta(hours=1)
ACC = "shop-erp-orders"


def span(at: datetime, ms: float, *, peer: str = "erp", error: bool = False, i: int = 0) -> dict[str, object]:
    return {"trace_id": f"t{at:%d%H%M}{peer}{i}", "span_id": f"s{i}", "parent_span_id": None,
            "name": "POST /orders", "kind": "client", "service_name": "mw-erp-client", "start_time": at,
            "end_time": at + timedelta(milliseconds=ms), "duration_ms": ms,
            "status_code": "error" if error else "unset", "status_message": None, "correlation_id": None,
            "attributes": f'{{"peer.service":"{peer}"}}'}  # fmt: skip


def sample(at: datetime, depth: int, age: float, *, dlq: bool = False) -> dict[str, object]:
    return {"broker": "b", "queue": "orders.shop.dlq" if dlq else "orders.shop", "sampled_at": at, "depth": depth,
            "consumers": 2, "oldest_age_seconds": age, "is_dlq": dlq, "flow_id": ACC}  # fmt: skip


@pytest.fixture()
def db(tmp_path):  # type: ignore[no-untyped-def]
    engine, writer = fresh_db(tmp_path)
    add_system(engine, "shop", "storefront", "Shop")
    add_system(engine, "erp", "erp", "ERP (main)")
    add_flow(engine, ACC, "order.created", "order.accepted", 900, source_system="shop", target_system="erp",
             lag_threshold_seconds=600, queue="orders.shop")  # fmt: skip
    yield engine, writer
    engine.dispose()


def _exception(writer, kind: str = "sla_breach", key: str = "sync-lag") -> None:  # type: ignore[no-untyped-def]
    writer.append("exceptions", pa.Table.from_pylist([{
        "exception_id": 1, "fingerprint": f"{kind}:{ACC}:{key}", "kind": kind, "business_key": key, "flow_id": ACC,
        "title": "x", "severity": "medium", "status": "open", "first_seen": FIRST_SEEN, "last_seen": FIRST_SEEN,
        "occurrences": 1, "affected_orders": 0, "updated_at": FIRST_SEEN}]))  # fmt: skip


def _telemetry(writer, *, slow_from: datetime | None, errors_from: datetime | None, queue_from: datetime | None):  # type: ignore[no-untyped-def]
    """Six ERP calls a minute (100 ms, ok) and a quiet queue for 28 h, with the planted changes."""
    spans, samples = [], []
    at = FIRST_SEEN - 28 * H
    while at < FIRST_SEEN + H:
        slow = slow_from is not None and at >= slow_from
        failing = errors_from is not None and at >= errors_from
        spans += [span(at, 310 if slow else 100, error=failing and i < 3, i=i) for i in range(6)]
        busy = queue_from is not None and at >= queue_from
        samples.append(sample(at, 400 if busy else 4, 900 if busy else 2))
        at += M
    writer.append("spans", pa.Table.from_pylist(spans))
    writer.append("queue_samples", pa.Table.from_pylist(samples))


def test_latency_that_rose_first_is_the_likely_cause(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    _exception(writer)
    # ERP latency 100 → 310 ms from 11:45; the queue backs up from 11:52
    _telemetry(writer, slow_from=FIRST_SEEN - 12 * M, errors_from=None, queue_from=FIRST_SEEN - 5 * M)
    with engine.connect() as conn:
        cause = likely_cause(conn, exception_id=1)
    assert cause is not None
    assert cause["text"] == "ERP API latency (mw-erp-client) rose 3.1× 12 min before the lag breach"
    assert (cause["signal"], cause["system"], cause["lead_minutes"]) == ("target_latency", "erp", 12)
    assert cause["baseline"] == pytest.approx(100) and cause["peak"] == pytest.approx(310)


def test_errors_before_latency(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    _exception(writer, "dead_letter", "ERP-500")
    # half the calls fail from 11:37; latency only from 11:52
    _telemetry(writer, slow_from=FIRST_SEEN - 5 * M, errors_from=FIRST_SEEN - 20 * M, queue_from=None)
    with engine.connect() as conn:
        cause = likely_cause(conn, exception_id=1)
    assert cause is not None and cause["signal"] == "target_errors"
    expected = "ERP API errors (mw-erp-client) rose to 50% of calls (baseline 0.0%) 22 min before the dead letters"
    assert cause["text"] == expected


def test_nothing_moved(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    _exception(writer)
    _telemetry(writer, slow_from=None, errors_from=None, queue_from=None)
    with engine.connect() as conn:
        assert likely_cause(conn, exception_id=1) is None
        with pytest.raises(KeyError):
            likely_cause(conn, exception_id=99)


def test_flow_signals_share_one_axis(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    t0 = datetime(2026, 3, 10, 10, 0)
    writer.append("spans", pa.Table.from_pylist(
        [span(t0 + i * M, ms, i=i, error=i == 0) for i, ms in enumerate((100, 200, 300, 400))]  # 10:00–10:03
        + [span(t0 + 16 * M, 50, peer="shop")]  # a call to the source system, bucket 10:15
    ))  # fmt: skip
    writer.append("queue_samples", pa.Table.from_pylist(
        [sample(t0 + 5 * M, 7, 30), sample(t0 + 9 * M, 12, 40), sample(t0 + 9 * M, 2, 600, dlq=True)]))  # fmt: skip
    writer.append("business_events", events_table([
        event("O1", "order.created", t0 - 30 * M, flow_id=ACC, source="shop", target="erp", channel="shop"),
        event("O1", "order.accepted", t0 + 22 * M, flow_id=ACC, source="shop", target="erp", channel="shop"),
        event("O2", "order.created", t0 + M, flow_id=ACC, source="shop", target="erp", channel="shop"),
    ]))  # fmt: skip
    with engine.connect() as conn:
        s = flow_signals(conn, flow_id=ACC, window=Window(t0, t0 + 30 * M, 300))
    assert list(s.index) == [t0 + k * 5 * M for k in range(6)]
    first = s.loc[t0]
    assert (first.target_calls, first.target_errors, first.target_error_rate) == (4, 1, 0.25)
    assert first.target_p95_ms == pytest.approx(300 + 0.85 * 100)  # linear: position 2.85 of [100..400]
    assert s.loc[t0 + 15 * M, "source_calls"] == 1
    assert (s.loc[t0 + 5 * M, "queue_depth"], s.loc[t0 + 5 * M, "dlq_depth"]) == (12, 2)
    assert s.loc[t0 + 5 * M, "queue_oldest_age_seconds"] == 40
    assert s.loc[t0 + 20 * M, "sync_lag_p95_seconds"] == pytest.approx(52 * 60)  # O1 09:30 → 10:22
    # stuck at each bucket's end (SLA 900 s): O1 until its acceptance at 10:22, O2 (never accepted)
    # from 10:16
    assert list(s["orders_stuck"]) == [1, 1, 1, 2, 1, 1]
    assert s["target_calls"].sum() == 4 and s.loc[t0 + 10 * M, "target_p95_ms"] != s.loc[t0 + 10 * M, "target_p95_ms"]
