"""Exception workbench: triage, replay and resolve what the integrations could not deliver.

The grid pages, sorts and filters on the server (AG Grid's infinite row model asks for one
block at a time and ``list_exceptions`` answers it); the filters, the open exception and
the selection live in the URL and in small stores of ids and filters, never rows. Actions
go through ``app/services`` (lifecycle and bulk functions inside a writer transaction,
replays with the process context), then the grid refreshes its block and a toast says
what happened. Shape (STYLE.md #7): register_page, ``layout(**query)`` without I/O,
callbacks that call the query layer or the services and hand the results to pure builders.
"""

from __future__ import annotations

import json
import time
from typing import Any

import dash
import flask
from dash import ALL, Input, Output, State, clientside_callback, dcc, html

from app.context import AppContext
from app.services import bulk, lifecycle, replay
from app.services.errors import InvalidRequest, ServiceError
from dashboards.app import current_ctx
from dashboards.components import exception_detail as xd
from dashboards.components import workbench as wb
from dashboards.components import workbench_layout as wl
from dashboards.components.layout import page_header
from dashboards.components.tiles import tile_component
from models.enums import Action
from models.queries.correlation import likely_cause
from models.queries.exceptions import get_exception, get_state, list_exceptions, shown_message
from models.queries.flows import flow_definitions
from models.queries.overview import exception_totals

dash.register_page(__name__, path="/exceptions", name="Exceptions", title="Exceptions · Flowwatch", order=10)

DEFAULT_ACTOR = "ops.manager"
FILTERS = ("status", "kind", "flow", "system", "severity", "age", "assignee", "q", "snoozed")
#: Buttons that change what an operator sees of a message downstream: asked twice.
CONFIRMED = ("resolve", "ignore")


def _base_url(ctx: AppContext) -> str:
    return replay.replay_base_url(ctx.settings, flask.request.host_url)


def _exception_id(raw: Any) -> int | None:
    return int(raw) if str(raw or "").isdigit() else None


def layout(**query: str) -> html.Div:
    """The workbench for a URL query (filters, ``id`` of the open exception); no I/O."""
    flt = wb.filter_from_query(query)
    return html.Div(
        className="page ex-page",
        children=[
            dcc.Interval(id="ex-interval", interval=current_ctx().settings.refresh_seconds * 1000),
            dcc.Interval(id="ex-run-poll", interval=1000, disabled=True),
            dcc.Store(id="ex-filter", data=wb.query_from_filter(flt)),
            dcc.Store(id="ex-open", data=_exception_id(query.get("id"))),
            dcc.Store(id="ex-scope", data="rows"),
            dcc.Store(id="ex-total", data=0),
            dcc.Store(id="ex-refresh", data=0),
            dcc.Store(id="ex-actor-store", storage_type="local"),
            dcc.Store(id="ex-detail-pending"),
            dcc.Store(id="ex-bulk-pending"),
            dcc.Store(id="ex-plan-selection"),
            dcc.Store(id="ex-run"),
            dcc.ConfirmDialog(id="ex-detail-confirm"),
            dcc.ConfirmDialog(id="ex-bulk-confirm"),
            page_header(
                "Exceptions",
                "Triage, replay and resolve what the integrations could not deliver",
                [
                    html.Span(id="ex-updated", className="updated", children="loading…"),
                    html.Label(
                        [
                            "Acting as",
                            dcc.Input(
                                id="ex-actor", value=DEFAULT_ACTOR, debounce=True, className="ex-input ex-input-sm"
                            ),
                        ],
                        className="ex-actor",
                    ),
                ],
            ),
            html.Div(id="ex-tiles", className="tiles ex-tiles"),
            html.Div(
                className="grid",
                children=[
                    wl.bulk_card(),
                    html.Section(
                        className="card span-12 ex-grid-card",
                        children=[wl.filters_bar(wb.controls_from_filter(flt)), wl.bulk_bar(), wl.grid()],
                    ),
                ],
            ),
            wl.drawer(),
            html.Div(id="ex-toast", className="ex-toast", **{"aria-live": "polite"}),
        ],
    )


# -- the grid and its filters ----------------------------------------------------------------
@dash.callback(
    Output("ex-f-flow", "options"),
    Output("ex-f-system", "options"),
    Input("ex-f-flow", "id"),
)
def _options(_id: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Flow and system pickers from the flow definitions (once per page load)."""
    with current_ctx().engine.connect() as conn:
        flows = flow_definitions(conn).to_dict("records")
    return wb.filter_options(flows)


@dash.callback(
    Output("ex-filter", "data"),
    Output("ex-scope", "data", allow_duplicate=True),
    *(Input(f"ex-f-{name}", "value") for name in FILTERS),
    State("ex-filter", "data"),
    prevent_initial_call=True,
)
def _filters(*values: Any) -> tuple[Any, Any]:
    """The filter bar → the canonical URL query (which the grid reads); a new filter drops the selection."""
    query = wb.query_from_controls(dict(zip(FILTERS, values[:-1], strict=True)))
    if query == values[-1]:
        return dash.no_update, dash.no_update
    return query, "rows"


@dash.callback(
    *(Output(f"ex-f-{name}", "value", allow_duplicate=True) for name in FILTERS),
    Input("ex-f-reset", "n_clicks"),
    prevent_initial_call=True,
)
def _reset(_clicks: int) -> tuple[Any, ...]:
    """Back to the default view: open and acknowledged, everything else any."""
    values = wb.controls_from_filter(wb.filter_from_query({}))
    return tuple(values[name] for name in FILTERS)


@dash.callback(
    Output("ex-grid", "getRowsResponse"),
    Output("ex-total", "data"),
    Output("ex-grid", "style"),
    Input("ex-grid", "getRowsRequest"),
    State("ex-filter", "data"),
)
def _rows(request: dict[str, Any] | None, query: dict[str, str] | None) -> tuple[Any, Any, Any]:
    """One block of the filtered, sorted exceptions, how many match in all, and a grid that fits them."""
    if not request:
        raise dash.exceptions.PreventUpdate
    ctx = current_ctx()
    offset, limit, sort, descending = wb.page_request(request)
    with ctx.engine.connect() as conn:
        page = list_exceptions(conn, wb.filter_from_query(query or {}), now=ctx.now(), sort=sort,
                               descending=descending, offset=offset, limit=limit)  # fmt: skip
        systems = wb.system_names(flow_definitions(conn).to_dict("records"))
    rows = {"rowData": wb.grid_rows(page.items, systems), "rowCount": page.total}
    return rows, page.total, {"height": f"{wb.grid_height(page.total)}px"}


@dash.callback(
    Output("ex-selection", "children"),
    Output("ex-select-all", "children"),
    Output("ex-select-all", "hidden"),
    Output("ex-bulk-assign", "disabled"),
    Output("ex-bulk-resolve", "disabled"),
    Output("ex-bulk-ignore", "disabled"),
    Output("ex-bulk-replay", "disabled"),
    Input("ex-grid", "selectedRows"),
    Input("ex-scope", "data"),
    Input("ex-total", "data"),
)
def _selection(rows: list[dict[str, Any]] | None, scope: str, total: int) -> tuple[Any, ...]:
    """'N selected / M matching', the select-all-matching switch, and which bulk buttons apply."""
    everything = scope == "all"
    selected = len(rows or [])
    size = wb.selection_size(selected, total or 0, all_matching=everything)
    switch = "Clear selection" if everything else f"Select all {total:,} matching"
    hidden = not everything and (not total or selected >= total)
    return (wb.selection_summary(selected, total or 0, all_matching=everything), switch, hidden,
            *([size == 0] * 4))  # fmt: skip


@dash.callback(
    Output("ex-scope", "data", allow_duplicate=True),
    Output("ex-grid", "deselectAll", allow_duplicate=True),
    Input("ex-select-all", "n_clicks"),
    Input("ex-grid", "selectedRows"),
    State("ex-scope", "data"),
    prevent_initial_call=True,
)
def _scope(_clicks: int | None, _rows: Any, scope: str) -> tuple[Any, Any]:
    """'Select all M matching' widens the selection to the filter; clearing it, or ticking rows, narrows it."""
    if dash.ctx.triggered_id == "ex-select-all":
        return ("rows", True) if scope == "all" else ("all", dash.no_update)
    return ("rows" if scope == "all" else dash.no_update), dash.no_update


@dash.callback(
    Output("ex-tiles", "children"),
    Output("ex-updated", "children"),
    Input("ex-interval", "n_intervals"),
    Input("ex-refresh", "data"),
)
def _tiles(_tick: int | None, _refresh: Any) -> tuple[list[html.Div], str]:
    """The active counts; they move after every action and with detection."""
    ctx = current_ctx()
    now = ctx.now()
    with ctx.engine.connect() as conn:
        totals = exception_totals(conn, now=now)
    return [tile_component(t) for t in wb.workbench_tiles(totals)], f"Updated {now:%H:%M:%S} UTC"


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
        base_url = _base_url(ctx)
        if name == "approve":
            outcome = replay.approve_replay(exception_id, ctx=ctx, approver=form["approver"] or "", base_url=base_url)
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
    State("ex-actor-store", "data"),
    State("ex-detail-pending", "data"),
    State("ex-fix", "hidden"),
    State("ex-assign-to", "value"),
    State("ex-note-text", "value"),
    State("ex-snooze-for", "value"),
    State("ex-severity-to", "value"),
    State("ex-approver", "value"),
    State("ex-fix-text", "value"),
    State("ex-fix-reason", "value"),
    prevent_initial_call=True,
)
def _panel_action(_clicks: Any, _send: Any, _confirmed: Any, exception_id: int | None, actor: str | None,
                  pending: str | None, fix_hidden: bool, assignee: str | None, note: str | None, snooze: str | None,
                  severity: str | None, approver: str | None, fix_text: str | None,
                  fix_reason: str | None) -> tuple[Any, ...]:  # fmt: skip
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
    form = {"assignee": assignee, "note": note, "snooze": snooze, "severity": severity, "approver": approver,
            "fix_text": fix_text, "fix_reason": fix_reason}  # fmt: skip
    try:
        message, tone = _act_once(str(name), exception_id, actor or DEFAULT_ACTOR, form)
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


# -- bulk actions ------------------------------------------------------------------------------
def _selection_of(rows: list[dict[str, Any]] | None, scope: str, query: dict[str, str] | None) -> bulk.Selection:
    """What a bulk action applies to: the whole filtered set, or the ticked rows."""
    if scope == "all":
        return bulk.Selection(filter=wb.filter_from_query(query or {}))
    return bulk.Selection(ids=[int(r["exception_id"]) for r in rows or []])


@dash.callback(
    Output("ex-bulk-confirm", "displayed"),
    Output("ex-bulk-confirm", "message"),
    Output("ex-bulk-pending", "data"),
    Input("ex-bulk-resolve", "n_clicks"),
    Input("ex-bulk-ignore", "n_clicks"),
    Input("ex-bulk-start", "n_clicks"),
    State("ex-grid", "selectedRows"),
    State("ex-scope", "data"),
    State("ex-total", "data"),
    State("ex-canary", "value"),
    State("ex-rate", "value"),
    prevent_initial_call=True,
)
def _bulk_ask(_r: Any, _i: Any, _s: Any, rows: list[dict[str, Any]] | None, scope: str, total: int,
              canary: Any, rate: Any) -> tuple[Any, ...]:  # fmt: skip
    """Resolve, ignore and starting a bulk replay change many exceptions at once: ask first."""
    trigger = dash.ctx.triggered_id
    if not dash.ctx.triggered[0]["value"]:
        raise dash.exceptions.PreventUpdate
    if trigger == "ex-bulk-start":
        return True, f"Start replaying the planned messages at {rate or '?'}/s with a canary of {canary or 0}?", \
            "replay"  # fmt: skip
    action = "resolve" if trigger == "ex-bulk-resolve" else "ignore"
    size = wb.selection_size(len(rows or []), total or 0, all_matching=scope == "all")
    what = f"all {size:,} matching exceptions" if scope == "all" else f"{size:,} selected exceptions"
    return True, f"{action.capitalize()} {what}? Each one is audited; reopen brings one back.", action


@dash.callback(
    Output("ex-toast", "children", allow_duplicate=True),
    Output("ex-refresh", "data", allow_duplicate=True),
    Output("ex-grid", "deselectAll", allow_duplicate=True),
    Output("ex-scope", "data", allow_duplicate=True),
    Output("ex-run", "data"),
    Output("ex-plan-controls", "hidden", allow_duplicate=True),
    Input("ex-bulk-confirm", "submit_n_clicks"),
    Input("ex-bulk-assign", "n_clicks"),
    State("ex-bulk-pending", "data"),
    State("ex-grid", "selectedRows"),
    State("ex-scope", "data"),
    State("ex-filter", "data"),
    State("ex-actor-store", "data"),
    State("ex-bulk-assignee", "value"),
    State("ex-plan-selection", "data"),
    State("ex-canary", "value"),
    State("ex-rate", "value"),
    State("ex-dupes", "value"),
    prevent_initial_call=True,
)
def _bulk_apply(_confirmed: Any, _assign: Any, pending: str | None, rows: list[dict[str, Any]] | None, scope: str,
                query: dict[str, str] | None, actor: str | None, assignee: str | None, planned: dict[str, Any] | None,
                canary: Any, rate: Any, dupes: list[str]) -> tuple[Any, ...]:  # fmt: skip
    """Do the confirmed bulk action (or an assign): resolve/ignore/assign at once, a replay as a paced run."""
    if not dash.ctx.triggered[0]["value"]:
        raise dash.exceptions.PreventUpdate
    ctx = current_ctx()
    actor = actor or DEFAULT_ACTOR
    keep = dash.no_update
    action = "assign" if dash.ctx.triggered_id == "ex-bulk-assign" else pending
    try:
        if action == "replay":
            selection = bulk.Selection.model_validate(planned or {})
            with ctx.engine.connect() as conn:
                plan = bulk.plan_bulk_replay(selection, conn=conn, now=ctx.now(), settings=ctx.settings,
                                             base_url=_base_url(ctx))  # fmt: skip
            run_id = bulk.start_run(
                plan,
                ctx=ctx,
                actor=actor,
                canary=int(canary or 0),
                rate_per_second=float(rate) if rate else None,
                include_duplicate_risk="include" in (dupes or []),
                base_url=_base_url(ctx),
            )
            return wb.toast(f"Bulk replay #{run_id} started", "ok"), keep, keep, keep, run_id, True
        with ctx.writer.transaction() as conn:
            text = f"resolved in bulk from the workbench by {actor}" if action == "resolve" else None
            run_id = bulk.apply_bulk(
                bulk.BulkAction(action),
                _selection_of(rows, scope, query),
                conn=conn,
                actor=actor,
                now=ctx.now(),
                assignee=assignee,
                text=text,
            )
            report = bulk.run_report(run_id, conn=conn)
    except (ServiceError, ValueError) as exc:
        return wb.toast(str(exc), "breach"), keep, keep, keep, keep, keep
    message, tone = wb.bulk_message(str(action), report, assignee)
    return wb.toast(message, tone), time.time(), True, "rows", keep, keep


@dash.callback(
    Output("ex-bulk-card", "hidden"),
    Output("ex-plan", "children"),
    Output("ex-plan-selection", "data"),
    Output("ex-canary", "value"),
    Output("ex-rate", "value"),
    Output("ex-plan-controls", "hidden", allow_duplicate=True),
    Output("ex-bulk-start", "disabled"),
    Output("ex-run", "data", allow_duplicate=True),
    Input("ex-bulk-replay", "n_clicks"),
    Input("ex-bulk-close", "n_clicks"),
    State("ex-grid", "selectedRows"),
    State("ex-scope", "data"),
    State("ex-filter", "data"),
    prevent_initial_call=True,
)
def _bulk_plan(_plan: Any, _close: Any, rows: list[dict[str, Any]] | None, scope: str,
               query: dict[str, str] | None) -> tuple[Any, ...]:  # fmt: skip
    """The dry run of a bulk replay over the selection; the planned selection (ids or filter) is kept for Start."""
    if dash.ctx.triggered_id == "ex-bulk-close":
        return True, None, None, dash.no_update, dash.no_update, True, True, None
    ctx = current_ctx()
    selection = _selection_of(rows, scope, query)
    with ctx.engine.connect() as conn:
        plan = bulk.plan_bulk_replay(selection, conn=conn, now=ctx.now(), settings=ctx.settings,
                                     base_url=_base_url(ctx)).as_dict()  # fmt: skip
        names = dict(flow_definitions(conn)[["flow_id", "name"]].itertuples(index=False))
    runnable = sum(1 for i in plan["items"] if not i["skip_reason"])
    return (False, wb.plan_view(plan, names), selection.model_dump(mode="json", exclude_none=True),
            wb.default_canary(runnable), plan["rate_per_second"], False, runnable == 0, None)  # fmt: skip


@dash.callback(
    Output("ex-run-view", "hidden"),
    Output("ex-run-progress", "children"),
    Output("ex-run-items", "children"),
    Output("ex-run-pause", "disabled"),
    Output("ex-run-resume", "disabled"),
    Output("ex-run-abort", "disabled"),
    Output("ex-run-poll", "disabled"),
    Output("ex-toast", "children", allow_duplicate=True),
    Output("ex-refresh", "data", allow_duplicate=True),
    Output("ex-grid", "deselectAll", allow_duplicate=True),
    Input("ex-run", "data"),
    Input("ex-run-poll", "n_intervals"),
    prevent_initial_call=True,
)
def _run_view(run_id: int | None, _tick: Any) -> tuple[Any, ...]:
    """Progress of the bulk run while it runs; its per-item results (and a refreshed grid) once it ends."""
    keep = dash.no_update
    if run_id is None:
        return True, None, None, True, True, True, True, keep, keep, keep
    with current_ctx().engine.connect() as conn:
        report = bulk.run_report(run_id, conn=conn, limit=0)
        active = report["status"] in wb.ACTIVE_RUN
        items = None if active else wb.run_items_table(bulk.run_report(run_id, conn=conn, limit=500)["items"])
    buttons = wb.run_controls(str(report["status"]))
    progress = wb.run_progress(report)
    if active:
        return False, progress, None, buttons["pause"], buttons["resume"], buttons["abort"], False, keep, keep, keep
    message, tone = wb.run_finished_message(report)
    return (False, progress, items, True, True, True, True, wb.toast(message, tone), time.time(), True)


@dash.callback(
    Output("ex-toast", "children", allow_duplicate=True),
    Output("ex-run-poll", "disabled", allow_duplicate=True),
    Input("ex-run-pause", "n_clicks"),
    Input("ex-run-resume", "n_clicks"),
    Input("ex-run-abort", "n_clicks"),
    State("ex-run", "data"),
    State("ex-actor-store", "data"),
    prevent_initial_call=True,
)
def _run_control(_p: Any, _r: Any, _a: Any, run_id: int | None, actor: str | None) -> tuple[Any, Any]:
    """Pause, resume or abort the bulk run (each takes effect between items); polling picks up the result."""
    if run_id is None or not dash.ctx.triggered[0]["value"]:
        raise dash.exceptions.PreventUpdate
    ctx = current_ctx()
    command = str(dash.ctx.triggered_id).removeprefix("ex-run-")
    try:
        if command == "pause":
            ctx.actions.bulk.pause(run_id, ctx=ctx)
        elif command == "resume":
            ctx.actions.bulk.resume(run_id, ctx=ctx, base_url=_base_url(ctx))
        else:
            ctx.actions.bulk.abort(run_id, ctx=ctx, actor=actor or DEFAULT_ACTOR)
    except ServiceError as exc:
        return wb.toast(str(exc), "breach"), dash.no_update
    past = {"pause": "paused", "resume": "resumed", "abort": "aborted"}[command]
    return wb.toast(f"Bulk replay #{run_id} {past}", "ok"), False


# -- browser-side glue -------------------------------------------------------------------------
# The actor is remembered in local storage; the field shows it, and typing changes it.
clientside_callback(
    """
    function (typed, stored) {
        const trigger = (dash_clientside.callback_context.triggered_id || "");
        if (trigger === "ex-actor") {
            const actor = (typed || "").trim();
            return [dash_clientside.no_update, actor || dash_clientside.no_update];
        }
        return [stored || "DEFAULT_ACTOR", dash_clientside.no_update];
    }
    """.replace("DEFAULT_ACTOR", DEFAULT_ACTOR),
    Output("ex-actor", "value"),
    Output("ex-actor-store", "data"),
    Input("ex-actor", "value"),
    Input("ex-actor-store", "data"),
)

# Filters and the open exception go into the URL without a reload (a Location update would
# rebuild the page); a new filter empties the grid's cache so it asks the server again.
clientside_callback(
    """
    function (query, open) {
        const parts = Object.entries(query || {}).map(
            ([k, v]) => k + "=" + encodeURIComponent(v).replace(/%2C/g, ","));
        if (open) { parts.push("id=" + open); }
        const next = window.location.pathname + (parts.length ? "?" + parts.join("&") : "");
        if (next !== window.location.pathname + window.location.search) {
            window.history.pushState(null, "", next);
        }
    }
    """,
    Input("ex-filter", "data"),
    Input("ex-open", "data"),
)
clientside_callback(
    """
    function (query) {
        dash_ag_grid.getApiAsync("ex-grid").then(api => { api.deselectAll(); api.purgeInfiniteCache(); });
    }
    """,
    Input("ex-filter", "data"),
    prevent_initial_call=True,
)
# After an action (and on the refresh tick) the grid re-reads its loaded blocks: changed rows
# update in place, rows that left the filter go, and the total follows.
clientside_callback(
    """
    function (refresh, tick) {
        dash_ag_grid.getApiAsync("ex-grid").then(api => api.refreshInfiniteCache());
    }
    """,
    Input("ex-refresh", "data"),
    Input("ex-interval", "n_intervals"),
    prevent_initial_call=True,
)
clientside_callback(
    """
    function (n) { return n ? null : dash_clientside.no_update; }
    """,
    Output("ex-toast", "children", allow_duplicate=True),
    Input("ex-toast-close", "n_clicks"),
    prevent_initial_call=True,
)
