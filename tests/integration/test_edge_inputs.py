"""The edges a partner or an operator meets first: JSON answers for every API path, ids with '/',
offline API docs, database URLs this build can't serve, and EDI trading partners as configuration."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx

from app.settings import load_settings
from models.queries.partners import list_partners
from tests.factories import event, events_table
from tests.live_server import LiveServer, free_port, serve

ROOT = Path(__file__).resolve().parents[2]
EDI_SAMPLES = ROOT / "tests" / "unit" / "collectors" / "samples" / "adapters"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, **(env or {})})  # fmt: skip


def test_unknown_api_paths_answer_json_and_ids_with_slashes_work(server: LiveServer) -> None:
    for path in ("/api/v1/nope", "/api/v2/orders", "/v1/logs", "/api/v1/exceptions/12/explode"):
        r = httpx.post(f"{server.url}{path}", json={}, timeout=10) if path.endswith("explode") else httpx.get(
            f"{server.url}{path}", timeout=10)  # fmt: skip
        assert r.status_code == 404 and r.headers["content-type"] == "application/json", (path, r.text[:80])
        assert r.json() == {"detail": f"no API endpoint at {path}; see /api/docs"}
    wrong = httpx.delete(f"{server.url}/api/v1/flows", timeout=10)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    assert wrong.json()["detail"] == "DELETE is not allowed on /api/v1/flows; use GET"
    assert httpx.get(f"{server.url}/orders", timeout=10).headers["content-type"].startswith("text/html")

    key = "PO/2026/0042"  # a business key with slashes, as some ERPs number their documents
    row = event(key, "po.sent", server.ctx.now().replace(microsecond=0), source="d365", target="sup_acme")
    server.ctx.writer.append("business_events", events_table([row]))
    timeline = httpx.get(f"{server.url}/api/v1/orders/{quote(key, safe='')}", timeout=10)
    assert timeline.status_code == 200 and timeline.json()["correlation_id"] == key
    signals = httpx.get(f"{server.url}/api/v1/flows/{quote('no/such/flow', safe='')}/signals", timeout=10)
    assert signals.headers["content-type"] == "application/json" and signals.status_code == 404


def test_api_docs_work_offline(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/api/docs", timeout=10)
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(r"url: ?'([^']+)'", page.text)
    assert urls and all(u.startswith("/api/") for u in urls), urls  # nothing from a CDN
    for url in urls:
        r = httpx.get(f"{server.url}{url}", timeout=10)
        assert r.status_code == 200 and len(r.content) > 100, url
    assert "SwaggerUIBundle" in httpx.get(f"{server.url}/api/docs-assets/swagger-ui-bundle.js", timeout=10).text


def test_a_database_url_that_cannot_be_served_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    unsupported = _cli("seed", "--db", "mysql://flowwatch:secret@127.0.0.1/flowwatch", "--days", "1")
    unreachable = _cli("serve", env={"FLOWWATCH_DB_URL": f"postgresql://flowwatch:secret@127.0.0.1:{port}/fw"})
    for done in (unsupported, unreachable):
        assert done.returncode == 1 and "Traceback" not in done.stderr and "secret" not in done.stderr
        lines = done.stderr.strip().splitlines()  # (auth off adds its warning line first)
        assert lines[-1].startswith("flowwatch: error: ") and len([x for x in lines if "error" in x]) == 1, lines
    assert "database URL scheme 'mysql' is not supported" in unsupported.stderr
    assert f"cannot connect to PostgreSQL at postgresql+psycopg://flowwatch:***@127.0.0.1:{port}/fw: " in (
        unreachable.stderr
    )
    assert not (ROOT / "mysql:").exists() and not any(ROOT.glob("postgresql*"))
    good = tmp_path / "fw.duckdb"
    assert load_settings(db=f"duckdb:///{good}").db == good


def _edi(live: LiveServer, body: bytes) -> httpx.Response:
    signature = "sha256=" + hmac.new(b"edi-secret", body, hashlib.sha256).hexdigest()
    return httpx.post(
        f"{live.url}/api/v1/webhooks/edi",
        content=body,
        timeout=10,
        headers={"content-type": "application/edi-x12", "x-flowwatch-signature": signature},
    )


def test_trading_partners_are_configuration(tmp_path: Path) -> None:
    db = tmp_path / "fw.duckdb"
    po = (EDI_SAMPLES / "edi_850_po.x12").read_bytes()
    settings = load_settings(db=db, webhook_secrets={"edi": "edi-secret"}, ingest_max_delay_seconds=0.05)
    with serve(settings) as live:  # no partners at all: refused, naming both ids and how to add them
        refused = _edi(live, po)
        assert refused.status_code == 422
        assert "sender ISA06 'NORTHWIND' (GS 'NORTHWIND') and receiver ISA08 'ACMEIND'" in refused.json()["detail"]
        assert "flowwatch partners add NORTHWIND <system id>" in refused.json()["detail"]

    assert _cli("partners", "add", "northwind", "d365", "--db", str(db)).stdout.strip() == \
        "Added EDI partner NORTHWIND → d365"  # fmt: skip
    bad = _cli("partners", "add", "ACMEIND", "sup_nobody", "--db", str(db))
    assert bad.returncode == 1 and bad.stderr.startswith("flowwatch: error: unknown system 'sup_nobody'; known: ")
    env = {"FLOWWATCH_EDI_PARTNERS": '{"ACMEIND": "sup_acme"}'}
    listed = _cli("partners", "list", "--db", str(db), env=env).stdout.splitlines()
    assert listed == ["ACMEIND\tsup_acme\tsettings", "NORTHWIND\td365\tdatabase"]

    settings = load_settings(db=db, webhook_secrets={"edi": "edi-secret"}, ingest_max_delay_seconds=0.05,
                             edi_partners={"ACMEIND": "sup_acme"})  # fmt: skip
    with serve(settings) as live:
        accepted = _edi(live, po)
        assert accepted.status_code == 200 and accepted.json()["accepted"] == 1, accepted.text
        held = _cli("partners", "remove", "NORTHWIND", "--db", str(db))  # the server holds the database
        assert held.returncode == 1 and "is in use by another Flowwatch process" in held.stderr

    assert _cli("partners", "remove", "NORTHWIND", "--db", str(db)).returncode == 0
    missing = _cli("partners", "remove", "NORTHWIND", "--db", str(db))
    assert missing.returncode == 1 and missing.stderr.strip() == f"flowwatch: error: no EDI partner 'NORTHWIND' in {db}"
    from app.context import open_context

    ctx = open_context(load_settings(db=db))
    try:
        with ctx.engine.connect() as conn:
            assert list_partners(conn) == {}
    finally:
        ctx.close()
