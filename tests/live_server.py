"""A real Flowwatch server on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from app.context import AppContext, open_context
from app.main import create_app
from app.settings import Settings, load_settings


@dataclass
class LiveServer:
    """A running Flowwatch: its base URL and the context it serves (engine, clock, buffer)."""

    url: str
    ctx: AppContext
    _keys: dict[str, str] = field(default_factory=dict)

    def auth(self, name: str, scope: str = "act") -> dict[str, str]:
        """Headers that act as ``name``: an API key of that name (made once, ``scope`` act by default),
        so the audit names whom the test means; honoured whether auth is on or off."""
        from app.services.access import create_key

        if name not in self._keys:
            with self.ctx.writer.transaction() as conn:
                self._keys[name] = create_key(conn, name, scope, by="test", now=self.ctx.now())
        return {"Authorization": f"Bearer {self._keys[name]}"}


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: Seeded demo databases of this test session, by what was seeded: seeding once and copying the file
#: is what lets a dozen browser modules each own a fresh demo within the suite's time limit. The
#: templates live in one folder per test run, shared by its xdist workers (the first seeds, under a lock).
_SEEDED: dict[tuple[datetime, int, int, int], Path] = {}
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"


def seeded_db(db: Path, *, anchor: datetime, days: int = 7, orders_per_day: int = 300, seed: int = 7) -> Path:
    """Put a copy of the demo distributor's ``days`` of history ending at ``anchor`` at ``db``: the
    seeder's own output (the same seed gives the same data), made once per test run and copied."""
    key = (anchor, days, orders_per_day, seed)
    if key not in _SEEDED:
        folder = Path(tempfile.gettempdir()) / f"flowwatch-seeded-{_RUN}"
        folder.mkdir(exist_ok=True)
        template = folder / f"{anchor:%Y%m%d%H%M}-{days}-{orders_per_day}-{seed}.duckdb"
        with (folder / f"{template.name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be seeding the same template
            if not template.exists():
                from seed_data import seed_demo

                making = folder / f"{template.stem}.making.duckdb"
                making.unlink(missing_ok=True)
                ctx = open_context(load_settings(db=making))
                try:
                    seed_demo(
                        ctx.engine, ctx.writer, days=days, orders_per_day=orders_per_day, seed=seed, anchor=anchor
                    )
                finally:
                    ctx.close()
                making.rename(template)
        _SEEDED[key] = template
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_SEEDED[key], db)
    return db


@contextmanager
def serve_seeded(
    db: Path, *, anchor: datetime, days: int = 7, orders_per_day: int = 300, seed: int = 7
) -> Iterator[LiveServer]:
    """Serve a seeded demo (:func:`seeded_db`) at ``db`` with the clock pinned to ``anchor``, so
    "today" and "in flight" do not drift during a test."""
    settings = load_settings(db=seeded_db(db, anchor=anchor, days=days, orders_per_day=orders_per_day, seed=seed))
    ctx = open_context(settings)
    ctx.clock = lambda: anchor
    with serve(settings, ctx=ctx) as live:
        yield live


@contextmanager
def serve(settings: Settings, *, ctx: AppContext | None = None, app: FastAPI | None = None) -> Iterator[LiveServer]:
    """Serve ``settings`` (or a prepared ``ctx``, or an ``app`` a test changed) with uvicorn until the block ends."""
    if app is not None:
        ctx = app.state.ctx
    ctx = ctx or open_context(settings)
    # The socket is bound here and handed to uvicorn: no other test (or xdist worker) can take the port
    # between choosing it and listening on it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app or create_app(settings, ctx=ctx), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="flowwatch-test-server",
                              daemon=True)  # fmt: skip
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not answer /healthz within 30 s")
        time.sleep(0.05)
    try:
        yield LiveServer(url, ctx)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def settled(read: Callable[[], object], *, times: int = 3, every: float = 2.0, timeout: float = 60.0) -> object:
    """``read()`` once it has returned the same value ``times`` times in a row, ``every`` seconds apart
    (e.g. an exception's message count across detection passes); fails after ``timeout``."""
    seen: list[object] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(read())
        if len(seen) >= times and all(v == seen[-1] for v in seen[-times:]):
            return seen[-1]
        time.sleep(every)
    raise AssertionError(f"still changing after {timeout} s: {seen[-times:]}")
