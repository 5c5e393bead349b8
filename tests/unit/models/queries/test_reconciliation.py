"""Reconciliation: a silently dropped order is found with its key; counts per day, channel and stage
worked out by hand; one reconciliation_gap exception per stage and day (per source flow where the
gap is replayable, with the source message kept for replay)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from models.detection.passes import DetectionSettings, run_detection
from models.queries.reconciliation import as_json, reconcile
from models.store.expectations import load_expectations, sync_expectations
from tests.factories import event, events_table

NOW = datetime(2026, 3, 10, 12, 0)
D9, D10 = datetime(2026, 3, 9), datetime(2026, 3, 10)
M, H = timedelta(minutes=1), timedelta(hours=1)
FLOW = "shop-erp-orders"


def ev(key: str, etype: str, at: datetime, *, channel: str = "shop", status: str = "ok") -> dict[str, object]:
    flow = FLOW if etype in ("order.created", "order.accepted") and channel == "shop" else None
    return event(key, etype, at, channel=channel, status=status, flow_id=flow, event_id=f"{key}-{etype}-{status}")


#: (key, events). The default catalogue's stages: storefront (any status) → erp (60 min grace,
#: unless cancelled) → released (8 h, unless cancelled/held) → shipped (48 h).
ORDERS = [
    ("A", [ev("A", "order.created", D9 + 10 * H), ev("A", "order.accepted", D9 + 10 * H + 5 * M),
           ev("A", "order.released", D9 + 11 * H), ev("A", "shipment.dispatched", D9 + 20 * H)]),
    ("B", [ev("B", "order.created", D9 + 10 * H)]),  # silently dropped: the ERP never got it
    ("C", [ev("C", "order.created", D9 + 10 * H), ev("C", "order.cancelled", D9 + 10 * H + 10 * M)]),
    ("D", [ev("D", "order.created", D9 + 10 * H, status="failed")]),  # failed delivery: missing too
    ("E", [ev("E", "order.created", D9 + 10 * H), ev("E", "order.accepted", D9 + 10 * H + 5 * M),
           ev("E", "order.held", D9 + 10 * H + 30 * M)]),
    ("F", [ev("F", "order.created", D9 + 23 * H, channel="b2b"), ev("F", "order.accepted", D9 + 23 * H + 10 * M,
           channel="b2b"), ev("F", "order.released", D10 + 5 * H, channel="b2b")]),
    ("G", [ev("G", "order.created", D10 + 11 * H + 30 * M)]),  # within its 60 min grace
    ("H", [ev("H", "order.created", D10 + 10 * H), ev("H", "order.accepted", D10 + 10 * H + M)]),
    ("Z", [ev("Z", "order.created", D9 - H)]),  # the day before the window
    # First tried the day before (failed), again in the window: its first attempt decides, so it is not counted.
    ("Y", [ev("Y", "order.created", D9 - 2 * H, status="failed"), ev("Y", "order.created", D9 + 10 * H)]),
    # Accepted on the second attempt, then accepted again; never released: its gap's source is the first ok one.
    ("W", [ev("W", "order.created", D9 + 10 * H), ev("W", "order.accepted", D9 + 10 * H + 2 * M, status="failed"),
           ev("W", "order.accepted", D9 + 10 * H + 6 * M),
           event("W", "order.accepted", D9 + 10 * H + 7 * M, channel="shop", flow_id=FLOW, event_id="W-again")]),
]  # fmt: skip


@pytest.fixture()
def db(fresh):  # type: ignore[no-untyped-def]
    engine, writer = fresh
    with engine.begin() as conn:
        sync_expectations(conn, load_expectations())
    writer.append("business_events", events_table([e for _k, evs in ORDERS for e in evs]))
    yield engine, writer
    engine.dispose()


def cells(funnel) -> dict[tuple[str, str, str], tuple[int, int, int, int]]:  # type: ignore[no-untyped-def]
    return {
        (f"{d:%m-%d}", c, s): (r, m, p, x)
        for d, c, s, r, m, p, x in zip(funnel["day"], funnel["channel"], funnel["stage"], funnel["reached"],
                                       funnel["missing"], funnel["pending"], funnel["excluded"], strict=True)
    }  # fmt: skip


def test_counts_per_day_channel_and_stage_and_the_missing_keys(db) -> None:  # type: ignore[no-untyped-def]
    engine, _ = db
    with engine.connect() as conn:
        result = reconcile(conn, since=D9, until=NOW, now=NOW)
    # (reached, missing, pending, excluded)
    assert cells(result.funnel) == {
        ("03-09", "b2b", "storefront"): (1, 0, 0, 0),
        ("03-09", "b2b", "erp"): (1, 0, 0, 0),
        ("03-09", "b2b", "released"): (1, 0, 0, 0),
        ("03-09", "b2b", "shipped"): (0, 0, 1, 0),  # released 05:00 today, 48 h grace
        ("03-09", "shop", "storefront"): (6, 0, 0, 0),  # A B C D E W (not Y: first tried the day before)
        ("03-09", "shop", "erp"): (3, 2, 0, 1),  # A E W reached; B D missing; C cancelled
        ("03-09", "shop", "released"): (1, 1, 0, 2),  # A; W missing (due 18:06); C cancelled, E held
        ("03-09", "shop", "shipped"): (1, 0, 0, 2),
        ("03-10", "shop", "storefront"): (2, 0, 0, 0),  # G H
        ("03-10", "shop", "erp"): (1, 0, 1, 0),  # H; G created 30 min ago
        ("03-10", "shop", "released"): (0, 0, 1, 0),  # H accepted 10:01, due 18:01
        ("03-10", "shop", "shipped"): (0, 0, 0, 0),
    }
    gaps = result.gaps
    assert list(gaps["correlation_id"]) == ["B", "D", "W"]
    assert list(gaps["stage"]) == ["erp", "erp", "released"] and list(gaps["source_event_id"]) == [
        "B-order.created-ok", "D-order.created-failed", "W-order.accepted-ok",
    ]  # fmt: skip
    assert list(gaps["due_at"]) == [D9 + 11 * H, D9 + 11 * H, D9 + 18 * H + 6 * M]
    with engine.connect() as conn:
        b2b = reconcile(conn, since=D9, until=NOW, now=NOW, channel="b2b")
    assert set(b2b.funnel["channel"]) == {"b2b"} and b2b.gaps.empty
    body = as_json(result)
    assert body["gaps"][0]["correlation_id"] == "B" and body["stages"][1]["grace_minutes"] == 60


def test_gaps_open_one_exception_per_stage_and_day_with_the_keys(db) -> None:  # type: ignore[no-untyped-def]
    engine, writer = db
    settings = DetectionSettings(resolve_after_passes=1, resolve_after=timedelta(0))
    with engine.begin() as conn:
        run_detection(conn, now=NOW, settings=settings)
    with engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT business_key FROM exceptions WHERE kind = 'reconciliation_gap' ORDER BY 1"))
        # three days are reconciled: Z and Y (8 March) are a gap of their own day; W never released
        assert [k for (k,) in keys] == ["erp/2026-03-08", "erp/2026-03-09", "released/2026-03-09"]
        row = conn.execute(
            sa.text("SELECT * FROM exceptions WHERE business_key = 'erp/2026-03-09'")
        ).mappings().one()  # fmt: skip
        orders = [
            r[0]
            for r in conn.execute(
                sa.text("SELECT correlation_id FROM exception_orders WHERE exception_id = :i ORDER BY 1"),
                {"i": row["exception_id"]},
            )
        ]
        messages = [
            r[0]
            for r in conn.execute(
                sa.text("SELECT event_id FROM exception_messages WHERE exception_id = :i ORDER BY 1"),
                {"i": row["exception_id"]},
            )
        ]
    assert row["fingerprint"] == f"reconciliation_gap:{FLOW}:erp/2026-03-09"
    assert orders == ["B", "D"] and row["affected_orders"] == 2
    assert messages == ["B-order.created-ok", "D-order.created-failed"]  # what a replay re-sends
    # B reaches the ERP: only D is left; its message is still pending, B's delivered.
    writer.append("business_events", events_table([ev("B", "order.accepted", NOW + M)]))
    with engine.begin() as conn:
        run_detection(conn, now=NOW + 2 * M, settings=settings)
        left = conn.execute(
            sa.text("SELECT event_id, state FROM exception_messages WHERE exception_id = :i ORDER BY 1"),
            {"i": row["exception_id"]},
        ).all()
        assert conn.execute(sa.text("SELECT affected_orders FROM exceptions WHERE exception_id = :i"),
                            {"i": row["exception_id"]}).scalar_one() == 1  # fmt: skip
    assert [tuple(r) for r in left] == [
        ("B-order.created-ok", "delivered"), ("D-order.created-failed", "pending"),
    ]  # fmt: skip
