"""Inventory reconciliation: per SKU@location, what each storefront last published against the WMS's
latest adjustment; gaps (values worked out by hand below) open one inventory_gap exception per
storefront and key, which resolves once the storefront shows the WMS's quantity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.detection.passes import DetectionSettings, run_detection
from models.ingest.writer import IngestWriter
from models.queries.inventory import inventory_gaps
from models.store.expectations import load_expectations, sync_expectations
from tests.factories import add_flow, event, events_table

NOW = datetime(2026, 3, 10, 12, 0)
M, H = timedelta(minutes=1), timedelta(hours=1)
QUICK = DetectionSettings(resolve_after_passes=1, resolve_after=timedelta(0))


def adjusted(key: str, at: datetime, on_hand: int, status: str = "ok") -> dict[str, object]:
    row = event(key, "inventory.adjusted", at, source="wms", target=None, channel=None, status=status)
    return row | {"payload": json.dumps({"sku": key.split("@")[0], "on_hand": on_hand})}


def published(key: str, at: datetime, storefront: str, available: int) -> dict[str, object]:
    row = event(key, "inventory.published", at, source="wms", target=storefront, channel=storefront,
                flow_id=f"wms-{storefront}-inventory")  # fmt: skip
    return row | {"payload": json.dumps({"sku": key.split("@")[0], "available": available})}


#: The default check: 30 min grace, 24 h lookback, on_hand against available.
EVENTS = [
    adjusted("SKU-1@WMS", NOW - 2 * H, 10),
    published("SKU-1@WMS", NOW - 2 * H + M, "shopify", 10),
    published("SKU-1@WMS", NOW - 2 * H + M, "adobe", 7),  # Adobe shows 7: a gap
    adjusted("SKU-2@WMS", NOW - H, 5),
    published("SKU-2@WMS", NOW - H + M, "shopify", 5),  # Adobe never got it: a gap
    adjusted("SKU-3@WMS", NOW - 10 * M, 3),  # within the grace: not judged yet
    adjusted("SKU-4@WMS", NOW - 3 * H, 4),
    published("SKU-4@WMS", NOW - 3 * H + M, "shopify", 4),  # Shopify still shows the older 4: a gap
    adjusted("SKU-4@WMS", NOW - 90 * M, 2),
    published("SKU-4@WMS", NOW - 89 * M, "adobe", 2),
    adjusted("SKU-5@WMS", NOW - 30 * H, 9),  # before the lookback
    adjusted("SKU-6@WMS", NOW - 2 * H, 1, status="failed"),  # a failed adjustment is not stock
]


@pytest.fixture()
def engine(fresh: tuple[Engine, IngestWriter]) -> Iterator[Engine]:
    engine, writer = fresh
    with engine.begin() as conn:
        sync_expectations(conn, load_expectations())
    for storefront in ("shopify", "adobe"):
        add_flow(engine, f"wms-{storefront}-inventory", "inventory.adjusted", "inventory.published", 300, "stock",
                 source_system="wms", target_system=storefront)  # fmt: skip
    writer.append("business_events", events_table(EVENTS))
    yield engine
    engine.dispose()


def test_gaps_per_storefront_and_key_and_their_exceptions(engine: Engine) -> None:
    with engine.connect() as conn:
        gaps = inventory_gaps(conn, now=NOW)
    found = [(g.flow_id, g.key, g.on_hand, None if g.available != g.available else g.available)
             for g in gaps.itertuples()]  # fmt: skip
    assert found == [
        ("wms-adobe-inventory", "SKU-1@WMS", 10.0, 7.0),
        ("wms-adobe-inventory", "SKU-2@WMS", 5.0, None),
        ("wms-shopify-inventory", "SKU-4@WMS", 2.0, 4.0),
    ]
    assert list(gaps["due_at"]) == [NOW - 90 * M, NOW - 30 * M, NOW - 60 * M]  # adjusted + 30 min grace
    _one_exception_per_gap_resolved_when_the_storefront_catches_up(engine)


def _open(engine: Engine) -> list[tuple[str, str, str, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(  # type: ignore[misc]
            "SELECT flow_id, business_key, system_id, status, first_error FROM exceptions "
            "WHERE kind = 'inventory_gap' ORDER BY flow_id, business_key"
        ))]  # fmt: skip


def _one_exception_per_gap_resolved_when_the_storefront_catches_up(engine: Engine) -> None:
    with engine.begin() as conn:
        run_detection(conn, now=NOW, settings=QUICK)
    assert _open(engine) == [
        ("wms-adobe-inventory", "SKU-1@WMS", "adobe", "open", "adobe shows 7 of SKU-1@WMS; the WMS has 10 since 10:00"),
        ("wms-adobe-inventory", "SKU-2@WMS", "adobe", "open",
         "adobe got no stock update for SKU-2@WMS since the WMS adjusted it to 5 at 11:00"),
        ("wms-shopify-inventory", "SKU-4@WMS", "shopify", "open",
         "shopify got no stock update for SKU-4@WMS since the WMS adjusted it to 2 at 10:30"),
    ]  # fmt: skip
    with engine.connect() as conn:
        title = conn.execute(sa.text("SELECT title, severity FROM exceptions WHERE business_key = 'SKU-1@WMS'")).one()
    assert tuple(title) == ("wms adobe inventory: stock of SKU-1@WMS differs from the WMS", "medium")
    IngestWriter(engine).append("business_events", events_table([published("SKU-1@WMS", NOW + M, "adobe", 10)]))
    with engine.begin() as conn:
        run_detection(conn, now=NOW + 2 * M, settings=QUICK)
    assert [(r[1], r[3]) for r in _open(engine)] == [("SKU-1@WMS", "resolved"), ("SKU-2@WMS", "open"),
                                                     ("SKU-4@WMS", "open")]  # fmt: skip
