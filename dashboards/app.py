"""The Dash app: multi-page, served by the FastAPI process under /, inside one shell."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import dash
import flask
from dash import ALL, Input, Output, State, dcc, html
from flask import Flask
from sqlalchemy.engine import Connection

from app.auth import PRINCIPAL_KEY, client_addr
from app.context import AppContext
from app.services import access
from app.services.access import Principal
from dashboards.components import filters as gf
from dashboards.theme import browser_theme_spec
from models.enums import Access, SecurityEvent
from models.queries.scope import Scope, scope_systems

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

CTX_KEY = "FLOWWATCH_CTX"
PRODUCT = "Flowwatch"
#: The theme the reader chose, kept in the browser's localStorage under this key (dcc.Store, JSON).
THEME_STORE = "fw-theme"


#: Served by the Dash server and loaded in <head>: a file, not an inline script, so the CSP needs no hash.
THEME_SCRIPT = "/fw-theme.js"


def theme_script() -> str:
    """The stored theme set on <html> before the first paint (so a dark reader never sees a light
    flash), and window.FW_THEME, what assets/fw_theme.js draws charts with in the dark theme."""
    spec = json.dumps(browser_theme_spec(), separators=(",", ":"))
    return (
        "(function () {\n"
        f'    try {{ if (JSON.parse(window.localStorage.getItem("{THEME_STORE}")) === "dark") {{\n'
        '        document.documentElement.setAttribute("data-theme", "dark"); } } catch (e) {}\n'
        f"    window.FW_THEME = {spec};\n"
        "})();\n"
    )


def index_string() -> str:
    """Dash's page, with a language and the theme script ahead of the stylesheets."""
    return f"""<!DOCTYPE html>
<html lang="en">
    <head>
        <script src="{THEME_SCRIPT}"></script>
        {{%metas%}}
        <title>{{%title%}}</title>
        {{%favicon%}}
        {{%css%}}
    </head>
    <body>
        {{%app_entry%}}
        <footer>
            {{%config%}}
            {{%scripts%}}
            {{%renderer%}}
        </footer>
    </body>
</html>"""


def current_ctx() -> AppContext:
    """The process context of the app serving this request (callbacks run inside Flask)."""
    return flask.current_app.config[CTX_KEY]


def shared(key: Hashable, read: Callable[[Connection, datetime], T]) -> tuple[datetime, T]:
    """``read(conn, now)`` and the ``now`` it read at, computed once a minute for every viewer of a
    period page (:mod:`app.services.page_cache`): a page labels its numbers with that time."""
    ctx = current_ctx()

    def compute() -> tuple[datetime, T]:
        now = ctx.now()
        with ctx.engine.connect() as conn:
            return now, read(conn, now)

    return ctx.page_cache.get(key, compute)


def current_principal() -> Principal | None:
    """Who this request is, as the access middleware resolved it (a2wsgi hands the ASGI scope to Flask):
    the same principal the API sees, never anything the browser claims."""
    if not flask.has_request_context():
        return None
    return flask.request.environ.get("asgi.scope", {}).get(PRINCIPAL_KEY)


def can(rule: Access) -> bool:
    """Whether this request's principal may do ``rule`` (pages hide what it may not)."""
    return access.refusal(current_principal(), rule) is None


def acts(rule: Access) -> Callable[[F], F]:
    """Mark a Dash callback that acts: it runs only when this request's principal passes ``rule``; a
    request that does not (a viewer's forged callback, an ended session) is audited and answered 403.
    The rule rides on the function as ``flowwatch_access``, which the access test reads from the
    callback map."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            refusal = access.refusal(principal, rule)
            if refusal is not None:
                scope = flask.request.environ.get("asgi.scope", {})
                access.audit(current_ctx(), SecurityEvent.DENIED, principal.name if principal else None,
                             addr=client_addr(scope), callback=fn.__qualname__, needs=str(rule))  # fmt: skip
                flask.abort(403, str(refusal))
            return fn(*args, **kwargs)

        checked.flowwatch_access = rule  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return wrap


def checks(rule: Access) -> Callable[[F], F]:
    """Mark a callback that both reads and acts (a refresh that also takes a switch): it calls
    :func:`denied` itself before acting; the rule is recorded for the access test like :func:`acts`."""

    def mark(fn: F) -> F:
        fn.flowwatch_access = rule  # type: ignore[attr-defined]
        return fn

    return mark


def denied(rule: Access, what: str) -> str | None:
    """Why this request may not do ``what`` (audited), or None when it may."""
    principal = current_principal()
    refusal = access.refusal(principal, rule)
    if refusal is None:
        return None
    scope = flask.request.environ.get("asgi.scope", {})
    access.audit(current_ctx(), SecurityEvent.DENIED, principal.name if principal else None, addr=client_addr(scope),
                 callback=what, needs=str(rule))  # fmt: skip
    return str(refusal)


def acting_as() -> str:
    """The name an acting callback acts under (after :func:`acts` let it through)."""
    principal = current_principal()
    if principal is None:  # unreachable behind @acts; refuse rather than act anonymously
        flask.abort(401)
    return principal.name


def page_filters(query: dict[str, Any]) -> gf.GlobalFilters:
    """The global filters of a page's URL query, checked against the estate's systems (configuration
    read at start, so a layout stays free of I/O)."""
    estate = [{"system_id": s.system_id, "kind": s.kind} for s in current_ctx().flow_config.systems]
    return gf.parse_filters(query, gf.known_systems(estate))


def scope_store(filters: gf.GlobalFilters) -> dcc.Store:
    """The page's channel / ERP / fulfiller, which its callbacks read (``scope_of``)."""
    return dcc.Store(id="fw-scope", data=filters.scope.chosen())


def scope_of(data: dict[str, str] | None) -> Scope:
    """The scope a page's ``fw-scope`` store holds (it was checked when the page was built)."""
    return Scope(**{dim: (data or {}).get(dim) for dim in gf.DIMENSIONS})


def page_of(pathname: str | None) -> dict[str, Any]:
    """The registry entry of the page at ``pathname`` (templates such as ``/partners/<partner>`` too)."""
    for page in dash.page_registry.values():
        template = page.get("path_template") or page["path"]
        pattern = "^" + re.sub(r"<[^>]+>", "[^/]+", re.escape(template)) + "$"
        if page["path"] == pathname or re.match(pattern, pathname or ""):
            return page
    return {}


def create_dash(ctx: AppContext) -> dash.Dash:
    """Build the Dash app around a Flask server that carries the process context."""
    server = Flask("flowwatch")
    server.config[CTX_KEY] = ctx
    app = dash.Dash(
        "flowwatch",
        server=server,
        use_pages=True,
        pages_folder=str(Path(__file__).parent / "pages"),
        assets_folder=str(Path(__file__).parent / "assets"),
        title=PRODUCT,
        suppress_callback_exceptions=True,
        update_title=None,
        index_string=index_string(),
    )
    script = theme_script()
    server.add_url_rule(
        THEME_SCRIPT,
        "fw_theme_script",
        lambda: flask.Response(script, mimetype="text/javascript", headers={"Cache-Control": "no-cache"}),
    )
    company, demo, auth_on = ctx.flow_config.company or "", ctx.settings.demo_mode, ctx.settings.auth
    # A function: the top bar names whoever is logged in, per request.
    app.layout = lambda: shell(company, demo=demo, principal=current_principal(), auth_on=auth_on)
    # On the app, not dash.clientside_callback: global callbacks go to the first app only.
    app.clientside_callback(
        """
        function (pathname, ids) {
            return ids.map(id => id.path === pathname ? "nav-link active" : "nav-link");
        }
        """,
        Output({"type": "fw-nav", "path": ALL}, "className"),
        Input("fw-location", "pathname"),
        State({"type": "fw-nav", "path": ALL}, "id"),
    )
    app.clientside_callback(
        """
        function (clicks, theme) {
            if (!clicks) { return window.dash_clientside.no_update; }
            return theme === "dark" ? "light" : "dark";
        }
        """,
        Output(THEME_STORE, "data"),
        Input("fw-theme-toggle", "n_clicks"),
        State(THEME_STORE, "data"),
        prevent_initial_call=True,
    )
    # The stored theme onto <html> (and every chart redrawn) the moment it changes; the index page's
    # script already set it before the first paint.
    app.clientside_callback(
        """
        function (theme) {
            const applied = window.fwApplyTheme(theme);
            const button = document.getElementById("fw-theme-toggle");
            if (button) { button.setAttribute("aria-pressed", applied === "dark" ? "true" : "false"); }
            return applied === "dark" ? "Switch to the light theme" : "Switch to the dark theme";
        }
        """,
        Output("fw-theme-toggle", "title"),
        Input(THEME_STORE, "data"),
    )
    _filter_callbacks(app)
    # Pages register their callbacks in a process-global list that Dash hands to whichever
    # app serves a request first; claim them now, so a second app in the same process
    # (tests, a CLI next to a server) neither steals nor duplicates them.
    with server.app_context():
        app._setup_server()
    return app


def user_badge(principal: Principal | None, *, auth_on: bool) -> list[Any]:
    """Who is logged in and a logout button (a form post: no script, same-origin); or the auth-off warning."""
    if not auth_on:
        return [html.Span("AUTH OFF: local development only — anyone reaching this port acts as admin",
                          className="auth-off-banner", id="fw-auth-off")]  # fmt: skip
    if principal is None:
        return []
    return [
        html.Span(
            [html.Span(principal.name, className="user-name"), html.Span(principal.grant, className="user-role")],
            className="user-badge",
            id="fw-user",
        ),
        html.Form(
            html.Button("Log out", type="submit", className="logout-button", id="fw-logout"),
            method="POST",
            action="/logout",
            className="logout-form",
        ),
    ]


def shell(company: str, *, demo: bool = False, principal: Principal | None = None, auth_on: bool = True) -> html.Div:
    """Top bar (brand, company, one link per registered page; the Demo panel only in demo mode; admin
    pages for admins; pages registered with ``nav=False``, such as one partner's, reached by links; who
    is logged in) around the page container."""
    admin = access.refusal(principal, Access.ADMIN) is None
    pages = sorted(
        (
            p
            for p in dash.page_registry.values()
            if (demo or not p.get("demo_only")) and (admin or not p.get("admin_only")) and p.get("nav", True)
        ),
        key=lambda p: (p.get("order") or 0, p["name"]),
    )
    links = [
        dcc.Link(
            page["name"], href=page["relative_path"], id={"type": "fw-nav", "path": page["path"]}, className="nav-link"
        )
        for page in pages
    ]
    return html.Div(
        className="app",
        children=[
            dcc.Location(id="fw-location"),
            dcc.Store(id=THEME_STORE, storage_type="local"),
            # The URL's current query, also after a page wrote it itself (assets/fw_filters.js).
            dcc.Store(id="fw-query"),
            html.Header(
                className="topbar",
                children=[
                    html.Div(
                        className="brand",
                        children=[
                            html.Span(className="brand-mark", **{"aria-hidden": "true"}),
                            html.Span(PRODUCT, className="brand-name"),
                            html.Span(company, className="brand-company"),
                        ],
                    ),
                    html.Nav(links, className="nav"),
                    theme_toggle(),
                    html.Div(user_badge(principal, auth_on=auth_on), className="topbar-user"),
                ],
            ),
            html.Main([gf.filter_bar(), dash.page_container], className="content"),
        ],
    )


def theme_toggle() -> html.Button:
    """The top bar's dark-theme switch: a toggle button (aria-pressed) whose label never changes."""
    return html.Button(
        [
            html.Span(className="theme-toggle-icon", **{"aria-hidden": "true"}),
            html.Span("Dark", className="theme-toggle-text"),
        ],
        id="fw-theme-toggle",
        className="theme-toggle",
        type="button",
        title="Switch to the dark theme",
        **{"aria-label": "Dark theme"},
    )


def _filter_callbacks(app: dash.Dash) -> None:
    """The filter bar: the URL sets the pickers and the nav links (which carry the range and filters),
    and disables a page's filters that do not apply, with the reason; a picker changed by hand loads
    the page again for the new URL, so the page and a pasted link always agree."""
    dims = gf.DIMENSIONS

    @app.callback(
        *(Output(f"fw-f-{d}", "options") for d in dims),
        *(Output(f"fw-f-{d}", "value") for d in dims),
        *(Output(f"fw-f-{d}", "disabled") for d in dims),
        *(Output(f"fw-f-{d}-label", "title") for d in dims),
        Output({"type": "fw-nav", "path": ALL}, "href"),
        Input("fw-location", "pathname"),
        Input("fw-location", "search"),
        Input("fw-query", "data"),
        State({"type": "fw-nav", "path": ALL}, "id"),
    )
    def _sync(pathname: str | None, search: str | None, written: str | None, nav: list[Any]) -> tuple[Any, ...]:
        if written is not None:  # the current query (a page may have written it past dcc.Location)
            search = written
        with current_ctx().engine.connect() as conn:
            options = gf.dropdown_options(scope_systems(conn))
        shown = gf.parse_search(search, {d: {o["value"] for o in options[d]} for d in dims}).scope
        reasons = gf.not_applicable(page_of(pathname))
        return (
            *(options[d] for d in dims),
            *(getattr(shown, d) for d in dims),
            *(d in reasons for d in dims),
            *(reasons.get(d, f"Show only what concerns one {gf.LABELS[d]}") for d in dims),
            [dash.get_relative_path(n["path"]) + gf.carried_search(search) for n in nav],
        )

    # A picker the URL already says is a no-op; a changed one is a new URL, loaded (window.fwFilter).
    app.clientside_callback(
        "function (...values) { window.fwFilter(DIMS, values); }".replace("DIMS", json.dumps(list(dims))),
        *(Input(f"fw-f-{d}", "value") for d in dims),
        prevent_initial_call=True,
    )
