"""Reconciliation builders on a hand-made funnel: rows per day and channel newest first, gap cells
linking to the page's selection URL, the keys of one gap linking to their timelines."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from dashboards.components.reconciliation import funnel_figure, funnel_rows, funnel_table, gap_href, gap_keys
from models.queries.reconciliation import Stage
from tests.dash_tree import text, walk

STAGES = (
    Stage(0, "storefront", "Storefront", "order.created", timedelta(0), False, ()),
    Stage(1, "erp", "Accepted in the ERP", "order.accepted", timedelta(hours=1), True, ("order.cancelled",)),
)
D9, D10 = pd.Timestamp("2026-03-09"), pd.Timestamp("2026-03-10")
FUNNEL = pd.DataFrame(
    [
        (D9, "shop", 0, "storefront", "Storefront", 5, 0, 0, 0),
        (D9, "shop", 1, "erp", "Accepted in the ERP", 2, 2, 0, 1),
        (D10, "shop", 0, "storefront", "Storefront", 2, 0, 0, 0),
        (D10, "shop", 1, "erp", "Accepted in the ERP", 1, 0, 1, 0),
    ],
    columns=["day", "channel", "position", "stage", "label", "reached", "missing", "pending", "excluded"],
)
GAPS = pd.DataFrame(
    [(D9, "shop", 1, "erp", "Accepted in the ERP", key, datetime(2026, 3, 9, 10), datetime(2026, 3, 9, 11),
      f"{key}-c", "shop-erp-orders", True) for key in ("SHP-2", "SHP 9")],
    columns=["day", "channel", "position", "stage", "label", "correlation_id", "previous_at", "due_at",
             "source_event_id", "source_flow_id", "replay"],
)  # fmt: skip


def links_in(tree: object) -> list:  # type: ignore[type-arg]
    return [node for node in walk(tree) if type(node).__name__ == "Link"]


def test_rows_newest_day_first_with_every_stage() -> None:
    rows = funnel_rows(FUNNEL, STAGES)
    assert [(r["day"], r["channel"]) for r in rows] == [("2026-03-10", "shop"), ("2026-03-09", "shop")]
    assert rows[1]["stages"] == [
        {"stage": "storefront", "reached": 5, "missing": 0, "pending": 0, "excluded": 0},
        {"stage": "erp", "reached": 2, "missing": 2, "pending": 0, "excluded": 1},
    ]
    assert funnel_rows(FUNNEL.iloc[0:0], STAGES) == []


def test_a_gap_is_a_link_to_its_keys_and_the_table_says_what_is_in_flight() -> None:
    table = funnel_table(FUNNEL, STAGES, days=3, channel=None)
    links = links_in(table)
    assert [(text(link), link.href) for link in links] == [
        ("2 missing", "/reconciliation?days=3&day=2026-03-09&in=shop&stage=erp")
    ]
    shown = text(table)
    assert "1 in flight" in shown and "1 cancelled/held" in shown
    assert gap_href(days=7, channel="b2b", day="2026-03-09", gap_channel="b2b", stage="erp") == (
        "/reconciliation?days=7&channel=b2b&day=2026-03-09&in=b2b&stage=erp"
    )
    assert text(funnel_table(FUNNEL.iloc[0:0], STAGES, days=3, channel=None)) == "No orders in this range"


def test_gap_keys_link_to_the_order_timeline() -> None:
    keys = gap_keys(GAPS, day="2026-03-09", channel="shop", stage="erp")
    assert [link.href for link in links_in(keys)] == ["/orders?id=SHP-2", "/orders?id=SHP%209"]
    assert "2 shop orders of 2026-03-09 not accepted in the erp" in text(keys)
    assert "2026-03-09 11:00" in text(keys)  # due by
    assert text(gap_keys(GAPS, day="2026-03-10", channel="shop", stage="erp")) == (
        "Nothing missing at erp for shop on 2026-03-10"
    )


def test_figure_totals_per_channel() -> None:
    fig = funnel_figure(FUNNEL, STAGES)
    assert [(t.name, list(t.x)) for t in fig.data] == [("shop", [7, 3])]
