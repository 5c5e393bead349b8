"""The flow map: systems as nodes, flows as edges in their health, for dash-cytoscape.

Inputs are what the query layer returns (``systems`` and ``flows_health`` rows); outputs
are Cytoscape elements, its stylesheet and the hover panel. Health is the query layer's
(``models.queries.flows.health``, with ``flow_status``'s "no traffic"); each status has a
colour *and* a line style, a width and a word on the edge, so nobody needs to tell red from
green. Positions are computed here (a preset layout): the same estate always draws the same
map, sources on the left, ERPs in the middle, fulfilment on the right.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from dash import dcc, html

from dashboards.components.flows import STATUS, flow_grid_rows, flow_status
from dashboards.components.format import fmt_duration, fmt_int, fmt_pct, short_name
from dashboards.components.tables import badge
from dashboards.theme import HEALTH_COLORS, MAP_COLORS, is_dark
from models.queries.flows import lag_status

#: Column of each kind of system: where orders and goods come from, the ERPs, where goods go.
COLUMNS: dict[str, int] = {"storefront": 0, "supplier": 0, "erp": 1, "middleware": 1, "wms": 2, "3pl": 2}
#: Order of kinds within a column (storefronts above suppliers, the WMS above the 3PLs).
KIND_ORDER = ("storefront", "supplier", "erp", "middleware", "wms", "3pl")
KIND_LABELS = {"storefront": "Storefront", "supplier": "Supplier", "erp": "ERP", "middleware": "Middleware",
               "wms": "WMS", "3pl": "3PL"}  # fmt: skip
#: Partners have a scorecard page.
PARTNER_KINDS = ("3pl", "supplier")
COLUMN_X = 280
ROW_Y = 72
#: Extra space between two kinds sharing a column.
GROUP_GAP = 0.6

#: Per status: line style, width and whether the edge carries its word (a non-colour cue).
EDGE_STYLE: dict[str, tuple[str, float, bool]] = {
    "failing": ("solid", 5.0, True),
    "degraded": ("dashed", 3.5, True),
    "healthy": ("solid", 2.0, False),
    "idle": ("dotted", 2.0, False),
}
_STATUS_COLOR = {status: HEALTH_COLORS[kind] for status, (kind, _label) in STATUS.items()}


def _column(kind: str | None) -> int:
    return COLUMNS.get(kind or "", 2)


def _kind_rank(kind: str | None) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def map_positions(nodes: Sequence[Mapping[str, Any]], edges: Sequence[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """Pixel position of every node, in three columns (sources, ERPs, fulfilment).

    A barycentre sweep keeps arrows short and uncrossed: the middle column (ERPs) sits at the
    mean height of the systems it exchanges flows with, then each outer column is re-ordered
    by the mean height of its neighbours (kinds stay grouped, a gap between them), and the
    ERPs are placed again. Rows are at least one apart; ties fall back to the system id.
    """
    columns: dict[int, list[str]] = defaultdict(list)
    kinds = {n["system_id"]: n["kind"] for n in nodes}
    for node in sorted(nodes, key=lambda n: (_kind_rank(n["kind"]), n["system_id"])):
        columns[_column(node["kind"])].append(node["system_id"])
    neighbours: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        if source != target:
            neighbours[source].add(target)
            neighbours[target].add(source)
    y: dict[str, float] = {}

    def stack(col: int) -> None:
        row, previous_kind = 0.0, None
        for sid in columns.get(col, []):
            if previous_kind is not None and kinds[sid] != previous_kind:
                row += GROUP_GAP
            y[sid], row, previous_kind = row, row + 1, kinds[sid]

    def centre(sid: str, default: float, among: tuple[int, ...] = (0, 1, 2)) -> float:
        """Mean height of the neighbours in the ``among`` columns other than the node's own."""
        cols = set(among) - {_column(kinds.get(sid))}
        known = [y[n] for n in neighbours[sid] if n in y and _column(kinds.get(n)) in cols]
        return sum(known) / len(known) if known else default

    def place_middle() -> None:
        wanted = {sid: centre(sid, float(i)) for i, sid in enumerate(columns.get(1, []))}
        floor = float("-inf")
        for sid in sorted(wanted, key=lambda s: (wanted[s], s)):
            y[sid] = max(wanted[sid], floor)
            floor = y[sid] + 1

    stack(0)
    stack(2)
    place_middle()
    for col in (0, 2):
        before = {sid: y[sid] for sid in columns.get(col, [])}
        columns[col] = sorted(columns.get(col, []), key=lambda s: (_kind_rank(kinds[s]), centre(s, before[s], (1,)), s))
        stack(col)
    place_middle()
    return {sid: (_column(kinds[sid]) * COLUMN_X, round(y[sid] * ROW_Y)) for sid in kinds}


def map_elements(systems: Sequence[Mapping[str, Any]], flows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Cytoscape nodes (systems that carry a flow) and edges (flows, classed by status).

    Each element's data holds what the hover panel says, so hovering needs no query.
    A system a flow names but the estate does not list still gets a node, under its id.
    """
    known = {s["system_id"]: s for s in systems}
    used: list[str] = []
    for f in flows:
        for sid in (f["source_system"], f["target_system"]):
            if sid not in used:
                used.append(sid)
    nodes = [known.get(sid) or {"system_id": sid, "name": sid, "kind": None, "vendor": None} for sid in used]
    positions = map_positions(nodes, [(f["source_system"], f["target_system"]) for f in flows])
    open_by_system: dict[str, int] = defaultdict(int)
    for f in flows:
        for sid in {f["source_system"], f["target_system"]}:
            open_by_system[sid] += int(f["open_exceptions"])
    elements: list[dict[str, Any]] = []
    for node in nodes:
        sid, kind = node["system_id"], node["kind"]
        x, y = positions[sid]
        elements.append({
            "data": {"id": sid, "label": short_name(node["name"]), "name": node["name"],
                     "kind": KIND_LABELS.get(kind or "", kind or "System"), "vendor": node.get("vendor"),
                     "open_exceptions": open_by_system[sid], "partner": kind in PARTNER_KINDS},
            "position": {"x": x, "y": y},
            "classes": f"system kind-{kind or 'other'}",
        })  # fmt: skip
    for f in flows:
        status = flow_status(f)
        _kind, label = STATUS[status]
        _style, _width, worded = EDGE_STYLE[status]
        elements.append({
            "data": {"id": f"flow:{f['flow_id']}", "flow_id": f["flow_id"], "source": f["source_system"],
                     "target": f["target_system"], "name": f["name"], "status": status, "status_label": label,
                     "label": label.upper() if worded else "", "steps": int(f["steps_last_hour"]),
                     "deliveries": int(f["deliveries_last_hour"]), "failures": int(f["failures_last_hour"]),
                     "open_exceptions": int(f["open_exceptions"]), "worst": f.get("worst_open_severity"),
                     "lag_p95": fmt_duration(f["sync_lag_p95_seconds"]), "sla": fmt_duration(f["sla_seconds"])},
            "classes": f"flow status-{status}",
        })  # fmt: skip
    return elements


def map_stylesheet(*, selected: str | None = None, theme: str | None = None) -> list[dict[str, Any]]:
    """Nodes as quiet cards; edges coloured, styled and worded by status; the ``selected`` (open)
    flow outlined; card and label colours from the stored ``theme`` (the canvas sees no CSS)."""
    c = MAP_COLORS["dark" if is_dark(theme) else "light"]
    sheet: list[dict[str, Any]] = [
        {"selector": "node", "style": {
            "shape": "round-rectangle", "width": 152, "height": 42, "background-color": c["node"],
            "border-width": 1.5, "border-color": c["node_line"], "label": "data(label)", "color": c["ink"],
            "font-size": 13, "font-weight": 600, "text-valign": "center", "text-halign": "center",
            "text-wrap": "ellipsis", "text-max-width": 140, "font-family": "Liberation Sans, Arial, sans-serif"}},
        {"selector": "node.kind-erp", "style": {"background-color": c["erp"], "border-color": c["erp_line"],
                                                "border-width": 2}},
        {"selector": "node.kind-3pl, node.kind-supplier", "style": {"border-style": "solid"}},
        {"selector": "edge", "style": {
            "curve-style": "bezier", "control-point-step-size": 34, "target-arrow-shape": "triangle",
            "arrow-scale": 1.1, "target-label": "data(label)",
            "target-text-offset": 64, "font-size": 11, "font-weight": 700, "color": c["ink"],
            "text-background-color": c["label_bg"], "text-background-opacity": 0.92, "text-background-padding": 2,
            "text-background-shape": "round-rectangle", "text-rotation": "none", "loop-direction": "0deg",
            "loop-sweep": "-50deg", "font-family": "Liberation Sans, Arial, sans-serif"}},

        {"selector": "edge:active, node:active", "style": {"overlay-opacity": 0.08}},
    ]  # fmt: skip
    for status, (style, width, _worded) in EDGE_STYLE.items():
        colour = _STATUS_COLOR[status]
        sheet.append({"selector": f"edge.status-{status}", "style": {
            "line-color": colour, "target-arrow-color": colour, "line-style": style, "width": width,
            "z-index": 10 if status in ("failing", "degraded") else 1,
            "text-border-color": colour, "text-border-width": 1, "text-border-opacity": 1 if _worded else 0,
            "color": colour if status != "degraded" else c["degraded_ink"]}})  # fmt: skip
    if selected:
        outline = {"underlay-color": c["outline"], "underlay-opacity": 0.3, "underlay-padding": 7}
        sheet.append({"selector": f'edge[flow_id = "{_css_string(selected)}"]', "style": outline})
    return sheet


def _css_string(value: str) -> str:
    """A value safe inside a double-quoted Cytoscape selector string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def map_legend() -> html.Div:
    """Each status as a line sample (style and colour) with its word."""
    return html.Div(
        className="fm-legend",
        children=[
            html.Span(
                className=f"fm-legend-item status-{status}",
                children=[html.Span(className="fm-swatch", **{"aria-hidden": "true"}), STATUS[status][1]],
            )
            for status in EDGE_STYLE
        ]
        + [html.Span("Hover a flow for its numbers · click it to open the flow", className="fm-legend-hint")],
    )


def map_summary(flows: Sequence[Mapping[str, Any]]) -> str:
    """The map in one sentence, for screen readers and the card's subtitle."""
    counts = {s: 0 for s in STATUS}
    for f in flows:
        counts[flow_status(f)] += 1
    parts = [f"{counts[s]} {STATUS[s][1].lower()}" for s in STATUS if counts[s]]
    return f"{len(flows)} flows: " + ", ".join(parts) if flows else "No flows configured"


def edge_info(data: Mapping[str, Any] | None, range_label: str) -> html.Div:
    """The hover panel for one flow: status, throughput and open exceptions over the range."""
    if not data or "flow_id" not in data:
        return info_placeholder()
    kind = STATUS[data["status"]][0]
    deliveries, failures = int(data["deliveries"]), int(data["failures"])
    rate = fmt_pct(failures / deliveries) if deliveries else "—"
    facts = [
        ("Steps completed", fmt_int(data["steps"])),
        ("Deliveries", fmt_int(deliveries)),
        ("Failed", f"{fmt_int(failures)} ({rate})" if deliveries else fmt_int(failures)),
        ("Sync lag p95", f"{data['lag_p95']} of {data['sla']} SLA"),
        ("Open exceptions", fmt_int(data["open_exceptions"])
         + (f" · worst {data['worst']}" if data.get("worst") and data["open_exceptions"] else "")),
    ]  # fmt: skip
    return html.Div(
        className="fm-info",
        **{"data-flow": data["flow_id"]},
        children=[
            html.Div([badge(data["status_label"], kind)], className="fm-info-status"),
            html.H3(data["name"], className="fm-info-title"),
            html.P(f"Over the last {range_label}", className="fm-info-sub"),
            html.Dl(
                [item for label, value in facts for item in (html.Dt(label), html.Dd(value))], className="fm-facts"
            ),
            dcc.Link("Open this flow →", href=f"/flows?flow={quote(data['flow_id'])}", className="fm-open"),
        ],
    )


def node_info(data: Mapping[str, Any] | None) -> html.Div:
    """The hover panel for one system: what it is, its flows' open exceptions, its scorecard."""
    if not data or "flow_id" in data:
        return info_placeholder()
    vendor = f" · {data['vendor']}" if data.get("vendor") else ""
    children: list[Any] = [
        html.Div(data["kind"] + vendor, className="fm-info-kicker"),
        html.H3(data["name"], className="fm-info-title"),
        html.Dl([html.Dt("Open exceptions on its flows"), html.Dd(fmt_int(data["open_exceptions"]))],
                className="fm-facts"),
    ]  # fmt: skip
    if data.get("partner"):
        children.append(dcc.Link("Partner scorecard →", href=f"/partners/{quote(data['id'])}", className="fm-open"))
    return html.Div(className="fm-info", **{"data-system": data["id"]}, children=children)


def info_placeholder() -> html.Div:
    """What the panel says before anything is hovered."""
    return html.Div(
        className="fm-info is-empty",
        children=[
            html.H3("Point at a flow", className="fm-info-title"),
            html.P(
                "Each arrow is one integration step, from the system that sends to the one that receives; "
                "its colour, line and label say how it is doing. Hover it for throughput and open "
                "exceptions, click it to open its signals.",
                className="fm-info-sub",
            ),
        ],
    )


def attention_list(flows: Sequence[Mapping[str, Any]], *, limit: int = 5) -> html.Div:
    """The failing then degraded flows (worst lag against SLA first), each a link that opens it
    with the reasons the health rule found."""
    by_id = {f["flow_id"]: f for f in flows}
    rows = [r for r in flow_grid_rows(flows) if r["status"] in ("failing", "degraded")]
    if not rows:
        return html.Div("Every flow is healthy over the range", className="fm-attention-empty")
    items = [
        html.Li(
            dcc.Link(
                href=f"/flows?flow={quote(r['flow_id'])}",
                className="fm-attention-link",
                children=[
                    badge(r["status_label"], r["status_kind"]),
                    html.Span(r["name"], className="fm-attention-name", title=r["name"]),
                    html.Span(health_reasons(by_id[r["flow_id"]]), className="fm-attention-why"),
                ],
            ),
            **{"data-flow": r["flow_id"]},
        )
        for r in rows[:limit]
    ]
    more = len(rows) - limit
    note = [html.Div(f"+{more} more in the list below", className="table-note")] if more > 0 else []
    return html.Div([html.Ul(items, className="fm-attention"), *note])


def health_reasons(flow: Mapping[str, Any]) -> str:
    """Which conditions of the query layer's health rule (``models.queries.flows.health``) hold for
    a ``flows_health`` row, in a few words, worst first."""
    p95, sla = flow["sync_lag_p95_seconds"], flow["sla_seconds"]
    lag = lag_status(p95, sla)
    if lag == "breach":
        parts = [f"lag p95 {fmt_duration(p95)} over its {fmt_duration(sla)} SLA"]
    elif lag == "warning":
        parts = [f"lag p95 {fmt_duration(p95)}, {float(p95) / float(sla):.0%} of its {fmt_duration(sla)} SLA"]
    else:
        parts = []
    if flow["worst_open_severity"] == "critical":
        parts.append("a critical exception open")
    if flow["failures_last_hour"]:
        n = int(flow["failures_last_hour"])
        parts.append(f"{fmt_int(n)} failed deliver{'ies' if n != 1 else 'y'}")
    if flow["open_exceptions"] and flow["worst_open_severity"] != "critical":
        n = int(flow["open_exceptions"])
        parts.append(f"{fmt_int(n)} open exception{'s' if n != 1 else ''}")
    return " · ".join(parts) or "healthy"
