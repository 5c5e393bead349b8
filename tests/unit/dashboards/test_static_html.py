"""Read-only tables as one component: the same DOM, every text and attribute escaped, nothing interactive."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pandas as pd
import pytest
from dash import dcc, html

from dashboards.components.static import render, static_html
from dashboards.components.tables import flow_table


class _Tree(HTMLParser):
    """(tag, attributes, text) of every element, in document order, as the browser will parse them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[tuple[str, dict[str, str | None], str]] = []
        self._open: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.nodes.append((tag, dict(attrs), ""))
        if tag not in ("img", "br", "wbr"):
            self._open.append(len(self.nodes) - 1)

    def handle_endtag(self, tag: str) -> None:
        self._open.pop()

    def handle_data(self, data: str) -> None:
        i = self._open[-1]
        tag, attrs, text = self.nodes[i]
        self.nodes[i] = (tag, attrs, text + data)


def _parsed(markup: str) -> list[tuple[str, dict[str, str | None], str]]:
    tree = _Tree()
    tree.feed(markup)
    tree.close()
    return tree.nodes


def _dash_nodes(component: Any) -> list[tuple[str, dict[str, str | None], str]]:
    """The same triples read from the Dash component tree (classes, titles and data-* attributes)."""
    out: list[tuple[str, dict[str, str | None], str]] = []

    def walk(c: Any) -> None:
        if isinstance(c, (list, tuple)):
            for child in c:
                walk(child)
            return
        if not isinstance(c, html.Div | html.Table | html.Thead | html.Tbody | html.Tr | html.Th | html.Td | html.Span):
            return
        props = c.to_plotly_json()["props"]
        attrs = {("class" if k == "className" else k): str(v) for k, v in props.items() if k != "children"}
        children = props.get("children")
        items = children if isinstance(children, list) else [children]
        text = "".join(str(x) for x in items if isinstance(x, (str, int, float)) and not isinstance(x, bool))
        out.append((c._type.lower(), attrs, text))
        for x in items:
            walk(x)

    walk(component)
    return out


def test_a_flow_table_renders_to_the_same_elements_attributes_and_text() -> None:
    flows = pd.DataFrame(
        {
            "flow_id": [f"flow-{i}" for i in range(32)],
            "name": [f'Shop {i} → D365 <orders> & "returns"' for i in range(32)],
            "category": ["orders"] * 32,
            "sla_seconds": [900 + 60 * i for i in range(32)],
            "steps": [10 * i for i in range(32)],
            "p50_seconds": [None if i % 5 == 0 else 30.0 * i for i in range(32)],
            "p95_seconds": [None if i % 5 == 0 else 90.0 * i for i in range(32)],
            "over_sla": [i % 3 for i in range(32)],
        }
    )
    table = flow_table(flows)
    parsed = _parsed(render(table))
    assert parsed == _dash_nodes(table)
    assert sum(1 for tag, _, _ in parsed if tag == "tr") == 33  # the head and every flow
    assert any(text == 'Shop 7 → D365 <orders> & "returns"' for tag, _, text in parsed if tag == "td")


def test_text_and_attributes_are_escaped_and_newlines_cannot_end_the_html_block() -> None:
    hostile = html.Td("</td><script>alert(1)</script>\n\n# heading *x*", title='"><img src=x onerror=1>')
    markup = render(html.Table(html.Tr(hostile)))
    assert "<script>" not in markup and "\n" not in markup and "<img" not in markup
    assert markup == (
        '<table><tr><td title="&quot;&gt;&lt;img src=x onerror=1&gt;">&lt;/td&gt;&lt;script&gt;alert(1)'
        "&lt;/script&gt;&#10;&#10;# heading *x*</td></tr></table>"
    )
    assert _parsed(markup)[2] == ("td", {"title": '"><img src=x onerror=1>'},
                                  "</td><script>alert(1)</script>\n\n# heading *x*")  # fmt: skip


def test_styles_data_attributes_numbers_and_void_elements() -> None:
    cell = html.Td(
        [html.Span(12), None, html.Br(), 0.5, html.Wbr()],
        style={"textAlign": "right", "minWidth": "4em"},
        colSpan=2,
        **{"data-flow": "a-b", "aria-label": "lag"},
    )
    markup = render(cell)
    assert markup.endswith("><span>12</span><br>0.5<wbr></td>")
    [td, span, br, wbr] = _parsed(markup)
    assert (br[0], wbr[0]) == ("br", "wbr")
    assert td == ("td", {"style": "text-align:right;min-width:4em", "colspan": "2", "data-flow": "a-b",
                         "aria-label": "lag"}, "0.5")  # fmt: skip
    assert span == ("span", {}, "12")


@pytest.mark.parametrize(
    "interactive",
    [
        html.Div(dcc.Link("flow", href="/flows")),
        html.Div(html.Button("Replay", id="replay")),
        html.Tr(html.Td("x"), id={"type": "row", "index": 1}),
        html.Td("x", n_clicks=2),
        html.Td(html.Img(src="data:image/svg+xml;utf8,%3Csvg%3E", alt="trend")),
    ],
    ids=["dcc-link", "element-with-id", "pattern-id", "clicked", "image"],
)
def test_anything_interactive_is_refused(interactive: Any) -> None:
    with pytest.raises(ValueError, match="static_html"):
        static_html(interactive)


def test_one_markdown_component_that_allows_the_html() -> None:
    made = static_html(html.Table(html.Tr(html.Td("a"))))
    assert isinstance(made, dcc.Markdown)
    assert made.dangerously_allow_html is True and made.className == "fw-static"
    assert made.children == "<table><tr><td>a</td></tr></table>"
