"""Incidents: simultaneous exceptions one system explains ("Dynamics 365 unavailable"), with their
business impact, exceptions, flows and timeline; acknowledge, give an owner, resolve. ``?id=<n>`` opens one.

Each action is one call of the same service as ``POST /api/v1/incidents/{id}/…``, as the logged-in
operator; a viewer sees no buttons (and the callback refuses them anyway).
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from app.services import incidents as service
from app.services.errors import ServiceError
from dashboards.app import acting_as, acts, can, current_ctx
from dashboards.components import incidents as ib
from dashboards.components.dialog import confirm_dialog
from dashboards.components.layout import card, page_header
from models.enums import Access
from models.queries.incidents import get_incident, list_incidents

dash.register_page(
    __name__, path="/incidents", name="Incidents", title="Incidents · Flowwatch", order=12,
    filters_note="An incident spans every flow of the system at its root: it is listed whatever the filter",
)  # fmt: skip


def _id(raw: Any) -> int | None:
    return int(raw) if str(raw or "").isdigit() else None


def _actions() -> html.Div:
    """Owner, resolution and the three buttons (only for those who may act)."""
    return html.Div(
        className="in-actions",
        hidden=not can(Access.ACT),
        children=[
            html.Button("Acknowledge", id="in-ack", className="button-quiet", disabled=True),
            dcc.Input(id="in-owner", placeholder="Owner", className="ex-input ex-input-sm", debounce=False),
            html.Button("Assign", id="in-assign", className="button-quiet", disabled=True),
            dcc.Input(
                id="in-resolution",
                placeholder="Resolution (optional)",
                className="ex-input in-resolution",
                debounce=False,
            ),
            html.Button("Resolve with its exceptions", id="in-resolve", className="button-primary", disabled=True),
        ],
    )


def layout(**query: str) -> html.Div:
    """The incident list, and the incident ``?id=`` (else the first listed) opened beside it; no I/O."""
    return html.Div(
        className="page",
        children=[
            dcc.Interval(id="in-interval", interval=current_ctx().settings.refresh_seconds * 1000),
            dcc.Store(id="in-open", data=_id(query.get("id"))),
            dcc.Store(id="in-changed", data=0),
            confirm_dialog("in-resolve-ask"),
            page_header("Incidents", "One system explaining many flows' exceptions at once: act on the cause once", []),
            html.Div(
                className="grid",
                children=[
                    card(
                        "Incidents",
                        "Active first, then the most value at risk",
                        html.Div(id="in-list", className="table-wrap"),
                        span=5,
                    ),
                    card(
                        "Incident",
                        "What it costs, what it holds, what happened",
                        html.Div(
                            [
                                html.Div(id="in-summary"),
                                _actions(),
                                html.Div(id="in-message", className="in-message", role="status"),
                                html.H3("Exceptions"),
                                html.Div(id="in-exceptions", className="table-wrap"),
                                html.H3("Timeline"),
                                html.Div(id="in-timeline"),
                            ],
                            id="in-detail",
                        ),
                        span=7,
                    ),
                ],
            ),
        ],
    )


@dash.callback(
    Output("in-list", "children"),
    Output("in-summary", "children"),
    Output("in-exceptions", "children"),
    Output("in-timeline", "children"),
    Output("in-ack", "disabled"),
    Output("in-assign", "disabled"),
    Output("in-resolve", "disabled"),
    Input("in-open", "data"),
    Input("in-changed", "data"),
    Input("in-interval", "n_intervals"),
)
def _show(open_id: int | None, _changed: int, _tick: int | None) -> tuple[Any, ...]:
    """The list and the open incident (the first listed when none is asked for)."""
    with current_ctx().engine.connect() as conn:
        rows, _total = list_incidents(conn, limit=100)
        chosen = open_id if open_id is not None else (int(rows[0]["incident_id"]) if rows else None)
        detail = get_incident(conn, chosen) if chosen is not None else None
    table = ib.incident_table(rows, selected=chosen)
    if detail is None:
        empty = html.Div("Pick an incident" if rows else "Nothing to show", className="empty-state")
        return (table, empty, None, None, *ib.disabled_actions(None))
    return (table, ib.incident_summary(detail), ib.exception_table(detail["exception_list"]),
            ib.timeline(detail["timeline"]), *ib.disabled_actions(detail["status"]))  # fmt: skip


@dash.callback(
    Output("in-resolve-ask", "hidden"),
    Output("in-resolve-ask-title", "children"),
    Output("in-resolve-ask-body", "children"),
    Output("in-resolve-ask-yes", "children"),
    Input("in-resolve", "n_clicks"),
    State("in-open", "data"),
    State("in-resolution", "value"),
    prevent_initial_call=True,
)
@acts(Access.ACT)
def _ask_resolve(clicks: int | None, open_id: int | None, resolution: str | None) -> tuple[Any, ...]:
    """Resolving closes every open exception of the incident: say how many, and what they hold, first."""
    if not clicks:
        raise dash.exceptions.PreventUpdate
    with current_ctx().engine.connect() as conn:
        detail = _open_incident(conn, open_id)
    if detail is None:
        raise dash.exceptions.PreventUpdate
    title, body, yes = ib.resolve_confirmation(detail, resolution=resolution)
    return False, title, body, yes


@dash.callback(
    Output("in-resolve-ask", "hidden", allow_duplicate=True),
    Input("in-resolve-ask-no", "n_clicks"),
    prevent_initial_call=True,
)
def _cancel_resolve(clicks: int | None) -> bool:
    """Cancel closes the confirmation; nothing was done."""
    if not clicks:
        raise dash.exceptions.PreventUpdate
    return True


def _open_incident(conn: Any, open_id: int | None) -> dict[str, Any] | None:
    """The incident shown: ``open_id``, else the first listed (as ``_show`` picks it)."""
    if open_id is None:
        rows, _total = list_incidents(conn, limit=1)
        open_id = int(rows[0]["incident_id"]) if rows else None
    return get_incident(conn, open_id) if open_id is not None else None


@dash.callback(
    Output("in-message", "children"),
    Output("in-changed", "data"),
    Output("in-resolve-ask", "hidden", allow_duplicate=True),
    Input("in-ack", "n_clicks"),
    Input("in-assign", "n_clicks"),
    Input("in-resolve-ask-yes", "n_clicks"),
    State("in-open", "data"),
    State("in-owner", "value"),
    State("in-resolution", "value"),
    State("in-changed", "data"),
    prevent_initial_call=True,
)
@acts(Access.ACT)
def _act(
    _ack: int | None,
    _assign: int | None,
    _resolve: int | None,
    open_id: int | None,
    owner: str | None,
    resolution: str | None,
    changed: int,
) -> tuple[str, int, bool]:
    """Acknowledge, assign or (confirmed) resolve the open incident through the same service as the API."""
    if not dash.ctx.triggered[0]["value"]:
        raise dash.exceptions.PreventUpdate
    ctx = current_ctx()
    with ctx.engine.connect() as conn:
        detail = _open_incident(conn, open_id)
    if detail is None:
        return "No incident to act on", changed, True
    incident_id = int(detail["incident_id"])
    try:
        match dash.ctx.triggered_id:
            case "in-ack":
                result = service.acknowledge(ctx, incident_id, actor=acting_as())
            case "in-assign":
                result = service.assign(ctx, incident_id, actor=acting_as(), owner=owner or "")
            case _:
                result = service.resolve(ctx, incident_id, actor=acting_as(), resolution=resolution)
    except ServiceError as exc:
        return f"Refused: {exc}", changed, True
    return ib.action_message(result), int(changed or 0) + 1, True
