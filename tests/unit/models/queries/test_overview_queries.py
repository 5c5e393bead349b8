"""Overview KPIs on a hand-built fixture; every expected number is worked out below.

Percentiles are continuous with linear interpolation (DuckDB quantile_cont, PostgreSQL
percentile_cont): for sorted values v0..v(n-1), position p*(n-1), interpolated.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest
import sqlalchemy as sa

from models.queries import overview as q
from models.queries.common import Window
from models.queries.impact import refresh_impact
from models.store.tables import exceptions
from tests.factories import add_flow, event, events_table

NOW = datetime(2026, 3, 10, 12, 0)
H = timedelta(hours=1)
M = timedelta(minutes=1)
F1, F2 = "shop-erp-orders", "erp-3pl-release"


def _t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute)


def _orders() -> list[dict[str, object]]:
    rows = []

    def lifecycle(oid: str, created, accepted=None, released=None, dispatched=None) -> None:  # type: ignore[no-untyped-def]
        rows.append(event(oid, "order.created", created, flow_id=F1))
        if accepted:
            rows.append(event(oid, "order.accepted", accepted, flow_id=F1))
        if released:
            rows.append(event(oid, "order.released", released, flow_id=F2, target="3pl"))
        if dispatched:
            rows.append(event(oid, "shipment.dispatched", dispatched, source="3pl"))

    lifecycle("O1", _t(9, 13), _t(9, 13, 10), _t(9, 14), _t(10, 1))  # cycle 12 h
    lifecycle("O2", _t(9, 18), _t(9, 18, 30), _t(9, 19), _t(10, 8))  # cycle 14 h
    lifecycle("O3", _t(10, 2), _t(10, 2, 5), _t(10, 4, 35), _t(10, 10))  # cycle 8 h
    lifecycle("O4", _t(10, 9), _t(10, 9, 20))  # in flight
    # O5: the first delivery failed, the retry succeeded; not yet accepted → in flight.
    rows.append(event("O5", "order.created", _t(10, 11), flow_id=F1, status="failed"))
    rows.append(event("O5", "order.created", _t(10, 11), flow_id=F1, attempt=2))
    # O6: created before the window; its release completes inside it (26 h 55 min lag).
    lifecycle("O6", _t(8, 10), _t(8, 10, 5), _t(9, 13), _t(9, 15))
    # O7: cancelled today → counted today, not in flight.
    rows.append(event("O7", "order.created", _t(10, 10), flow_id=F1))
    rows.append(event("O7", "order.cancelled", _t(10, 10, 30)))
    return rows


@pytest.fixture()
def db(fresh):  # type: ignore[no-untyped-def]
    engine, writer = fresh
    add_flow(engine, F1, "order.created", "order.accepted", 900)
    add_flow(engine, F2, "order.accepted", "order.released", 7200, "fulfilment")
    writer.append("business_events", events_table(_orders()))
    ages = [  # (age, severity, status, affected orders)
        (30 * M, "critical", "open", 3),
        (2 * H, "high", "open", 10),
        (10 * H, "medium", "open", 10),
        (48 * H, "high", "open", 1),
        (120 * H, "low", "open", 5),
        (3 * H, "medium", "acknowledged", 0),
        (1 * H, "critical", "resolved", 50),
    ]
    with engine.begin() as conn:
        for i, (age, sev, status, affected) in enumerate(ages):
            conn.execute(
                exceptions.insert().values(
                    fingerprint=f"fp{i}",
                    kind="k",
                    title=f"x{i}",
                    severity=sev,
                    status=status,
                    first_seen=NOW - age,
                    last_seen=NOW,
                    occurrences=1,
                    affected_orders=affected,
                    updated_at=NOW,
                    flow_id=F1,
                )
            )
    writer.append(
        "queue_samples",
        pa.Table.from_pylist(
            [
                {
                    "broker": "b",
                    "queue": "q1",
                    "sampled_at": NOW - 10 * M,
                    "depth": 5,
                    "consumers": 2,
                    "oldest_age_seconds": 30.0,
                    "is_dlq": False,
                    "flow_id": F1,
                },
                {
                    "broker": "b",
                    "queue": "q1",
                    "sampled_at": NOW - 2 * M,
                    "depth": 7,
                    "consumers": 2,
                    "oldest_age_seconds": 12.0,
                    "is_dlq": False,
                    "flow_id": F1,
                },
                {
                    "broker": "b",
                    "queue": "q1.dlq",
                    "sampled_at": NOW - 3 * M,
                    "depth": 2,
                    "consumers": 0,
                    "oldest_age_seconds": 600.0,
                    "is_dlq": True,
                    "flow_id": F1,
                },
                {
                    "broker": "b",
                    "queue": "stale",
                    "sampled_at": NOW - 2 * H,
                    "depth": 100,
                    "consumers": 1,
                    "oldest_age_seconds": 1.0,
                    "is_dlq": False,
                    "flow_id": None,
                },
            ]
        ),
    )
    yield engine, writer
    engine.dispose()


WINDOW = Window.named("24h", now=NOW)  # [03-09 12:00, 03-10 12:00), 15-min buckets


def test_order_counts(db) -> None:  # type: ignore[no-untyped-def]
    engine, _ = db
    with engine.connect() as conn:
        counts = q.order_counts(conn, now=NOW, window=WINDOW)
    # today: O3, O4, O5, O7; window: O1–O5, O7; in flight: O4, O5 (O6 shipped, O7 cancelled)
    assert counts == {"orders_today": 4, "orders_in_range": 6, "in_flight": 2}


def test_cycle_time_percentiles(db) -> None:  # type: ignore[no-untyped-def]
    engine, _ = db
    with engine.connect() as conn:
        ct = q.cycle_time(conn, window=WINDOW)
    # shipped orders created in the window: 8 h, 12 h, 14 h (O6 was created before it)
    assert ct["shipped"] == 3
    assert ct["p50_hours"] == pytest.approx(12.0)
    assert ct["p90_hours"] == pytest.approx(12 + 0.8 * 2)  # position 1.8
    assert ct["p95_hours"] == pytest.approx(12 + 0.9 * 2)  # position 1.9


def test_sync_lag_by_flow(db) -> None:  # type: ignore[no-untyped-def]
    engine, _ = db
    with engine.connect() as conn:
        lag = q.sync_lag_by_flow(conn, window=WINDOW).set_index("flow_id")
    # F1 lags (s): O3 300, O1 600, O4 1200, O2 1800 (O6 accepted before the window)
    assert lag.loc[F1, "steps"] == 4
    assert lag.loc[F1, "p50_seconds"] == pytest.approx(600 + 0.5 * 600)
    assert lag.loc[F1, "p95_seconds"] == pytest.approx(1200 + 0.85 * 600)
    assert lag.loc[F1, "over_sla"] == 2
    # F2 lags (s): O2 1800, O1 3000, O3 9000, O6 96900 (start looked up before the window)
    assert lag.loc[F2, "steps"] == 4
    assert lag.loc[F2, "p50_seconds"] == pytest.approx(3000 + 0.5 * 6000)
    assert lag.loc[F2, "p95_seconds"] == pytest.approx(9000 + 0.85 * 87900)
    assert lag.loc[F2, "over_sla"] == 2


def test_sync_lag_series_buckets(db) -> None:  # type: ignore[no-untyped-def]
    engine, _ = db
    with engine.connect() as conn:
        series = q.sync_lag_series(conn, window=WINDOW)
    f1 = series[series.flow_id == F1].set_index("bucket")
    # O1 accepted 13:10 → bucket 13:00 with one step of 600 s
    assert f1.loc[datetime(2026, 3, 9, 13, 0), "p95_seconds"] == pytest.approx(600)
    assert f1["steps"].sum() == 4


def test_exception_aging_and_totals(db) -> None:  # type: ignore[no-untyped-def]
    engine, _ = db
    with engine.connect() as conn:
        aging = q.exception_aging(conn, now=NOW)
        totals = q.exception_totals(conn, now=NOW)
    got = {(r.band, r.severity): r.exceptions for r in aging.itertuples()}
    assert got == {
        ("<1h", "critical"): 1,
        ("1–4h", "high"): 1,
        ("1–4h", "medium"): 1,  # the acknowledged one, 3 h old
        ("4–24h", "medium"): 1,
        ("1–3d", "high"): 1,
        (">3d", "low"): 1,
    }
    assert totals["open_total"] == 6 and isinstance(totals["open_total"], int)  # JSON shows 6, not 6.0
    assert (totals["critical"], totals["high"], totals["medium"], totals["low"]) == (1, 2, 2, 1)
    assert totals["oldest_hours"] == pytest.approx(120)
    assert totals["mean_age_hours"] == pytest.approx((0.5 + 2 + 10 + 48 + 120 + 3) / 6)


def test_needs_attention_orders_by_impact_then_severity(db) -> None:  # type: ignore[no-untyped-def]
    engine, _ = db
    with engine.connect() as conn:
        top = q.needs_attention(conn, now=NOW, limit=4)
    # 10 (high) and 10 (medium) tie on impact: high first; then 5 (low), 3 (critical)
    assert list(top.title) == ["x1", "x2", "x4", "x0"]
    assert list(top.affected_orders) == [10, 10, 5, 3]


def test_needs_attention_ranks_by_value_at_risk_first(db) -> None:  # type: ignore[no-untyped-def]
    engine, _ = db
    with engine.begin() as conn:  # x3 (1 order) holds O1 worth 500.00, x0 (3 orders) O4 worth 20.25
        conn.execute(
            sa.text("UPDATE order_facts SET order_value = 500, customer_tier = 'key' WHERE correlation_id='O1'")
        )
        conn.execute(sa.text("UPDATE order_facts SET order_value = 20.25 WHERE correlation_id='O4'"))
        conn.execute(
            sa.text("INSERT INTO exception_orders SELECT exception_id, :o FROM exceptions WHERE fingerprint = :fp"),
            [{"o": "O1", "fp": "fp3"}, {"o": "O4", "fp": "fp0"}],
        )
        refresh_impact(conn)  # as the detection pass that linked them would
        top = q.needs_attention(conn, now=NOW, limit=4)
    assert list(top.title) == ["x3", "x0", "x1", "x2"]
    assert list(top.value_at_risk) == [500.0, 20.25, 0.0, 0.0]
    assert top.customer_tier.iloc[0] == "key" and top.customer_tier.isna().sum() == 3
    assert list(top.age_hours) == [48.0, 0.5, 2.0, 10.0]


def test_queue_current_and_series(db) -> None:  # type: ignore[no-untyped-def]
    engine, _ = db
    with engine.connect() as conn:
        current = q.queue_current(conn, now=NOW).set_index("queue")
        series = q.queue_depth_series(conn, window=WINDOW)
    assert sorted(current.index) == ["q1", "q1.dlq"]  # 'stale' is 2 h old
    assert current.loc["q1", "depth"] == 7
    assert current.loc["q1.dlq", "oldest_age_seconds"] == 600
    q1 = series[series.queue == "q1"]
    assert list(q1.depth) == [7]  # 11:50 and 11:58 share the 11:45 bucket; peak kept


def test_overview_json_matches_parts(db) -> None:  # type: ignore[no-untyped-def]
    engine, _ = db
    with engine.connect() as conn:
        body = q.overview(conn, now=NOW, window=WINDOW)
        side = q.overview(conn, now=NOW, window=WINDOW, engine=engine)
    assert side == body, "the six reads side by side (as the API runs them) give the same overview"
    assert body["orders"]["in_flight"] == 2
    assert body["cycle_time"]["p50_hours"] == pytest.approx(12.0)
    assert body["exceptions"]["open_total"] == 6
    assert [x["queue"] for x in body["queues"]] == ["q1", "q1.dlq"]


def test_writer_deduplicates_and_keeps_facts(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    rows = [r for r in _orders() if r["correlation_id"] == "O5"]  # new ids: one failed, one ok
    first = writer.append("business_events", events_table(rows))
    again = writer.append("business_events", events_table(rows + rows))
    assert (first.written, first.duplicates) == (2, 0)
    assert (again.written, again.duplicates) == (0, 4)
    with engine.connect() as conn:
        sql = "SELECT failures FROM order_facts WHERE correlation_id = 'O5'"
        failures = conn.exec_driver_sql(sql).scalar()
    assert failures == 2  # the fixture's failed delivery and this one; the re-sends add nothing
