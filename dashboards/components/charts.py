"""Pure figure builders: DataFrames from the query layer in, Plotly figures out.

Traces and layouts are plain dicts wrapped once in an unvalidated ``go.Figure`` (``_figure``):
validating each ``go.Scatter`` and every ``update_*`` call was most of an overview callback
(a 20-line sync-lag chart: ~60 ms to build, ~2 ms this way). Columns go in as numpy arrays
(hover texts as fixed-width string arrays): the figure copies its data when Dash serialises it,
and a deep copy of a list of lists per point cost more than building the figure. The figures stay ``go.Figure``,
so callers and tests read them as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.components.format import duration_unit, fmt_duration
from dashboards.theme import (
    CONTEXT_GREY,
    HEALTH_COLORS,
    MUTED,
    SERIES_COLORS,
    SEVERITY_COLORS,
    TEMPLATE,
)
from models.queries.common import AGING_BANDS, SEVERITIES
from models.queries.flows import lag_status

NO_DATA = "No data in this range"
ALL_FLOWS = "all"

#: Log-axis ticks for "% of SLA", so the axis reads 10% · 50% · 100% · 500% rather than 2, 5.
_LOG_TICKS = tuple(m * 10**e for e in range(7) for m in (1, 2, 5))
_OFFENDING = ("warning", "breach")
MAX_HIGHLIGHTED = 6

#: DLQs are drawn in warm colours so they never read as an ordinary backlog.
DLQ_COLORS: tuple[str, ...] = ("#d93a3a", "#ee7d24", "#b91c1c", "#f59e0b", "#be185d")


def _figure(traces: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """A figure from trace and layout dicts, in the theme's template, without plotly's per-property
    validation (the builders below are its only callers, and their unit tests read the result)."""
    return go.Figure(data=traces, layout={"template": TEMPLATE, **layout}, _validate=False)


def empty_figure(message: str = NO_DATA) -> go.Figure:
    """A blank figure that says why it is blank, instead of empty axes."""
    note = {"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
            "font": {"size": 14, "color": MUTED}}  # fmt: skip
    return _figure([], {"xaxis": {"visible": False}, "yaxis": {"visible": False}, "annotations": [note]})


def sync_lag_figure(
    series: pd.DataFrame,
    flows: pd.DataFrame,
    *,
    category: str = ALL_FLOWS,
    x_range: tuple[datetime, datetime] | None = None,
) -> go.Figure:
    """p95 sync lag per flow over time against its SLA.

    One category: lag in minutes/hours/days with a dashed line at each distinct SLA.
    All flows: SLAs run from minutes to days, so lag is shown as % of SLA on a log axis
    with one 100% line; flows whose p95 over the range is in warning or breach are
    coloured, the rest fade to grey context.
    """
    meta = flows.set_index("flow_id")
    if category != ALL_FLOWS:
        meta = meta[meta["category"] == category]
    data = series[series["flow_id"].isin(meta.index)].dropna(subset=["p95_seconds"])
    if data.empty:
        return empty_figure()
    span = x_range or (data["bucket"].min(), data["bucket"].max())
    traces, layout = _lag_pct_of_sla(data, meta, span) if category == ALL_FLOWS else _lag_absolute(data, meta, span)
    layout["xaxis"] = {"title": {"text": "Step completed (UTC)"}, "range": list(span)}
    return _figure(traces, layout)


def _lag_absolute(
    data: pd.DataFrame, meta: pd.DataFrame, span: tuple[Any, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    peak = max(float(data["p95_seconds"].max()), float(meta["sla_seconds"].max()))
    unit, per = duration_unit(peak)
    traces: list[dict[str, Any]] = []
    names = meta["name"].to_dict()
    for i, (flow_id, rows) in enumerate(data.groupby("flow_id", sort=True)):
        traces.append({
            "type": "scatter", "x": rows["bucket"].to_numpy(), "y": (rows["p95_seconds"] / per).to_numpy(),
            "name": str(names[flow_id]), "mode": "lines",
            "line": {"color": SERIES_COLORS[i % len(SERIES_COLORS)], "width": 2},
            "customdata": np.array([fmt_duration(v) for v in rows["p95_seconds"]], dtype=str),
            "hovertemplate": "%{customdata}<extra>%{fullData.name}</extra>",
        })  # fmt: skip
    for sla in sorted(meta.loc[data["flow_id"].unique(), "sla_seconds"].unique()):
        traces.append({
            "type": "scatter", "x": list(span), "y": [sla / per, sla / per], "name": f"SLA {fmt_duration(sla)}",
            "mode": "lines", "line": {"color": HEALTH_COLORS["breach"], "width": 1.5, "dash": "dash"},
            "hoverinfo": "skip",
        })  # fmt: skip
    return traces, {"yaxis": {"title": {"text": f"p95 sync lag ({unit})"}}}


def _lag_pct_of_sla(
    data: pd.DataFrame, meta: pd.DataFrame, span: tuple[Any, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The worst flows in warning or breach get colours; the rest are grey context."""
    pct = data.assign(pct=data["p95_seconds"] / data["flow_id"].map(meta["sla_seconds"]) * 100)
    by_flow = dict(tuple(pct.groupby("flow_id", sort=False)))
    # Plain dicts: a DataFrame .at look-up per flow was a third of the builder's time.
    p95, sla, names = (meta[c].to_dict() for c in ("p95_seconds", "sla_seconds", "name"))
    health = {flow_id: lag_status(p95[flow_id], sla[flow_id]) for flow_id in by_flow}
    # Offenders last, so their lines are drawn over the grey ones; worst offender first in the legend.
    ratio = (meta["p95_seconds"] / meta["sla_seconds"]).fillna(0)
    order = sorted(health, key=lambda f: (health[f] in _OFFENDING, ratio.get(f, 0)))
    # More than a handful of coloured lines is spaghetti; the table below lists every flow.
    offenders = [f for f in order if health[f] in _OFFENDING][-MAX_HIGHLIGHTED:]
    colours = {f: SERIES_COLORS[i % len(SERIES_COLORS)] for i, f in enumerate(reversed(offenders))}
    calm_shown = False
    traces: list[dict[str, Any]] = []
    for flow_id in order:
        rows = by_flow[flow_id]
        offending = flow_id in colours
        name = str(names[flow_id])
        traces.append({
            "type": "scatter", "x": rows["bucket"].to_numpy(), "y": rows["pct"].to_numpy(),
            "name": name if offending else "Other flows",
            "legendgroup": None if offending else "calm",
            "legendrank": 1 + len(offenders) - offenders.index(flow_id) if offending else 1000,
            "showlegend": offending or not calm_shown, "mode": "lines",
            "line": {"color": colours.get(flow_id, CONTEXT_GREY), "width": 2.2 if offending else 1.2},
            "meta": name,
            "customdata": np.array([fmt_duration(v) for v in rows["p95_seconds"]], dtype=str),
            "hovertemplate": "%{meta}: %{y:.0f}% of SLA (%{customdata})<extra></extra>",
        })  # fmt: skip
        calm_shown = calm_shown or not offending
    traces.append({
        "type": "scatter", "x": list(span), "y": [100, 100], "name": "SLA (100%)", "legendrank": 0, "mode": "lines",
        "line": {"color": HEALTH_COLORS["breach"], "width": 1.5, "dash": "dash"}, "hoverinfo": "skip",
    })  # fmt: skip
    low, high = float(pct["pct"].clip(lower=0.1).min()), float(pct["pct"].max())
    # Beyond three decades 1-2-5 ticks crowd the axis: keep the powers of ten only.
    steps = _LOG_TICKS if high / low <= 1000 else tuple(t for t in _LOG_TICKS if str(t).startswith("1"))
    ticks = [t for t in steps if low / 2 <= t <= high * 2] or [100]
    yaxis = {"title": {"text": "p95 lag, % of SLA (log scale)"}, "type": "log", "tickvals": ticks,
             "ticktext": [f"{t:,}%" for t in ticks]}  # fmt: skip
    return traces, {"yaxis": yaxis, "hovermode": "closest"}


def aging_figure(
    aging: pd.DataFrame,
    *,
    x_title: str = "Age since first seen",
    y_title: str = "Open exceptions",
    empty: str = "No open exceptions",
) -> go.Figure:
    """Exceptions stacked by severity in each aging band, bands in age order (open ones by age,
    or those raised in a period by how long they stayed open: the axis titles say which)."""
    if aging.empty or aging["exceptions"].sum() == 0:
        return empty_figure(empty)
    bands = [label for label, _ in AGING_BANDS]
    counts = aging.pivot_table(
        index="band", columns="severity", values="exceptions", aggfunc="sum", fill_value=0
    ).reindex(index=bands, columns=list(SEVERITIES), fill_value=0)
    traces = [
        {"type": "bar", "x": bands, "y": counts[severity].astype(int).tolist(), "name": severity.capitalize(),
         "marker": {"color": SEVERITY_COLORS[severity], "line": {"width": 0}},
         "hovertemplate": "%{y}<extra>%{fullData.name}</extra>"}
        for severity in SEVERITIES
    ]  # fmt: skip
    return _figure(traces, {
        "barmode": "stack", "bargap": 0.35, "hovermode": "x unified", "legend": {"traceorder": "normal"},
        "xaxis": {"title": {"text": x_title}, "type": "category", "ticks": ""},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
    })  # fmt: skip


def queue_depth_figure(
    series: pd.DataFrame, *, top: int = 5, x_range: tuple[datetime, datetime] | None = None
) -> go.Figure:
    """Depth over time of the busiest queues (top) and of every DLQ holding messages (bottom).

    Two panels, because a DLQ of 40 messages matters more than a queue of 4,000 and
    would vanish on a shared axis.
    """
    if series.empty:
        return empty_figure()
    peaks = series.groupby(["queue", "is_dlq"])["depth"].max().reset_index()
    main = peaks[~peaks["is_dlq"].astype(bool)].nlargest(top, "depth")["queue"].tolist()
    dlqs = peaks[peaks["is_dlq"].astype(bool) & (peaks["depth"] > 0)].nlargest(top, "depth")["queue"].tolist()
    traces: list[dict[str, Any]] = []
    for axis, queues, palette, width in (("y", main, SERIES_COLORS, 1.8), ("y2", dlqs, DLQ_COLORS, 2.4)):
        grouped = dict(tuple(series[series["queue"].isin(queues)].groupby("queue", sort=False)))
        for i, queue in enumerate(queues):
            rows = grouped[queue]
            traces.append({
                "type": "scatter", "x": rows["bucket"].to_numpy(), "y": rows["depth"].to_numpy(), "name": queue,
                "mode": "lines",
                "xaxis": "x" if axis == "y" else "x2", "yaxis": axis,
                "line": {"color": palette[i % len(palette)], "width": width},
                "hovertemplate": "%{y:,} messages<extra>%{fullData.name}</extra>",
            })  # fmt: skip
    # Two rows sharing the time axis, as make_subplots(rows=2, shared_xaxes=True, vertical_spacing=0.12,
    # row_heights=[0.6, 0.4]) lays them out.
    span = list(x_range) if x_range else None
    layout: dict[str, Any] = {
        "xaxis": {"anchor": "y", "domain": [0.0, 1.0], "matches": "x2", "showticklabels": False, "range": span},
        "yaxis": {"anchor": "x", "domain": [0.472, 1.0], "title": {"text": "Queued"}, "rangemode": "tozero"},
        "xaxis2": {"anchor": "y2", "domain": [0.0, 1.0], "range": span,
                   "title": {"text": "Time (UTC)", "standoff": 6}},
        "yaxis2": {"anchor": "x2", "domain": [0.0, 0.352], "title": {"text": "In DLQ"}, "rangemode": "tozero"},
        "margin": {"b": 64},
    }  # fmt: skip
    if not dlqs:
        layout["annotations"] = [{"text": "No dead-lettered messages in this range", "xref": "x2 domain",
                                  "yref": "y2 domain", "x": 0.5, "y": 0.5, "showarrow": False,
                                  "font": {"color": MUTED}}]  # fmt: skip
    return _figure(traces, layout)
