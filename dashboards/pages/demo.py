"""Demo: the incident switches of the simulated systems, and the story to try with them.

Shown only when Flowwatch runs as the demo (``flowwatch demo``). Switching a system calls the
same service as ``POST /api/v1/demo/faults``.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, dcc, html

from app.services import demo
from app.services.errors import ServiceError
from dashboards.app import can, checks, current_ctx, denied
from dashboards.components.demo import story, systems_table
from dashboards.components.layout import card, page_header
from models.enums import Access

dash.register_page(__name__, path="/demo", name="Demo", title="Demo · Flowwatch", order=95, demo_only=True)


def layout(**_query: str) -> html.Div:
    """The switches and the story (no I/O here: the table loads in its callback)."""
    return html.Div(
        className="page",
        children=[
            dcc.Interval(id="demo-interval", interval=5000),
            page_header(
                "Demo",
                "Break a simulated system, watch Flowwatch catch it, fix it and replay",
                [html.Span(id="demo-said", className="updated", role="status")],
            ),
            html.Div(
                className="grid",
                children=[
                    card(
                        "Simulated systems",
                        "How each answers the live traffic and replays right now",
                        html.Div(id="demo-systems", className="table-wrap", children="loading…"),
                        span=8,
                    ),
                    card("The incident story", "What you will see at each step", story(), span=4),
                ],
            ),
        ],
    )


@dash.callback(
    Output("demo-systems", "children"),
    Output("demo-said", "children"),
    Input({"type": "demo-mode", "system": ALL}, "value"),
    Input("demo-interval", "n_intervals"),
)
@checks(Access.ACT)
def _switch(modes: list[str], _tick: Any) -> tuple[Any, str]:
    """A switch that moved calls the demo service; every call redraws the table from the live state."""
    ctx = current_ctx()
    trigger = dash.ctx.triggered_id
    said = ""
    if isinstance(trigger, dict) and dash.ctx.triggered[0]["value"] is not None:
        mode = dash.ctx.triggered[0]["value"]
        current = {s["system"]: s["mode"] for s in ctx.sim.state()}
        refused = denied(Access.ACT, "demo switch") if current.get(trigger["system"], "ok") != mode else None
        if refused is not None:
            said = refused
        elif current.get(trigger["system"], "ok") != mode:
            try:
                demo.switch_fault(ctx, trigger["system"], mode)
                said = f"{trigger['system']} switched to {mode}"
            except ServiceError as exc:
                said = str(exc)
    systems = [s.model_dump() for s in ctx.flow_config.systems]
    return systems_table(systems, ctx.sim.state(), can_switch=can(Access.ACT)), said
