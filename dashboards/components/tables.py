"""Table builders: flow health, current queues and the needs-attention grid rows."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import html

from dashboards.components.format import column_unit, fmt_in_unit, fmt_int, fmt_pct, is_missing
from models.queries.flows import lag_status

_HEALTH_RANK = {"breach": 0, "warning": 1, "ok": 2, "idle": 3}
_HEALTH_TEXT = {"breach": "Breach", "warning": "Warning", "ok": "OK", "idle": "No traffic"}


def badge(text: str, kind: str) -> html.Span:
    """A small coloured pill; ``kind`` is a health or severity name."""
    return html.Span(text, className=f"badge badge-{kind}")


def _table(head: list[tuple[str, str]], rows: list[html.Tr], *, class_name: str) -> html.Table:
    """A table whose numeric columns (class 'num') align right."""
    return html.Table(
        className=f"data-table {class_name}",
        children=[
            html.Thead(html.Tr([html.Th(label, className=cls) for label, cls in head])),
            html.Tbody(rows),
        ],
    )


def flow_rows(lag: pd.DataFrame) -> pd.DataFrame:
    """Flows with health and share over SLA, offenders first (worst p95/SLA first)."""
    if lag.empty:
        return lag.assign(health=[], over_share=[], ratio=[])
    steps = lag["steps"].astype(float)
    out = lag.assign(
        health=[lag_status(p, s) for p, s in zip(lag["p95_seconds"], lag["sla_seconds"], strict=True)],
        over_share=(lag["over_sla"].astype(float) / steps.where(steps > 0)),
        ratio=lag["p95_seconds"].astype(float) / lag["sla_seconds"].astype(float),
    )
    return out.sort_values(
        ["health", "ratio", "name"],
        key=lambda c: c.map(_HEALTH_RANK) if c.name == "health" else c,
        ascending=[True, False, True],
        na_position="last",
    ).reset_index(drop=True)


def flow_table(lag: pd.DataFrame) -> html.Div | html.Table:
    """Flow, steps, p50, p95, SLA, % over SLA and a health badge per flow; the durations in one unit
    (said in the headers), so 55 s and 3.0 d never share a column."""
    if lag.empty:
        return html.Div("No flows configured", className="empty-state")
    flows = flow_rows(lag)
    columns = ("p50_seconds", "p95_seconds", "sla_seconds")
    # one unit for the three (they are read against each other), by the largest of them
    unit, per = column_unit(pd.concat([flows[c] for c in columns]))
    units = {c: (unit, per) for c in columns}
    rows = [
        html.Tr(
            className=f"row-{r.health}",
            children=[
                html.Td(r.name, title=r.name, className="cell-flow"),
                html.Td(fmt_int(r.steps), className="num"),
                *(html.Td(fmt_in_unit(getattr(r, c), units[c][1]), className="num") for c in units),
                html.Td(fmt_pct(r.over_share), className="num"),
                html.Td(badge(_HEALTH_TEXT[r.health], r.health)),
            ],
        )
        for r in flows.itertuples()
    ]
    head = [
        ("Flow", ""),
        ("Steps", "num"),
        (f"p50 ({units['p50_seconds'][0]})", "num"),
        (f"p95 ({units['p95_seconds'][0]})", "num"),
        (f"SLA ({units['sla_seconds'][0]})", "num"),
        ("Over SLA", "num"),
        ("Health", ""),
    ]
    return _table(head, rows, class_name="flow-table")


def queue_table(queues: pd.DataFrame, *, limit: int = 8) -> html.Div:
    """Queues holding messages, deepest first; DLQs and queues without consumers stand out."""
    if queues.empty:
        return html.Div("No queue samples in the last hour", className="empty-state")
    busy = queues[queues["depth"] > 0].sort_values("depth", ascending=False)
    idle = len(queues) - len(busy)
    shown = busy.head(limit)
    unit, per = column_unit(shown["oldest_age_seconds"])
    rows = []
    for r in shown.itertuples():
        stalled = not r.is_dlq and r.depth > 0 and not is_missing(r.consumers) and r.consumers == 0
        name: list[Any] = [r.queue]
        if r.is_dlq:
            name.append(badge("DLQ", "breach"))
        if stalled:
            name.append(badge("no consumer", "warning"))
        rows.append(
            html.Tr(
                className="row-dlq" if r.is_dlq else "",
                children=[
                    html.Td(name, className="cell-queue"),
                    html.Td(fmt_int(r.depth), className="num"),
                    html.Td("—" if r.is_dlq else fmt_int(r.consumers), className="num"),
                    html.Td(fmt_in_unit(r.oldest_age_seconds, per), className="num"),
                ],
            )
        )
    notes = []
    if len(busy) > limit:
        notes.append(f"{len(busy) - limit} more queues hold messages")
    if idle:
        notes.append(f"{idle} queues empty")
    head = [("Queue", ""), ("Depth", "num"), ("Consumers", "num"), (f"Oldest message ({unit})", "num")]
    children: list[Any] = [
        _table(head, rows, class_name="queue-table")
        if rows
        else html.Div("All queues are empty", className="empty-state")
    ]
    if notes:
        children.append(html.Div(" · ".join(notes), className="table-note"))
    return html.Div(children)


#: Column definitions of the needs-attention grid (dash_ag_grid).
ATTENTION_COLUMNS: list[dict[str, Any]] = [
    {
        "field": "title",
        "headerName": "Exception",
        "flex": 3,
        "minWidth": 260,
        "tooltipField": "title",
        "cellRenderer": "ExceptionLink",
    },
    {"field": "flow", "headerName": "Flow", "flex": 2, "minWidth": 180, "tooltipField": "flow"},
    {"field": "severity", "headerName": "Severity", "width": 116, "cellRenderer": "SeverityBadge"},
    {
        "field": "value_at_risk",
        "headerName": "Value at risk",
        "width": 130,
        "type": "rightAligned",
        "valueFormatter": {"function": "d3.format('$,.0f')(params.value)"},
    },
    {"field": "tier", "headerName": "Tier", "width": 100},
    {
        "field": "affected_orders",
        "headerName": "Orders hit",
        "width": 118,
        "type": "rightAligned",
        "valueFormatter": {"function": "d3.format(',')(params.value)"},
    },
    {"field": "age", "headerName": "Age (h)", "width": 96, "type": "rightAligned", "sortable": False},
]


def attention_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Grid rows keyed by ``exception_id`` (a string, as AG Grid's getRowId wants)."""
    return [
        {
            "exception_id": str(r.exception_id),
            "title": r.title,
            "flow": r.flow_name if isinstance(r.flow_name, str) else (r.system_id or "—"),
            "severity": r.severity,
            "value_at_risk": float(r.value_at_risk),
            "tier": r.customer_tier if isinstance(r.customer_tier, str) else "—",
            "affected_orders": int(r.affected_orders),
            "age": fmt_in_unit(float(r.age_hours) * 3600, 3600.0),  # hours, the column's one unit
        }
        for r in df.itertuples()
    ]
