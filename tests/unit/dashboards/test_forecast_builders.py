"""Backlog forecast table: queues missing their cut-off first with their orders linked, clear times and
cut-offs in words."""

from __future__ import annotations

from datetime import datetime, timedelta

from dashboards.components.forecast import clears_text, cutoff_text, forecast_table
from models.queries.forecast import QueueForecast
from tests.dash_tree import props, text, walk

NOW = datetime(2026, 3, 10, 12, 0)


def q(queue: str, depth: int, clears: datetime | None, cutoff: str | None, cutoff_at: datetime | None,
      misses: int = 0, at_risk: tuple[str, ...] = ()) -> QueueForecast:  # fmt: skip
    return QueueForecast(queue, "f", "3pl", depth, 2.0, 1.0, clears, cutoff, cutoff_at, misses, at_risk)


FAST = q("release.3pl", 80, NOW + timedelta(minutes=80), "15:00", datetime(2026, 3, 10, 15, 0))
SLOW = q("release.3pl2", 15, None, "12:30", datetime(2026, 3, 10, 12, 30), 12, tuple(f"W{i:02}" for i in range(4, 16)))
IDLE = q("orders.shop", 0, NOW, None, None)


def test_words() -> None:
    assert clears_text(FAST, now=NOW) == "in 80 min (13:20)"
    assert clears_text(SLOW, now=NOW) == "not draining" and clears_text(IDLE, now=NOW) == "clear"
    assert cutoff_text(FAST) == "15:00 · all through" and cutoff_text(SLOW) == "12:30 · 12 miss"
    assert cutoff_text(IDLE) == "—" and cutoff_text(q("x", 5, None, "11:00", None)) == "11:00 passed"


def test_table_orders_and_links() -> None:
    table = forecast_table([IDLE, FAST, SLOW], now=NOW)
    rows = [n for n in walk(table) if type(n).__name__ == "Tr" and "data-queue" in props(n)]
    assert [props(r)["data-queue"] for r in rows] == ["release.3pl2", "release.3pl", "orders.shop"]
    assert props(rows[0])["className"] == "row-breach"
    links = [n.href for n in walk(rows[0]) if type(n).__name__ == "Link"]
    assert links == [f"/orders?id=W{i:02}" for i in range(4, 9)] and "and 7 more" in text(rows[0])
    assert text(forecast_table([], now=NOW)) == "No queue samples in the last 30 minutes"
