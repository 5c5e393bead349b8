"""Page callbacks of a served, seeded default demo: each page's initial callbacks and a filter change.

The payloads are the browser's own: Chromium (Debian's, never a downloaded one) opens each page once
and every POST to ``/_dash-update-component`` it makes is recorded; the filter changes are recorded
the same way (the global channel on the overview and the workbench — the page loads for its new
URL —, the period on the scorecard). Each recorded request is then sent again ``REPEAT`` times from a
plain HTTP client, one at a time, and timed: the time of one callback over loopback HTTP (its server
time plus a round trip of well under a millisecond). A page's figure is its slowest callback.
"""

from __future__ import annotations

import re
import shutil
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from app.context import open_context
from app.settings import load_settings
from bench.ingest import _start_server
from bench.results import Row, Run, pct, plain
from models.store.db import make_engine
from tests.live_server import free_port

#: Samples a callback: with 12 the p95 was the slowest sample, whatever one detection pass overlapped.
REPEAT = 30
#: Pages opened (``{order}`` and ``{partner}`` are filled from the seeded data).
PAGES = ("/", "/exceptions", "/flows", "/orders?id={order}", "/partners", "/partners/{partner}", "/scorecard",
         "/reconciliation", "/ingest", "/alerts", "/incidents")  # fmt: skip
CHANNEL = "shopify"
INITIAL_TARGET, CHANGE_TARGET = 500.0, 250.0


def _seed(db: Path, anchor: datetime) -> tuple[str, str]:
    """The default demo (``flowwatch demo``'s 30 days × 1,500 orders) at ``db``; one order and one 3PL."""
    from seed_data import seed_demo

    ctx = open_context(load_settings(db=db))
    try:
        seed_demo(ctx.engine, ctx.writer, anchor=anchor)
        with ctx.engine.connect() as conn:
            order = conn.exec_driver_sql("SELECT max(correlation_id) FROM order_facts").scalar_one()
            partner = conn.exec_driver_sql("SELECT min(system_id) FROM systems WHERE kind = '3pl'").scalar_one()
    finally:
        ctx.close()
    return str(order), str(partner)


def _record(url: str, paths: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per page (and per filter change), the callback requests Chromium made, in order."""
    from playwright.sync_api import Request, sync_playwright

    recorded: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] = []

    def keep(request: Request) -> None:
        if request.method == "POST" and "/_dash-update-component" in request.url:
            body = request.post_data_json
            current.append({"path": request.url.removeprefix(url), "body": body, "output": body.get("output", "?")})

    def settle(page: Any) -> None:
        """The page's content rendered (the router's callback answered), then no request for 0.5 s."""
        page.wait_for_selector("#_pages_content .page", timeout=120_000)
        page.wait_for_load_state("networkidle", timeout=120_000)
        page.wait_for_function("() => !document.querySelector('[data-dash-is-loading=\"true\"]')")

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        page.on("request", keep)
        for path in paths:
            current = recorded.setdefault(f"{path.split('?')[0]} initial", [])
            page.goto(url + path)
            settle(page)
        for path, change in (("/", "channel"), ("/exceptions", "channel"), ("/scorecard", "period")):
            current = []  # the page's own initial callbacks were recorded above
            page.goto(url + path)
            settle(page)
            current = recorded.setdefault(f"{path} {change} change", [])
            if change == "channel":
                page.locator("#fw-f-channel").click()
                page.get_by_role("option", name="Shopify storefront", exact=True).click()
                page.wait_for_url(re.compile(rf"[?&]channel={CHANNEL}"))  # the page loads for its new URL
            else:
                page.locator("#sc-period label", has_text="30").click()
            settle(page)
        browser.close()
    return recorded


def _replay(url: str, requests: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each recorded callback sent ``REPEAT`` times (after one warm-up): its times in ms."""
    times: dict[str, list[float]] = {}
    with httpx.Client(base_url=url, timeout=60, headers={"origin": url}) as client:
        for req in requests:
            client.post(req["path"], json=req["body"])
        for _ in range(REPEAT):
            for req in requests:
                began = time.perf_counter()
                answer = client.post(req["path"], json=req["body"])
                elapsed = (time.perf_counter() - began) * 1000
                if answer.status_code not in (200, 204):
                    raise SystemExit(f"{req['output']}: HTTP {answer.status_code} {answer.text[:200]}")
                times.setdefault(req["output"], []).append(elapsed)
    return times


def page_callbacks(run: Run, folder: Path, loaded: Path | None = None) -> None:
    """Seed the default demo (or serve ``loaded``, the scale's synthetic distributor anchored now),
    record each page's callbacks in Chromium and time them again."""
    began = time.perf_counter()
    if loaded is None:
        db = folder / "demo.duckdb"
        order, partner = _seed(db, datetime.now(UTC).replace(tzinfo=None))
    else:
        db = loaded
        order, partner = _picks(db)
    seeded = time.perf_counter() - began
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_server(db, port, FLOWWATCH_AUTH="off")  # loopback only: the pages, not the login, are timed
    try:
        recorded = _record(url, [p.format(order=order, partner=partner) for p in PAGES])
        for view, requests in recorded.items():
            if not requests:
                raise SystemExit(f"{view}: Chromium made no callback request")
        served = {view: _replay(url, requests) for view, requests in recorded.items()}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    # The same requests with every read computed afresh (no page cache): what a viewer waits for when
    # nobody has looked at the view for two minutes, and what each minute's background recomputation costs.
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_server(db, port, FLOWWATCH_AUTH="off", FLOWWATCH_PAGE_CACHE_SECONDS="0")
    try:
        afresh = {view: _replay(url, requests) for view, requests in recorded.items()}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    for view, requests in recorded.items():
        target = CHANGE_TARGET if view.endswith("change") else INITIAL_TARGET
        run.add(
            _slowest(f"{view}: slowest callback p95", served[view], len(requests), target=f"< {target:.0f} ms"),
            _slowest(f"{view}: computed afresh, p95", afresh[view], len(requests),
                     note="no page cache: what a viewer waits for when nobody has looked at the view for two minutes"),
        )  # fmt: skip
    how = f"each callback over loopback HTTP, {REPEAT} times after a warm-up"
    if loaded is None:
        run.add(plain("page_callbacks", "default demo seeded in", seeded, "s", note=f"30 days x 1,500 orders; {how}"))
    else:
        run.add(plain("page_callbacks", "database served", loaded.stat().st_size / 1e6, "MB",
                      note=f"the synthetic distributor of this scale, anchored at the run's start; {how}"))  # fmt: skip


def _slowest(metric: str, times: dict[str, list[float]], callbacks: int, *, target: str = "",
             note: str = "") -> Row:  # fmt: skip
    """A page's row: the p95 of its slowest callback, and which callback was slowest by median."""
    slowest = max(times, key=lambda k: statistics.median(times[k]))
    worst_p95 = max(pct(t, 95) for t in times.values())
    name = slowest.strip(".").split(".")[0]
    worst = max(max(t) for t in times.values())
    detail = (f"{callbacks} callbacks; slowest median {statistics.median(times[slowest]):.0f} ms ({name}); "
              f"slowest sample {worst:.0f} ms")  # fmt: skip
    return plain("page_callbacks", metric, worst_p95, "ms", target=target, note=f"{detail}; {note}" if note else detail)


def _picks(db: Path) -> tuple[str, str]:
    """One order and one 3PL of an existing database."""
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            order = conn.exec_driver_sql("SELECT max(correlation_id) FROM order_facts").scalar_one()
            partner = conn.exec_driver_sql("SELECT min(system_id) FROM systems WHERE kind = '3pl'").scalar_one()
    finally:
        engine.dispose()
    return str(order), str(partner)
