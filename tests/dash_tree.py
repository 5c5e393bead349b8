"""Read Dash component trees in builder tests: their text, and the nodes carrying a prop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def walk(component: Any) -> Iterator[Any]:
    """Every component in the tree, depth first, the root included."""
    if component is None or isinstance(component, str | int | float):
        return
    if isinstance(component, list | tuple):
        for child in component:
            yield from walk(child)
        return
    yield component
    yield from walk(getattr(component, "children", None))


def text(component: Any) -> str:
    """All the text a person would read, space-joined."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(t for t in (text(c) for c in component) if t)
    return text(getattr(component, "children", None))


def props(component: Any) -> dict[str, Any]:
    """A component's props, data-* attributes included."""
    return component.to_plotly_json()["props"]


def having(component: Any, prop: str, value: Any = None) -> list[Any]:
    """Components whose ``prop`` is set (to ``value``, when given)."""
    found = []
    for node in walk(component):
        p = props(node)
        if prop in p and (value is None or p[prop] == value):
            found.append(node)
    return found


def with_class(component: Any, name: str) -> list[Any]:
    """Components whose className includes ``name``."""
    return [n for n in walk(component) if name in (props(n).get("className") or "").split()]
