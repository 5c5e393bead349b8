"""Login and logout for the browser, and the admin API of users, API keys and the security audit.

The login page is a plain HTML form (no script) styled by the app's own stylesheet; a login sets a
new server-side session and its cookie, logout ends the session on the server.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.api.schemas import AuditRow, KeyCreated, KeyRevoked, KeyRow, Me, UserChange, UserRow
from app.auth import (
    ADMIN,
    OPEN,
    PLAIN_COOKIE,
    READ,
    SECURE_COOKIE,
    client_addr,
    cookie_name,
    cookie_secure,
    same_origin,
    session_token,
)
from app.deps import Conn, Ctx, Who, refusals
from app.services import access
from app.services.access import Throttled, Unauthorized
from models.enums import Role, Scope
from models.queries import access as store

pages = APIRouter(tags=["access"])
router = APIRouter(tags=["access"])

MAX_FORM_BYTES = 8 * 1024


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no //host or scheme): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_page(*, next_url: str = "/", message: str | None = None, auth_on: bool = True) -> str:
    """The login form (escaped values only)."""
    note = f'<p class="login-error" role="alert">{html.escape(message)}</p>' if message else ""
    off = "" if auth_on else '<p class="login-error">Auth is off on this server: no login is needed.</p>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Log in · Flowwatch</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/flowwatch.css"></head>
<body class="login-body">
<header class="topbar"><div class="brand"><span class="brand-mark" aria-hidden="true"></span>
<span class="brand-name">Flowwatch</span></div></header>
<main class="login-main"><form class="login-card" method="post" action="/login">
<h1>Log in</h1>{note}{off}
<input type="hidden" name="next" value="{html.escape(_safe_next(next_url))}">
<label for="login-name">User name</label>
<input id="login-name" name="username" autocomplete="username" required maxlength="64" autofocus>
<label for="login-password">Password</label>
<input id="login-password" name="password" type="password" autocomplete="current-password" required maxlength="256">
<button type="submit" id="login-submit">Log in</button>
</form></main></body></html>"""


@pages.get("/login", response_class=HTMLResponse, openapi_extra=OPEN, summary="The login page")
def get_login(ctx: Ctx, next: Annotated[str, Query(max_length=2000)] = "/") -> HTMLResponse:
    return HTMLResponse(login_page(next_url=next, auth_on=ctx.settings.auth))


@pages.post(
    "/login",
    openapi_extra=OPEN,
    status_code=303,
    response_class=RedirectResponse,
    responses={401: {"description": "wrong user name or password: the form again"}, 429: {"description": "throttled"}},
    summary="Log in with a form (username, password, next)",
)
async def post_login(request: Request, ctx: Ctx) -> Response:
    """A new session at every login; 401 with the form again on a wrong password, 429 when throttled.
    Only from a page of this site (Origin): a cross-site form must not log a browser in as someone else."""
    if not same_origin(request.headers):
        raise HTTPException(403, "cross-site login refused (CSRF): Origin is not this site")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, f"the login form is larger than {MAX_FORM_BYTES} bytes")
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    name, password, next_url = form.get("username", ""), form.get("password", ""), _safe_next(form.get("next"))
    addr = client_addr(request.scope)
    try:
        principal = await run_in_threadpool(access.authenticate_password, ctx, name, password, addr=addr)
    except Throttled as exc:
        page = login_page(next_url=next_url, message=str(exc))
        return HTMLResponse(page, status_code=429, headers={"Retry-After": str(exc.retry_after)})
    except Unauthorized as exc:
        return HTMLResponse(login_page(next_url=next_url, message=str(exc)), status_code=401)

    def start() -> str:
        old = session_token(request.headers)
        with ctx.writer.transaction() as conn:
            if old:  # a login replaces whatever session the browser had
                access.logout(conn, old, now=ctx.now(), addr=addr)
            return access.login(conn, principal, now=ctx.now(), addr=addr)

    token = await run_in_threadpool(start)
    response = RedirectResponse(next_url, status_code=303)
    secure = cookie_secure(ctx.settings, request.scope)
    response.set_cookie(cookie_name(ctx.settings, request.scope), token, httponly=True, samesite="lax", path="/",
                        secure=secure, max_age=int(ctx.settings.session_absolute_hours * 3600))  # fmt: skip
    return response


@pages.post(
    "/logout",
    openapi_extra=OPEN,
    status_code=303,
    response_class=RedirectResponse,
    summary="End this browser session (server-side)",
)
def post_logout(request: Request, ctx: Ctx) -> Response:
    token = session_token(request.headers)
    if token:
        with ctx.writer.transaction() as conn:
            access.logout(conn, token, now=ctx.now(), addr=client_addr(request.scope))
    response = RedirectResponse("/login", status_code=303)
    for name in (SECURE_COOKIE, PLAIN_COOKIE):
        response.delete_cookie(name, path="/", secure=name == SECURE_COOKIE, httponly=True, samesite="lax")
    return response


# -- who am I ------------------------------------------------------------------------------------
@router.get(
    "/me", response_model=Me, openapi_extra=READ, summary="The authenticated principal: name, kind, role or scope"
)
def me(who: Who) -> dict[str, Any]:
    return {"name": who.name, "kind": who.kind, "role": who.role, "scope": who.scope}


# -- users (admin) -------------------------------------------------------------------------------
class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    role: Role
    password: str = Field(min_length=access.PASSWORD_MIN, max_length=access.PASSWORD_MAX)


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=access.PASSWORD_MIN, max_length=access.PASSWORD_MAX)


@router.get("/users", response_model=list[UserRow], openapi_extra=ADMIN, summary="Every user (no password hashes)")
def get_users(conn: Conn) -> list[dict[str, Any]]:
    return jsonable_encoder(store.list_users(conn))


@router.post(
    "/users", response_model=UserChange, status_code=201, openapi_extra=ADMIN, summary="Add a user with a role"
)
def post_user(body: UserIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals(), ctx.writer.transaction() as conn:
        return access.create_user(conn, body.name, body.role, body.password, by=who.name, now=ctx.now())


@router.post(
    "/users/{name}/disable",
    response_model=UserChange,
    openapi_extra=ADMIN,
    summary="Disable a user and end their sessions",
)
def disable_user(name: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals(), ctx.writer.transaction() as conn:
        access.disable_user(conn, name, by=who.name, now=ctx.now())
    return {"name": name, "disabled": True}


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


@router.post(
    "/users/{name}/role",
    response_model=UserChange,
    openapi_extra=ADMIN,
    summary="Give a user another role (next request on)",
)
def set_role(name: str, body: RoleIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals(), ctx.writer.transaction() as conn:
        return access.set_role(conn, name, body.role, by=who.name, now=ctx.now())


@router.post(
    "/users/{name}/password",
    response_model=UserChange,
    openapi_extra=ADMIN,
    summary="Set a user's password, ending their sessions",
)
def reset_password(name: str, body: PasswordIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals(), ctx.writer.transaction() as conn:
        access.reset_password(conn, name, body.password, by=who.name, now=ctx.now())
    return {"name": name, "password_reset": True}


# -- API keys (admin) ----------------------------------------------------------------------------
class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    scope: Scope
    expires_at: datetime | None = Field(None, description="ISO 8601; naive means UTC; default never")


@router.get(
    "/keys",
    response_model=list[KeyRow],
    openapi_extra=ADMIN,
    summary="Every key: prefix…last4, scope, expiry, last used (never the key)",
)
def get_keys(ctx: Ctx, conn: Conn) -> list[dict[str, Any]]:
    now = ctx.now()
    return jsonable_encoder([{**k, "state": access.key_refusal(k, now) or "active"} for k in store.list_keys(conn)])


@router.post(
    "/keys",
    response_model=KeyCreated,
    status_code=201,
    openapi_extra=ADMIN,
    summary="Create a key; the answer holds it this once",
)
def post_key(body: KeyIn, ctx: Ctx, who: Who) -> dict[str, Any]:
    expires = body.expires_at.replace(tzinfo=None) if body.expires_at else None
    with refusals(), ctx.writer.transaction() as conn:
        secret = access.create_key(conn, body.name, body.scope, by=who.name, now=ctx.now(), expires_at=expires)
    return {"name": body.name, "scope": str(body.scope), "key": secret, "shown_once": True}


@router.delete(
    "/keys/{name}", response_model=KeyRevoked, openapi_extra=ADMIN, summary="Revoke a key (401 from then on)"
)
def delete_key(name: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    with refusals(), ctx.writer.transaction() as conn:
        access.revoke_key(conn, name, by=who.name, now=ctx.now())
    return {"name": name, "revoked": True}


# -- security audit (admin) ----------------------------------------------------------------------
@router.get(
    "/security-audit",
    response_model=list[AuditRow],
    openapi_extra=ADMIN,
    summary="The security audit, newest first, filtered",
)
def get_security_audit(
    conn: Conn,
    kind: str | None = None,
    principal: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[dict[str, Any]]:
    since = since.replace(tzinfo=None) if since else None
    return jsonable_encoder(store.list_audit(conn, kind=kind, principal=principal, since=since, limit=limit))
