"""One palette and one Plotly template, so every page colours severities and health alike."""

from __future__ import annotations

import plotly.graph_objects as go

FONT_STACK = (
    '-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
    '"Noto Sans", "Liberation Sans", sans-serif'
)

NAVY = "#0f1e36"
INK = "#1f2a3d"
MUTED = "#64748b"
GRID = "#e6eaf0"
ACCENT = "#2563eb"

#: Severity colours, used by charts, badges and tiles alike.
SEVERITY_COLORS: dict[str, str] = {
    "critical": "#d93a3a",
    "high": "#ee7d24",
    "medium": "#e3b008",
    "low": "#8aa0bd",
}

#: Health of a flow or a KPI against its target.
HEALTH_COLORS: dict[str, str] = {
    "ok": "#1f9d64",
    "warning": "#e3a008",
    "breach": "#d93a3a",
    "idle": "#94a3b8",
}

#: One colour per system of the estate (12 systems in the demo, all distinct, none of them the
#: failure red): assigned by :func:`system_colors` in a stable order, so a system keeps its colour
#: whichever systems a chart happens to show.
SYSTEM_PALETTE: tuple[str, ...] = (
    "#2563eb",  # blue
    "#e69f00",  # orange
    "#009e73",  # bluish green
    "#cc79a7",  # reddish purple
    "#56b4e9",  # sky blue
    "#6a3d9a",  # purple
    "#b8a100",  # mustard
    "#3f3f46",  # charcoal
    "#8c564b",  # brown
    "#17becf",  # cyan
    "#7f7f00",  # olive
    "#999999",  # grey
)


def system_colors(system_ids: list[str] | tuple[str, ...]) -> dict[str, str]:
    """System id → colour, by the ids' sorted order (the estate's systems, not a chart's subset)."""
    return {s: SYSTEM_PALETTE[i % len(SYSTEM_PALETTE)] for i, s in enumerate(sorted(system_ids))}


#: Distinct, colour-blind-friendlier series colours (flows, queues).
SERIES_COLORS: tuple[str, ...] = (
    "#2563eb",
    "#0d9488",
    "#9333ea",
    "#ea580c",
    "#0891b2",
    "#be185d",
    "#65a30d",
    "#4f46e5",
    "#b45309",
    "#475569",
)

#: Flows and queues that are within target fade into context behind the offenders.
CONTEXT_GREY = "#c3ccd8"


def _template() -> go.layout.Template:
    """Quiet axes, a system font, transparent backgrounds: the card gives the frame."""
    return go.layout.Template(
        layout=go.Layout(
            font={"family": FONT_STACK, "size": 12, "color": INK},
            colorway=list(SERIES_COLORS),
            paper_bgcolor="rgba(0,0,0,0)",
            plot_bgcolor="rgba(0,0,0,0)",
            margin={"l": 56, "r": 16, "t": 16, "b": 44},
            hovermode="x unified",
            hoverlabel={"font": {"family": FONT_STACK, "size": 12}, "bgcolor": "white"},
            legend={
                "orientation": "h",
                "yanchor": "bottom",
                "y": 1.02,
                "xanchor": "left",
                "x": 0,
                "font": {"size": 11},
                "bgcolor": "rgba(0,0,0,0)",
            },
            xaxis={
                "automargin": True,
                "gridcolor": GRID,
                "linecolor": "#cbd5e1",
                "zeroline": False,
                "ticks": "outside",
                "tickcolor": "#cbd5e1",
                "title": {"font": {"size": 12, "color": MUTED}},
            },
            yaxis={
                "automargin": True,
                "gridcolor": GRID,
                "zeroline": False,
                "linecolor": "#cbd5e1",
                "title": {"font": {"size": 12, "color": MUTED}},
                "rangemode": "tozero",
            },
        )
    )


#: Every figure builder sets this template explicitly (no global Plotly default to depend on).
TEMPLATE: go.layout.Template = _template()
