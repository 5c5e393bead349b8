"""Builders for KPI targets on the scorecard: the target as a sentence, the RAG badge (an icon and
a word, never colour alone), the trend sparkline, and the admin's table of who set what.

Targets arrive as ``list_targets`` returns them (metric → ``target, direction, updated_by…``);
the RAG judgement itself is :func:`models.store.kpi_targets.rag_status`, never re-implemented here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from dash import html

from dashboards.components.format import fmt_unit, is_missing
from models.enums import Direction, Rag
from models.queries.kpis import METRIC_BY_NAME
from models.store.kpi_targets import TOLERANCE, rag_status

#: How each status reads. Each also has its own icon shape (✓ in a circle, ! in a diamond, ✕ in a
#: square: drawn by scorecard.css), so status never rests on colour.
RAG_TEXT: dict[Rag, str] = {
    Rag.GREEN: "On target",
    Rag.AMBER: "Near target",
    Rag.RED: "Off target",
    Rag.NONE: "No data",
}
#: Tile tone per status (the overview's tile colours).
RAG_TONE = {Rag.GREEN: "ok", Rag.AMBER: "warning", Rag.RED: "breach", Rag.NONE: "idle"}
_LINE = {Rag.GREEN: "#1f9d64", Rag.AMBER: "#b7791f", Rag.RED: "#d93a3a", Rag.NONE: "#94a3b8"}


def fmt_target(unit: str, target: Mapping[str, Any] | None) -> str:
    """'≥ 95.0%' or '≤ 8.0 h'; '—' when the metric has no target."""
    if not target:
        return "—"
    sign = "≥" if target["direction"] == Direction.HIGHER else "≤"
    return f"{sign} {fmt_unit(unit, target['target'])}"


def rag_of(metric: str, value: Any, targets: Mapping[str, Mapping[str, Any]]) -> Rag:
    """The status of ``metric`` at ``value`` against its stored target (none without either)."""
    target = targets.get(metric)
    if target is None or is_missing(value):
        return Rag.NONE
    return rag_status(float(value), float(target["target"]), target["direction"])


def rag_badge(rag: Rag, *, compact: bool = False) -> html.Span:
    """The status as an icon (CSS) and words (``data-rag`` for tests and print)."""
    words = RAG_TEXT[rag]
    return html.Span(
        [html.Span(className="rag-icon", **{"aria-hidden": "true"}), html.Span(words, className="rag-words")],
        className=f"rag rag-{rag}{' rag-compact' if compact else ''}",
        title=f"{words}: green at or better than target, amber within {TOLERANCE:.0%}, red beyond",
        **{"data-rag": str(rag)},
    )


def sparkline(values: Sequence[Any], *, unit: str, rag: Rag, label: str, width: int = 96, height: int = 26) -> Any:
    """The metric's trend over the period as a small inline SVG image (prints, needs no script);
    the last point is marked, the alt text lists the values."""
    points = [(i, float(v)) for i, v in enumerate(values) if not is_missing(v)]
    if len(points) < 2:
        return html.Span("—", className="spark-none", title="not enough data for a trend")
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    span = hi - lo or 1.0
    n = max(len(values) - 1, 1)
    pad = 3

    def xy(i: int, v: float) -> tuple[float, float]:
        return pad + i * (width - 2 * pad) / n, height - pad - (v - lo) * (height - 2 * pad) / span

    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in points))
    lx, ly = xy(*points[-1])
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<polyline fill="none" stroke="{_LINE[rag]}" stroke-width="1.6" stroke-linejoin="round" '
        f'stroke-linecap="round" points="{coords}"/>'
        f'<circle cx="{lx:.1f}" cy="{ly:.1f}" r="2.4" fill="{_LINE[rag]}"/></svg>'
    )
    alt = f"{label} trend: " + ", ".join(fmt_unit(unit, v) for v in values)
    return html.Img(src="data:image/svg+xml;utf8," + quote(svg), alt=alt, title=alt, className="sparkline",
                    width=width, height=height)  # fmt: skip


def targets_admin_table(targets: Mapping[str, Mapping[str, Any]]) -> html.Div:
    """Every metric with its target, direction and who set it (the file, or a named admin)."""
    body = []
    for metric, (kpi, m) in METRIC_BY_NAME.items():
        t = targets.get(metric)
        who = "—" if t is None else (t["updated_by"] or "targets file")
        when = "" if t is None or t["updated_by"] is None else f"{t['updated_at']:%b %-d %H:%M} UTC"
        body.append(html.Tr([
            html.Td(kpi.label, className="sc-kpi"),
            html.Td(metric, className="mono muted"),
            html.Td(fmt_target(m.unit, t), className="num sc-value"),
            html.Td("higher is better" if t and t["direction"] == Direction.HIGHER else
                    "lower is better" if t else "—"),
            html.Td([html.Div(who), html.Div(when, className="sc-sub")]),
        ], **{"data-metric": metric}))  # fmt: skip
    head = html.Thead(html.Tr([html.Th("KPI"), html.Th("Metric"), html.Th("Target", className="num"),
                               html.Th("Direction"), html.Th("Set by")]))  # fmt: skip
    return html.Div(html.Table([head, html.Tbody(body)], className="data-table sc-targets"))


def target_options() -> list[dict[str, str]]:
    """The admin form's choice of metric: its KPI label and measure, valued by metric name."""
    out = []
    for metric, (kpi, _metric) in METRIC_BY_NAME.items():
        rest = metric[len(kpi.name) :].strip("_").replace("_", " ")
        out.append({"label": f"{kpi.label}{f' — {rest}' if rest else ''}", "value": metric})
    return out


def input_unit(metric: str) -> tuple[str, float]:
    """What the admin types a target in for ``metric`` and the factor to the stored unit
    (shares as per cent: 95 → 0.95)."""
    unit = METRIC_BY_NAME[metric][1].unit
    return {"ratio": ("%", 0.01), "hours": ("hours", 1.0), "seconds": ("seconds", 1.0),
            "orders": ("orders", 1.0)}[unit]  # fmt: skip
