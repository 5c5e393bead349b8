"""Schemathesis against a live server with auth on: the ingest and query endpoints take whatever the
OpenAPI document allows (and much it does not) without a 5xx, and an ingest request answered 4xx
stores nothing.

Driven through Hypothesis directly (one strategy per operation): schemathesis' pytest plugin does
not run under pytest 9 yet."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings

from app.services import access
from app.settings import load_settings
from tests.live_server import LiveServer, serve

#: The ingest edges and the read API's filters and sorts (the action routes have their own tests).
FUZZED = r"^/(v1/traces|api/v1/(events|queue-samples|exceptions|kpis|orders|flows)($|/overview|/\{[a-z_]+\}$))"
COUNTED = {"/v1/traces": "spans", "/api/v1/events": "business_events", "/api/v1/queue-samples": "queue_samples"}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    db = tmp_path_factory.mktemp("fuzz") / "fw.duckdb"
    with serve(load_settings(db=db, auth=True, ingest_max_delay_seconds=0.05, detection_interval_seconds=3600,
                             ingest_key_rate_per_second=0)) as live:  # fmt: skip
        with live.ctx.writer.transaction() as conn:
            key = access.create_key(conn, "fuzzer", "admin", by="test", now=live.ctx.now())
        yield live, {"Authorization": f"Bearer {key}"}


def _rows(live: LiveServer, table: str) -> int:
    live.ctx.buffer.flush()
    with live.ctx.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def _fuzz(live: LiveServer, auth: dict[str, str], operation: Any) -> Counter[int]:
    """Up to 40 generated requests to one operation: none answers 5xx, and no refused ingest stores a row;
    the statuses it saw."""
    seen: Counter[int] = Counter()
    table = COUNTED.get(operation.path) if operation.method.upper() == "POST" else None

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def exercise(case: schemathesis.Case) -> None:
        before = _rows(live, table) if table else 0
        response = case.call(base_url=live.url, headers=auth, timeout=30)
        seen[response.status_code] += 1
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
        if table and response.status_code >= 400:
            assert _rows(live, table) == before, f"{case.method} {case.path}: {response.status_code}, yet stored"

    exercise()
    return seen


def test_no_server_error_and_nothing_stored_from_a_refusal(fuzzed: tuple[LiveServer, dict[str, str]]) -> None:
    live, auth = fuzzed
    schema = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json").include(path_regex=FUZZED)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert sorted(f"{o.method.upper()} {o.path}" for o in operations) == [
        "GET /api/v1/exceptions", "GET /api/v1/exceptions/{exception_id}", "GET /api/v1/flows", "GET /api/v1/kpis",
        "GET /api/v1/kpis/overview", "GET /api/v1/orders", "GET /api/v1/orders/{correlation_id}",
        "POST /api/v1/events", "POST /api/v1/queue-samples", "POST /v1/traces",
    ]  # fmt: skip
    seen: Counter[int] = Counter()
    for operation in operations:
        seen += _fuzz(live, auth, operation)
    assert sum(seen.values()) > 150 and seen[200] > 20 and seen[422] > 20, seen  # both kept and refused inputs
