"""The Dash app: multi-page, served by the FastAPI process under /, inside one shell."""

from __future__ import annotations

import json
from pathlib import Path

import dash
import flask
from dash import ALL, Input, Output, State, dcc, html
from flask import Flask

from app.context import AppContext
from dashboards.theme import browser_theme_spec

CTX_KEY = "FLOWWATCH_CTX"
PRODUCT = "Flowwatch"
#: The theme the reader chose, kept in the browser's localStorage under this key (dcc.Store, JSON).
THEME_STORE = "fw-theme"


def index_string() -> str:
    """Dash's page with a language, and the stored theme set on <html> before the first paint (so a
    dark reader never sees a light flash); window.FW_THEME is what assets/fw_theme.js draws charts with."""
    spec = json.dumps(browser_theme_spec(), separators=(",", ":")).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
    <head>
        <script>
            try {{
                if (JSON.parse(window.localStorage.getItem("{THEME_STORE}")) === "dark") {{
                    document.documentElement.setAttribute("data-theme", "dark");
                }}
            }} catch (e) {{}}
            window.FW_THEME = {spec};
        </script>
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
    app.layout = shell(ctx.flow_config.company or "", demo=ctx.settings.demo_mode)
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
    # Pages register their callbacks in a process-global list that Dash hands to whichever
    # app serves a request first; claim them now, so a second app in the same process
    # (tests, a CLI next to a server) neither steals nor duplicates them.
    with server.app_context():
        app._setup_server()
    return app


def shell(company: str, *, demo: bool = False) -> html.Div:
    """Top bar (brand, company, one link per registered page; the Demo panel only in demo mode;
    pages registered with ``nav=False``, such as one partner's, are reached by links) around the page."""
    pages = sorted(
        (p for p in dash.page_registry.values() if (demo or not p.get("demo_only")) and p.get("nav", True)),
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
                ],
            ),
            html.Main(dash.page_container, className="content"),
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
