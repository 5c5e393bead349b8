"""The edge's access control: who is asking (API key, session cookie, or the local developer when auth
is off), whether the route's rule lets them, CSRF for cookie sessions, and the security headers.

Every API route carries its rule in ``openapi_extra`` (``x-access``: open, signed, ingest, read, act,
admin), so the rule sits beside the route and shows in /api/openapi.json; :func:`authorize`, a
dependency of the whole app, refuses a route without one (default deny). The Dash pages mounted at
``/`` need a session (or key) with read access; their acting callbacks check the role again through
:func:`dashboards.app.current_principal`.

CSRF: a cookie-authenticated request that changes state (POST, PUT, PATCH, DELETE — Dash's
``/_dash-update-component`` included) must come from this site: its ``Origin`` names this host, or,
without ``Origin``, ``Sec-Fetch-Site`` says same-origin (OWASP's "verifying origin with standard
headers"). Browsers set both on every fetch and form post; a request carrying an API key is not
ambient authority and needs neither.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.context import AppContext
from app.services import access
from app.services.access import LOCAL, Principal, Unauthorized
from app.settings import Settings
from models.enums import Access, SecurityEvent

log = logging.getLogger(__name__)

#: ``openapi_extra`` of a route: its access rule, in the OpenAPI document as ``x-access``.
OPEN = {"x-access": str(Access.OPEN)}
SIGNED = {"x-access": str(Access.SIGNED)}
INGEST = {"x-access": str(Access.INGEST)}
READ = {"x-access": str(Access.READ)}
ACT = {"x-access": str(Access.ACT)}
ADMIN = {"x-access": str(Access.ADMIN)}

#: Where the principal (or why there is none) travels in the ASGI scope; a2wsgi hands the scope to
#: Flask as ``environ["asgi.scope"]``, which is how Dash callbacks see the same principal.
PRINCIPAL_KEY = "flowwatch.principal"
AUTH_ERROR_KEY = "flowwatch.auth_error"

SECURE_COOKIE = "__Host-flowwatch"
#: Plain http to a non-loopback host: browsers refuse a Secure (so a __Host-) cookie there.
PLAIN_COOKIE = "flowwatch_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Endpoints that take large bodies (checked as they stream against ``max_request_bytes``).
INGEST_PATHS = ("/v1/traces", "/api/v1/events", "/api/v1/webhooks/", "/api/v1/queue-samples")
#: Paths served without credentials whatever the rule table says: the login page and its assets.
PUBLIC_PREFIXES = ("/login", "/logout", "/healthz", "/readyz", "/favicon.ico", "/assets/")


def content_security_policy(script_hashes: Sequence[str] = ()) -> str:
    """The CSP the Dash pages work under: scripts only from this origin plus the inline scripts Dash
    writes (``new DashRenderer(...)`` and the clientside callbacks), each allowed by its hash
    (``Dash.csp_hashes()``), never by 'unsafe-inline' or 'unsafe-eval'. Styles need 'unsafe-inline'
    (React and plotly set style attributes)."""
    scripts = " ".join(["'self'", *script_hashes])  # Dash's hashes come quoted: 'sha256-…'
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


def security_headers(csp: str) -> list[tuple[str, str]]:
    """Every answer carries these (unless a route set its own)."""
    return [
        ("content-security-policy", csp),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost."""
    if host.strip("[]").lower() in ("localhost", ""):
        return host.strip() != ""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, *, warn: bool = True) -> None:
    """Refuse to serve with auth off anywhere but loopback; warn loudly (``warn``) when it is off."""
    if settings.auth:
        return
    if not is_loopback(settings.host):
        raise ValueError(
            f"auth is off (FLOWWATCH_AUTH=off) and the bind address {settings.host} is not loopback: "
            "turn auth on, or bind 127.0.0.1 for local development"
        )
    if warn:
        log.warning(
            "AUTH IS OFF: every request acts as the admin %r. Local development only (bound to %s).",
            LOCAL.name,
            settings.host,
        )


def rule_of(route: Any) -> Access | None:
    """The access rule a route declares, or None."""
    extra = getattr(route, "openapi_extra", None) or {}
    value = extra.get("x-access")
    return Access(value) if value else None


def cookie_secure(settings: Settings, scope: Scope) -> bool:
    """Whether the session cookie is Secure (and so ``__Host-``): over TLS, behind a TLS proxy, or on
    loopback, which browsers count as a secure context."""
    if settings.behind_tls_proxy or scope.get("scheme") == "https":
        return True
    host = Headers(scope=scope).get("host", "").rsplit(":", 1)[0] if scope.get("type") == "http" else ""
    return is_loopback(host)


def cookie_name(settings: Settings, scope: Scope) -> str:
    """``__Host-flowwatch`` where the cookie can be Secure, ``flowwatch_session`` on plain http elsewhere."""
    return SECURE_COOKIE if cookie_secure(settings, scope) else PLAIN_COOKIE


def client_addr(scope: Scope) -> str | None:
    """The peer address (a proxy's own address unless the server is told to trust forwarded headers)."""
    client = scope.get("client")
    return client[0] if client else None


def session_token(headers: Headers) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed cookie header is no session, not an error page
        return None
    morsel = jar.get(SECURE_COOKIE) or jar.get(PLAIN_COOKIE)
    return morsel.value if morsel is not None else None


def same_origin(headers: Headers) -> bool:
    """The request comes from a page of this site (Origin names this host, or Sec-Fetch-Site says so)."""
    origin = headers.get("origin")
    host = headers.get("host", "")
    if origin and origin != "null":
        return urlsplit(origin).netloc.lower() == host.lower()
    site = headers.get("sec-fetch-site")
    return site in ("same-origin", "none")


class AccessMiddleware:
    """Resolve the principal of every HTTP request, refuse cross-site cookie writes, keep the Dash
    pages behind a login, and add the security headers to every answer."""

    def __init__(self, app: ASGIApp, ctx: AppContext, *, api_prefixes: tuple[str, ...], csp: Callable[[], str]) -> None:
        self.app = app
        self.ctx = ctx
        self.api_prefixes = api_prefixes
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in security_headers(self.csp()):
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        headers = Headers(scope=scope)
        path: str = scope["path"]
        if scope["method"] in UNSAFE_METHODS and not path.startswith(INGEST_PATHS):
            receive = await self._limited(scope, headers, receive, send_with_headers)
            if receive is None:
                return
        principal, error, via_cookie = await self._resolve(scope, headers)
        scope[PRINCIPAL_KEY] = principal
        scope[AUTH_ERROR_KEY] = error
        if via_cookie and scope["method"] in UNSAFE_METHODS and not same_origin(headers):
            await run_in_threadpool(access.audit, self.ctx, SecurityEvent.CSRF_REFUSED,
                                    principal.name if principal else None, addr=client_addr(scope),
                                    path=path, origin=headers.get("origin"))  # fmt: skip
            response = JSONResponse({"detail": "cross-site request refused (CSRF): Origin is not this site"}, 403)
            await response(scope, receive, send_with_headers)
            return
        if not self._is_api(path) and not path.startswith(PUBLIC_PREFIXES):
            refusal = access.refusal(principal, Access.READ)
            if refusal is not None:  # the Dash pages and their endpoints need a login with read access
                await self._refuse_page(scope, headers, refusal, error)(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)

    async def _limited(self, scope: Scope, headers: Headers, receive: Receive, send: Send) -> Receive | None:
        """Refuse (413) a body over ``max_body_bytes`` on anything but the ingest endpoints (which stream
        theirs against ``max_request_bytes``); a body without Content-Length is read up to the limit and
        replayed. None when refused."""
        limit = self.ctx.settings.max_body_bytes
        declared = headers.get("content-length")
        too_large = JSONResponse({"detail": f"request body is larger than {limit:,} bytes"}, status_code=413)
        if declared is not None:
            if declared.isdigit() and int(declared) > limit:
                await too_large(scope, receive, send)
                return None
            return receive
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > limit:
                await too_large(scope, receive, send)
                return None
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    def _is_api(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.api_prefixes)

    async def _resolve(self, scope: Scope, headers: Headers) -> tuple[Principal | None, str | None, bool]:
        """(principal, why the credentials given were refused, whether it came from the cookie)."""
        settings = self.ctx.settings
        addr = client_addr(scope)
        authorization = headers.get("authorization", "")
        if authorization:
            kind, _, secret = authorization.partition(" ")
            if kind.lower() != "bearer" or not secret.strip():
                return None, "Authorization must be 'Bearer <API key>'", False
            try:
                return (
                    await run_in_threadpool(access.authenticate_key, self.ctx, secret.strip(), addr=addr),
                    None,
                    False,
                )
            except Unauthorized as exc:
                return None, str(exc), False
        token = session_token(headers)
        if token:
            principal = await run_in_threadpool(
                access.session_principal,
                self.ctx,
                token,
                idle=timedelta(minutes=settings.session_idle_minutes),
                absolute=timedelta(hours=settings.session_absolute_hours),
                addr=addr,
            )
            if principal is not None:
                return principal, None, True
            if settings.auth:
                return None, "your session has ended: log in again", False
        return (None if settings.auth else LOCAL), None, False

    def _refuse_page(self, scope: Scope, headers: Headers, refusal: Exception, error: str | None) -> Any:
        """A browser navigating gets the login page (back here after); Dash's JSON calls get 401/403."""
        status = 401 if isinstance(refusal, Unauthorized) else 403
        if status == 401 and scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
            target = scope["path"] + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return JSONResponse({"detail": error or str(refusal)}, status_code=status)


class RateLimiter:
    """A token bucket per key: ``rate`` requests a second on average, bursts up to ``burst``.
    Runs on the event loop (from :func:`authorize`), so no lock is needed."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def wait(self, key: str) -> int:
        """0 when a request may pass now (and take a token), else the whole seconds until one may."""
        if self.rate <= 0:
            return 0
        now = self.clock()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / self.rate))


async def authorize(request: Request) -> None:
    """App-wide dependency: the route's rule against the request's principal; 401, 403, or through.
    A route without a rule is refused (default deny), and /api/openapi.json shows each rule."""
    route = request.scope.get("route")
    rule = rule_of(route)
    if rule is None:
        raise HTTPException(403, f"{request.url.path} declares no access rule (x-access): refused")
    principal: Principal | None = request.scope.get(PRINCIPAL_KEY)
    refusal = access.refusal(principal, rule)
    if refusal is None:
        if rule is Access.INGEST and principal is not None and principal.kind == "key":
            limiter: RateLimiter = request.app.state.ingest_limiter
            wait = limiter.wait(principal.name)
            if wait:
                raise HTTPException(429, f"key {principal.name!r} is over its ingest rate of "
                                    f"{limiter.rate:g} requests/s: retry after {wait} s",
                                    headers={"Retry-After": str(wait)})  # fmt: skip
        return
    if isinstance(refusal, Unauthorized):
        detail = request.scope.get(AUTH_ERROR_KEY) or str(refusal)
        raise HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})
    ctx: AppContext = request.app.state.ctx
    await run_in_threadpool(access.audit, ctx, SecurityEvent.DENIED, principal.name if principal else None,
                 addr=client_addr(request.scope), method=request.method, path=request.url.path,
                 needs=str(rule))  # fmt: skip
    raise HTTPException(403, str(refusal))


def current_principal(request: Request) -> Principal:
    """The authenticated principal of a request that passed :func:`authorize`."""
    principal: Principal | None = request.scope.get(PRINCIPAL_KEY)
    if principal is None:  # an open route asking who: nobody
        raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
    return principal
