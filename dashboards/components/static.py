"""Read-only markup as one Dash component.

Dash's renderer gives every component of the layout a store selector that runs on each store update
(each callback's request, loading state and answer). A table of a few hundred cells is a few hundred
components: the scorecard's flow table alone cost Chromium ~3 s of CPU per page load (6.7 → 3.9 s
without it). A table nobody interacts with is therefore sent as escaped HTML in one
``dcc.Markdown``, and the page's DOM is the same as before.
"""

from __future__ import annotations

import html as html_text
import re
from typing import Any

from dash import dcc
from dash.development.base_component import Component

#: Dash prop names whose HTML attribute is spelled otherwise.
_ATTRIBUTES = {"className": "class", "colSpan": "colspan", "rowSpan": "rowspan", "htmlFor": "for"}
#: HTML elements that have no closing tag.
_VOID = {"br", "hr", "wbr"}
#: Elements Markdown's HTML does not carry: an <img> with a data: URL (a sparkline) blanked a whole
#: table in Chromium, so images stay Dash components.
_REFUSED = {"img"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def static_html(component: Any, *, class_name: str = "fw-static") -> dcc.Markdown:
    """``component`` (``dash.html`` elements and text only) as one component rendering the same DOM.

    Raises ValueError on anything interactive (a ``dcc`` component, an element with an ``id`` or an
    event prop): such a subtree must stay Dash components, or its callbacks would silently stop; and on
    an image, which Markdown's HTML does not show.
    """
    return dcc.Markdown(render(component), dangerously_allow_html=True, className=class_name)


def render(component: Any) -> str:
    """The HTML of ``component``: text escaped, attributes quoted and escaped, no newline (a blank
    line would end Markdown's HTML block and let Markdown read the rest)."""
    if component is None or isinstance(component, bool):
        return ""
    if isinstance(component, (str, int, float)):
        return _escape(str(component))
    if isinstance(component, (list, tuple)):
        return "".join(render(c) for c in component)
    if not isinstance(component, Component) or component._namespace != "dash_html_components":
        raise ValueError(f"static_html renders dash.html elements and text only, not {type(component).__name__}")
    props = component.to_plotly_json()["props"]
    tag = component._type.lower()
    if tag in _REFUSED:
        raise ValueError(f"static_html cannot render <{tag}>: Markdown does not show it")
    attributes = "".join(_attribute(tag, name, value) for name, value in props.items() if name != "children")
    if tag in _VOID:
        return f"<{tag}{attributes}>"
    return f"<{tag}{attributes}>{render(props.get('children'))}</{tag}>"


def _attribute(tag: str, name: str, value: Any) -> str:
    if name == "disable_n_clicks" or (name.startswith("n_clicks") and not value):
        return ""  # Dash's click bookkeeping, unused
    if name == "id" or name.startswith(("n_clicks", "on")):
        raise ValueError(f"static_html cannot render <{tag}> with {name!r}: it is interactive")
    if value is None or value is False:
        return ""
    if name == "style":
        value = ";".join(f"{_CAMEL.sub('-', key).lower()}:{v}" for key, v in value.items())
    elif value is True:
        value = ""
    return f' {_ATTRIBUTES.get(name, name)}="{_escape(str(value))}"'


def _escape(text: str) -> str:
    return html_text.escape(text, quote=True).replace("\r", "").replace("\n", "&#10;")
