"""The Ingest panel's builders, on hand-made counters and series."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from collectors.brokers import ConsumerStatus
from collectors.pollers.runner import PollerStatus
from dashboards.components.ingest import (
    broker_table,
    ingest_tiles,
    poller_health,
    poller_table,
    received_figure,
    source_table,
)

NOW = datetime(2026, 5, 1, 12, 0)
COUNTS = {
    "events": {"accepted": 900, "rejected": 60, "duplicates": 40},
    "webhook:shopify": {"accepted": 100, "rejected": 0, "duplicates": 0},
}


def _poller(name: str, failures: int, ok_minutes_ago: float | None) -> PollerStatus:
    return PollerStatus(
        name,
        "prometheus",
        "rabbit",
        30.0,
        last_ok_at=NOW - timedelta(minutes=ok_minutes_ago) if ok_minutes_ago is not None else None,
        consecutive_failures=failures,
        last_error="connection refused" if failures else None,
        next_attempt_at=NOW + timedelta(seconds=120) if failures else None,
    )


def test_tiles_sum_sources_and_flag_rejections() -> None:
    tiles = {
        t.key: t
        for t in ingest_tiles(
            COUNTS,
            pending_rows=1234,
            lag=(300.0, 100),
            last_flush_seconds=0.042,
            pollers=[_poller("a", 0, 1), _poller("b", 3, 20)],
        )
    }
    assert tiles["accepted"].value == "1,000"
    assert tiles["rejected"].value == "60"
    assert tiles["rejected"].detail == "5.5% of records received"  # 60 / 1100
    assert tiles["rejected"].tone == "breach"  # over 5%
    assert tiles["duplicates"].value == "40"
    assert (tiles["pending"].value, tiles["pending"].detail) == ("1,234", "last commit took 42 ms")
    assert tiles["delivery_lag"].value == "3 s"  # 300 s over 100 events
    assert (tiles["pollers"].value, tiles["pollers"].tone) == ("1 / 2", "breach")


def test_empty_counters_read_as_nothing_yet() -> None:
    tiles = {t.key: t for t in ingest_tiles({}, pending_rows=0, lag=(0.0, 0), last_flush_seconds=0.0, pollers=[])}
    assert tiles["rejected"].detail == "nothing received yet"
    assert tiles["delivery_lag"].value == "—"
    assert tiles["pollers"].tone == "idle"
    assert "Nothing received" in str(source_table({}))


def test_source_table_orders_known_edges_first() -> None:
    table = source_table({"webhook:shopify": COUNTS["webhook:shopify"], "events": COUNTS["events"]})
    rows = table.children[1].children
    assert [r.children[0].children for r in rows] == ["Events API", "Webhook · shopify"]
    assert [c.children for c in rows[0].children[1:]] == ["900", "60", "40"]


def test_poller_health_and_table() -> None:
    assert poller_health(0, None) == "idle"
    assert poller_health(0, NOW) == "ok"
    assert poller_health(2, NOW) == "breach"
    assert poller_health(0, NOW, NOW) == "warning"  # the last poll found some queues, not all
    assert poller_health(0, NOW, NOW - timedelta(minutes=5)) == "ok"  # an older error has cleared
    table = poller_table([_poller("rabbit-main", 2, 10)], now=NOW)
    cells = [c.children for c in table.children[1].children[0].children]
    assert cells[0] == "rabbit-main"
    assert cells[3] == "10 min ago"
    assert cells[5] == "connection refused"
    assert cells[6] == "in 2 min"  # 120 s reads as minutes


def test_received_figure_stacks_sources_and_draws_failures() -> None:
    t0 = datetime(2026, 5, 1, 11, 0)
    df = pd.DataFrame(
        {
            "bucket": [t0, t0, t0 + timedelta(minutes=5)],
            "source": ["shopify", "d365", "shopify"],
            "events": [10, 4, 7],
            "failed": [1, 0, 2],
        }
    )
    fig = received_figure(df, x_range=(t0, NOW))
    bars = {t.name: list(t.y) for t in fig.data if t.type == "bar"}
    assert bars == {"d365": [4], "shopify": [10, 7]}
    failed = next(t for t in fig.data if t.type == "scatter")
    assert list(failed.y) == [1, 2]
    assert "No events" in received_figure(df.iloc[0:0], x_range=(t0, NOW)).layout.annotations[0].text


def test_broker_table_reads_each_consumer_state_and_counts() -> None:
    consuming = ConsumerStatus("company", "rabbitmq", is_connected=True, messages=45, accepted=73, refused=2)
    lost = ConsumerStatus("jet", "nats", messages=1200, accepted=1200,
                          last_error="ConnectionClosedError: nats: connection closed",
                          last_error_at=NOW - timedelta(minutes=3))  # fmt: skip
    table = broker_table([consuming, lost, ConsumerStatus("new", "nats")], now=NOW)
    rows = [[c.children for c in row.children] for row in table.children[1].children]
    assert [r[0] for r in rows] == ["company", "jet", "new"]
    assert [r[2].children for r in rows] == ["consuming", "reconnecting", "connecting"]
    assert rows[0][3:6] == ["45", "73", "2"]
    assert rows[1][6] == "ConnectionClosedError: nats: connection closed (3 min ago)"
    assert rows[0][6] == "—"
    assert broker_table([], now=NOW).className == "empty-state"


def test_received_legend_names_systems_each_in_its_own_colour() -> None:
    from dashboards.theme import SYSTEM_PALETTE, system_colors

    estate = {"3pl_coastal": "Coastal Fulfilment", "3pl_north": "NorthStar Logistics", "adobe": "Adobe Commerce",
              "b2b": "B2B portal", "d365": "Dynamics 365", "netsuite": "NetSuite", "shopify": "Shopify storefront",
              "sup_acme": "Acme Industrial", "sup_bright": "Brightline Chemicals", "sup_pacific": "Pacific Paper Goods",
              "wms": "Central WMS", "x": "Twelfth"}  # fmt: skip
    colors = system_colors(list(estate))
    # sorted, '3pl_coastal' is first and 'wms' eleventh: with a 10-colour cycle they shared blue
    assert colors["3pl_coastal"] == SYSTEM_PALETTE[0] and colors["wms"] == SYSTEM_PALETTE[10]
    assert len(set(colors.values())) == 12 and "#d93a3a" not in colors.values()
    t0 = datetime(2026, 5, 1, 11, 0)
    df = pd.DataFrame({"bucket": [t0, t0], "source": ["wms", "3pl_coastal"], "events": [3, 5], "failed": [0, 1]})
    fig = received_figure(df, x_range=(t0, NOW), names=estate, colors=colors)
    bars = {t.name: t.marker.color for t in fig.data if t.type == "bar"}
    assert bars == {"Coastal Fulfilment": SYSTEM_PALETTE[0], "Central WMS": SYSTEM_PALETTE[10]}
    failed = next(t for t in fig.data if t.type == "scatter")
    assert (failed.name, failed.line.dash, failed.marker.symbol) == ("Failed deliveries (×)", "dash", "x-thin")
