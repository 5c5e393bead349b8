"""Suite-wide defaults: auth off (loopback development mode) unless a test turns it on.

Most tests exercise flows, ingest and replay; they act as the local developer. The access tests
(tests/integration/test_access.py, tests/browser/test_login.py) build their settings with auth=True.

``backend`` runs a test on embedded DuckDB and on PostgreSQL (``fresh`` gives its empty database).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from models.ingest.writer import IngestWriter
    from tests.postgres import PgSession

os.environ.setdefault("FLOWWATCH_AUTH", "off")
# The tests speak plain HTTP to loopback servers through thousands of short-lived httpx clients; with
# SSL_CERT_FILE set (as on the CI machine) httpx parses that whole CA file for each one, ~50 ms of
# CPU apiece. The same Debian store as a directory is read lazily. (The product builds one context
# per process whatever the environment: collectors/tls.py, tested with SSL_CERT_FILE set.)
if os.environ.get("SSL_CERT_FILE") and not os.environ.get("SSL_CERT_DIR") and Path("/etc/ssl/certs").is_dir():
    os.environ["SSL_CERT_DIR"] = "/etc/ssl/certs"
if os.environ.get("SSL_CERT_DIR"):
    os.environ.pop("SSL_CERT_FILE", None)

BACKENDS = ("duckdb", "postgresql")


@pytest.fixture(scope="session")
def pg_session() -> Iterator[PgSession]:
    """One PostgreSQL database for the session's backend-parametrised tests, dropped at the end."""
    from tests.postgres import PgSession, pg_database

    with pg_database() as url:
        session = PgSession(url)
        yield session
        session.engine.dispose()


@pytest.fixture(params=BACKENDS, scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test on embedded DuckDB and on PostgreSQL: each KPI must give the same value on both."""
    return str(request.param)


@pytest.fixture(scope="module")
def fresh_module(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[[], tuple[Engine, IngestWriter]]:
    """Makes empty databases on ``backend`` for module-scoped fixtures (read-only tests share one)."""
    from models.ingest.writer import IngestWriter
    from tests.factories import fresh_db

    pg = request.getfixturevalue("pg_session") if backend == "postgresql" else None

    def make() -> tuple[Engine, IngestWriter]:
        if pg is not None:
            engine = pg.schema()
            return engine, IngestWriter(engine)
        return fresh_db(tmp_path_factory.mktemp("db"))

    return make


@pytest.fixture()
def fresh(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Engine, IngestWriter]:
    """An empty database with the current schema on ``backend``, and its writer."""
    from models.ingest.writer import IngestWriter
    from tests.factories import fresh_db

    if backend == "postgresql":
        engine = request.getfixturevalue("pg_session").empty()
        return engine, IngestWriter(engine)
    return fresh_db(tmp_path)


#: One lock file for the machine's RabbitMQ: a test that restarts the broker holds it alone, every other
#: test using the broker shares it, so two test workers never meet a broker that is restarting.
RABBITMQ_LOCK = Path(os.environ.get("TMPDIR", "/tmp")) / "flowwatch-tests-rabbitmq.lock"


@pytest.fixture(autouse=True)
def _rabbitmq_turn(request: pytest.FixtureRequest) -> Iterator[None]:
    """Shared hold of the broker for tests marked ``rabbitmq``; sole hold for ``rabbitmq_restart``."""
    import fcntl

    if request.node.get_closest_marker("rabbitmq_restart"):
        mode = fcntl.LOCK_EX
    elif request.node.get_closest_marker("rabbitmq"):
        mode = fcntl.LOCK_SH
    else:
        yield
        return
    with RABBITMQ_LOCK.open("a") as lock:
        fcntl.flock(lock, mode)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


#: Files whose tests run long or mostly wait (paced replays, live traffic, server subprocesses): first in
#: the collection, so the two workers overlap them with the CPU-bound rest instead of ending on them.
LONG_FIRST = (
    "tests/integration/test_bulk_replay.py",
    "tests/browser/test_page_matrix.py",
    "tests/browser/test_incident_story.py",
    "tests/integration/test_replicas.py",
    "tests/integration/test_demo_cli.py",
    "tests/integration/test_fuzz_api.py",
    "tests/browser/test_scorecard_targets.py",
    "tests/integration/test_access.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long files first (a stable sort: every other test keeps its place, a file stays together)."""
    rank = {path: n for n, path in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(LONG_FIRST)))
