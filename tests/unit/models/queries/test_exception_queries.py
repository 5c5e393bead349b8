"""The workbench grid query: filters, sorting, paging and the detail panel, on hand-made rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from models.ingest.writer import IngestWriter
from models.queries.exceptions import ExceptionFilter, filtered_ids, get_exception, list_exceptions
from models.store.tables import exception_orders, exceptions, flows

NOW = datetime(2026, 11, 20, 12, 0)

#: (id, kind, flow, system, severity, status, assignee, age hours, title, snoozed hours ahead, orders)
ROWS = [
    (1, "dead_letter", "f-ship", "3pl_north", "critical", "open", None, 0.5, "Shipments dead-lettered", None, 40),
    (
        2,
        "delivery_failed",
        "f-order",
        "d365",
        "medium",
        "acknowledged",
        "dana",
        2,
        "Order SHP-1 rejected: 100%_off",
        None,
        1,
    ),
    (3, "delivery_failed", "f-order", "d365", "high", "open", None, 10, "Order SHP-2 rejected", 3, 1),
    (4, "sla_breach", "f-ship", "3pl_north", "low", "resolved", "sam", 30, "Late confirmations", None, 7),
    (5, "missing_ack", None, "sup_acme", "medium", "open", None, 100, "No 855 for PO-7", None, 0),
]


@pytest.fixture(scope="module")
def engine(fresh_module: Callable[[], tuple[Engine, IngestWriter]]) -> Iterator[Engine]:
    """Built once per backend: the tests only read it."""
    engine, writer = fresh_module()
    with writer.transaction() as conn:
        conn.execute(
            flows.insert(),
            [
                {
                    "flow_id": f,
                    "name": f"Flow {f}",
                    "source_system": "a",
                    "target_system": "b",
                    "start_event": "a.b",
                    "end_event": "c.d",
                    "sla_seconds": 60,
                    "lag_threshold_seconds": 60,
                    "category": "orders",
                }
                for f in ("f-ship", "f-order")
            ],
        )
        for i, kind, flow, system, sev, status, who, age, title, snooze, orders in ROWS:
            seen = NOW - timedelta(hours=age)
            conn.execute(
                exceptions.insert().values(
                    exception_id=i,
                    fingerprint=f"fp{i}",
                    kind=kind,
                    flow_id=flow,
                    system_id=system,
                    business_key=f"KEY-{i}",
                    title=title,
                    first_error=f"error {i}",
                    severity=sev,
                    status=status,
                    assignee=who,
                    first_seen=seen,
                    last_seen=seen + timedelta(minutes=10),
                    occurrences=i,
                    affected_orders=orders,
                    updated_at=seen,
                    snoozed_until=NOW + timedelta(hours=snooze) if snooze else None,
                )
            )
        conn.execute(exception_orders.insert(), [{"exception_id": 1, "correlation_id": f"SHP-{n}"} for n in (7, 8)])
    yield engine
    engine.dispose()


def _ids(engine: Engine, flt: ExceptionFilter, **kw: object) -> list[int]:
    with engine.connect() as conn:
        return [r["exception_id"] for r in list_exceptions(conn, flt, now=NOW, **kw).items]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (ExceptionFilter(), [1, 2, 3, 4, 5]),
        (ExceptionFilter(status=["open", "acknowledged"]), [1, 2, 3, 5]),
        (ExceptionFilter(kind=["delivery_failed"], severity=["high"]), [3]),
        (ExceptionFilter(flow_id=["f-ship"]), [1, 4]),
        (ExceptionFilter(system_id=["d365", "sup_acme"]), [2, 3, 5]),
        (ExceptionFilter(age_band=["<1h"]), [1]),
        (ExceptionFilter(age_band=["1–4h", "4–24h"]), [2, 3]),
        (ExceptionFilter(age_band=[">3d"]), [5]),
        (ExceptionFilter(assignee="dana"), [2]),
        (ExceptionFilter(unassigned=True), [1, 3, 5]),
        (ExceptionFilter(text="shp-2"), [3]),  # case-insensitive, in the title
        (ExceptionFilter(text="100%_"), [2]),  # % and _ are literal, not wildcards
        (ExceptionFilter(text="error 4"), [4]),  # first error
        (ExceptionFilter(text="KEY-5"), [5]),  # business key
        (ExceptionFilter(text="SHP-8"), [1]),  # an affected order number
        (ExceptionFilter(snoozed=True), [3]),
        (ExceptionFilter(snoozed=False, status=["open"]), [1, 5]),
        (ExceptionFilter(seen_since=NOW - timedelta(hours=3)), [1, 2]),
    ],
)
def test_filters(engine: Engine, flt: ExceptionFilter, expected: list[int]) -> None:
    assert sorted(_ids(engine, flt)) == expected
    with engine.connect() as conn:
        assert sorted(filtered_ids(conn, flt, now=NOW)) == expected


def test_sorting_and_paging(engine: Engine) -> None:
    everything = ExceptionFilter()
    assert _ids(engine, everything) == [1, 2, 3, 4, 5]  # newest first
    assert _ids(engine, everything, sort="age") == [5, 4, 3, 2, 1]  # oldest first
    assert _ids(engine, everything, sort="severity") == [1, 3, 5, 2, 4]  # critical first, then newest id
    assert _ids(engine, everything, sort="affected_orders") == [1, 4, 3, 2, 5]
    assert _ids(engine, everything, sort="affected_orders", descending=False) == [5, 2, 3, 4, 1]
    with engine.connect() as conn:
        page = list_exceptions(conn, everything, now=NOW, sort="age", offset=2, limit=2)
    assert ([r["exception_id"] for r in page.items], page.total) == ([3, 2], 5)
    row = page.items[0]
    assert (row["age_seconds"], row["age_band"], row["snoozed"], row["flow_name"]) == (
        36000.0,
        "4–24h",
        True,
        "Flow f-order",
    )


def test_filter_validation() -> None:
    with pytest.raises(ValidationError, match="unknown severity urgent"):
        ExceptionFilter(severity=["urgent"])
    with pytest.raises(ValidationError, match="unknown age band 2h"):
        ExceptionFilter(age_band=["2h"])
    with pytest.raises(ValidationError):
        ExceptionFilter(status=["closed"])


def test_detail(engine: Engine) -> None:
    with engine.connect() as conn:
        detail = get_exception(conn, 1, now=NOW)
        assert get_exception(conn, 99, now=NOW) is None
    assert detail is not None
    assert (detail["orders"], detail["orders_total"], detail["flow"]["name"]) == (["SHP-7", "SHP-8"], 2, "Flow f-ship")
    assert (detail["event"], detail["actions"], detail["replays"]) == (None, [], [])
