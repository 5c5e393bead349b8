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


AXIS_LINE = "#cbd5e1"
HOVER_BG = "#ffffff"


def _template(
    *, ink: str = INK, muted: str = MUTED, grid: str = GRID, axis: str = AXIS_LINE, hover: str = HOVER_BG
) -> go.layout.Template:
    """Quiet axes, a system font, transparent backgrounds: the card gives the frame."""
    return go.layout.Template(
        layout=go.Layout(
            font={"family": FONT_STACK, "size": 12, "color": ink},
            colorway=list(SERIES_COLORS),
            paper_bgcolor="rgba(0,0,0,0)",
            plot_bgcolor="rgba(0,0,0,0)",
            margin={"l": 56, "r": 16, "t": 16, "b": 44},
            hovermode="x unified",
            hoverlabel={
                "font": {"family": FONT_STACK, "size": 12, "color": ink},
                "bgcolor": hover,
                "bordercolor": axis,
            },
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
                "gridcolor": grid,
                "linecolor": axis,
                "zeroline": False,
                "ticks": "outside",
                "tickcolor": axis,
                "title": {"font": {"size": 12, "color": muted}},
            },
            yaxis={
                "automargin": True,
                "gridcolor": grid,
                "zeroline": False,
                "linecolor": axis,
                "title": {"font": {"size": 12, "color": muted}},
                "rangemode": "tozero",
            },
        )
    )


#: Every figure builder sets this template explicitly (no global Plotly default to depend on).
TEMPLATE: go.layout.Template = _template()


# ---- the dark theme ----------------------------------------------------------------------------
# Figures are built once, in the light template; in the dark theme the browser draws them with
# DARK_TEMPLATE and DARK_COLORS (assets/fw_theme.js, handed both by the index page), so a toggle
# restyles every chart at once without a round trip and no builder takes a theme argument.

DARK_INK = "#e6ebf3"
DARK_MUTED = "#9fafc4"
DARK_SURFACE = "#172033"

#: The light template's colours on the dark card (text >= AA on #172033, grid lines quiet).
DARK_TEMPLATE: go.layout.Template = _template(
    ink=DARK_INK, muted=DARK_MUTED, grid="#2a3850", axis="#465673", hover=DARK_SURFACE
)

#: Explicit colours a builder sets that would vanish or glare on the dark card → their dark
#: counterparts (lines and marks keep >= 3:1 against the card, series stay distinct).
DARK_COLORS: dict[str, str] = {
    INK: DARK_INK,
    MUTED: DARK_MUTED,
    GRID: "#2a3850",
    AXIS_LINE: "#465673",
    CONTEXT_GREY: "#4f5f7a",
    "#475569": "#94a3b8",  # slate series
    "#3f3f46": "#a1a1aa",  # charcoal system
    "#6a3d9a": "#a884d8",  # purple system
    "#8c564b": "#c4907f",  # brown system
    "#4f46e5": "#8f8af2",  # indigo series
    "#7f7f00": "#b8b840",  # olive system
    "#b45309": "#e08a3c",  # amber-brown series
    "#be185d": "#e5609b",  # pink series
    "#9333ea": "#b57cf5",  # violet series
    "#2563eb": "#5b8cff",  # blue series (the accent)
    "#b91c1c": "#ef6b6b",  # DLQ red
    "#8a5b00": "#f2c14e",  # degraded wording on the map
    "#ffffff": DARK_SURFACE,
    "white": DARK_SURFACE,
}

#: The flow map (Cytoscape draws on a canvas, so CSS variables cannot reach it): node cards,
#: their borders, the ERP's tint, label ink and label backgrounds, the open flow's outline.
MAP_COLORS: dict[str, dict[str, str]] = {
    "light": {
        "node": "#ffffff", "node_line": "#b8c4d6", "erp": "#eef4ff", "erp_line": "#7aa2e8",
        "ink": INK, "label_bg": "#ffffff", "degraded_ink": "#8a5b00", "outline": "#2563eb",
    },
    "dark": {
        "node": "#1c2740", "node_line": "#52617c", "erp": "#1b2b4a", "erp_line": "#5b8cff",
        "ink": DARK_INK, "label_bg": DARK_SURFACE, "degraded_ink": "#f2c14e", "outline": "#7aa7ff",
    },
}  # fmt: skip

THEMES = ("light", "dark")


def is_dark(theme: str | None) -> bool:
    """The stored theme ("light", "dark" or nothing yet) → whether to draw dark."""
    return theme == "dark"


def browser_theme_spec() -> dict[str, object]:
    """What assets/fw_theme.js needs to draw figures dark: the template and the colour map."""
    return {"template": DARK_TEMPLATE.to_plotly_json(), "colors": {k.lower(): v for k, v in DARK_COLORS.items()}}
