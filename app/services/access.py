"""Who is acting, and may they: users with roles, API keys with scopes, browser sessions, and the
security audit of each of those.

A :class:`Principal` is the only source of an actor's name: routes and callbacks hand
``principal.name`` to the action services, so the audit names someone who proved who they are.
Secrets are never stored (argon2id for passwords, SHA-256 for random API keys and session ids) and
never logged. Functions taking ``conn`` run inside the caller's write transaction; the ``ctx`` ones
(used on every request) read first and only take the writer for the rare write.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from app.services.errors import Conflict, Forbidden, InvalidRequest, NotFound, ServiceError, Throttled, Unauthorized
from models.enums import Access, Role, Scope, SecurityEvent
from models.queries import access as store

if TYPE_CHECKING:
    from app.context import AppContext

#: argon2id with OWASP's minimum (19 MiB, 2 passes, 1 lane); a stored hash with lower parameters is
#: re-hashed at the next successful login.
HASHER = PasswordHasher(memory_cost=19456, time_cost=2, parallelism=1)
#: Verified against when the user does not exist, so an unknown name takes as long as a wrong password.
_DUMMY_HASH = HASHER.hash("flowwatch-dummy-password")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 256
KEY_PREFIX = "fw_"
#: Failed logins per user and address within LOGIN_WINDOW before logins are refused (429).
LOGIN_FAILURES_ALLOWED = 5
LOGIN_WINDOW = timedelta(minutes=15)
#: last_used_at / session last_seen are written at most this often (every request would contend
#: with ingest for the one writer), and whenever a key is used from a new address.
TOUCH_EVERY = timedelta(seconds=60)

_ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}
_SCOPE_GRANTS = {
    Scope.INGEST: {Access.INGEST},
    Scope.READ: {Access.READ},
    Scope.ACT: {Access.READ, Access.ACT},
    Scope.ADMIN: {Access.INGEST, Access.READ, Access.ACT, Access.ADMIN},
}
_NEEDED_RANK = {Access.READ: 1, Access.ACT: 2, Access.ADMIN: 3, Access.INGEST: 3}


@dataclass(frozen=True)
class Principal:
    """An authenticated actor: a user (with a role), an API key (with a scope), or the local
    developer when auth is off (loopback only)."""

    name: str
    kind: str  # user, key, local
    role: Role | None = None
    scope: Scope | None = None
    session: str | None = None  # the session id hash of a browser principal (CSRF, logout)

    def allows(self, access: Access) -> bool:
        """Whether this principal may do what ``access`` guards."""
        if access in (Access.OPEN, Access.SIGNED):
            return True
        if self.scope is not None:
            return access in _SCOPE_GRANTS[self.scope]
        return self.role is not None and _ROLE_RANK[self.role] >= _NEEDED_RANK[access]

    @property
    def grant(self) -> str:
        """The role or scope, for messages and lists."""
        return str(self.role or self.scope or "")


#: The principal of every request when auth is off (development on loopback only).
LOCAL = Principal(name="local", kind="local", role=Role.ADMIN)


def sha256(secret: str) -> str:
    """The stored form of a random secret (API key, session id): enough for 256-bit random input."""
    return hashlib.sha256(secret.encode()).hexdigest()


def refusal(principal: Principal | None, access: Access) -> ServiceError | None:
    """Why ``principal`` may not do ``access`` (Unauthorized/Forbidden), or None when it may."""
    if access in (Access.OPEN, Access.SIGNED):
        return None
    if principal is None:
        return Unauthorized("authentication required: log in, or send Authorization: Bearer <API key>")
    if not principal.allows(access):
        what = {Access.READ: "viewer role or read scope", Access.ACT: "operator role or act scope",
                Access.ADMIN: "admin role or admin scope", Access.INGEST: "an ingest key"}[access]  # fmt: skip
        return Forbidden(f"{principal.name} ({principal.kind} {principal.grant}) may not do this: it needs {what}")
    return None


# -- validation ----------------------------------------------------------------------------------
def _name(name: str, what: str = "user name") -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise InvalidRequest(f"{what} {name!r}: 1–64 letters, digits, '.', '_', '@' or '-', starting alphanumeric")
    return name


def _role(role: str) -> Role:
    try:
        return Role(str(role).strip().lower())
    except ValueError:
        raise InvalidRequest(f"role {role!r}: use one of {', '.join(Role)}") from None


def _scope(scope: str) -> Scope:
    try:
        return Scope(str(scope).strip().lower())
    except ValueError:
        raise InvalidRequest(f"scope {scope!r}: use one of {', '.join(Scope)}") from None


def _password(password: str) -> str:
    if not PASSWORD_MIN <= len(password or "") <= PASSWORD_MAX:
        raise InvalidRequest(f"password: {PASSWORD_MIN}–{PASSWORD_MAX} characters")
    return password


# -- users ---------------------------------------------------------------------------------------
def create_user(conn: Connection, name: str, role: str, password: str, *, by: str, now: datetime) -> dict[str, Any]:
    """Add a user with an argon2id-hashed password; Conflict when the name is taken."""
    name, grant = _name(name), _role(role)
    _password(password)
    if store.get_user(conn, name) is not None:
        raise Conflict(f"user {name!r} exists already")
    store.insert_user(conn, name=name, role=str(grant), password_hash=HASHER.hash(password), now=now)
    store.append_audit(conn, at=now, kind=SecurityEvent.USER_CREATED, principal=by, detail={"user": name,
                       "role": str(grant)})  # fmt: skip
    return {"name": name, "role": str(grant)}


def _existing_user(conn: Connection, name: str) -> dict[str, Any]:
    user = store.get_user(conn, (name or "").strip())
    if user is None:
        raise NotFound(f"no user {name!r}")
    return user


def disable_user(conn: Connection, name: str, *, by: str, now: datetime) -> None:
    """Disable a user and end their sessions at once."""
    user = _existing_user(conn, name)
    store.update_user(conn, user["name"], now=now, disabled=True)
    ended = store.end_user_sessions(conn, user["name"], now=now)
    store.append_audit(conn, at=now, kind=SecurityEvent.USER_DISABLED, principal=by,
                       detail={"user": user["name"], "sessions_ended": ended})  # fmt: skip


def set_role(conn: Connection, name: str, role: str, *, by: str, now: datetime) -> dict[str, str]:
    """Give a user another role; it applies to their next request (sessions read the role each time)."""
    user, grant = _existing_user(conn, name), _role(role)
    store.update_user(conn, user["name"], now=now, role=str(grant))
    store.append_audit(conn, at=now, kind=SecurityEvent.ROLE_CHANGED, principal=by,
                       detail={"user": user["name"], "from": user["role"], "to": str(grant)})  # fmt: skip
    return {"name": user["name"], "role": str(grant), "was": user["role"]}


def reset_password(conn: Connection, name: str, password: str, *, by: str, now: datetime) -> None:
    """Set a new password (re-enabling nothing) and end the user's sessions."""
    user = _existing_user(conn, name)
    _password(password)
    store.update_user(conn, user["name"], now=now, password_hash=HASHER.hash(password))
    ended = store.end_user_sessions(conn, user["name"], now=now)
    store.append_audit(conn, at=now, kind=SecurityEvent.PASSWORD_RESET, principal=by,
                       detail={"user": user["name"], "sessions_ended": ended})  # fmt: skip


def authenticate_password(ctx: AppContext, name: str, password: str, *, addr: str | None) -> Principal:
    """The user, when the password matches and they are enabled; Unauthorized (audited) otherwise,
    Throttled after too many failures for this user from this address. Re-hashes an outdated hash.

    Takes the context, not a transaction: the refusal's audit row must commit although it raises,
    and the (deliberately slow) hash is checked without holding the writer."""
    now = ctx.now()
    name = (name or "").strip()[:64]
    with ctx.engine.connect() as conn:
        failures = store.count_audit(conn, kind=SecurityEvent.LOGIN_FAILED, principal=name, addr=addr,
                                     since=now - LOGIN_WINDOW)  # fmt: skip
        user = store.get_user(conn, name)
    if failures >= LOGIN_FAILURES_ALLOWED:
        audit(ctx, SecurityEvent.LOGIN_THROTTLED, name, addr=addr)
        minutes = int(LOGIN_WINDOW.total_seconds() // 60)
        raise Throttled(
            f"too many failed logins for {name!r} from this address: try again in {minutes} minutes",
            int(LOGIN_WINDOW.total_seconds()),
        )
    try:
        ok: bool = HASHER.verify(user["password_hash"] if user else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or user["disabled"]:
        reason = "unknown user" if user is None else "disabled" if user["disabled"] and ok else "wrong password"
        audit(ctx, SecurityEvent.LOGIN_FAILED, name, addr=addr, reason=reason)
        raise Unauthorized("wrong user name or password")
    if HASHER.check_needs_rehash(user["password_hash"]):
        with ctx.writer.transaction() as conn:
            store.update_user(conn, name, now=now, password_hash=HASHER.hash(password))
            store.append_audit(conn, at=now, kind=SecurityEvent.PASSWORD_REHASHED, principal=name, addr=addr)
    return Principal(name=name, kind="user", role=Role(user["role"]))


# -- sessions ------------------------------------------------------------------------------------
def login(conn: Connection, principal: Principal, *, now: datetime, addr: str | None) -> str:
    """Start a new server-side session (a fresh id at every login); returns the cookie value."""
    token = secrets.token_urlsafe(32)
    store.insert_session(conn, id_hash=sha256(token), user_name=principal.name, now=now, addr=addr)
    store.append_audit(conn, at=now, kind=SecurityEvent.LOGIN, principal=principal.name, addr=addr)
    return token


def logout(conn: Connection, token: str, *, now: datetime, addr: str | None) -> bool:
    """End the session server-side: its cookie no longer works anywhere."""
    row = store.get_session(conn, sha256(token))
    if row is None or not store.end_session(conn, row["id_hash"], now=now):
        return False
    store.append_audit(conn, at=now, kind=SecurityEvent.LOGOUT, principal=row["user_name"], addr=addr)
    return True


def session_principal(
    ctx: AppContext, token: str, *, idle: timedelta, absolute: timedelta, addr: str | None
) -> Principal | None:
    """The user of a live session cookie, or None (unknown, ended, timed out, user disabled).
    A session past a timeout is ended and audited."""
    now = ctx.now()
    id_hash = sha256(token)
    with ctx.engine.connect() as conn:
        row = store.get_session(conn, id_hash)
    if row is None or row["ended_at"] is not None:
        return None
    expired = now - row["last_seen_at"] > idle or now - row["created_at"] > absolute
    if expired or row["disabled"]:
        with ctx.writer.transaction() as conn:
            if store.end_session(conn, id_hash, now=now) and expired:
                store.append_audit(conn, at=now, kind=SecurityEvent.SESSION_EXPIRED, principal=row["user_name"],
                                   addr=addr)  # fmt: skip
        return None
    if now - row["last_seen_at"] > TOUCH_EVERY:
        with ctx.writer.transaction() as conn:
            store.touch_session(conn, id_hash, now=now)
    return Principal(name=row["user_name"], kind="user", role=Role(row["role"]), session=id_hash)


# -- API keys ------------------------------------------------------------------------------------
def create_key(
    conn: Connection, name: str, scope: str, *, by: str, now: datetime, expires_at: datetime | None = None
) -> str:
    """Make a named, scoped key; returns the secret, which is shown this once and stored only hashed."""
    name, grant = _name(name, "key name"), _scope(scope)
    if expires_at is not None and expires_at <= now:
        raise InvalidRequest(f"expires: {expires_at:%Y-%m-%d %H:%M} is in the past")
    if store.get_key(conn, name) is not None:
        raise Conflict(f"key {name!r} exists already (revoked keys keep their name)")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    store.insert_key(conn, name=name, scope=str(grant), prefix=secret[:8], last4=secret[-4:], key_hash=sha256(secret),
                     created_by=by, created_at=now, expires_at=expires_at)  # fmt: skip
    store.append_audit(conn, at=now, kind=SecurityEvent.KEY_CREATED, principal=by,
                       detail={"key": name, "scope": str(grant), "expires_at": expires_at})  # fmt: skip
    return secret


def revoke_key(conn: Connection, name: str, *, by: str, now: datetime) -> None:
    """Revoke a key: it answers 401 from now on."""
    key = store.get_key(conn, (name or "").strip())
    if key is None:
        raise NotFound(f"no key {name!r}")
    if not store.revoke_key(conn, key["name"], now=now):
        raise Conflict(f"key {key['name']!r} was revoked already")
    store.append_audit(conn, at=now, kind=SecurityEvent.KEY_REVOKED, principal=by, detail={"key": key["name"]})


def key_refusal(key: dict[str, Any] | None, now: datetime) -> str | None:
    """Why a stored key does not authenticate now, or None."""
    if key is None:
        return "unknown key"
    if key["revoked_at"] is not None:
        return "revoked"
    if key["expires_at"] is not None and key["expires_at"] <= now:
        return "expired"
    return None


def authenticate_key(ctx: AppContext, secret: str, *, addr: str | None) -> Principal:
    """The key's principal; Unauthorized when it is unknown, revoked or expired. Use is recorded
    (last used, from where, and a security audit row) at most once a minute per key and address."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        key = store.key_by_hash(conn, sha256(secret)) if secret.startswith(KEY_PREFIX) else None
    reason = key_refusal(key, now)
    if reason is not None or key is None:
        if key is not None:  # a known key refused: worth an audit row (unknown ones would be noise)
            with ctx.writer.transaction() as conn:
                store.append_audit(conn, at=now, kind=SecurityEvent.KEY_REFUSED, principal=key["name"], addr=addr,
                                   detail={"reason": reason})  # fmt: skip
        raise Unauthorized(f"API key {reason}")
    last = key["last_used_at"]
    if last is None or now - last > TOUCH_EVERY or key["last_used_addr"] != addr:
        with ctx.writer.transaction() as conn:
            store.touch_key(conn, key["name"], now=now, addr=addr)
            store.append_audit(conn, at=now, kind=SecurityEvent.KEY_USED, principal=key["name"], addr=addr)
    return Principal(name=key["name"], kind="key", scope=Scope(key["scope"]))


def audit(ctx: AppContext, kind: SecurityEvent, principal: str | None, *, addr: str | None, **detail: Any) -> None:
    """Append one security audit row in its own short transaction (refusals, CSRF)."""
    with ctx.writer.transaction() as conn:
        store.append_audit(conn, at=ctx.now(), kind=kind, principal=principal, addr=addr, detail=detail or None)
