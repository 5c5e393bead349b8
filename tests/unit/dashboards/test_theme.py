"""The dark theme's pieces: the Plotly template and colour map, the flow map's colours, the index page."""

from __future__ import annotations

import re
from pathlib import Path

from dashboards.app import THEME_SCRIPT, index_string, theme_script
from dashboards.components.flow_map import map_stylesheet
from dashboards.theme import (
    DARK_COLORS,
    DARK_SURFACE,
    DARK_TEMPLATE,
    SERIES_COLORS,
    SYSTEM_PALETTE,
    TEMPLATE,
    browser_theme_spec,
)

ASSETS = Path(__file__).resolve().parents[3] / "dashboards" / "assets"


def _contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours."""

    def lum(h: str) -> float:
        c = [int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_dark_template_text_is_aa_on_the_dark_card() -> None:
    layout = DARK_TEMPLATE.layout
    assert layout.font.color == "#e6ebf3" and TEMPLATE.layout.font.color == "#1f2a3d"
    # #e6ebf3 on #172033: L 0.8269 vs 0.0145 → (0.8769)/(0.0645) ≈ 13.6
    assert round(_contrast(layout.font.color, DARK_SURFACE), 1) == 13.6
    assert _contrast(layout.xaxis.title.font.color, DARK_SURFACE) >= 4.5
    assert layout.hoverlabel.bgcolor == DARK_SURFACE


def test_dark_colours_keep_series_distinct_and_visible() -> None:
    dark_series = [DARK_COLORS.get(c, c) for c in SERIES_COLORS]
    dark_systems = [DARK_COLORS.get(c, c) for c in SYSTEM_PALETTE]
    assert len(set(dark_series)) == len(SERIES_COLORS) and len(set(dark_systems)) == len(SYSTEM_PALETTE)
    # graphics need 3:1 against the card (WCAG 1.4.11)
    assert all(_contrast(c, DARK_SURFACE) >= 3 for c in dark_series + dark_systems)


def test_the_browser_gets_the_template_and_a_lower_case_colour_map() -> None:
    spec = browser_theme_spec()
    assert spec["template"] == DARK_TEMPLATE.to_plotly_json()
    assert spec["colors"]["#ffffff"] == DARK_SURFACE and all(k == k.lower() for k in spec["colors"])


def test_the_flow_map_follows_the_theme() -> None:
    light = {r["selector"]: r["style"] for r in map_stylesheet()}
    dark = {r["selector"]: r["style"] for r in map_stylesheet(theme="dark", selected="f1")}
    assert light["node"]["background-color"] == "#ffffff"
    assert dark["node"]["background-color"] == "#1c2740"
    assert _contrast(dark["node"]["color"], dark["node"]["background-color"]) >= 4.5
    assert dark['edge[flow_id = "f1"]']["underlay-color"] == "#7aa7ff"
    assert map_stylesheet(theme=None) == map_stylesheet(theme="light")


def test_the_page_says_its_language_and_sets_the_theme_before_the_stylesheets() -> None:
    page = index_string()
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert page.index(f'<script src="{THEME_SCRIPT}"></script>') < page.index("{%css%}")
    script = theme_script()
    assert 'localStorage.getItem("fw-theme")' in script and "window.FW_THEME = {" in script


def test_every_stylesheet_colour_is_a_palette_variable() -> None:
    literal = re.compile(r"#[0-9a-fA-F]{3,8}\b|rgba?\(")
    offenders = [
        f"{css.name}:{n}"
        for css in sorted(ASSETS.glob("*.css"))
        if css.name != "theme.css"
        for n, line in enumerate(css.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []
