"""Incident page builders: the incident list, one incident's summary, its exceptions and timeline.

Pure functions over what ``models.queries.incidents`` returns; which actions an incident allows comes
from ``app.services.incidents.refusal`` (never a copy of the rule here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from dash import dcc, html

from app.services.incidents import IncidentResult, refusal
from dashboards.components.format import DASH, fmt_int, fmt_money
from dashboards.components.workbench import fmt_time, kind_label
from models.enums import IncidentAction

#: What each timeline entry is called on screen.
TIMELINE_LABELS = {
    "exception": "Exception first seen",
    "open": "Incident opened",
    "attach": "Exceptions attached",
    "ack": "Acknowledged",
    "assign": "Owner set",
    "resolve": "Resolved",
}
#: The buttons of the action bar, in order.
ACTIONS = (IncidentAction.ACK, IncidentAction.ASSIGN, IncidentAction.RESOLVE)


def _badge(status: str) -> html.Span:
    return html.Span(status, className=f"badge badge-{status}")


def incident_table(rows: Sequence[Mapping[str, Any]], *, selected: int | None) -> html.Table | html.Div:
    """Incidents, active first: title (a link opening it), status, owner, exceptions, impact."""
    if not rows:
        return html.Div("No incidents: no system explains several flows' exceptions at once", className="empty-state")
    head = html.Thead(html.Tr([
        html.Th("Incident"), html.Th("Status"), html.Th("Owner"), html.Th("Exceptions", className="num"),
        html.Th("Value at risk", className="num"), html.Th("Tier"), html.Th("Opened"),
    ]))  # fmt: skip
    body = [
        html.Tr(
            className="is-selected" if int(r["incident_id"]) == selected else "",
            children=[
                html.Td(dcc.Link(r["title"], href=f"/incidents?id={r['incident_id']}", className="in-link")),
                html.Td(_badge(r["status"])),
                html.Td(r["owner"] or DASH),
                html.Td(
                    f"{fmt_int(r['active_exceptions'])} / {fmt_int(r['exceptions'])}",
                    className="num",
                    title="still open / attached",
                ),
                html.Td(fmt_money(r["value_at_risk"]), className="num"),
                html.Td(r["customer_tier"] or DASH),
                html.Td(fmt_time(r["opened_at"])),
            ],
            **{"data-incident": str(r["incident_id"])},
        )
        for r in rows
    ]
    return html.Table([head, html.Tbody(body)], className="data-table in-table")


def _fact(label: str, value: Any) -> html.Div:
    return html.Div([html.Dt(label), html.Dd(value)], className="in-fact")


def incident_summary(detail: Mapping[str, Any]) -> html.Div:
    """Title, status and the facts: root-cause system, owner, counts, business impact, times."""
    system = detail["system_name"] or detail["system_id"]
    facts = [
        _fact("Root cause", dcc.Link(system, href=f"/exceptions?system={quote(detail['system_id'])}&status=any")),
        _fact("Owner", detail["owner"] or "nobody yet"),
        _fact("Exceptions", f"{fmt_int(detail['active_exceptions'])} open of {fmt_int(detail['exceptions'])}"),
        _fact("Flows", fmt_int(detail["flows"])),
        _fact("Orders affected", fmt_int(detail["orders"])),
        _fact("Value at risk", fmt_money(detail["value_at_risk"])),
        _fact("Customer tier", detail["customer_tier"] or "not known"),
        _fact("Earliest ship-by", fmt_time(detail["earliest_ship_by"])),
        _fact("Opened", fmt_time(detail["opened_at"])),
    ]
    if detail["resolved_at"] is not None:
        facts.append(_fact("Resolved", f"{fmt_time(detail['resolved_at'])}: {detail['resolution'] or ''}"))
    return html.Div([
        html.H3([detail["title"], " ", _badge(detail["status"])], id="in-title"),
        html.Dl(facts, className="in-facts"),
        html.Div([html.Span("Flows: ", className="in-label"), *_flow_links(detail["flow_list"])], className="in-flows"),
    ])  # fmt: skip


def _flow_links(flows: Sequence[Mapping[str, Any]]) -> list[Any]:
    links: list[Any] = []
    for f in flows:
        if links:
            links.append(" · ")
        links.append(dcc.Link(f["name"], href=f"/flows?flow={quote(f['flow_id'])}", className="in-link"))
    return links or [DASH]


def exception_table(exceptions: Sequence[Mapping[str, Any]], *, limit: int = 50) -> html.Div:
    """The attached exceptions, oldest first (links to the workbench), and how many are not shown."""
    rows = [
        html.Tr(
            [
                html.Td(
                    dcc.Link(
                        x["title"] or f"Exception {x['exception_id']}",
                        href=f"/exceptions?id={x['exception_id']}",
                        className="in-link",
                    )
                ),
                html.Td(kind_label(x["kind"])),
                html.Td(x["flow_name"] or x["flow_id"] or DASH),
                html.Td(_badge(x["status"])),
                html.Td(fmt_int(x["affected_orders"]), className="num"),
                html.Td(fmt_time(x["first_seen"])),
            ]
        )
        for x in exceptions[:limit]
    ]
    head = html.Thead(html.Tr([html.Th("Exception"), html.Th("Kind"), html.Th("Flow"), html.Th("Status"),
                               html.Th("Orders", className="num"), html.Th("First seen")]))  # fmt: skip
    more = len(exceptions) - limit
    note = [html.Div(f"and {more:,} more in the workbench", className="table-note")] if more > 0 else []
    return html.Div([html.Table([head, html.Tbody(rows)], className="data-table in-table"), *note])


def timeline(entries: Sequence[Mapping[str, Any]], *, limit: int = 40) -> html.Ol:
    """What happened, newest first: incident actions with who did them, and the exceptions' first occurrences
    (a long outage's hundreds of exceptions are summarised by the newest ``limit`` entries)."""
    items = []
    for e in list(reversed(entries))[:limit]:
        what = TIMELINE_LABELS.get(e["what"], e["what"])
        by = f" by {e['actor']}" if e.get("actor") else ""
        text: Any = e.get("detail") or ""
        if e.get("exception_id") is not None:
            text = dcc.Link(text, href=f"/exceptions?id={e['exception_id']}", className="in-link")
        items.append(html.Li([
            html.Span(fmt_time(e["at"]), className="in-when"), html.Span(f"{what}{by}", className="in-what"),
            html.Span(text, className="in-detail"),
        ], **{"data-what": e["what"]}))  # fmt: skip
    return html.Ol(items, className="in-timeline")


def disabled_actions(status: str | None) -> list[bool]:
    """Whether each button of :data:`ACTIONS` is disabled for an incident in ``status`` (none open: all)."""
    return [status is None or refusal(action, status) is not None for action in ACTIONS]


def action_message(result: IncidentResult) -> str:
    """What an action did, in a sentence."""
    if result.action is IncidentAction.RESOLVE:
        n = result.resolved_exceptions
        return f"Resolved incident #{result.incident_id} and {n} exception{'s' * (n != 1)}"
    if result.action is IncidentAction.ACK:
        return f"Acknowledged incident #{result.incident_id}; owner {result.after['owner']}"
    return f"Incident #{result.incident_id} now owned by {result.after['owner']}"


def resolve_confirmation(detail: Mapping[str, Any], *, resolution: str | None) -> tuple[str, html.Div, str]:
    """The confirmation of a resolve: title, what it closes (exceptions, orders, value) and the yes label."""
    n = int(detail["active_exceptions"])
    exceptions = f"{fmt_int(n)} open exception{'s' * (n != 1)}"
    note = (resolution or "").strip()
    body = html.Div([
        html.P(f"Its {exceptions} across {fmt_int(detail['flows'])} flows close with it: "
               f"{fmt_int(detail['orders'])} orders, {fmt_money(detail['value_at_risk'])} at risk. Each is "
               "audited under your name; reopening one brings it back.", className="fw-dialog-note"),
        html.P(f"Resolution: {note}" if note else "No resolution note given.", className="fw-dialog-note"),
    ])  # fmt: skip
    return f"Resolve incident #{detail['incident_id']}: {detail['title']}?", body, f"Resolve with {exceptions}"
