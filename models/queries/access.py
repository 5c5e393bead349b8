"""Users, API keys, browser sessions and the append-only security audit: the SQL of access control.

Callers own the transaction (writes inside ``IngestWriter.transaction()``); secrets never reach
this module, only their hashes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.store.tables import api_keys, security_audit, sessions, users


# -- users ---------------------------------------------------------------------------------------
def get_user(conn: Connection, name: str) -> dict[str, Any] | None:
    """One user row (with its password hash), or None."""
    row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
    return dict(row) if row is not None else None


def list_users(conn: Connection) -> list[dict[str, Any]]:
    """Every user without the password hash, by name."""
    cols = [c for c in users.c if c.name != "password_hash"]
    return [dict(r) for r in conn.execute(sa.select(*cols).order_by(users.c.name)).mappings()]


def insert_user(conn: Connection, *, name: str, role: str, password_hash: str, now: datetime) -> None:
    """Add a user (the caller checked the name is free)."""
    conn.execute(
        users.insert().values(
            name=name, role=role, password_hash=password_hash, disabled=False, created_at=now, updated_at=now
        )
    )


def update_user(conn: Connection, name: str, *, now: datetime, **values: Any) -> bool:
    """Change a user's role, hash or disabled flag; False when there is no such user."""
    result = conn.execute(users.update().where(users.c.name == name).values(updated_at=now, **values))
    return bool(result.rowcount)


# -- API keys ------------------------------------------------------------------------------------
def insert_key(conn: Connection, **values: Any) -> None:
    """Add a key row: name, scope, prefix, last4, key_hash, created_by, created_at, expires_at."""
    conn.execute(api_keys.insert().values(**values))


def get_key(conn: Connection, name: str) -> dict[str, Any] | None:
    """One key row by name, or None."""
    row = conn.execute(sa.select(api_keys).where(api_keys.c.name == name)).mappings().first()
    return dict(row) if row is not None else None


def key_by_hash(conn: Connection, key_hash: str) -> dict[str, Any] | None:
    """The key whose secret hashes to ``key_hash``, or None."""
    row = conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == key_hash)).mappings().first()
    return dict(row) if row is not None else None


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    """Every key without its hash, by name."""
    cols = [c for c in api_keys.c if c.name != "key_hash"]
    return [dict(r) for r in conn.execute(sa.select(*cols).order_by(api_keys.c.name)).mappings()]


def revoke_key(conn: Connection, name: str, *, now: datetime) -> bool:
    """Mark a key revoked; False when there is none of that name or it was revoked already."""
    result = conn.execute(
        api_keys.update().where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return bool(result.rowcount)


def touch_key(conn: Connection, name: str, *, now: datetime, addr: str | None) -> None:
    """Record when and from where a key was last used."""
    conn.execute(api_keys.update().where(api_keys.c.name == name).values(last_used_at=now, last_used_addr=addr))


# -- sessions ------------------------------------------------------------------------------------
def insert_session(conn: Connection, *, id_hash: str, user_name: str, now: datetime, addr: str | None) -> None:
    """Start a session."""
    conn.execute(
        sessions.insert().values(id_hash=id_hash, user_name=user_name, created_at=now, last_seen_at=now, addr=addr)
    )


def get_session(conn: Connection, id_hash: str) -> dict[str, Any] | None:
    """A session row joined with its user's role and disabled flag, or None."""
    query = (
        sa.select(sessions, users.c.role, users.c.disabled)
        .select_from(sessions.join(users, users.c.name == sessions.c.user_name))
        .where(sessions.c.id_hash == id_hash)
    )
    row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def touch_session(conn: Connection, id_hash: str, *, now: datetime) -> None:
    """Move a session's idle clock."""
    conn.execute(sessions.update().where(sessions.c.id_hash == id_hash).values(last_seen_at=now))


def end_session(conn: Connection, id_hash: str, *, now: datetime) -> bool:
    """End one session (logout or a timeout); False when it had ended already."""
    result = conn.execute(
        sessions.update().where(sessions.c.id_hash == id_hash, sessions.c.ended_at.is_(None)).values(ended_at=now)
    )
    return bool(result.rowcount)


def end_user_sessions(conn: Connection, user_name: str, *, now: datetime) -> int:
    """End every live session of a user (disabled, password reset); how many ended."""
    result = conn.execute(
        sessions.update().where(sessions.c.user_name == user_name, sessions.c.ended_at.is_(None)).values(ended_at=now)
    )
    return int(result.rowcount or 0)


# -- security audit ------------------------------------------------------------------------------
def append_audit(
    conn: Connection,
    *,
    at: datetime,
    kind: str,
    principal: str | None,
    addr: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one security audit row (never updated, never deleted)."""
    conn.execute(
        security_audit.insert().values(
            at=at,
            kind=kind,
            principal=principal,
            addr=addr,
            detail=json.dumps(detail, default=str, sort_keys=True) if detail else None,
        )
    )


def count_audit(conn: Connection, *, kind: str, principal: str | None, addr: str | None, since: datetime) -> int:
    """How many rows of ``kind`` for this principal and address since a time (login throttling)."""
    query = sa.select(sa.func.count()).where(
        security_audit.c.kind == kind,
        security_audit.c.at >= since,
        security_audit.c.principal.is_not_distinct_from(principal),
        security_audit.c.addr.is_not_distinct_from(addr),
    )
    return int(conn.execute(query).scalar_one())


def list_audit(
    conn: Connection,
    *,
    kind: str | None = None,
    principal: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Newest first, optionally of one kind, one principal, since a time."""
    query = sa.select(security_audit).order_by(security_audit.c.audit_id.desc()).limit(limit)
    if kind:
        query = query.where(security_audit.c.kind == kind)
    if principal:
        query = query.where(security_audit.c.principal == principal)
    if since is not None:
        query = query.where(security_audit.c.at >= since)
    rows = [dict(r) for r in conn.execute(query).mappings()]
    for row in rows:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else None
    return rows
