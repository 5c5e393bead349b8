"""Admin: users, API keys and the security audit (admin role only; every callback checks it on the
server). Actions call the same ``app/services/access`` functions as the CLI and the admin API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from app.services import access
from app.services.errors import ServiceError
from dashboards.app import acting_as, acts, can, current_ctx
from dashboards.components import admin as ad
from dashboards.components.layout import card, page_header
from models.enums import Access, Role, Scope, SecurityEvent
from models.queries import access as store

dash.register_page(__name__, path="/admin", name="Admin", title="Admin · Flowwatch", order=90, admin_only=True)


def _field(label: str, control: Any) -> html.Label:
    return html.Label([html.Span(label, className="ex-label"), control], className="admin-field")


def layout(**_query: str) -> html.Div:
    """Users, keys and the audit for admins; a short refusal for anyone else (no I/O here)."""
    if not can(Access.ADMIN):
        return html.Div(className="page", children=[
            page_header("Admin", "Users, API keys and the security audit", []),
            html.Div("This page is for admins.", className="empty-state", id="admin-refused"),
        ])  # fmt: skip
    roles = [{"label": r.capitalize(), "value": r} for r in Role]
    scopes = [{"label": s.capitalize(), "value": s} for s in Scope]
    kinds = [{"label": k.replace("_", " "), "value": k} for k in SecurityEvent]
    return html.Div(className="page", children=[
        dcc.Store(id="admin-refresh", data=0),
        page_header("Admin", "Users, API keys and the security audit",
                    [html.Span(id="admin-said", className="updated", role="status")]),
        html.Div(className="grid", children=[
            card("Users", "Who logs in, with which role", html.Div([
                html.Div(className="ex-action-row admin-form", children=[
                    _field("Name", dcc.Input(id="admin-user-name", className="ex-input ex-input-sm", maxLength=64)),
                    _field("Role", dcc.Dropdown(id="admin-user-role", options=roles, value="viewer",
                                                clearable=False, searchable=False, className="ex-picker")),
                    _field("Password", dcc.Input(id="admin-user-password", type="password", maxLength=256,
                                                 className="ex-input ex-input-sm")),
                    html.Button("Add user", id="admin-user-add", className="button-primary"),
                    html.Button("Disable user", id="admin-user-disable", className="button-quiet button-danger"),
                ]),
                html.Div(id="admin-users", className="table-wrap"),
            ]), span=12),
            card("API keys", "Shown once at creation, stored hashed; revoked keys answer 401", html.Div([
                html.Div(className="ex-action-row admin-form", children=[
                    _field("Name", dcc.Input(id="admin-key-name", className="ex-input ex-input-sm", maxLength=64)),
                    _field("Scope", dcc.Dropdown(id="admin-key-scope", options=scopes, value="ingest",
                                                 clearable=False, searchable=False, className="ex-picker")),
                    _field("Expires in days", dcc.Input(id="admin-key-days", type="number", min=1, step=1,
                                                        className="ex-input ex-input-num")),
                    html.Button("Create key", id="admin-key-create", className="button-primary"),
                    html.Button("Revoke key", id="admin-key-revoke", className="button-quiet button-danger"),
                ]),
                html.Div(id="admin-key-shown"),
                html.Div(id="admin-keys", className="table-wrap"),
            ]), span=12),
            card("Security audit", "Logins, refusals, key and user changes: newest first", html.Div([
                html.Div(className="ex-action-row admin-form", children=[
                    _field("Kind", dcc.Dropdown(id="admin-audit-kind", options=kinds, placeholder="any kind",
                                                className="ex-picker ex-picker-md")),
                    _field("Who", dcc.Input(id="admin-audit-who", debounce=True, className="ex-input ex-input-sm")),
                ]),
                html.Div(id="admin-audit", className="table-wrap"),
            ]), span=12),
        ]),
    ])  # fmt: skip


@dash.callback(
    Output("admin-users", "children"),
    Output("admin-keys", "children"),
    Output("admin-audit", "children"),
    Input("admin-refresh", "data"),
    Input("admin-audit-kind", "value"),
    Input("admin-audit-who", "value"),
)
@acts(Access.ADMIN)
def _refresh(_refresh: Any, kind: str | None, who: str | None) -> tuple[Any, Any, Any]:
    """The three tables, read fresh (admins only: users and the audit are not for everyone to read)."""
    ctx = current_ctx()
    with ctx.engine.connect() as conn:
        users = store.list_users(conn)
        keys = store.list_keys(conn)
        audit = store.list_audit(conn, kind=kind or None, principal=(who or "").strip() or None, limit=200)
    return ad.users_table(users), ad.keys_table(keys, ctx.now()), ad.audit_table(audit)


@dash.callback(
    Output("admin-said", "children"),
    Output("admin-refresh", "data"),
    Output("admin-key-shown", "children"),
    Output("admin-user-password", "value"),
    Input("admin-user-add", "n_clicks"),
    Input("admin-user-disable", "n_clicks"),
    Input("admin-key-create", "n_clicks"),
    Input("admin-key-revoke", "n_clicks"),
    State("admin-user-name", "value"),
    State("admin-user-role", "value"),
    State("admin-user-password", "value"),
    State("admin-key-name", "value"),
    State("admin-key-scope", "value"),
    State("admin-key-days", "value"),
    State("admin-refresh", "data"),
    prevent_initial_call=True,
)
@acts(Access.ADMIN)
def _act(_add: Any, _disable: Any, _create: Any, _revoke: Any, user: str | None, role: str | None,
         password: str | None, key: str | None, scope: str | None, days: Any,
         count: int | None) -> tuple[Any, ...]:  # fmt: skip
    """Add or disable a user, create or revoke a key; the new key is shown this once."""
    ctx = current_ctx()
    trigger, by, now = dash.ctx.triggered_id, acting_as(), ctx.now()
    shown: Any = None
    try:
        with ctx.writer.transaction() as conn:
            if trigger == "admin-user-add":
                made = access.create_user(conn, user or "", role or "", password or "", by=by, now=now)
                said = f"Added user {made['name']} ({made['role']})"
            elif trigger == "admin-user-disable":
                access.disable_user(conn, user or "", by=by, now=now)
                said = f"Disabled {user}; their sessions have ended"
            elif trigger == "admin-key-create":
                expires = now + timedelta(days=int(days)) if days else None
                secret = access.create_key(conn, key or "", scope or "", by=by, now=now, expires_at=expires)
                said, shown = f"Created key {key}", ad.shown_once(str(key), secret)
            else:
                access.revoke_key(conn, key or "", by=by, now=now)
                said = f"Revoked key {key}"
    except ServiceError as exc:
        return str(exc), dash.no_update, None, dash.no_update
    return said, (count or 0) + 1, shown, ""
