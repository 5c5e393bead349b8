"""Builders of the Order timeline page: the lifecycle strip, events with their spans, search results.

Input is what ``order_timeline`` and ``find_orders`` return (plain JSON-ready dicts), so
these builders are the page's whole presentation logic and are unit-tested without a browser.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from dash import dcc, html

from dashboards.components.format import fmt_duration, fmt_int, short_name
from dashboards.components.tables import badge
from dashboards.components.tiles import Tile
from models.enums import ACTIVE_STATUSES
from models.queries.common import SEVERITIES
from models.queries.timeline import LIFECYCLES

#: What each lifecycle event is called on the strip.
STAGE_LABELS: dict[str, str] = {
    "order.created": "Created",
    "order.accepted": "Accepted by ERP",
    "order.released": "Released",
    "shipment.dispatched": "Dispatched",
    "invoice.posted": "Invoiced",
    "po.sent": "PO sent (850)",
    "po.acknowledged": "Acknowledged (855)",
    "asn.received": "ASN received (856)",
    "goods.received": "Goods received",
    "inventory.adjusted": "Stock adjusted",
    "inventory.published": "Stock published",
}
KIND_LABELS = {"order": "Order", "purchase_order": "Purchase order", "stock": "Stock key", "other": "Business key"}
#: Delivery status → badge kind.
EVENT_STATUS = {"ok": "ok", "retrying": "warning", "failed": "breach", "dead_lettered": "breach"}


@dataclass(frozen=True)
class Stage:
    """One lifecycle stage: ``done`` (delivered), ``failed`` (attempted, never delivered),
    ``missing`` (a later stage was reached without it), ``cancelled`` or ``pending``."""

    event_type: str
    label: str
    at: datetime | None
    state: str


@dataclass(frozen=True)
class Leg:
    """The step between two stages; ``tone`` is ok / breach (over its SLA or failed) /
    warning (missing) / idle (not reached yet) / neutral (no SLA to judge by)."""

    start: str
    end: str
    text: str
    detail: str
    tone: str


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def fmt_at(value: str | datetime | None) -> str:
    """'Mar 2 00:18:05': a timeline spans days, so the date stays; the year does not."""
    at = _time(value) if isinstance(value, str) or value is None else value
    return "—" if at is None else f"{at:%b} {at.day} {at:%H:%M:%S}"


def lifecycle(
    timeline: Mapping[str, Any], *, now: datetime, flow_steps: Mapping[str, tuple[str, str]] | None = None
) -> tuple[list[Stage], list[Leg]]:
    """The stages of the key's lifecycle and the legs between them, judged against each flow's SLA.

    A stage is reached at its first *delivered* event, as the query layer measures steps. A
    step not reached yet is overdue when detection holds an open exception on this key for a
    flow serving it (``flow_steps``: flow id → (start event, end event)): detection owns the
    judgement of stuck steps, the strip only shows it.
    """
    stages_of = LIFECYCLES.get(timeline["kind"], ())
    events = [e for e in timeline["entries"] if e["type"] == "event"]
    cancelled = any(e["event_type"] == "order.cancelled" for e in events)
    stages: list[Stage] = []
    for event_type in stages_of:
        attempts = [e for e in events if e["event_type"] == event_type]
        delivered = [e for e in attempts if e["status"] == "ok"]
        state = "done" if delivered else "failed" if attempts else "pending"
        at = _time((delivered or attempts)[0]["occurred_at"]) if attempts else None
        stages.append(Stage(event_type, STAGE_LABELS.get(event_type, event_type), at, state))
    last_reached = max((i for i, s in enumerate(stages) if s.state == "done"), default=-1)
    stages = [
        Stage(s.event_type, s.label, s.at, "missing" if i < last_reached else "cancelled" if cancelled else s.state)
        if s.state == "pending" else s
        for i, s in enumerate(stages)
    ]  # fmt: skip
    steps = {(s["from"], s["to"]): s for s in timeline["steps"]}
    serves = flow_steps or {}
    overdue: dict[tuple[str, str], int] = {}
    for x in timeline["entries"]:
        if x["type"] == "exception" and x["status"] in ACTIVE_STATUSES and x["flow_id"] in serves:
            overdue.setdefault(serves[x["flow_id"]], x["exception_id"])
    legs = [
        _leg(a, b, steps.get((a.event_type, b.event_type)), now, overdue.get((a.event_type, b.event_type)))
        for a, b in itertools.pairwise(stages)
    ]
    return stages, legs


def _leg(a: Stage, b: Stage, step: Mapping[str, Any] | None, now: datetime, exception_id: int | None) -> Leg:
    if step is not None:
        sla = step["sla_seconds"]
        tone = "neutral" if step["within_sla"] is None else ("ok" if step["within_sla"] else "breach")
        detail = "no SLA" if sla is None else f"SLA {fmt_duration(sla)}"
        if tone == "breach":
            detail = f"over its {fmt_duration(sla)} SLA"
        return Leg(a.event_type, b.event_type, fmt_duration(step["seconds"]), detail, tone)
    if b.state == "failed":
        return Leg(a.event_type, b.event_type, "failed", "attempted, never delivered", "breach")
    if "missing" in (a.state, b.state):
        return Leg(a.event_type, b.event_type, "missing", "no delivered event", "warning")
    if b.state == "cancelled":
        return Leg(a.event_type, b.event_type, "—", "cancelled", "idle")
    if a.state == "failed":
        return Leg(a.event_type, b.event_type, "blocked", "the step before was not delivered", "breach")
    if a.state == "done" and a.at is not None:
        waiting = f"waiting {fmt_duration((now - a.at).total_seconds())}"
        if exception_id is not None:
            return Leg(a.event_type, b.event_type, waiting, f"overdue · exception #{exception_id}", "breach")
        return Leg(a.event_type, b.event_type, waiting, "not reached yet", "idle")
    return Leg(a.event_type, b.event_type, "—", "not reached yet", "idle")


def lifecycle_strip(stages: Sequence[Stage], legs: Sequence[Leg]) -> html.Div:
    """Stages as nodes left to right with each leg's duration between them, coloured by its SLA."""
    if not stages:
        return html.Div("This key has no lifecycle steps to measure", className="empty-state")
    children: list[Any] = []
    for i, stage in enumerate(stages):
        children.append(
            html.Div(
                className=f"or-stage is-{stage.state}",
                **{"data-stage": stage.event_type, "data-state": stage.state},
                children=[
                    html.Div(className="or-stage-dot"),
                    html.Div(stage.label, className="or-stage-label"),
                    html.Div(fmt_at(stage.at) if stage.at else _STATE_TEXT[stage.state], className="or-stage-at"),
                ],
            )
        )
        if i < len(legs):
            leg = legs[i]
            children.append(
                html.Div(
                    className=f"or-leg tone-{leg.tone}",
                    **{"data-leg": f"{leg.start}>{leg.end}", "data-tone": leg.tone},
                    children=[
                        html.Div(leg.text, className="or-leg-text"),
                        html.Div(className="or-leg-line"),
                        html.Div(leg.detail, className="or-leg-detail"),
                    ],
                )
            )
    return html.Div(children, className="or-strip")


_STATE_TEXT = {"pending": "not yet", "missing": "missing", "cancelled": "cancelled", "failed": "failed", "done": ""}


def timeline_tiles(timeline: Mapping[str, Any], stages: Sequence[Stage], legs: Sequence[Leg]) -> list[Tile]:
    """Where the key is, how long it took, and how much went wrong on the way."""
    entries = timeline["entries"]
    events = [e for e in entries if e["type"] == "event"]
    spans = [e for e in entries if e["type"] == "span"]
    exceptions = [e for e in entries if e["type"] == "exception"]
    failed = [e for e in events if e["status"] != "ok"]
    span_errors = [s for s in spans if s["status_code"] == "error"]
    open_x = [x for x in exceptions if x["status"] in ACTIVE_STATUSES]
    worst = min((SEVERITIES.index(x["severity"]) for x in open_x if x["severity"] in SEVERITIES), default=None)
    reached = [s for s in stages if s.state == "done"]
    if any(s.state == "cancelled" for s in stages):
        where, where_tone = "Cancelled", "idle"
    elif reached:
        where, where_tone = reached[-1].label, "ok" if len(reached) == len(stages) else "neutral"
    elif stages and stages[0].state == "failed":
        where, where_tone = "Not delivered", "breach"
    else:
        where, where_tone = KIND_LABELS[timeline["kind"]], "neutral"
    if any(s.state in ("failed", "missing") for s in stages):
        where_tone = "breach"
    nxt = next((s for s in stages if s.state != "done"), None)
    if nxt is None:
        where_detail = "lifecycle complete" if stages else ""
    elif nxt.state == "failed":
        where_detail = f"{nxt.label}: not delivered"
    else:
        where_detail = "" if where == "Cancelled" else f"next: {nxt.label}"
    breached = [g for g in legs if g.tone == "breach"]
    first, last = (stages[0].at, reached[-1].at) if len(reached) > 1 else (None, None)
    span = (last - first).total_seconds() if first and last else None
    systems = timeline["systems"]
    return [
        Tile("stage", "Reached", where, where_detail, where_tone),
        Tile("elapsed", "End to end", fmt_duration(span),
             f"{stages[0].label} → {reached[-1].label}" if span is not None else "no step completed yet",
             "breach" if breached else ("ok" if span is not None else "idle")),
        Tile("events", "Business events", fmt_int(len(events)),
             f"{len(failed)} not delivered" if failed else "all delivered", "breach" if failed else "ok"),
        Tile("spans", "Spans", fmt_int(len(spans)),
             f"{len(span_errors)} with errors · {len(timeline['services'])} services" if span_errors
             else f"{len(timeline['services'])} services", "warning" if span_errors else "neutral"),
        Tile("exceptions", "Exceptions", fmt_int(len(exceptions)),
             f"{len(open_x)} open" if exceptions else "none raised",
             "ok" if not open_x else ("breach" if worst is not None and worst <= 1 else "warning")),
        Tile("systems", "Systems touched", fmt_int(len(systems)), " → ".join(short_name(s["name"]) for s in systems),
             "neutral"),
    ]  # fmt: skip


def exception_items(timeline: Mapping[str, Any]) -> html.Div:
    """Exceptions that name this key: severity, title (a link that opens it in the workbench, where it is
    acted on), status and when, open ones first."""
    exceptions = [e for e in timeline["entries"] if e["type"] == "exception"]
    if not exceptions:
        return html.Div("No exception names this key", className="empty-state")
    ordered = sorted(exceptions, key=lambda x: (x["status"] not in ACTIVE_STATUSES, x["first_seen"]))
    return html.Ul(
        className="or-exceptions",
        children=[
            html.Li(
                **{"data-exception": str(x["exception_id"])},
                children=[
                    html.Div(
                        [
                            badge(x["severity"], x["severity"]),
                            dcc.Link(
                                x["title"],
                                href=f"/exceptions?id={quote(str(x['exception_id']))}",
                                className="or-x-title",
                                title="Open in the exception workbench",
                            ),
                        ],
                        className="or-x-head",
                    ),
                    html.Div(
                        [
                            badge(x["status"], "warning" if x["status"] in ACTIVE_STATUSES else "idle"),
                            f" #{x['exception_id']} · first seen {fmt_at(x['first_seen'])}"
                            + (f" · resolved {fmt_at(x['resolved_at'])}" if x["resolved_at"] else "")
                            + (f" · {fmt_int(x['affected_orders'])} orders hit" if x["affected_orders"] > 1 else ""),
                        ],
                        className="or-x-meta",
                    ),
                ],
            )
            for x in ordered
        ],
    )


def event_rows(timeline: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chronological rows of the events table: each business event with the spans of its
    trace beside it; exceptions where they were first seen; spans no event claims on their own."""
    entries = timeline["entries"]
    traced = {e["trace_id"] for e in entries if e["type"] == "event" and e["trace_id"]}
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for s in entries:
        if s["type"] == "span" and s["trace_id"] in traced:
            by_trace.setdefault(s["trace_id"], []).append(s)
    rows: list[dict[str, Any]] = []
    claimed: set[str] = set()
    for e in entries:
        if e["type"] == "event":
            spans = by_trace.get(e["trace_id"], []) if e["trace_id"] not in claimed else []
            claimed.add(e["trace_id"])
            rows.append({"kind": "event", "at": e["at"], "event": e, "spans": spans})
        elif e["type"] == "exception":
            rows.append({"kind": "exception", "at": e["at"], "exception": e})
        elif e["trace_id"] not in traced:
            if rows and rows[-1]["kind"] == "spans":
                rows[-1]["spans"].append(e)
            else:
                rows.append({"kind": "spans", "at": e["at"], "spans": [e]})
    return rows


def events_table(timeline: Mapping[str, Any]) -> html.Table:
    """Business events in time order, their spans beside them and the queues around each hop."""
    names = {s["system_id"]: short_name(s["name"]) for s in timeline["systems"]}
    body = []
    for row in event_rows(timeline):
        if row["kind"] == "exception":
            x = row["exception"]
            body.append(html.Tr(className="or-row-exception", children=[
                html.Td(fmt_at(row["at"]), className="or-when"),
                html.Td(colSpan=3, children=[
                    html.Span("Exception opened", className="or-x-label"), badge(x["severity"], x["severity"]),
                    html.Span(f" #{x['exception_id']} {x['title']}"),
                ]),
            ]))  # fmt: skip
            continue
        event = row.get("event")
        body.append(
            html.Tr(
                className=f"or-row-{event['status']}" if event else "or-row-spans",
                **({"data-event-id": event["event_id"]} if event else {}),
                children=[
                    html.Td(fmt_at(row["at"]), className="or-when"),
                    html.Td(
                        _event_cell(event, names)
                        if event
                        else html.Span("Spans without a business event", className="muted")
                    ),
                    html.Td(_spans_cell(row["spans"])),
                    html.Td(_queues_cell(event["queues"] if event else [])),
                ],
            )
        )
    head = html.Thead(html.Tr([html.Th("When"), html.Th("Business event"), html.Th("Spans (same trace)"),
                               html.Th("Queues around the hop")]))  # fmt: skip
    return html.Table([head, html.Tbody(body)], className="data-table or-events")


def _event_cell(e: Mapping[str, Any], names: Mapping[str, str]) -> list[Any]:
    route = " → ".join(names.get(s, s) for s in (e["source"], e["target"]) if s)
    status = e["status"]
    head: list[Any] = [html.Span(e["event_type"], className="or-event-type"),
                       badge(status.replace("_", "-"), EVENT_STATUS.get(status, "idle"))]  # fmt: skip
    if e["attempt"] and e["attempt"] > 1:
        head.append(html.Span(f"attempt {e['attempt']}", className="or-attempt"))
    lag = e["delivery_lag_seconds"]
    meta = route + (f" · received after {fmt_duration(lag)}" if lag is not None else "")
    cell: list[Any] = [html.Div(head, className="or-event-head"), html.Div(meta, className="or-event-meta")]
    if e["error_code"] or e["error_message"]:
        cell.append(html.Div(": ".join(str(v) for v in (e["error_code"], e["error_message"]) if v),
                             className="or-error"))  # fmt: skip
    if status != "ok" and e["payload"]:
        cell.append(html.Details([html.Summary("Payload"), html.Pre(e["payload"], className="or-payload")]))
    return cell


def _spans_cell(spans: Sequence[Mapping[str, Any]]) -> html.Div | html.Span:
    if not spans:
        return html.Span("no spans", className="muted")
    return html.Div(
        className="or-spans",
        children=[
            html.Div(
                className="or-span is-error" if s["status_code"] == "error" else "or-span",
                title=s["status_message"] or f"{s['kind']} span, trace {s['trace_id']}",
                children=[
                    html.Span(s["service_name"] or "—", className="or-span-service"),
                    html.Span(s["name"], className="or-span-name"),
                    html.Span(
                        f"{s['duration_ms']:,.0f} ms" if s["duration_ms"] is not None else "—", className="or-span-ms"
                    ),
                ],
            )
            for s in spans
        ],
    )


def _queues_cell(queues: Sequence[Mapping[str, Any]]) -> html.Div | html.Span:
    if not queues:
        return html.Span("—", className="muted")
    return html.Div(
        className="or-queues",
        children=[
            html.Div(
                className="or-queue is-dlq" if q["is_dlq"] and q["depth"] else "or-queue",
                children=[
                    html.Span(q["queue"], className="or-queue-name"),
                    html.Span(fmt_int(q["depth"]), className="or-queue-depth"),
                ],
            )
            for q in queues
        ],
    )


MATCHED_ON = {"correlation_id": "order / PO number", "message_id": "message id", "trace_id": "trace id"}


def no_match(query: str) -> html.Div:
    """What an unknown key or a search without results says."""
    return html.Div(
        className="empty-state or-no-match",
        children=[
            html.Div(f"No order matches “{query}”", className="or-no-match-title"),
            html.Div("Nothing with that order or PO number, trace id or message id has arrived; "
                     "search its first characters to list close matches.", className="muted"),
        ],
    )  # fmt: skip


def search_results(results: Sequence[Mapping[str, Any]], query: str, *, limit: int) -> html.Div:
    """Keys the search found, each a row that opens its timeline; says so when nothing matched."""
    if not results:
        return no_match(query)
    rows = [
        html.Tr(
            id={"type": "or-result", "key": r["correlation_id"]},
            className="or-result",
            n_clicks=0,
            children=[
                html.Td(html.Span(r["correlation_id"], className="order-link")),
                html.Td(f"{MATCHED_ON.get(r['matched_on'], r['matched_on'])} · {r['match']}"),
                html.Td(fmt_int(r["events"]), className="num"),
                html.Td(fmt_int(r["failed_attempts"]), className="num cell-breach" if r["failed_attempts"] else "num"),
                html.Td(fmt_at(r["first_seen"]), className="num"),
                html.Td(fmt_at(r["last_seen"]), className="num"),
            ],
        )
        for r in results
    ]
    head = html.Thead(html.Tr([html.Th("Key"), html.Th("Matched on"), html.Th("Events", className="num"),
                               html.Th("Not delivered", className="num"), html.Th("First event", className="num"),
                               html.Th("Last event", className="num")]))  # fmt: skip
    table = html.Table([head, html.Tbody(rows)], className="data-table or-results")
    if len(results) < limit:
        return html.Div(table)
    return html.Div([table, html.Div(f"The first {limit} matches; type more of the key to narrow them",
                                     className="table-note")])  # fmt: skip
