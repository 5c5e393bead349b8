"""Access control end to end, with auth on: every route's rule (walked from /api/openapi.json), 401
without credentials, 403 for the wrong role or scope, the actor taken from the login, four eyes that
are two people, API keys (CLI, bearer, revocation, last use, a real OTel exporter), login sessions
(throttling, logout, CSRF) and the security headers."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from app.auth import SECURE_COOKIE, rule_of
from app.main import create_app
from app.services import access
from app.settings import load_settings
from models.enums import Access
from models.queries import access as store
from tests.integration.replay_world import actions_of, add_failures, add_flow
from tests.live_server import LiveServer, serve
from tests.receiver import Receiver

PASSWORD = "correct horse battery"
USERS = {"vera": "viewer", "otto": "operator", "olga": "operator", "ada": "admin"}
RULES = {str(a) for a in Access}


def _settings(tmp_path: Path, **extra: Any) -> Any:
    return load_settings(db=tmp_path / "fw.duckdb", auth=True, ingest_max_delay_seconds=0.05,
                         detection_interval_seconds=3600, **extra)  # fmt: skip


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """A Flowwatch with auth on and one user per role (two operators)."""
    with serve(_settings(tmp_path)) as server:
        with server.ctx.writer.transaction() as conn:
            for name, role in USERS.items():
                access.create_user(conn, name, role, PASSWORD, by="test", now=server.ctx.now())
        yield server


def login(live: LiveServer, name: str, password: str = PASSWORD) -> httpx.Response:
    """POST the login form as a browser would (same-origin)."""
    return httpx.post(f"{live.url}/login", data={"username": name, "password": password, "next": "/exceptions"},
                      headers={"Origin": live.url})  # fmt: skip


def session(live: LiveServer, name: str) -> dict[str, str]:
    """Headers of a logged-in browser: the session cookie and this site's Origin (CSRF)."""
    answer = login(live, name)
    assert answer.status_code == 303, answer.text
    return {"Cookie": f"{SECURE_COOKIE}={answer.cookies[SECURE_COOKIE]}", "Origin": live.url}


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path, x-access) of every operation in the OpenAPI document."""
    return [(method.upper(), path, op.get("x-access", "")) for path, ops in openapi["paths"].items()
            for method, op in ops.items()]  # fmt: skip


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _call(live: LiveServer, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.request(method, live.url + _concrete(path), headers=headers, timeout=30)


def test_every_route_declares_an_access_rule_and_none_answers_without_credentials(live: LiveServer) -> None:
    spec = httpx.get(f"{live.url}/api/openapi.json", timeout=30).json()
    ops = operations(spec)
    assert len(ops) > 50
    assert [(m, p) for m, p, rule in ops if rule not in RULES] == []
    assert {rule for _, _, rule in ops} == RULES
    security = {(m.upper(), p): op.get("security") for p, o in spec["paths"].items() for m, op in o.items()}
    assert security[("POST", "/api/v1/exceptions/{exception_id}/replay")] == [{"bearer": []}, {"session": []}]
    assert (
        security[("GET", "/healthz")] is None and spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    )
    rules = {(m, p): r for m, p, r in ops}
    assert rules[("POST", "/v1/traces")] == rules[("POST", "/api/v1/events")] == "ingest"
    assert rules[("POST", "/api/v1/queue-samples")] == "ingest"
    assert rules[("POST", "/api/v1/webhooks/{adapter}")] == rules[("POST", "/api/v1/alerts/slack/interactivity")]
    assert rules[("POST", "/api/v1/webhooks/{adapter}")] == "signed"
    assert rules[("GET", "/healthz")] == rules[("GET", "/login")] == "open"
    assert rules[("POST", "/api/v1/exceptions/{exception_id}/replay")] == "act"
    assert rules[("POST", "/api/v1/alerts/rules")] == rules[("POST", "/api/v1/keys")] == "admin"
    refused = {(m, p): _call(live, m, p, {}).status_code for m, p, rule in ops if rule not in ("open", "signed")}
    assert {k: v for k, v in refused.items() if v != 401} == {}
    answer = _call(live, "GET", "/api/v1/exceptions", {})
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json() == {"detail": "authentication required: log in, or send Authorization: Bearer <API key>"}


def test_viewers_cannot_act_and_operators_cannot_administer(live: LiveServer) -> None:
    ops = operations(httpx.get(f"{live.url}/api/openapi.json", timeout=30).json())
    viewer, operator = session(live, "vera"), session(live, "otto")
    as_viewer = {(m, p): _call(live, m, p, viewer).status_code for m, p, rule in ops if rule in ("act", "admin")}
    as_operator = {(m, p): _call(live, m, p, operator).status_code for m, p, rule in ops if rule == "admin"}
    assert {k: v for k, v in as_viewer.items() if v != 403} == {}
    assert {k: v for k, v in as_operator.items() if v != 403} == {}
    # what they may do answers (not 401/403)
    assert _call(live, "GET", "/api/v1/exceptions", viewer).status_code == 200
    assert _call(live, "GET", "/api/v1/keys", session(live, "ada")).status_code == 200
    denied = httpx.post(f"{live.url}/api/v1/alerts/rules", json={"rule": {}}, headers=operator)
    assert denied.json()["detail"] == "otto (user operator) may not do this: it needs admin role or admin scope"
    with live.ctx.engine.connect() as conn:
        audit = store.list_audit(conn, kind="denied", limit=5000)
    assert len(audit) == len(as_viewer) + len(as_operator) + 1
    assert {a["principal"] for a in audit} == {"vera", "otto"}


def test_a_role_change_applies_to_the_next_request_of_a_live_session(live: LiveServer) -> None:
    vera, ada = session(live, "vera"), session(live, "ada")
    assert httpx.post(f"{live.url}/api/v1/detection/run", headers=vera).status_code == 403
    changed = httpx.post(f"{live.url}/api/v1/users/vera/role", json={"role": "operator"}, headers=ada)
    assert changed.json() == {"name": "vera", "role": "operator", "was": "viewer"}
    assert httpx.post(f"{live.url}/api/v1/detection/run", headers=vera).status_code == 200
    assert httpx.post(f"{live.url}/api/v1/users/vera/role", json={"role": "boss"}, headers=ada).status_code == 422
    with live.ctx.engine.connect() as conn:
        (row,) = store.list_audit(conn, kind="role_changed")
    assert (row["principal"], row["detail"]) == ("ada", {"user": "vera", "from": "viewer", "to": "operator"})


def test_a_route_without_a_rule_is_refused_and_found(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    app: FastAPI = create_app(settings)

    def forgotten() -> dict[str, str]:
        return {"secret": "yes"}

    app.add_api_route("/api/v1/forgotten", forgotten)  # someone adds a route and forgets its rule
    app.router.routes.insert(0, app.router.routes.pop())  # ahead of the JSON 404 catch-all
    unruled = [r.path for r in app.routes if hasattr(r, "openapi_extra") and rule_of(r) is None]
    assert unruled == ["/api/v1/forgotten"]
    spec = app.openapi()
    assert [(m, p) for m, p, rule in operations(spec) if rule not in RULES] == [("GET", "/api/v1/forgotten")]
    with serve(settings, app=app) as live:
        with live.ctx.writer.transaction() as conn:
            key = access.create_key(conn, "root", "admin", by="test", now=live.ctx.now())
        answer = httpx.get(f"{live.url}/api/v1/forgotten", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403
    assert answer.json() == {"detail": "/api/v1/forgotten declares no access rule (x-access): refused"}


def test_the_actor_is_the_login_and_four_eyes_are_two_people(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, "d365-invoice", target=f"{receiver.url}/erp/d365/invoices", end_event="invoice.posted",
             category="invoice")  # fmt: skip
    (eid,) = add_failures(live.ctx, "d365-invoice", 1, event_type="invoice.posted", kind="delivery_failed")
    otto, olga, vera = session(live, "otto"), session(live, "olga"), session(live, "vera")
    url = f"{live.url}/api/v1/exceptions/{eid}"

    typed = httpx.post(f"{url}/replay", json={"actor": "olga"}, headers=otto)
    assert typed.status_code == 422
    assert typed.json()["errors"] == [{"where": "body.actor", "error": "Extra inputs are not permitted"}]
    assert httpx.post(f"{url}/replay", headers=otto).status_code == 202
    self_approval = httpx.post(f"{url}/approve-replay", headers=otto)
    assert self_approval.status_code == 403
    assert self_approval.json()["detail"] == (
        "four-eyes: otto requested this replay and cannot also approve it; another operator must approve"
    )
    assert httpx.post(f"{url}/approve-replay", headers=vera).status_code == 403  # a viewer is no second operator
    assert receiver.posts == []
    approved = httpx.post(f"{url}/approve-replay", headers=olga)
    assert approved.status_code == 200 and approved.json()["status"] == "delivered"
    assert len(receiver.posts) == 1
    trail = [(a["action"], a["actor"]) for a in actions_of(live.ctx, eid)]
    assert trail == [("replay_request", "otto"), ("replay_approve", "olga"), ("replay", "olga"), ("resolve", "replay")]


def test_an_operator_replays_and_the_audit_names_them(live: LiveServer, receiver: Receiver) -> None:
    add_flow(live.ctx, "3pl-shipments", target=f"{receiver.url}/d365/shipments")
    (eid,) = add_failures(live.ctx, "3pl-shipments", 1)
    done = httpx.post(f"{live.url}/api/v1/exceptions/{eid}/replay", headers=session(live, "otto"), timeout=30)
    assert done.status_code == 200 and done.json()["status"] == "delivered"
    assert [(a["action"], a["actor"]) for a in actions_of(live.ctx, eid)] == [("replay", "otto"),
                                                                             ("resolve", "replay")]  # fmt: skip


def _cli(db: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWWATCH_AUTH": "on"}
    return subprocess.run([sys.executable, "-m", "app", *args, "--db", str(db)], input=stdin, capture_output=True,
                          text=True, timeout=120, env=env)  # fmt: skip


def test_keys_from_the_cli_are_shown_once_scoped_recorded_and_revocable(tmp_path: Path) -> None:
    db = tmp_path / "fw.duckdb"
    made = _cli(db, "keys", "create", "--name", "otel-shop", "--scope", "ingest")
    assert made.returncode == 0, made.stderr
    ingest_key = made.stdout.strip()
    assert made.stdout == ingest_key + "\n" and re.fullmatch(r"fw_[A-Za-z0-9_-]{43}", ingest_key)
    read_key = _cli(db, "keys", "create", "--name", "grafana", "--scope", "read", "--expires", "30d").stdout.strip()
    bad = _cli(db, "keys", "create", "--name", "x", "--scope", "write")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr == "flowwatch: error: scope 'write': use one of ingest, read, act, admin\n"
    added = _cli(db, "users", "add", "ada", "--role", "operator", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0 and added.stdout == "Added user ada (operator)\n"
    promoted = _cli(db, "users", "set-role", "ada", "--role", "admin")
    assert (promoted.returncode, promoted.stdout) == (0, "ada is now admin (was operator)\n")
    assert _cli(db, "users", "set-role", "nobody", "--role", "admin").stderr == "flowwatch: error: no user 'nobody'\n"
    short = _cli(db, "users", "add", "bob", "--role", "viewer", "--password-stdin", stdin="short\n")
    assert (short.returncode, short.stderr) == (2, "flowwatch: error: password: 8–256 characters\n")
    assert "Traceback" not in short.stderr + bad.stderr

    with serve(load_settings(db=db, auth=True, ingest_max_delay_seconds=0.05)) as live:
        bearer = {"Authorization": f"Bearer {read_key}"}
        assert httpx.get(f"{live.url}/api/v1/exceptions", headers=bearer).status_code == 200
        assert httpx.post(f"{live.url}/api/v1/detection/run", headers=bearer).status_code == 403
        assert httpx.get(f"{live.url}/api/v1/me", headers=bearer).json() == {
            "name": "grafana", "kind": "key", "role": None, "scope": "read"}  # fmt: skip
        ingest = {"Authorization": f"Bearer {ingest_key}"}
        assert httpx.get(f"{live.url}/api/v1/exceptions", headers=ingest).status_code == 403  # ingest only

        provider = TracerProvider(resource=Resource.create({"service.name": "shop-api"}))
        exporter = OTLPSpanExporter(endpoint=f"{live.url}/v1/traces", headers=ingest)  # = OTEL_EXPORTER_OTLP_HEADERS
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("test").start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER) as span:
            span.set_attribute("order.id", "SHP-42")
        provider.shutdown()
        unauthenticated = httpx.post(f"{live.url}/v1/traces", content=b"", headers={"content-type":
                                     "application/x-protobuf"})  # fmt: skip
        assert unauthenticated.status_code == 401
        live.ctx.buffer.flush()
        with live.ctx.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT service_name FROM spans")).scalars().all() == ["shop-api"]
            used = store.get_key(conn, "otel-shop")
        assert used["last_used_addr"] == "127.0.0.1" and used["last_used_at"] is not None

        admin = session(live, "ada")
        listed = {k["name"]: k for k in httpx.get(f"{live.url}/api/v1/keys", headers=admin).json()}
        assert listed["otel-shop"]["last4"] == ingest_key[-4:] and "key_hash" not in listed["otel-shop"]
        assert ingest_key not in httpx.get(f"{live.url}/api/v1/keys", headers=admin).text
        assert httpx.delete(f"{live.url}/api/v1/keys/grafana", headers=admin).status_code == 200
        revoked = httpx.get(f"{live.url}/api/v1/exceptions", headers=bearer)
        assert (revoked.status_code, revoked.json()["detail"]) == (401, "API key revoked")

    listing = _cli(db, "keys", "list").stdout.splitlines()
    assert listing[0].startswith(f"grafana\tread\t{read_key[:8]}…{read_key[-4:]}\trevoked\texpires ")
    assert re.fullmatch(rf"otel-shop\tingest\t{re.escape(ingest_key[:8])}…{ingest_key[-4:]}\tactive\tno expiry\t"
                        r"last used \d{4}-\d\d-\d\d \d\d:\d\d from 127\.0\.0\.1", listing[1])  # fmt: skip
    assert _cli(db, "keys", "revoke", "otel-shop").stdout == "Revoked key otel-shop\n"
    again = _cli(db, "keys", "revoke", "otel-shop")
    assert (again.returncode, again.stderr) == (2, "flowwatch: error: key 'otel-shop' was revoked already\n")


def test_login_sets_a_hardened_cookie_and_logout_ends_the_session(live: LiveServer) -> None:
    answer = login(live, "otto")
    assert answer.status_code == 303 and answer.headers["location"] == "/exceptions"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SECURE_COOKIE}=")
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "path", "samesite"} <= flags and "domain" not in flags
    assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
    old = {"Cookie": f"{SECURE_COOKIE}={answer.cookies[SECURE_COOKIE]}", "Origin": live.url}
    assert httpx.get(f"{live.url}/api/v1/me", headers=old).json()["name"] == "otto"
    second = login(live, "otto")
    assert second.cookies[SECURE_COOKIE] != answer.cookies[SECURE_COOKIE]  # a new id at every login
    out = httpx.post(f"{live.url}/logout", headers=old)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    gone = httpx.get(f"{live.url}/api/v1/me", headers=old)
    assert (gone.status_code, gone.json()["detail"]) == (401, "your session has ended: log in again")
    with live.ctx.engine.connect() as conn:
        kinds = [a["kind"] for a in reversed(store.list_audit(conn))]
    assert kinds == ["user_created"] * 4 + ["login", "login", "logout"]


def test_failed_logins_are_throttled_with_a_clear_message(live: LiveServer) -> None:
    wrong = [login(live, "vera", "not the password") for _ in range(5)]
    assert [w.status_code for w in wrong] == [401] * 5
    assert "wrong user name or password" in wrong[0].text
    throttled = login(live, "vera")
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "900"
    assert "too many failed logins for &#x27;vera&#x27; from this address: try again in 15 minutes" in throttled.text
    assert login(live, "otto").status_code == 303  # another user from the same address is not locked out
    cross_site = httpx.post(f"{live.url}/login", data={"username": "otto", "password": PASSWORD},
                            headers={"Origin": "https://evil.example"})  # fmt: skip
    assert (cross_site.status_code, "set-cookie" in cross_site.headers) == (403, False)


def test_cross_site_writes_with_a_cookie_are_refused(live: LiveServer) -> None:
    ada = session(live, "ada")
    forged = httpx.post(f"{live.url}/api/v1/keys", json={"name": "evil", "scope": "admin"},
                        headers={**ada, "Origin": "https://evil.example"})  # fmt: skip
    assert forged.status_code == 403
    assert forged.json() == {"detail": "cross-site request refused (CSRF): Origin is not this site"}
    no_origin = httpx.post(f"{live.url}/api/v1/keys", json={"name": "evil", "scope": "admin"},
                           headers={"Cookie": ada["Cookie"]})  # fmt: skip
    assert no_origin.status_code == 403
    same_site = httpx.post(f"{live.url}/api/v1/keys", json={"name": "ok", "scope": "read"}, headers=ada)
    assert same_site.status_code == 201 and same_site.json()["key"].startswith("fw_")
    with live.ctx.engine.connect() as conn:
        assert [k["name"] for k in store.list_keys(conn)] == ["ok"]
        refusals = store.list_audit(conn, kind="csrf_refused")
    assert [(r["principal"], r["detail"]["origin"]) for r in refusals] == [
        ("ada", None),
        ("ada", "https://evil.example"),
    ]


def test_pages_need_a_login_and_every_answer_carries_the_security_headers(live: LiveServer) -> None:
    page = httpx.get(f"{live.url}/exceptions?status=open", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fexceptions%3Fstatus%3Dopen"
    assert httpx.post(f"{live.url}/_dash-update-component", json={}).status_code == 401
    for answer in (page, httpx.get(f"{live.url}/login"), httpx.get(f"{live.url}/healthz")):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self' 'sha256-" in csp
        assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    assert httpx.get(f"{live.url}/login?next=//evil.example").text.count('value="/"') == 1  # no open redirect
    docs = httpx.get(f"{live.url}/api/docs")  # Swagger UI's one inline script, allowed by its own hash
    (inline,) = re.findall(r"<script>(.*?)</script>", docs.text, re.S)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in docs.headers["content-security-policy"]


def test_serve_refuses_auth_off_on_a_non_loopback_bind(tmp_path: Path) -> None:
    env = {**os.environ, "FLOWWATCH_AUTH": "off"}
    run = subprocess.run([sys.executable, "-m", "app", "serve", "--host", "0.0.0.0", "--db", str(tmp_path / "x.db")],
                         capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert run.returncode == 1
    assert run.stderr == (
        "flowwatch: error: auth is off (FLOWWATCH_AUTH=off) and the bind address 0.0.0.0 is not loopback: "
        "turn auth on, or bind 127.0.0.1 for local development\n"
    )
    assert not (tmp_path / "x.db").exists()


def test_ingest_keys_are_rate_limited_with_retry_after_and_bodies_are_bounded(tmp_path: Path) -> None:
    settings = _settings(tmp_path, ingest_key_rate_per_second=0.5, ingest_key_burst=2, max_body_bytes=4096)
    with serve(settings) as live:
        with live.ctx.writer.transaction() as conn:
            key = access.create_key(conn, "chatty", "ingest", by="test", now=live.ctx.now())
            admin = access.create_key(conn, "root", "admin", by="test", now=live.ctx.now())
        bearer = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        sample = {"broker": "rmq", "queue": "orders", "sampled_at": "2026-03-04T12:00:00Z", "depth": 3}
        answers = [httpx.post(f"{live.url}/api/v1/queue-samples", json=sample, headers=bearer) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        wait = answers[2].headers["retry-after"]
        assert wait in ("1", "2")  # the next token at 0.5/s: under 2 s away, less the time the first two took
        assert (
            answers[2].json()["detail"]
            == f"key 'chatty' is over its ingest rate of 0.5 requests/s: retry after {wait} s"
        )
        live.ctx.buffer.flush()
        with live.ctx.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM queue_samples")).scalar_one() == 2

        root = {"Authorization": f"Bearer {admin}"}
        big = {"name": "x" * 5000, "scope": "read"}
        declared = httpx.post(f"{live.url}/api/v1/keys", json=big, headers=root)
        chunked = httpx.post(f"{live.url}/api/v1/keys", content=iter([b'{"name": "', b"x" * 5000, b'"}']),
                             headers={**root, "Content-Type": "application/json"})  # fmt: skip
        assert (declared.status_code, chunked.status_code) == (413, 413)
        assert declared.json() == {"detail": "request body is larger than 4,096 bytes"}
        small = httpx.post(f"{live.url}/api/v1/keys", content=iter([b'{"name": "ok", ', b'"scope": "read"}']),
                           headers={**root, "Content-Type": "application/json"})  # fmt: skip
        assert small.status_code == 201
