"""Admin page builders: users, API keys (never the key itself: its prefix and last four) and the
security audit, from the same rows the admin API answers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from dash import html

from app.services.access import key_refusal
from dashboards.components.tables import badge

#: Badge colour of a user's or key's state.
STATE_BADGE = {"enabled": "ok", "active": "ok", "disabled": "idle", "revoked": "idle", "expired": "warning"}


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "—"


def _table(head: list[str], rows: list[list[Any]], empty: str) -> html.Div | html.Table:
    if not rows:
        return html.Div(empty, className="empty")
    return html.Table(
        className="data-table",
        children=[html.Thead(html.Tr([html.Th(h) for h in head])),
                  html.Tbody([html.Tr([html.Td(c) for c in r]) for r in rows])],
    )  # fmt: skip


def user_rows(users: list[dict[str, Any]]) -> list[list[Any]]:
    """Name, role, state, created, last changed."""
    rows = []
    for u in users:
        state = "disabled" if u["disabled"] else "enabled"
        rows.append([u["name"], u["role"], badge(state, STATE_BADGE[state]), _when(u["created_at"]),
                     _when(u["updated_at"])])  # fmt: skip
    return rows


def users_table(users: list[dict[str, Any]]) -> html.Div | html.Table:
    return _table(["User", "Role", "State", "Created", "Changed"], user_rows(users), "No users yet")


def key_rows(keys: list[dict[str, Any]], now: datetime) -> list[list[Any]]:
    """Name, scope, prefix…last4, state (active, expired, revoked), expiry, last use and from where."""
    rows = []
    for k in keys:
        state = key_refusal(k, now) or "active"
        used = f"{_when(k['last_used_at'])} from {k['last_used_addr'] or '?'}" if k["last_used_at"] else "never"
        rows.append([k["name"], k["scope"], html.Code(f"{k['prefix']}…{k['last4']}"),
                     badge(state, STATE_BADGE[state]), _when(k["expires_at"]), used, k["created_by"]])  # fmt: skip
    return rows


def keys_table(keys: list[dict[str, Any]], now: datetime) -> html.Div | html.Table:
    return _table(["Key", "Scope", "Key (masked)", "State", "Expires", "Last used", "Created by"],
                  key_rows(keys, now), "No API keys yet")  # fmt: skip


def audit_rows(audit: list[dict[str, Any]]) -> list[list[Any]]:
    """Time, kind, who, from where, what (the detail as compact JSON, rendered as text: escaped)."""
    return [
        [f"{a['at']:%Y-%m-%d %H:%M:%S}", a["kind"], a["principal"] or "—", a["addr"] or "—",
         json.dumps(a["detail"], sort_keys=True, default=str) if a["detail"] else ""]
        for a in audit
    ]  # fmt: skip


def audit_table(audit: list[dict[str, Any]]) -> html.Div | html.Table:
    return _table(["At (UTC)", "Kind", "Who", "Address", "Detail"], audit_rows(audit), "Nothing recorded")


def shown_once(name: str, secret: str) -> html.Div:
    """The new key, once: it is not stored and cannot be shown again."""
    return html.Div(
        className="ex-callout tone-warning admin-secret",
        children=[
            html.Strong(f"Key {name}: copy it now, it is shown only this once"),
            html.Pre(secret, id="admin-new-key", className="ex-code"),
        ],
    )
