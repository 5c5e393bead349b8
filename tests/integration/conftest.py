"""Integration fixtures: a real server over a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.settings import load_settings
from tests.live_server import LiveServer, serve
from tests.receiver import Receiver, receiving

SHOPIFY_SECRET = "test-shopify-secret"


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """An empty Flowwatch with a fast flush and a known Shopify secret."""
    settings = load_settings(
        db=tmp_path / "flowwatch.duckdb",
        shopify_secret=SHOPIFY_SECRET,
        ingest_max_delay_seconds=0.05,
    )
    with serve(settings) as live:
        yield live


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    """A real replay target on a free loopback port (answers as told, honours Idempotency-Key)."""
    with receiving() as target:
        yield target
