"""Builders of the workbench's bulk panel: the dry-run plan (in messages), run progress, items and
the closing message. Inputs are ``BulkPlan.as_dict()`` and ``run_report``; no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import html

from dashboards.components.format import fmt_duration, fmt_int
from dashboards.components.tables import badge
from dashboards.components.workbench import target_label
from models.enums import ItemStatus, RunStatus

BULK_VERBS = {"resolve": "Resolved", "ignore": "Ignored", "assign": "Assigned"}


def bulk_message(action: str, report: Mapping[str, Any], assignee: str | None = None) -> tuple[str, str]:
    """The toast of a bulk resolve, ignore or assign: how many changed, and why the rest were skipped."""
    counts = report.get("counts") or {}
    done, skipped = int(counts.get(ItemStatus.DONE, 0)), int(counts.get(ItemStatus.SKIPPED, 0))
    noun = "exception" if done == 1 else "exceptions"
    message = f"{BULK_VERBS[action]} {fmt_int(done)} {noun}" + (f" to {assignee}" if action == "assign" else "")
    if skipped:
        reasons = sorted({i["error"] for i in report.get("items") or [] if i.get("status") == ItemStatus.SKIPPED})
        message += f"; {fmt_int(skipped)} skipped" + (f" ({reasons[0]})" if len(reasons) == 1 else "")
    return message, "ok" if done else "warning"


# -- bulk replay: the plan -----------------------------------------------------------------
def plan_breakdown(items: Sequence[Mapping[str, Any]], flow_names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per flow: how many would replay, how many risk a duplicate, how many are skipped, and where they go."""
    flows: dict[str, dict[str, Any]] = {}
    for item in items:
        key = item.get("flow_id") or "—"
        row = flows.setdefault(
            key,
            {"flow_id": key, "flow": flow_names.get(key, key), "selected": 0, "runnable": 0,
             "duplicate_risk": 0, "skipped": 0, "target": None},
        )  # fmt: skip
        row["selected"] += 1
        if item.get("skip_reason"):
            row["skipped"] += 1
            continue
        row["runnable"] += 1
        row["duplicate_risk"] += bool(item.get("duplicate_risk"))
        row["target"] = row["target"] or target_label(item.get("target"))
    return sorted(flows.values(), key=lambda r: (-r["runnable"], r["flow"]))


def skip_reasons(items: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """Why planned items would be skipped, most common first."""
    counts: dict[str, int] = {}
    for item in items:
        if item.get("skip_reason"):
            reason = _generic(item["skip_reason"])
            counts[reason] = counts.get(reason, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _generic(reason: str) -> str:
    """A skip reason without the exception's own number, so identical reasons group."""
    words = reason.split()
    if len(words) > 2 and words[0] == "exception" and words[1].isdigit():
        return "it " + " ".join(words[2:])
    return reason


def plan_view(plan: Mapping[str, Any], flow_names: Mapping[str, str]) -> html.Div:
    """The dry run of a bulk replay, in messages: counts, the per-flow breakdown, duplicate-risk and skip reasons."""
    items = plan.get("items") or []
    runnable = sum(1 for i in items if not i.get("skip_reason"))
    risky = [i for i in items if not i.get("skip_reason") and i.get("duplicate_risk")]
    rate = plan.get("rate_per_second")
    exceptions = len({i["exception_id"] for i in items if not i.get("skip_reason")})
    facts = [
        _fact("Exceptions selected", fmt_int(plan["selected"])),
        _fact("Messages to replay", fmt_int(runnable), "ok" if runnable else "idle"),
        _fact("Of exceptions", fmt_int(exceptions)),
        _fact("Duplicate risk", fmt_int(len(risky)), "warning" if risky else "ok"),
        _fact("Skipped", fmt_int(len(items) - runnable), "idle"),
        _fact("Paced at", f"{rate:g}/s" if rate else "—"),
        _fact("Takes about", _eta(runnable / rate) if rate and runnable else "—"),
    ]
    rows = [
        html.Tr([
            html.Td(r["flow"], className="cell-flow", title=r["flow"]),
            html.Td(r["target"] or "—", className="ex-mono"),
            html.Td(fmt_int(r["runnable"]), className="num"),
            html.Td(badge(fmt_int(r["duplicate_risk"]), "warning") if r["duplicate_risk"] else "0", className="num"),
            html.Td(fmt_int(r["skipped"]), className="num"),
        ])
        for r in plan_breakdown(items, flow_names)
    ]  # fmt: skip
    head = html.Thead(
        html.Tr(
            [
                html.Th("Flow"),
                html.Th("Replay target"),
                html.Th("Messages", className="num"),
                html.Th("Duplicate risk", className="num"),
                html.Th("Skipped", className="num"),
            ]
        )
    )
    children: list[Any] = [
        html.Div(plan.get("text") or "", className="ex-plan-headline"),
        html.Div(facts, className="ex-facts-row"),
        html.Table([head, html.Tbody(rows)], className="data-table ex-plan-table"),
    ]
    if risky:
        owners = list(dict.fromkeys(i["exception_id"] for i in risky))
        ids = ", ".join(f"#{i}" for i in owners[:12]) + (" …" if len(owners) > 12 else "")
        children.append(html.Div(
            className="ex-callout tone-warning",
            children=[html.B("Duplicate risk: "), f"the target already took a later event for the order of {ids}. "
                      "They are left out unless you include them below."],
        ))  # fmt: skip
    reasons = skip_reasons(items)
    if reasons:
        children.append(html.Ul([html.Li(f"{fmt_int(n)} skipped: {r}") for r, n in reasons], className="ex-skips"))
    return html.Div(children, className="ex-plan")


def _eta(seconds: float) -> str:
    """A run's expected duration; under a second says so rather than "0 s"."""
    return "under 1 s" if seconds < 1 else fmt_duration(seconds)


def _fact(label: str, value: str, tone: str = "neutral") -> html.Div:
    return html.Div(
        className=f"ex-fact tone-{tone}",
        children=[html.Div(label, className="tile-label"), html.Div(value, className="ex-fact-value")],
    )


def replay_confirmation(
    summary: Mapping[str, Any], *, canary: int, rate: float | None, include_risky: bool
) -> tuple[str, html.Div, str]:
    """What starting a bulk replay will do, said before it is done (title, body, button): how many
    messages of how many exceptions, at what pace, for about how long, the canary first, and
    what is left out. ``summary`` is the plan's ``summary(include_duplicate_risk=…)``."""
    messages, exceptions = int(summary["runnable"]), int(summary["exceptions"])
    pace = rate or summary.get("rate_per_second")
    eta = _eta(messages / pace) if pace and messages else "—"
    first = min(int(canary or 0), messages)
    facts = html.Div(className="ex-plan-facts", children=[
        _fact("Messages to replay", fmt_int(messages), "ok" if messages else "idle"),
        _fact("Of exceptions", fmt_int(exceptions)),
        _fact("Paced at", f"{pace:g}/s" if pace else "—"),
        _fact("Takes about", eta),
        _fact("Canary batch", fmt_int(first)),
    ])  # fmt: skip
    notes = [
        f"Each message is sent again to its replay target at no more than {pace:g} a second; an exception "
        "resolves when its last message is delivered."
        if pace
        else "Each message is sent again to its target.",
        f"The first {_plural(first, 'message')} are a canary: if one of them fails, the run stops there."
        if first
        else "No canary batch: the whole run starts at once.",
    ]
    risky, skipped = int(summary.get("duplicate_risk") or 0), int(summary.get("skipped") or 0)
    if risky:
        notes.append(f"{_plural(risky, 'message')} at duplicate risk "
                     f"{'are included' if include_risky else 'are left out'}.")  # fmt: skip
    if skipped:
        notes.append(f"{_plural(skipped, 'message')} will not be sent (skipped or left out).")
    body = html.Div([facts, html.Ul([html.Li(n) for n in notes], className="fw-dialog-notes")])
    return f"Start replaying {_plural(messages, 'message')}?", body, f"Start replay of {_plural(messages, 'message')}"


def _plural(n: int, noun: str) -> str:
    return f"{fmt_int(n)} {noun}{'' if n == 1 else 's'}"


def default_canary(runnable: int) -> int:
    """A canary batch worth having: 5 items, or a tenth of a large run (at most 50), never more than the run."""
    return min(runnable, max(5, min(runnable // 10, 50)))


# -- bulk replay: the run ------------------------------------------------------------------
RUN_LABELS: dict[str, tuple[str, str]] = {
    RunStatus.RUNNING: ("Running", "neutral"),
    RunStatus.PAUSED: ("Paused", "warning"),
    RunStatus.COMPLETED: ("Completed", "ok"),
    RunStatus.ABORTED: ("Aborted", "idle"),
    RunStatus.CANARY_FAILED: ("Canary failed", "breach"),
    RunStatus.FAILED: ("Failed", "breach"),
}
ACTIVE_RUN = frozenset({RunStatus.RUNNING, RunStatus.PAUSED})


def run_controls(status: str) -> dict[str, bool]:
    """Which run buttons are disabled: pause while running, resume while paused, abort while either."""
    return {
        "pause": status != RunStatus.RUNNING,
        "resume": status != RunStatus.PAUSED,
        "abort": status not in ACTIVE_RUN,
    }


def run_progress(report: Mapping[str, Any]) -> html.Div:
    """A run's status, a segmented progress bar (delivered, failed, skipped) and its counts."""
    counts = report.get("counts") or {}
    total = max(int(report.get("total") or 0), 1)
    label, tone = RUN_LABELS.get(str(report["status"]), (str(report["status"]), "idle"))
    segments = [
        html.Div(className=f"ex-bar-{kind}", style={"width": f"{100 * int(counts.get(kind, 0)) / total:.2f}%"})
        for kind in (ItemStatus.DELIVERED, ItemStatus.FAILED, ItemStatus.SKIPPED)
    ]
    numbers = [
        f"{fmt_int(report.get('processed', 0))} of {fmt_int(report.get('total', 0))} processed",
        f"{fmt_int(counts.get(ItemStatus.DELIVERED, 0))} delivered",
        f"{fmt_int(counts.get(ItemStatus.FAILED, 0))} failed",
        f"{fmt_int(counts.get(ItemStatus.SKIPPED, 0))} skipped",
    ]
    if report.get("rate_per_second"):
        numbers.append(f"{report['rate_per_second']:g}/s")
    if report.get("canary"):
        numbers.append(f"canary {fmt_int(report['canary'])}")
    head = [
        badge(label, tone),
        html.Span(f"Bulk replay #{report['run_id']} by {report['actor']}", className="ex-run-title"),
    ]
    children: list[Any] = [
        html.Div(head, className="ex-run-head"),
        html.Div(segments, className="ex-bar", role="progressbar",
                 **{"aria-valuenow": str(report.get("processed", 0)), "aria-valuemax": str(report.get("total", 0))}),
        html.Div(" · ".join(numbers), className="ex-run-counts"),
    ]  # fmt: skip
    if report.get("detail"):
        children.append(html.Div(report["detail"], className=f"ex-callout tone-{tone}"))
    return html.Div(children, className="ex-run", **{"data-status": str(report["status"])})


_ITEM_TONE = {ItemStatus.DELIVERED: "ok", ItemStatus.DONE: "ok", ItemStatus.FAILED: "breach",
              ItemStatus.SKIPPED: "idle", ItemStatus.PENDING: "neutral"}  # fmt: skip


def run_items_table(items: Sequence[Mapping[str, Any]], *, limit: int = 200) -> html.Div:
    """Per-item results of a finished run: exception, outcome, error, and the exception's status now."""
    if not items:
        return html.Div("The run had no items", className="empty-state")
    rows = [
        html.Tr([
            html.Td(f"#{i['exception_id']}", className="ex-mono"),
            html.Td(i.get("title") or "—", className="cell-flow", title=i.get("title") or ""),
            html.Td(badge(str(i["status"]), _ITEM_TONE.get(i["status"], "idle"))),
            html.Td(i.get("error") or "", className="ex-item-error", title=i.get("error") or ""),
            html.Td(badge(str(i["exception_status"]), str(i["exception_status"])) if i.get("exception_status")
                    else "—"),
        ])
        for i in items[:limit]
    ]  # fmt: skip
    head = html.Thead(
        html.Tr([html.Th("Exception"), html.Th("Title"), html.Th("Result"), html.Th("Error"), html.Th("Now")])
    )
    children: list[Any] = [html.Table([head, html.Tbody(rows)], className="data-table ex-items-table")]
    if len(items) > limit:
        children.append(html.Div(f"First {limit} of {fmt_int(len(items))} items", className="table-note"))
    return html.Div(children)


def run_finished_message(report: Mapping[str, Any]) -> tuple[str, str]:
    """The toast when a bulk replay ends."""
    counts = report.get("counts") or {}
    label, tone = RUN_LABELS.get(str(report["status"]), (str(report["status"]), "idle"))
    delivered, failed = int(counts.get(ItemStatus.DELIVERED, 0)), int(counts.get(ItemStatus.FAILED, 0))
    skipped = int(counts.get(ItemStatus.SKIPPED, 0))
    message = (f"Bulk replay #{report['run_id']} {label.lower()}: {fmt_int(delivered)} delivered, "
               f"{fmt_int(failed)} failed, {fmt_int(skipped)} skipped")  # fmt: skip
    return message, "breach" if failed or tone == "breach" else tone
