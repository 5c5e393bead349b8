"""The workbench's detail panel: one exception read fresh, and every action on it through the services.

Part of the workbench page, not a page of its own (it never calls dash.register_page): Dash runs
each pages-folder module that names register_page once per app it builds, so these callbacks
reach every app, as the page's own would.
"""

from __future__ import annotations

import json
import time
from typing import Any

import dash
from dash import ALL, Input, Output, State, html

from app.services import lifecycle, replay
from app.services.errors import InvalidRequest, ServiceError
from dashboards.app import acting_as, acts, current_ctx
from dashboards.components import exception_detail as xd
from dashboards.components import workbench as wb
from dashboards.components import workbench_layout as wl
from dashboards.workbench_common import CONFIRMED, replay_url
from models.enums import Access, Action
from models.queries.correlation import likely_cause
from models.queries.exceptions import get_exception, get_state, shown_message


# -- the detail panel ------------------------------------------------------------------------
@dash.callback(
    Output("ex-open", "data"),
    Input("ex-grid", "cellClicked"),
    Input("ex-close", "n_clicks"),
    prevent_initial_call=True,
)
def _open(cell: dict[str, Any] | None, _close: int | None) -> Any:
    """A clicked row (anywhere but its checkbox) opens its exception; × closes the panel."""
    if dash.ctx.triggered_id == "ex-close":
        return None
    if not cell or not cell.get("rowId") or str(cell.get("colId", "")).startswith("ag-Grid-"):
        return dash.no_update
    return int(cell["rowId"])


@dash.callback(
    Output("ex-drawer", "className"),
    Output("ex-detail-head", "children"),
    Output("ex-detail-facts", "children"),
    Output("ex-detail-body", "children"),
    Output({"type": "ex-act", "name": ALL}, "disabled"),
    Output({"type": "ex-act-wrap", "name": ALL}, "title"),
    Output("ex-approval", "hidden"),
    Output("ex-approval-note", "children"),
    Output("ex-severity-to", "value"),
    Output("ex-fix-text", "value"),
    Output("ex-fix", "hidden", allow_duplicate=True),
    Output("ex-fix-diff", "children", allow_duplicate=True),
    Input("ex-open", "data"),
    Input("ex-refresh", "data"),
    Input("ex-interval", "n_intervals"),
    State({"type": "ex-act", "name": ALL}, "id"),
    prevent_initial_call="initial_duplicate",
)
def _detail(exception_id: int | None, _refresh: Any, _tick: Any, buttons: list[dict[str, str]]) -> tuple[Any, ...]:
    """The open exception, read fresh; the editor and pickers are reset only when another one opens."""
    names = [b["name"] for b in buttons]
    closed = ("ex-drawer", None, None, None, [True] * len(names), [""] * len(names), True, None,
              dash.no_update, dash.no_update, True, None)  # fmt: skip
    if exception_id is None:
        if dash.ctx.triggered_id in ("ex-refresh", "ex-interval"):
            raise dash.exceptions.PreventUpdate
        return closed
    ctx = current_ctx()
    with ctx.engine.connect() as conn:
        detail = get_exception(conn, exception_id, now=ctx.now())
        cause = likely_cause(conn, exception_id=exception_id) if detail is not None else None
        refused = replay.refusal_of(conn, exception_id) if detail is not None else None
    if detail is None:
        missing = html.Div(f"Exception #{exception_id} does not exist", className="empty-state")
        return ("ex-drawer is-open", missing, *closed[2:])
    states = xd.action_states(detail, refused)
    note = xd.approval_note(detail)
    opened = dash.ctx.triggered_id in (None, "ex-open")
    return (
        "ex-drawer is-open",
        xd.detail_header(detail, now=ctx.now()),
        xd.facts(detail),
        xd.detail_body(detail, cause),
        [states[n] is not None for n in names],
        [states[n] or "" for n in names],
        not note,
        note,
        detail["severity"] if opened else dash.no_update,
        xd.pretty_payload((detail.get("event") or {}).get("payload")) if opened else dash.no_update,
        True if opened else dash.no_update,
        None if opened else dash.no_update,
    )


def _act_once(name: str, exception_id: int, actor: str, form: dict[str, Any]) -> tuple[str, str]:
    """Run one panel action through the services; returns the toast (message, tone)."""
    ctx = current_ctx()
    if name in ("replay", "send", "approve"):
        base_url = replay_url(ctx)
        if name == "approve":
            outcome = replay.approve_replay(exception_id, ctx=ctx, approver=actor, base_url=base_url)
        elif name == "send":
            edited = _edited_payload(form["fix_text"])
            with ctx.engine.connect() as conn:
                state = get_state(conn, exception_id)
                shown = (shown_message(conn, state) if state else None) or {}
            outcome = replay.replay(exception_id, ctx=ctx, actor=actor, payload=edited, reason=form["fix_reason"],
                                    event_id=shown.get("event_id"), base_url=base_url)  # fmt: skip
        else:
            outcome = replay.replay(exception_id, ctx=ctx, actor=actor, base_url=base_url)
        return wb.outcome_message(outcome)
    if name == "reject":
        with ctx.writer.transaction() as conn:
            replay.reject_replay(exception_id, conn=conn, actor=actor, now=ctx.now())
        return f"Replay request of #{exception_id} rejected; nothing was sent", "ok"
    action, change = _PANEL[name], lifecycle.Change(
        assignee=form["assignee"], text=_panel_text(name, form, actor), severity=form["severity"],
        until=ctx.now() + wb.SNOOZE_CHOICES[form["snooze"] or "4 hours"] if name == "snooze" else None,
    )  # fmt: skip
    result, _ = lifecycle.perform(ctx, action, exception_id, actor=actor, change=change)
    verb = xd.ACTION_LABELS[str(result.action)]
    said = {"text": form["note"]} if name == "note" else {}
    described = xd.describe_action({"action": str(result.action), "before_state": result.before,
                                    "after_state": result.after, "detail": said})  # fmt: skip
    return f"{verb} #{exception_id}" + (f": {described}" if described else ""), "ok"


#: Panel buttons that are lifecycle actions.
_PANEL = {
    "ack": Action.ACK, "assign": Action.ASSIGN, "note": Action.NOTE, "snooze": Action.SNOOZE,
    "severity": Action.SET_SEVERITY, "resolve": Action.RESOLVE, "ignore": Action.IGNORE, "reopen": Action.REOPEN,
}  # fmt: skip


def _panel_text(name: str, form: dict[str, Any], actor: str) -> str | None:
    """The text an action carries from the panel: the note, or the reason a resolve from here states."""
    if name == "note":
        return form["note"] or ""
    return f"resolved from the workbench by {actor}" if name == "resolve" else None


def _edited_payload(text: str | None) -> Any:
    """The editor's JSON; a parse error becomes a refusal the operator can act on."""
    try:
        return json.loads(text or "")
    except ValueError as exc:
        raise InvalidRequest(f"the edited payload is not valid JSON: {exc}") from exc


@dash.callback(
    Output("ex-toast", "children", allow_duplicate=True),
    Output("ex-refresh", "data", allow_duplicate=True),
    Output("ex-detail-confirm", "displayed"),
    Output("ex-detail-confirm", "message"),
    Output("ex-detail-pending", "data"),
    Output("ex-note-text", "value"),
    Output("ex-fix", "hidden", allow_duplicate=True),
    Input({"type": "ex-act", "name": ALL}, "n_clicks"),
    Input("ex-fix-send", "n_clicks"),
    Input("ex-detail-confirm", "submit_n_clicks"),
    State("ex-open", "data"),
    State("ex-detail-pending", "data"),
    State("ex-fix", "hidden"),
    State("ex-assign-to", "value"),
    State("ex-note-text", "value"),
    State("ex-snooze-for", "value"),
    State("ex-severity-to", "value"),
    State("ex-fix-text", "value"),
    State("ex-fix-reason", "value"),
    prevent_initial_call=True,
)
@acts(Access.ACT)
def _panel_action(_clicks: Any, _send: Any, _confirmed: Any, exception_id: int | None, pending: str | None,
                  fix_hidden: bool, assignee: str | None, note: str | None, snooze: str | None,
                  severity: str | None, fix_text: str | None, fix_reason: str | None) -> tuple[Any, ...]:  # fmt: skip
    """Every button of the panel: resolve and ignore ask first, fix opens the editor, the rest act at once."""
    trigger = dash.ctx.triggered_id
    if exception_id is None or trigger is None or not dash.ctx.triggered[0]["value"]:
        raise dash.exceptions.PreventUpdate
    name = trigger["name"] if isinstance(trigger, dict) else ("send" if trigger == "ex-fix-send" else pending)
    keep = dash.no_update
    if name == "fix":
        return keep, keep, keep, keep, keep, keep, not fix_hidden
    if name in CONFIRMED and trigger != "ex-detail-confirm":
        message = f"{wl.BUTTON_LABELS[name]} exception #{exception_id}? It leaves the open list; reopen brings it back."
        return keep, keep, True, message, name, keep, keep
    form = {"assignee": assignee, "note": note, "snooze": snooze, "severity": severity, "fix_text": fix_text,
            "fix_reason": fix_reason}  # fmt: skip
    try:
        message, tone = _act_once(str(name), exception_id, acting_as(), form)
    except ServiceError as exc:
        return wb.toast(str(exc), "breach"), keep, keep, keep, None, keep, keep
    cleared = "" if name == "note" else keep
    fix = True if name == "send" and tone != "breach" else keep
    return wb.toast(message, tone), time.time(), keep, keep, None, cleared, fix


@dash.callback(
    Output("ex-fix-diff", "children", allow_duplicate=True),
    Input("ex-fix-preview", "n_clicks"),
    State("ex-open", "data"),
    State("ex-fix-text", "value"),
    State("ex-fix-reason", "value"),
    prevent_initial_call=True,
)
def _fix_preview(_clicks: int, exception_id: int | None, text: str | None, reason: str | None) -> Any:
    """The diff the replay would audit, computed by the replay service itself, before anything is sent."""
    if exception_id is None:
        raise dash.exceptions.PreventUpdate
    with current_ctx().engine.connect() as conn:
        state = get_state(conn, exception_id)
        event = shown_message(conn, state) if state else None
    if event is None:
        return html.Div("This exception has no failed message to edit", className="ex-callout tone-breach")
    try:
        _, diff = replay.edit_of({"payload": event["payload_text"]}, _edited_payload(text),
                                 reason or replay.FixReason.OTHER)  # fmt: skip
    except ServiceError as exc:
        return html.Div(str(exc), className="ex-callout tone-breach")
    hint = [] if reason else [html.Div("Pick a reason code before sending", className="ex-callout tone-warning")]
    return html.Div([*hint, xd.diff_view(diff)])
