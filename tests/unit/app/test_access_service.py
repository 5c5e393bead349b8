"""Users, passwords, sessions and API keys against a real database: hashing, throttling, timeouts,
revocation, and the security audit each leaves."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from app.services import access
from app.services.access import LOCAL, Forbidden, Principal, Throttled, Unauthorized
from app.services.errors import Conflict, InvalidRequest, NotFound
from app.settings import load_settings
from models.enums import Access, Role, Scope
from models.queries import access as store

NOW = datetime(2026, 3, 4, 12, 0)


@pytest.fixture()
def ctx(tmp_path: Path):  # type: ignore[no-untyped-def]
    from app.context import open_context

    context = open_context(load_settings(db=tmp_path / "fw.duckdb"))
    clock = {"now": NOW}
    context.clock = lambda: clock["now"]
    context.test_clock = clock  # type: ignore[attr-defined]
    yield context
    context.close()


def _kinds(ctx) -> list[str]:  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return [r["kind"] for r in reversed(store.list_audit(conn))]


def test_roles_and_scopes_grant_what_the_issue_says() -> None:
    viewer, operator, admin = (Principal("p", "user", role=r) for r in Role)
    assert [viewer.allows(a) for a in (Access.READ, Access.ACT, Access.ADMIN, Access.INGEST)] == [1, 0, 0, 0]
    assert [operator.allows(a) for a in (Access.READ, Access.ACT, Access.ADMIN, Access.INGEST)] == [1, 1, 0, 0]
    assert [admin.allows(a) for a in (Access.READ, Access.ACT, Access.ADMIN, Access.INGEST)] == [1, 1, 1, 1]
    grants = {s: [Principal("k", "key", scope=s).allows(a) for a in (Access.INGEST, Access.READ, Access.ACT,
              Access.ADMIN)] for s in Scope}  # fmt: skip
    assert grants == {
        Scope.INGEST: [True, False, False, False],
        Scope.READ: [False, True, False, False],
        Scope.ACT: [False, True, True, False],
        Scope.ADMIN: [True, True, True, True],
    }
    assert isinstance(access.refusal(None, Access.READ), Unauthorized)
    assert isinstance(access.refusal(viewer, Access.ACT), Forbidden)
    assert access.refusal(None, Access.OPEN) is None
    assert access.refusal(LOCAL, Access.ADMIN) is None


def test_password_is_argon2id_with_the_minimum_parameters_and_rehashed_when_they_rise(ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.writer.transaction() as conn:
        access.create_user(conn, "dana", "operator", "correct horse", by="admin", now=NOW)
        stored = store.get_user(conn, "dana")["password_hash"]
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "correct horse" not in stored
    # An older, weaker hash (as if stored by a previous version) is replaced at the next login.
    weak = PasswordHasher(memory_cost=8192, time_cost=1, parallelism=1).hash("correct horse")
    with ctx.writer.transaction() as conn:
        store.update_user(conn, "dana", now=NOW, password_hash=weak)
    who = access.authenticate_password(ctx, "dana", "correct horse", addr="127.0.0.1")
    assert who == Principal("dana", "user", role=Role.OPERATOR)
    with ctx.engine.connect() as conn:
        assert store.get_user(conn, "dana")["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert _kinds(ctx) == ["user_created", "password_rehashed"]


def test_bad_user_input_is_refused_naming_the_field(ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.writer.transaction() as conn:
        with pytest.raises(InvalidRequest, match="role 'boss'"):
            access.create_user(conn, "dana", "boss", "long enough", by="admin", now=NOW)
        with pytest.raises(InvalidRequest, match="password: 8"):
            access.create_user(conn, "dana", "viewer", "short", by="admin", now=NOW)
        with pytest.raises(InvalidRequest, match="user name"):
            access.create_user(conn, "no spaces", "viewer", "long enough", by="admin", now=NOW)
        access.create_user(conn, "dana", "viewer", "long enough", by="admin", now=NOW)
        with pytest.raises(Conflict, match="exists already"):
            access.create_user(conn, "dana", "admin", "long enough", by="admin", now=NOW)
        with pytest.raises(NotFound):
            access.disable_user(conn, "nobody", by="admin", now=NOW)


def test_failed_logins_are_audited_and_throttled_per_user_and_address(ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.writer.transaction() as conn:
        access.create_user(conn, "dana", "viewer", "correct horse", by="admin", now=NOW)
    for _ in range(5):
        with pytest.raises(Unauthorized):
            access.authenticate_password(ctx, "dana", "wrong", addr="10.0.0.9")
    with pytest.raises(Throttled, match="too many failed logins") as throttled:
        access.authenticate_password(ctx, "dana", "correct horse", addr="10.0.0.9")
    assert throttled.value.retry_after == 900
    # another address is not locked out by this one
    assert access.authenticate_password(ctx, "dana", "correct horse", addr="10.0.0.7").name == "dana"
    ctx.test_clock["now"] = NOW + timedelta(minutes=16)  # after the window, the address may try again
    assert access.authenticate_password(ctx, "dana", "correct horse", addr="10.0.0.9").name == "dana"
    assert _kinds(ctx) == ["user_created"] + ["login_failed"] * 5 + ["login_throttled"]


def test_sessions_time_out_end_at_logout_and_when_the_user_is_disabled(ctx) -> None:  # type: ignore[no-untyped-def]
    idle, absolute = timedelta(minutes=30), timedelta(hours=8)
    with ctx.writer.transaction() as conn:
        access.create_user(conn, "dana", "operator", "correct horse", by="admin", now=NOW)
    who = access.authenticate_password(ctx, "dana", "correct horse", addr=None)
    with ctx.writer.transaction() as conn:
        first, second = (access.login(conn, who, now=NOW, addr=None) for _ in range(2))
    assert first != second
    assert access.session_principal(ctx, first, idle=idle, absolute=absolute, addr=None).name == "dana"
    ctx.test_clock["now"] = NOW + timedelta(minutes=31)  # idle past 30 minutes
    assert access.session_principal(ctx, first, idle=idle, absolute=absolute, addr=None) is None
    ctx.test_clock["now"] = NOW
    assert access.session_principal(ctx, first, idle=idle, absolute=absolute, addr=None) is None  # ended for good
    with ctx.writer.transaction() as conn:
        assert access.logout(conn, second, now=NOW, addr=None) is True
        assert access.logout(conn, second, now=NOW, addr=None) is False
    assert access.session_principal(ctx, second, idle=idle, absolute=absolute, addr=None) is None
    with ctx.writer.transaction() as conn:
        third = access.login(conn, who, now=NOW, addr=None)
        access.disable_user(conn, "dana", by="admin", now=NOW)
    assert access.session_principal(ctx, third, idle=idle, absolute=absolute, addr=None) is None
    with pytest.raises(Unauthorized):
        access.authenticate_password(ctx, "dana", "correct horse", addr=None)


def test_absolute_timeout_ends_an_active_session(ctx) -> None:  # type: ignore[no-untyped-def]
    idle, absolute = timedelta(minutes=30), timedelta(hours=1)
    with ctx.writer.transaction() as conn:
        access.create_user(conn, "dana", "viewer", "correct horse", by="admin", now=NOW)
        token = access.login(conn, Principal("dana", "user", role=Role.VIEWER), now=NOW, addr=None)
    for minutes in (20, 40, 59):  # active every 20 minutes: never idle
        ctx.test_clock["now"] = NOW + timedelta(minutes=minutes)
        assert access.session_principal(ctx, token, idle=idle, absolute=absolute, addr=None) is not None
    ctx.test_clock["now"] = NOW + timedelta(minutes=61)
    assert access.session_principal(ctx, token, idle=idle, absolute=absolute, addr=None) is None


def test_keys_are_shown_once_stored_hashed_expire_and_revoke(ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.writer.transaction() as conn:
        secret = access.create_key(conn, "shop-otel", "ingest", by="admin", now=NOW)
        short = access.create_key(conn, "tmp", "read", by="admin", now=NOW, expires_at=NOW + timedelta(hours=1))
        with pytest.raises(InvalidRequest, match="scope 'write'"):
            access.create_key(conn, "x", "write", by="admin", now=NOW)
        with pytest.raises(InvalidRequest, match="in the past"):
            access.create_key(conn, "y", "read", by="admin", now=NOW, expires_at=NOW - timedelta(seconds=1))
        with pytest.raises(Conflict):
            access.create_key(conn, "tmp", "read", by="admin", now=NOW)
        listed = {k["name"]: k for k in store.list_keys(conn)}
    assert secret.startswith("fw_") and len(secret) == 3 + 43
    assert listed["shop-otel"]["prefix"] == secret[:8] and listed["shop-otel"]["last4"] == secret[-4:]
    assert "key_hash" not in listed["shop-otel"]
    assert access.authenticate_key(ctx, secret, addr="10.1.1.1") == Principal("shop-otel", "key", scope=Scope.INGEST)
    with ctx.engine.connect() as conn:
        used = store.get_key(conn, "shop-otel")
    assert (used["last_used_at"], used["last_used_addr"]) == (NOW, "10.1.1.1")
    with pytest.raises(Unauthorized, match="unknown"):
        access.authenticate_key(ctx, secret + "x", addr=None)
    ctx.test_clock["now"] = NOW + timedelta(hours=2)
    with pytest.raises(Unauthorized, match="expired"):
        access.authenticate_key(ctx, short, addr=None)
    with ctx.writer.transaction() as conn:
        access.revoke_key(conn, "shop-otel", by="admin", now=NOW)
        with pytest.raises(Conflict, match="revoked already"):
            access.revoke_key(conn, "shop-otel", by="admin", now=NOW)
    with pytest.raises(Unauthorized, match="revoked"):
        access.authenticate_key(ctx, secret, addr=None)
    assert _kinds(ctx) == ["key_created", "key_created", "key_used", "key_refused", "key_revoked", "key_refused"]


def test_a_slack_button_acts_only_as_an_enabled_operator_when_auth_is_on(tmp_path: Path) -> None:
    from app.context import open_context
    from app.services.alerts import act_from_slack

    ctx = open_context(load_settings(db=tmp_path / "fw.duckdb", auth=True))
    try:
        with ctx.writer.transaction() as conn:
            access.create_user(conn, "vera", "viewer", "correct horse", by="admin", now=NOW)
        for linked in ("ghost", "vera"):
            with pytest.raises(Forbidden, match=f"the linked Flowwatch user '{linked}' is not an enabled operator"):
                act_from_slack(ctx, "fw_ack", "group:1", actor=linked)
    finally:
        ctx.close()


def test_the_ingest_rate_limiter_refills_at_its_rate_and_says_how_long_to_wait() -> None:
    from app.auth import RateLimiter

    clock = {"t": 100.0}
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: clock["t"])
    assert [limiter.wait("k") for _ in range(4)] == [0, 0, 0, 1]  # a burst of 3, then 0.5 s to the next token
    assert limiter.wait("other") == 0  # per key
    clock["t"] += 0.5
    assert limiter.wait("k") == 0 and limiter.wait("k") == 1
    assert RateLimiter(rate=0, burst=1).wait("k") == 0  # 0: unlimited
    slow = RateLimiter(rate=0.25, burst=1, clock=lambda: clock["t"])
    assert (slow.wait("k"), slow.wait("k")) == (0, 4)
