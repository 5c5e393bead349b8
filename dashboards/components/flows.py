"""Builders of the Flows page: the integration engineer's list, one flow's signals, its exceptions.

Inputs are what the query layer returns (``flows_health`` rows, ``flow_signals`` frames,
``flow_exceptions`` frames, ``likely_cause`` dicts); outputs are grid rows, tiles, a figure
and components. No I/O here, so every colour and sentence is unit-tested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html
from plotly.subplots import make_subplots

from dashboards.components.charts import DLQ_COLORS, empty_figure
from dashboards.components.format import duration_unit, fmt_duration, fmt_int, is_missing, short_name
from dashboards.components.tables import badge
from dashboards.components.tiles import Tile
from dashboards.theme import HEALTH_COLORS, MUTED, SERIES_COLORS, SEVERITY_COLORS, TEMPLATE
from models.queries.common import SEVERITIES
from models.queries.flows import lag_status

#: The backend's flow health → the badge kind and words every page uses.
STATUS: dict[str, tuple[str, str]] = {
    "failing": ("breach", "Failing"),
    "degraded": ("warning", "Degraded"),
    "healthy": ("ok", "Healthy"),
    "idle": ("idle", "No traffic"),
}
#: What ``likely_cause`` returning None means, said plainly.
NO_CAUSE = "Flowwatch found no technical signal of this flow that moved before it"
_STATUS_RANK = {kind: i for i, kind in enumerate(STATUS)}
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

#: Column definitions of the flow grid (dash_ag_grid), keyed by ``flow_id``.
FLOW_COLUMNS: list[dict[str, Any]] = [
    {"field": "name", "headerName": "Flow", "flex": 1, "minWidth": 280, "tooltipField": "route"},
    {"field": "category", "headerName": "Category", "width": 106},
    {"field": "status_label", "headerName": "Status", "width": 116, "cellRenderer": "StatusBadge",
     "cellRendererParams": {"kindField": "status_kind"}, "sortable": False},
    {"field": "lag_p95", "headerName": "Sync lag p95", "width": 122, "type": "rightAligned",
     "cellClassRules": {"cell-breach": "params.data.lag_health === 'breach'",
                        "cell-warning": "params.data.lag_health === 'warning'"},
     "sortable": False},
    {"field": "sla", "headerName": "SLA", "width": 86, "type": "rightAligned", "sortable": False},
    {"field": "lag_pct", "headerName": "% of SLA", "width": 100, "type": "rightAligned",
     "valueFormatter": {"function": "params.value == null ? '—' : d3.format(',.0f')(params.value) + '%'"},
     "cellClassRules": {"cell-breach": "params.data.lag_health === 'breach'",
                        "cell-warning": "params.data.lag_health === 'warning'"}},
    {"field": "steps", "headerName": "Steps", "width": 84, "type": "rightAligned"},
    {"field": "deliveries", "headerName": "Deliveries", "width": 108, "type": "rightAligned"},
    {"field": "failures", "headerName": "Failed", "width": 86, "type": "rightAligned",
     "cellClassRules": {"cell-breach": "params.value > 0"}},
    {"field": "open_exceptions", "headerName": "Open exc.", "width": 100, "type": "rightAligned"},
    {"field": "worst_severity", "headerName": "Worst", "width": 104, "cellRenderer": "SeverityBadge"},
]  # fmt: skip


def flow_status(flow: Mapping[str, Any]) -> str:
    """The backend's health, except a 'healthy' flow that carried nothing in the hour is 'idle':
    quiet is not the same as fine, and the engineer should see which flows went silent."""
    if flow["health"] == "healthy" and not flow["deliveries_last_hour"] and not flow["steps_last_hour"]:
        return "idle"
    return str(flow["health"])


def flow_grid_rows(flows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Grid rows, failing first, then degraded, healthy and idle; within each, worst lag/SLA first."""
    rows = []
    for f in flows:
        status = flow_status(f)
        p95, sla = f["sync_lag_p95_seconds"], f["sla_seconds"]
        ratio = None if is_missing(p95) or not sla else float(p95) / float(sla)
        rows.append({
            "flow_id": f["flow_id"],
            "name": f["name"],
            "route": f"{f['flow_id']} · {f['start_event']} → {f['end_event']}",
            "category": str(f["category"]).capitalize(),
            "status": status,
            "status_kind": STATUS[status][0],
            "status_label": STATUS[status][1],
            "lag_p95": fmt_duration(p95),
            "lag_health": lag_status(p95, sla),
            "lag_pct": None if ratio is None else round(ratio * 100, 1),
            "sla": fmt_duration(sla),
            "steps": int(f["steps_last_hour"]),
            "deliveries": int(f["deliveries_last_hour"]),
            "failures": int(f["failures_last_hour"]),
            "open_exceptions": int(f["open_exceptions"]),
            "worst_severity": f["worst_open_severity"] if isinstance(f["worst_open_severity"], str) else None,
        })  # fmt: skip
    return sorted(rows, key=lambda r: (_STATUS_RANK[r["status"]], -(r["lag_pct"] or 0), r["name"]))


def flow_tiles(flows: Sequence[Mapping[str, Any]], *, period: str = "this hour") -> list[Tile]:
    """Failing, degraded, healthy flows; failed deliveries; open exceptions; steps, over the
    ``period`` the rows were read for (said as "this hour", "in the last 24 hours")."""
    rows = flow_grid_rows(flows)
    by_status: dict[str, list[dict[str, Any]]] = {s: [r for r in rows if r["status"] == s] for s in STATUS}
    failing, degraded = by_status["failing"], by_status["degraded"]
    deliveries = sum(r["deliveries"] for r in rows)
    failures = sum(r["failures"] for r in rows)
    exceptions = sum(r["open_exceptions"] for r in rows)
    critical = [r for r in rows if r["worst_severity"] == "critical"]
    quiet = len(by_status["idle"])
    return [
        Tile("failing", "Failing", fmt_int(len(failing)),
             f"worst: {failing[0]['name']}" if failing else "no flow over its SLA",
             "breach" if failing else "ok"),
        Tile("degraded", "Degraded", fmt_int(len(degraded)),
             f"worst: {degraded[0]['name']}" if degraded else "no failures or lag warnings",
             "warning" if degraded else "ok"),
        Tile("healthy", "Healthy", fmt_int(len(by_status["healthy"])),
             f"{quiet} more carried nothing {period}" if quiet else f"of {len(rows)} flows", "ok"),
        Tile("failures", "Failed deliveries", fmt_int(failures),
             f"of {fmt_int(deliveries)} deliveries" if deliveries else f"nothing delivered {period}",
             "breach" if failures else "neutral"),
        Tile("exceptions", "Open exceptions", fmt_int(exceptions),
             f"{len(critical)} flow{'s' if len(critical) != 1 else ''} with a critical one" if exceptions
             else "nothing needs attention",
             "breach" if critical else ("warning" if exceptions else "ok")),
        Tile("steps", "Steps completed", fmt_int(sum(r["steps"] for r in rows)),
             f"across {sum(1 for r in rows if r['steps'])} flows", "neutral"),
    ]  # fmt: skip


def flow_heading(flow: Mapping[str, Any], status: str) -> tuple[list[Any], str]:
    """The selected flow's title (name and status badge) and one line saying what it carries."""
    kind, label = STATUS[status]
    title = [flow["name"], badge(label, kind)]
    queue = f" · queue {flow['queue']}" if isinstance(flow.get("queue"), str) else ""
    line = (
        f"{flow['source_name']} → {flow['target_name']} · {flow['start_event']} → {flow['end_event']}"
        f" · SLA {fmt_duration(flow['sla_seconds'])}{queue}"
    )
    return title, line


def flow_facts(health: Mapping[str, Any], signals: pd.DataFrame, *, period: str = "1 h") -> list[Tile]:
    """The open flow in six numbers: the ``period``'s lag and deliveries (as the list shows them),
    and from its signals over the range what is stuck and dead-lettered now, and the worst API minute."""
    p95, sla = health["sync_lag_p95_seconds"], health["sla_seconds"]
    lag_tone = lag_status(p95, sla)
    deliveries, failures = int(health["deliveries_last_hour"]), int(health["failures_last_hour"])
    facts = [
        Tile("lag", f"Sync lag p95 · {period}", fmt_duration(p95), f"SLA {fmt_duration(sla)}",
             "neutral" if lag_tone == "idle" else lag_tone),
        Tile("deliveries", f"Deliveries · {period}", fmt_int(deliveries),
             f"{fmt_int(failures)} failed" if deliveries else "nothing delivered",
             "breach" if failures else ("neutral" if deliveries else "idle")),
    ]  # fmt: skip
    if signals.empty:
        return facts
    stuck, dlq = _last(signals["orders_stuck"]), _last(signals["dlq_depth"])
    if stuck is not None:
        facts.append(
            Tile(
                "stuck",
                "Orders past SLA",
                fmt_int(stuck),
                f"peak {fmt_int(signals['orders_stuck'].max())} in the range",
                "breach" if stuck else "ok",
            )
        )
    facts.append(Tile("dlq", "Dead-lettered now", "—" if dlq is None else fmt_int(dlq),
                      f"peak {fmt_int(signals['dlq_depth'].max())} in the range" if dlq is not None
                      else "no dead-letter queue sampled", "warning" if dlq else "ok"))  # fmt: skip
    calls = signals["target_calls"].sum() + signals.get("source_calls", pd.Series(dtype=float)).sum()
    errors = signals["target_errors"].sum() + signals.get("source_errors", pd.Series(dtype=float)).sum()
    facts.append(Tile("errors", "API errors", fmt_int(errors),
                      f"{errors / calls:.1%} of {fmt_int(calls)} calls" if calls else "no calls traced",
                      "warning" if errors else "neutral"))  # fmt: skip
    worst = signals["target_p95_ms"].max(skipna=True)
    facts.append(Tile("latency", "Target API p95, worst", "—" if is_missing(worst) else f"{worst:,.0f} ms",
                      f"median {signals['target_p95_ms'].median(skipna=True):,.0f} ms" if not is_missing(worst)
                      else "no calls traced", "neutral"))  # fmt: skip
    return facts


def _last(series: pd.Series) -> float | None:
    """The latest sampled value of a series (NaN buckets skipped), None when never sampled."""
    known = series.dropna()
    return None if known.empty else float(known.iloc[-1])


def facts_component(facts: Sequence[Tile]) -> html.Div:
    """Small tiles, two a row, for a side column."""
    return html.Div(
        className="fl-facts",
        children=[
            html.Div(
                className=f"fl-fact tone-{f.tone}",
                **{"data-fact": f.key},
                children=[
                    html.Div(f.label, className="tile-label"),
                    html.Div(f.value, className="fl-fact-value"),
                    html.Div(f.detail, className="tile-detail"),
                ],
            )
            for f in facts
        ],
    )


#: The signal panels, top to bottom, with their y-axis titles.
PANELS = ("API p95 latency (ms)", "API errors (% of calls)", "Queue depth", "Sync lag p95", "Orders stuck")


def signals_figure(
    signals: pd.DataFrame,
    flow: Mapping[str, Any],
    *,
    x_range: tuple[datetime, datetime],
    exceptions: pd.DataFrame | None = None,
) -> go.Figure:
    """The flow's technical and business signals on one shared time axis, one panel each.

    Calls to both of the flow's systems are drawn (target solid, source dotted): an outage
    of the system that *sends* the confirmation shows on the source. The sync-lag panel
    carries the SLA as a dashed line; open exceptions are marked where they were first seen.
    """
    if signals.empty:
        return empty_figure("No signals for this flow in the range")
    stuck_known = signals["orders_stuck"].notna().any()
    panels = PANELS if stuck_known else PANELS[:-1]
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.045)
    fig.update_layout(template=TEMPLATE, hovermode="x unified", margin={"l": 64, "r": 16, "t": 76, "b": 40})
    x = signals.index
    roles = [("target", flow["target_name"], "solid"), ("source", flow["source_name"], "dot")]
    if flow["source_system"] == flow["target_system"]:
        roles = roles[:1]
    for i, (role, name, dash) in enumerate(roles):
        colour = SERIES_COLORS[i]
        fig.add_scatter(x=x, y=signals[f"{role}_p95_ms"], name=f"{short_name(name)} ({role})", legendgroup=role,
                        mode="lines", line={"color": colour, "width": 1.8, "dash": dash}, connectgaps=False,
                        hovertemplate="%{y:,.0f} ms", row=1, col=1)  # fmt: skip
        fig.add_scatter(x=x, y=signals[f"{role}_error_rate"] * 100, name=f"{short_name(name)} ({role})",
                        legendgroup=role, showlegend=False, mode="lines",
                        line={"color": colour, "width": 1.8, "dash": dash}, hovertemplate="%{y:.1f}%",
                        row=2, col=1)  # fmt: skip
    fig.add_scatter(x=x, y=signals["queue_depth"], name="queue", mode="lines", line={"color": SERIES_COLORS[2]},
                    hovertemplate="%{y:,.0f} messages", row=3, col=1)  # fmt: skip
    if signals["dlq_depth"].fillna(0).any():
        fig.add_scatter(x=x, y=signals["dlq_depth"], name="dead-letter queue", mode="lines",
                        line={"color": DLQ_COLORS[0], "width": 2}, hovertemplate="%{y:,.0f} dead-lettered",
                        row=3, col=1)  # fmt: skip
    sla = float(flow["sla_seconds"])
    unit, per = duration_unit(max(float(signals["sync_lag_p95_seconds"].max(skipna=True) or 0), sla))
    fig.add_scatter(x=x, y=signals["sync_lag_p95_seconds"] / per, name="sync lag p95", mode="lines",
                    line={"color": SERIES_COLORS[3], "width": 2}, connectgaps=True,
                    customdata=[fmt_duration(v) for v in signals["sync_lag_p95_seconds"]],
                    hovertemplate="%{customdata}", row=4, col=1)  # fmt: skip
    fig.add_scatter(x=list(x_range), y=[sla / per] * 2, name=f"SLA {fmt_duration(sla)}", mode="lines",
                    line={"color": HEALTH_COLORS["breach"], "width": 1.4, "dash": "dash"}, hoverinfo="skip",
                    row=4, col=1)  # fmt: skip
    if stuck_known:
        fig.add_bar(x=x, y=signals["orders_stuck"], name="orders past SLA", marker_color=SEVERITY_COLORS["high"],
                    hovertemplate="%{y:,.0f} orders", row=5, col=1)  # fmt: skip
    titles = [*panels[:3], f"Sync lag p95 ({unit})", *panels[4:]]
    for row, title in enumerate(titles, start=1):
        fig.update_yaxes(title_text=title, title_font={"size": 11, "color": MUTED}, rangemode="tozero",
                         row=row, col=1)  # fmt: skip
    fig.update_xaxes(range=list(x_range))
    fig.update_xaxes(title_text="UTC", row=len(panels), col=1)
    _mark_exceptions(fig, exceptions, x_range)
    fig.update_layout(bargap=0.1, legend={"y": 1.035, "yanchor": "bottom"})  # above the exception labels
    return fig


def _mark_exceptions(fig: go.Figure, exceptions: pd.DataFrame | None, x_range: tuple[datetime, datetime]) -> None:
    """A vertical line through every panel where an open exception was first seen."""
    if exceptions is None or exceptions.empty:
        return
    for x in exceptions.itertuples():
        first = pd.Timestamp(x.first_seen)
        if not pd.Timestamp(x_range[0]) <= first <= pd.Timestamp(x_range[1]):
            continue
        colour = SEVERITY_COLORS.get(x.severity, MUTED)
        fig.add_shape(type="line", x0=first, x1=first, xref="x", yref="paper", y0=0, y1=1,
                      line={"color": colour, "width": 1.2, "dash": "dot"})  # fmt: skip
        fig.add_annotation(x=first, xref="x", yref="paper", y=1.0, yanchor="bottom", showarrow=False,
                           text=f"#{x.exception_id}", font={"size": 10, "color": colour})  # fmt: skip


def order_link(correlation_id: str) -> dcc.Link:
    """A business key that opens its timeline."""
    return dcc.Link(correlation_id, href=f"/orders?id={quote(correlation_id)}", className="order-link")


def exception_list(
    exceptions: pd.DataFrame, causes: Mapping[int, Mapping[str, Any] | None], *, total: int | None = None
) -> html.Div:
    """Open exceptions of the flow, each with what it hurts and the likely cause the backend found;
    ``total`` open ones on the flow, when more exist than are listed."""
    if exceptions.empty:
        return html.Div("No open exceptions on this flow", className="empty-state")
    items = []
    for x in exceptions.itertuples():
        cause = causes.get(int(x.exception_id))
        orders: list[Any] = [order_link(o) for o in x.orders]
        more = int(x.affected_orders) - len(x.orders)
        if more > 0:
            orders.append(html.Span(f"+{fmt_int(more)} more", className="muted"))
        items.append(
            html.Li(
                className="fl-exception",
                **{"data-exception": str(x.exception_id)},
                children=[
                    html.Div(
                        className="fl-exception-head",
                        children=[
                            badge(x.severity, x.severity),
                            html.Span(x.title, className="fl-exception-title", title=x.title),
                        ],
                    ),
                    html.Div(
                        f"#{x.exception_id} · {x.status} · first seen {fmt_duration(x.age_seconds)} ago · "
                        f"{fmt_int(x.occurrences)} occurrence{'s' if x.occurrences != 1 else ''}",
                        className="fl-exception-meta",
                    ),
                    html.Div(_joined(orders), className="fl-exception-orders") if orders else None,
                    html.Div(
                        className="fl-cause",
                        children=[html.Span("Likely cause", className="fl-cause-label"), cause["text"]],
                    )
                    if cause
                    else html.Div(NO_CAUSE, className="fl-cause is-none"),
                ],
            )
        )
    listing = html.Ul(items, className="fl-exceptions")
    if total is None or total <= len(exceptions):
        return listing
    note = f"The {len(exceptions)} most severe and oldest of {fmt_int(total)} open exceptions on this flow"
    return html.Div([listing, html.Div(note, className="table-note")])


def _joined(parts: list[Any]) -> list[Any]:
    """Components separated by ', ' (Dash has no join)."""
    out: list[Any] = [html.Span("Affected ", className="muted")]
    for i, part in enumerate(parts):
        out += [", "] if i else []
        out.append(part)
    return out
