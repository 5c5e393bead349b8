"""The workbench's bulk actions: resolve, ignore, assign at once; replays planned, then run in messages.

Part of the workbench page, not a page of its own (it never calls dash.register_page): Dash runs
each pages-folder module that names register_page once per app it builds, so these callbacks
reach every app, as the page's own would.
"""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import Input, Output, State, html

from app.services import bulk
from app.services.errors import ServiceError
from dashboards.app import acting_as, acts, current_ctx
from dashboards.components import bulk as bulk_panel
from dashboards.components import workbench as wb
from dashboards.workbench_common import replay_url
from models.enums import Access
from models.queries.flows import flow_definitions


# -- bulk actions ------------------------------------------------------------------------------
def _selection_of(rows: list[dict[str, Any]] | None, scope: str, query: dict[str, str] | None) -> bulk.Selection:
    """What a bulk action applies to: the whole filtered set, or the ticked rows."""
    if scope == "all":
        return bulk.Selection(filter=wb.filter_from_query(query or {}))
    return bulk.Selection(ids=[int(r["exception_id"]) for r in rows or []])


@dash.callback(
    Output("ex-bulk-ask", "hidden"),
    Output("ex-bulk-ask-title", "children"),
    Output("ex-bulk-ask-body", "children"),
    Output("ex-bulk-ask-yes", "children"),
    Output("ex-bulk-pending", "data"),
    Input("ex-bulk-resolve", "n_clicks"),
    Input("ex-bulk-ignore", "n_clicks"),
    Input("ex-bulk-start", "n_clicks"),
    State("ex-grid", "selectedRows"),
    State("ex-scope", "data"),
    State("ex-total", "data"),
    State("ex-plan-selection", "data"),
    State("ex-canary", "value"),
    State("ex-rate", "value"),
    State("ex-dupes", "value"),
    prevent_initial_call=True,
)
@acts(Access.ACT)
def _bulk_ask(_r: Any, _i: Any, _s: Any, rows: list[dict[str, Any]] | None, scope: str, total: int,
              planned: dict[str, Any] | None, canary: Any, rate: Any,
              dupes: list[str] | None) -> tuple[Any, ...]:  # fmt: skip
    """Resolve, ignore and starting a bulk replay change many exceptions at once: say what will happen
    (for a replay: messages, exceptions, pace, duration, canary) in the page, and wait for a yes."""
    trigger = dash.ctx.triggered_id
    if not dash.ctx.triggered[0]["value"]:
        raise dash.exceptions.PreventUpdate
    if trigger == "ex-bulk-start":
        ctx = current_ctx()
        include = "include" in (dupes or [])
        with ctx.engine.connect() as conn:
            plan = bulk.plan_bulk_replay(bulk.Selection.model_validate(planned or {}), conn=conn, now=ctx.now(),
                                         settings=ctx.settings, base_url=replay_url(ctx))  # fmt: skip
        title, body, yes = bulk_panel.replay_confirmation(
            plan.summary(include_duplicate_risk=include),
            canary=int(canary or 0),
            rate=float(rate) if rate else None,
            include_risky=include,
        )
        return False, title, body, yes, "replay"
    action = "resolve" if trigger == "ex-bulk-resolve" else "ignore"
    size = wb.selection_size(len(rows or []), total or 0, all_matching=scope == "all")
    what = f"all {size:,} matching exceptions" if scope == "all" else f"{size:,} selected exceptions"
    body = html.P("Each one is audited under your name; reopen brings one back.", className="fw-dialog-note")
    return False, f"{action.capitalize()} {what}?", body, f"{action.capitalize()} {size:,}", action


@dash.callback(
    Output("ex-bulk-ask", "hidden", allow_duplicate=True),
    Input("ex-bulk-ask-no", "n_clicks"),
    prevent_initial_call=True,
)
def _bulk_cancel(n: int) -> bool:
    """Cancel closes the confirmation; nothing was done."""
    if not n:
        raise dash.exceptions.PreventUpdate
    return True


@dash.callback(
    Output("ex-toast", "children", allow_duplicate=True),
    Output("ex-refresh", "data", allow_duplicate=True),
    Output("ex-grid", "deselectAll", allow_duplicate=True),
    Output("ex-scope", "data", allow_duplicate=True),
    Output("ex-run", "data"),
    Output("ex-plan-controls", "hidden", allow_duplicate=True),
    Output("ex-bulk-ask", "hidden", allow_duplicate=True),
    Input("ex-bulk-ask-yes", "n_clicks"),
    Input("ex-bulk-assign", "n_clicks"),
    State("ex-bulk-pending", "data"),
    State("ex-grid", "selectedRows"),
    State("ex-scope", "data"),
    State("ex-filter", "data"),
    State("ex-bulk-assignee", "value"),
    State("ex-plan-selection", "data"),
    State("ex-canary", "value"),
    State("ex-rate", "value"),
    State("ex-dupes", "value"),
    prevent_initial_call=True,
)
@acts(Access.ACT)
def _bulk_apply(_confirmed: Any, _assign: Any, pending: str | None, rows: list[dict[str, Any]] | None, scope: str,
                query: dict[str, str] | None, assignee: str | None, planned: dict[str, Any] | None,
                canary: Any, rate: Any, dupes: list[str]) -> tuple[Any, ...]:  # fmt: skip
    """Do the confirmed bulk action (or an assign): resolve/ignore/assign at once, a replay as a paced run."""
    if not dash.ctx.triggered[0]["value"]:
        raise dash.exceptions.PreventUpdate
    ctx = current_ctx()
    actor = acting_as()
    keep = dash.no_update
    action = "assign" if dash.ctx.triggered_id == "ex-bulk-assign" else pending
    try:
        if action == "replay":
            selection = bulk.Selection.model_validate(planned or {})
            with ctx.engine.connect() as conn:
                plan = bulk.plan_bulk_replay(selection, conn=conn, now=ctx.now(), settings=ctx.settings,
                                             base_url=replay_url(ctx))  # fmt: skip
            run_id = bulk.start_run(
                plan,
                ctx=ctx,
                actor=actor,
                canary=int(canary or 0),
                rate_per_second=float(rate) if rate else None,
                include_duplicate_risk="include" in (dupes or []),
                base_url=replay_url(ctx),
            )
            return wb.toast(f"Bulk replay #{run_id} started", "ok"), keep, keep, keep, run_id, True, True
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
        return wb.toast(str(exc), "breach"), keep, keep, keep, keep, keep, True
    message, tone = bulk_panel.bulk_message(str(action), report, assignee)
    return wb.toast(message, tone), time.time(), True, "rows", keep, keep, True


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
                                     base_url=replay_url(ctx)).as_dict()  # fmt: skip
        names = dict(flow_definitions(conn)[["flow_id", "name"]].itertuples(index=False))
    runnable = sum(1 for i in plan["items"] if not i["skip_reason"])
    return (False, bulk_panel.plan_view(plan, names), selection.model_dump(mode="json", exclude_none=True),
            bulk_panel.default_canary(runnable), plan["rate_per_second"], False, runnable == 0, None)  # fmt: skip


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
        active = report["status"] in bulk_panel.ACTIVE_RUN
        items = None if active else bulk_panel.run_items_table(bulk.run_report(run_id, conn=conn, limit=500)["items"])
    buttons = bulk_panel.run_controls(str(report["status"]))
    progress = bulk_panel.run_progress(report)
    if active:
        return False, progress, None, buttons["pause"], buttons["resume"], buttons["abort"], False, keep, keep, keep
    message, tone = bulk_panel.run_finished_message(report)
    return (False, progress, items, True, True, True, True, wb.toast(message, tone), time.time(), True)


@dash.callback(
    Output("ex-toast", "children", allow_duplicate=True),
    Output("ex-run-poll", "disabled", allow_duplicate=True),
    Input("ex-run-pause", "n_clicks"),
    Input("ex-run-resume", "n_clicks"),
    Input("ex-run-abort", "n_clicks"),
    State("ex-run", "data"),
    prevent_initial_call=True,
)
@acts(Access.ACT)
def _run_control(_p: Any, _r: Any, _a: Any, run_id: int | None) -> tuple[Any, Any]:
    """Pause, resume or abort the bulk run (each takes effect between items); polling picks up the result."""
    if run_id is None or not dash.ctx.triggered[0]["value"]:
        raise dash.exceptions.PreventUpdate
    ctx = current_ctx()
    command = str(dash.ctx.triggered_id).removeprefix("ex-run-")
    try:
        if command == "pause":
            ctx.actions.bulk.pause(run_id, ctx=ctx)
        elif command == "resume":
            ctx.actions.bulk.resume(run_id, ctx=ctx, base_url=replay_url(ctx))
        else:
            ctx.actions.bulk.abort(run_id, ctx=ctx, actor=acting_as())
    except ServiceError as exc:
        return wb.toast(str(exc), "breach"), dash.no_update
    past = {"pause": "paused", "resume": "resumed", "abort": "aborted"}[command]
    return wb.toast(f"Bulk replay #{run_id} {past}", "ok"), False
