"""Builders of the workbench's detail panel: one exception, what it hurts, its message, replays and audit trail.

Input is what ``get_exception`` returns (row, flow, failed event, orders, replays, actions)
and what ``likely_cause`` found; outputs are Dash components and, per action button, the
reason it is greyed out (from the lifecycle's own transition table).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from dash import dcc, html

from app.services.lifecycle import Action, refusal
from app.services.replay import needs_four_eyes
from dashboards.components.format import fmt_duration, fmt_int, fmt_money
from dashboards.components.tables import badge
from dashboards.components.workbench import fmt_time, kind_label, target_label
from models.enums import ReplayStatus

#: What ``likely_cause`` returning None means, said plainly (the Flows page says the same).
NO_CAUSE = "Flowwatch found no technical signal of this flow that moved before it"
#: Orders linked in the panel; the rest are counted.
ORDER_LINKS = 24

#: The panel's buttons → the lifecycle action whose transition table decides them.
LIFECYCLE_BUTTONS: dict[str, Action] = {
    "ack": Action.ACK,
    "assign": Action.ASSIGN,
    "note": Action.NOTE,
    "snooze": Action.SNOOZE,
    "severity": Action.SET_SEVERITY,
    "resolve": Action.RESOLVE,
    "ignore": Action.IGNORE,
    "reopen": Action.REOPEN,
}
BUTTONS = (*LIFECYCLE_BUTTONS, "replay", "fix", "approve", "reject")


def pending_replay(detail: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The replay request parked for a second operator's approval, if any."""
    return next((r for r in detail.get("replays") or [] if r["status"] == ReplayStatus.PENDING_APPROVAL), None)


def four_eyes(detail: Mapping[str, Any]) -> bool:
    """True when a replay of this exception needs a second operator (the replay service's own rule)."""
    flow, event = detail.get("flow") or {}, detail.get("event") or {}
    return needs_four_eyes(
        {
            "replay_four_eyes": flow.get("replay_four_eyes"),
            "event_type": event.get("event_type"),
            "end_event": flow.get("end_event"),
        }
    )


def action_states(detail: Mapping[str, Any], replay: str | None) -> dict[str, str | None]:
    """Every button of the panel → why it is greyed out, or None when it may be pressed; ``replay`` is
    the replay service's own refusal (:func:`app.services.replay.refusal_of`)."""
    status = str(detail["status"])
    states: dict[str, str | None] = {name: refusal(action, status) for name, action in LIFECYCLE_BUTTONS.items()}
    states["replay"] = replay
    if replay is None and not isinstance((detail.get("event") or {}).get("payload"), dict | list):
        states["fix"] = "the stored payload is not JSON, so it cannot be edited; replay it unchanged"
    else:
        states["fix"] = replay
    no_request = None if pending_replay(detail) else "no replay of this exception awaits approval"
    states["approve"] = states["reject"] = no_request
    return states


def pretty_payload(payload: Any) -> str:
    """The payload as an operator reads (and edits) it: indented JSON with sorted keys, or the raw text."""
    if payload is None:
        return ""
    if isinstance(payload, dict | list):
        return json.dumps(payload, indent=2, sort_keys=True)
    return str(payload)


def diff_view(diff: str | None) -> html.Pre | html.Div:
    """A unified diff with added, removed and hunk lines coloured."""
    if not diff:
        return html.Div("Sent the stored payload unchanged", className="muted ex-diff-none")
    lines = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            cls = "ex-diff-file"
        elif line.startswith("@@"):
            cls = "ex-diff-hunk"
        elif line.startswith("+"):
            cls = "ex-diff-add"
        elif line.startswith("-"):
            cls = "ex-diff-del"
        else:
            cls = "ex-diff-ctx"
        lines.append(html.Span(line, className=cls))
    return html.Pre(lines, className="ex-code ex-diff")


def order_link(correlation_id: str) -> dcc.Link:
    """A business key that opens its order timeline."""
    return dcc.Link(correlation_id, href=f"/orders?id={quote(correlation_id)}", className="order-link")


# -- the panel ---------------------------------------------------------------------------------
def detail_header(detail: Mapping[str, Any], *, now: datetime) -> list[Any]:
    """Number and kind, title, severity/status badges, and where it happens."""
    badges: list[Any] = [badge(detail["severity"], detail["severity"]), badge(detail["status"], detail["status"])]
    if detail.get("snoozed"):
        badges.append(badge(f"snoozed until {fmt_time(detail['snoozed_until'])}", "idle"))
    if pending_replay(detail):
        badges.append(badge("replay awaits approval", "warning"))
    flow = detail.get("flow") or {}
    where: list[Any] = []
    if flow:
        where.append(dcc.Link(flow["name"], href=f"/flows?flow={quote(flow['flow_id'])}", className="ex-flow-link"))
    if detail.get("system_id"):
        where.append(html.Span(f"system {detail['system_id']}", className="muted"))
    incident = detail.get("incident")
    if incident:
        label = f"part of incident #{incident['incident_id']}: {incident['title']} ({incident['status']})"
        where.append(dcc.Link(label, href=f"/incidents?id={incident['incident_id']}", className="ex-flow-link"))
    return [
        html.Div(f"#{detail['exception_id']} · {kind_label(detail['kind'])}", className="ex-kicker"),
        html.H2(detail["title"], className="ex-detail-title"),
        html.Div(badges, className="ex-badges"),
        html.Div(_joined(where, " · "), className="ex-where") if where else None,
    ]


def facts(detail: Mapping[str, Any]) -> html.Dl:
    """The numbers an operator asks first: when, how often, how many orders, whose."""
    pairs = [
        ("First seen", fmt_time(detail["first_seen"])),
        ("Last seen", fmt_time(detail["last_seen"])),
        ("Age", f"{fmt_duration(detail['age_seconds'])} · {detail['age_band']}"),
        ("Occurrences", fmt_int(detail["occurrences"])),
        ("Orders affected", fmt_int(detail.get("orders_total", detail["affected_orders"]))),
        ("Value at risk", fmt_money(detail.get("value_at_risk"))),
        ("Customer tier", detail.get("customer_tier") or "not known"),
        ("Earliest ship-by", fmt_time(detail.get("earliest_ship_by"))),
        ("Assignee", detail.get("assignee") or "unassigned"),
        ("Business key", detail.get("business_key") or "—"),
    ]
    if detail.get("resolution"):
        pairs.append(("Resolution", detail["resolution"]))
    return html.Dl([html.Div([html.Dt(k), html.Dd(v, title=str(v))]) for k, v in pairs], className="ex-dl")


def error_section(detail: Mapping[str, Any]) -> html.Div:
    """The first error, and the latest one when a replay failed since."""
    children: list[Any] = [html.Div(detail.get("first_error") or "No error recorded", className="ex-error")]
    if detail.get("last_error"):
        children = [
            html.Div(className="ex-error is-latest", children=[html.Span("Latest error", className="ex-label"),
                                                               detail["last_error"]]),
            html.Div(className="ex-error is-first", children=[html.Span("First error", className="ex-label"),
                                                              detail.get("first_error") or "—"]),
        ]  # fmt: skip
    return html.Div(children, className="ex-errors")


#: How the catalog's safe action reads to an operator.
SAFE_ACTION_TEXT = {
    "replay": "Replay: re-send as is once the cause is gone",
    "edit_and_replay": "Edit and replay: fix the payload first",
    "resolve": "Resolve with a reason: nothing to re-send",
}


def known_error_section(known: Mapping[str, Any] | None) -> html.Div:
    """The catalog's class of the error: what it means, the runbook, and the safe action to take."""
    if not known:
        return html.Div("Not a known error class: see the error and the payload", className="ex-known is-none")
    action = SAFE_ACTION_TEXT.get(str(known["action"]), str(known["action"]))
    children: list[Any] = [
        html.Div([html.Span(known["name"], className="ex-known-name"),
                  html.Span(action, className=f"ex-known-action action-{known['action']}")],
                 className="ex-known-head"),
        html.P(known["explanation"], className="ex-known-explanation"),
    ]  # fmt: skip
    if known.get("suggested_patch"):
        children.append(html.Div([html.Span("Suggested patch", className="ex-label"),
                                  html.Pre(known["suggested_patch"], className="ex-code")]))  # fmt: skip
    if known.get("resolve_reason"):
        children.append(html.Div([html.Span("Resolve reason", className="ex-label"), known["resolve_reason"]]))
    children.append(dcc.Markdown(known["runbook"], className="ex-runbook"))
    return html.Div(children, className="ex-known", **{"data-class": str(known["class_id"])})


def cause_section(cause: Mapping[str, Any] | None) -> html.Div:
    """The technical signal that moved first, or that none did."""
    if not cause:
        return html.Div(NO_CAUSE, className="fl-cause is-none")
    return html.Div(
        className="fl-cause", children=[html.Span("Likely cause", className="fl-cause-label"), cause["text"]]
    )


def orders_section(detail: Mapping[str, Any], *, limit: int = ORDER_LINKS) -> html.Div:
    """The affected orders as links to their timelines."""
    orders: Sequence[str] = detail.get("orders") or []
    if not orders:
        return html.Div("No orders linked to this exception", className="muted")
    links: list[Any] = [order_link(o) for o in orders[:limit]]
    more = int(detail.get("orders_total") or len(orders)) - len(links)
    if more > 0:
        links.append(html.Span(f"+{fmt_int(more)} more", className="muted"))
    return html.Div(links, className="ex-orders")


def payload_section(detail: Mapping[str, Any]) -> html.Div:
    """The failed message: what it was and the payload, pretty-printed."""
    event = detail.get("event")
    if event is None:
        return html.Div("This exception has no failed message (it was raised from lags or queues)", className="muted")
    meta = [
        html.Span(event["event_type"], className="ex-mono"),
        f"{event['source']} → {event['target']}",
        f"attempt {event['attempt']}",
        f"status {event['status']}",
        f"received {fmt_time(event['received_at'])}",
    ]
    return html.Div([
        html.Div(_joined(meta, " · "), className="ex-event-meta"),
        html.Div(f"event {event['event_id']}", className="ex-event-id ex-mono"),
        html.Pre(pretty_payload(event.get("payload")), className="ex-code ex-payload"),
    ])  # fmt: skip


_MESSAGE_TONE = {"delivered": "ok", "failed": "breach", "pending": "warning"}
MESSAGE_ROWS = 50


def messages_section(detail: Mapping[str, Any]) -> html.Div:
    """Every failed message the exception groups: its order, its state (what a replay would still
    send), how often it was replayed and the last error; undelivered first."""
    messages = detail.get("messages") or []
    if not messages:
        return html.Div("No failed messages: this exception was raised from lags, queues or missing events",
                        className="muted")  # fmt: skip
    counts = detail.get("message_counts") or {}
    rows = [
        html.Tr([
            html.Td(order_link(m["correlation_id"]) if m.get("correlation_id") else "—"),
            html.Td(m["event_id"], className="ex-mono", title=m["event_id"]),
            html.Td(badge(str(m["state"]), _MESSAGE_TONE.get(str(m["state"]), "idle"))),
            html.Td(fmt_int(m["replays"]), className="num"),
            html.Td(fmt_time(m["last_failed_at"])),
            html.Td(m.get("last_error") or "—", className="ex-error-cell", title=m.get("last_error") or ""),
        ], **{"data-state": str(m["state"])})
        for m in messages[:MESSAGE_ROWS]
    ]  # fmt: skip
    head = html.Thead(html.Tr([html.Th(h) for h in ("Order", "Message", "State", "Replays", "Last failed (UTC)",
                                                     "Last error")]))  # fmt: skip
    children: list[Any] = [html.Div(message_progress(counts), className="ex-message-progress"),
                           html.Table([head, html.Tbody(rows)], className="data-table ex-messages")]  # fmt: skip
    more = int(counts.get("total") or len(messages)) - len(rows)
    if more > 0:
        children.append(html.Div(f"+{fmt_int(more)} more messages", className="muted"))
    return html.Div(children)


def message_progress(counts: Mapping[str, Any]) -> str:
    """ "29 of 32 delivered · 3 failed" — what a replay of the exception would still send."""
    total, delivered = int(counts.get("total") or 0), int(counts.get("delivered") or 0)
    parts = [f"{fmt_int(delivered)} of {fmt_int(total)} delivered"]
    for key, word in (("failed", "failed on replay"), ("pending", "not replayed yet")):
        if counts.get(key):
            parts.append(f"{fmt_int(int(counts[key]))} {word}")
    return " · ".join(parts)


_REPLAY_TONE = {
    ReplayStatus.DELIVERED: "ok",
    ReplayStatus.FAILED: "breach",
    ReplayStatus.PENDING_APPROVAL: "warning",
    ReplayStatus.RUNNING: "neutral",
    ReplayStatus.REJECTED: "idle",
    ReplayStatus.ABANDONED: "idle",
}


def replays_section(detail: Mapping[str, Any]) -> html.Div:
    """Every replay: who asked (and approved), the result, and the diff between the original and what was sent."""
    replays = detail.get("replays") or []
    if not replays:
        return html.Div("Not replayed yet", className="muted")
    items = []
    for r in list(reversed(replays))[:MESSAGE_ROWS]:
        who = f"requested by {r['requested_by']} {fmt_time(r['requested_at'])}"
        if r.get("approved_by"):
            who += f" · {'approved' if r['status'] != ReplayStatus.REJECTED else 'rejected'} by {r['approved_by']}"
        if r.get("bulk_run_id"):
            who += f" · bulk run #{r['bulk_run_id']}"
        lines: list[Any] = [
            html.Div([badge(str(r["status"]).replace("_", " "), _REPLAY_TONE.get(r["status"], "idle")),
                      html.Span(f"Replay #{r['replay_id']}", className="ex-replay-title"),
                      html.Span(who, className="muted")], className="ex-replay-head"),
        ]  # fmt: skip
        if r.get("replay_event_id"):
            lines.append(html.Div(f"as event {r['replay_event_id']}", className="ex-event-id ex-mono"))
        if r.get("error"):
            lines.append(html.Div(r["error"], className="ex-error"))
        if r.get("reason"):
            lines.append(html.Div(["Edited: ", html.B(str(r["reason"]).replace("_", " "))], className="ex-reason"))
        lines.append(diff_view(r.get("diff")))
        items.append(html.Li(lines, className="ex-replay", **{"data-status": str(r["status"])}))
    if len(replays) > MESSAGE_ROWS:
        items.append(html.Li(f"+{fmt_int(len(replays) - MESSAGE_ROWS)} earlier replays", className="muted"))
    return html.Ul(items, className="ex-replays")


ACTION_LABELS = {
    "ack": "Acknowledged",
    "assign": "Assigned",
    "note": "Note",
    "resolve": "Resolved",
    "ignore": "Ignored",
    "reopen": "Reopened",
    "snooze": "Snoozed",
    "set_severity": "Severity changed",
    "replay": "Replayed",
    "replay_request": "Replay requested",
    "replay_approve": "Replay approved",
    "replay_reject": "Replay rejected",
}


def describe_action(row: Mapping[str, Any]) -> str:
    """What one audit row changed or said, in a line."""
    detail = row.get("detail") if isinstance(row.get("detail"), dict) else {}
    before = row.get("before_state") if isinstance(row.get("before_state"), dict) else {}
    after = row.get("after_state") if isinstance(row.get("after_state"), dict) else {}
    action = row["action"]
    if action == "replay":
        text = f"to {target_label(detail.get('target'))}"
        if detail.get("error_code"):
            text += f" · {detail['error_code']}: {detail.get('error')}"
        elif detail.get("http_status"):
            text += f" · HTTP {detail['http_status']}"
        if detail.get("edited"):
            text += f" · edited ({detail.get('reason')})"
        return text
    if action == "replay_request":
        return "edited payload, " + str(detail.get("reason")) if detail.get("edited") else "awaits a second operator"
    if action in ("assign", "ack") and before.get("assignee") != after.get("assignee"):
        return f"assignee {before.get('assignee') or 'none'} → {after.get('assignee')}"
    if action == "set_severity":
        return f"severity {before.get('severity')} → {after.get('severity')}"
    if action == "resolve" and detail.get("replay_event_id"):
        return f"the replay delivered {detail['replay_event_id']}"
    if action == "snooze":
        return f"until {str(after.get('snoozed_until') or '').replace('T', ' ')[:16]}"
    for key in ("text", "resolution", "reason"):
        if detail.get(key):
            return str(detail[key]) + (" (bulk)" if detail.get("bulk") else "")
    return "bulk action" if detail.get("bulk") else ""


def history_section(actions: Sequence[Mapping[str, Any]]) -> html.Div | html.Table:
    """The full audit trail, newest first: time, actor, action, outcome, detail."""
    if not actions:
        return html.Div("No actions yet", className="muted")
    rows = [
        html.Tr(
            [
                html.Td(fmt_time(a["acted_at"]), className="ex-when"),
                html.Td(a["actor"], className="ex-who"),
                html.Td(ACTION_LABELS.get(a["action"], a["action"])),
                html.Td(badge(str(a["outcome"]).replace("_", " "), _outcome_tone(str(a["outcome"])))),
                html.Td(describe_action(a), className="ex-what", title=describe_action(a)),
            ],
            **{"data-action": a["action"]},
        )
        for a in reversed(actions)
    ]
    head = html.Thead(html.Tr([html.Th(h) for h in ("When (UTC)", "Who", "Action", "Outcome", "Detail")]))
    return html.Table([head, html.Tbody(rows)], className="data-table ex-history")


def _outcome_tone(outcome: str) -> str:
    return {"done": "ok", "delivered": "ok", "approved": "ok", "failed": "breach", "rejected": "idle",
            "pending_approval": "warning"}.get(outcome, "idle")  # fmt: skip


def section(title: str, body: Any, *, section_id: str | None = None) -> html.Section:
    """A titled block of the panel."""
    attrs = {"id": section_id} if section_id else {}
    return html.Section([html.H3(title), body], className="ex-section", **attrs)


def detail_body(detail: Mapping[str, Any], cause: Mapping[str, Any] | None) -> list[html.Section]:
    """Everything below the action bar, in the order an operator reads it (the long payload last)."""
    orders_total = int(detail.get("orders_total") or 0)
    return [
        section("What failed", error_section(detail)),
        section("Known error and runbook", known_error_section(detail.get("known_error")), section_id="ex-known"),
        section("Likely cause", cause_section(cause)),
        section(f"Affected orders ({fmt_int(orders_total)})", orders_section(detail)),
        section(
            f"Failed messages ({fmt_int(int((detail.get('message_counts') or {}).get('total') or 0))})",
            messages_section(detail),
            section_id="ex-messages",
        ),
        section(f"Replays ({len(detail.get('replays') or [])})", replays_section(detail), section_id="ex-replays"),
        section("History", history_section(detail.get("actions") or []), section_id="ex-history"),
        section("Failed message", payload_section(detail)),
    ]


def approval_note(detail: Mapping[str, Any]) -> str:
    """What the approval row says: whose request waits, or why replays here need one."""
    pending = pending_replay(detail)
    if pending is not None:
        edited = f", edited ({pending['reason']})" if pending.get("diff") else ""
        return f"Replay requested by {pending['requested_by']} {fmt_time(pending['requested_at'])}{edited}: " \
               "another operator must approve it"  # fmt: skip
    if four_eyes(detail):
        return "This flow carries financial documents: a replay needs a second operator's approval"
    return ""


def _joined(parts: list[Any], sep: str) -> list[Any]:
    """Components separated by ``sep`` (Dash has no join)."""
    out: list[Any] = []
    for i, part in enumerate(parts):
        if i:
            out.append(sep)
        out.append(part)
    return out
