"""The global filters every page reads from its URL: ``?range=`` and ``?channel=&erp=&fulfiller=``.

One parser for all pages: a value it does not know (a stale bookmark, a typo, a system that left the
estate) falls back to "all" rather than failing. Pure builders for the shell's filter bar beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from dash import dcc, html

from models.queries.common import RANGES
from models.queries.scope import ALL, SCOPE_KINDS, Scope

DIMENSIONS = tuple(SCOPE_KINDS)
LABELS = {"channel": "Channel", "erp": "ERP", "fulfiller": "3PL / WMS"}
ALL_LABELS = {"channel": "All channels", "erp": "All ERPs", "fulfiller": "All 3PLs / WMS"}
#: What a link from one page to another keeps of the URL.
CARRIED = ("range", *DIMENSIONS)
#: Pages whose own period word (``?period=7d|30d``) is also a range.
PERIOD_KEY = "period"


@dataclass(frozen=True)
class GlobalFilters:
    """The time range (None: the page's own default) and the channel / ERP / fulfiller scope."""

    range: str | None = None
    scope: Scope = ALL


def known_systems(estate: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Per dimension, the system ids it may name (from rows with ``system_id`` and ``kind``)."""
    known: dict[str, set[str]] = {dim: set() for dim in DIMENSIONS}
    for system in estate:
        for dim, kinds in SCOPE_KINDS.items():
            if system.get("kind") in kinds:
                known[dim].add(str(system["system_id"]))
    return known


def parse_filters(query: Mapping[str, Any], known: Mapping[str, set[str]]) -> GlobalFilters:
    """The filters a URL query names; unknown ranges and systems (or any non-text value) mean "all"."""

    def text(key: str) -> str | None:
        value = query.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    range_ = text("range")
    chosen = {dim: text(dim) for dim in DIMENSIONS}
    return GlobalFilters(
        range=range_ if range_ in RANGES else None,
        scope=Scope(**{dim: value if value in known.get(dim, set()) else None for dim, value in chosen.items()}),
    )


def parse_search(search: str | None, known: Mapping[str, set[str]]) -> GlobalFilters:
    """:func:`parse_filters` of a ``location.search`` string (``?a=b&…``)."""
    return parse_filters(dict(parse_qsl((search or "").lstrip("?"))), known)


def carried_search(search: str | None) -> str:
    """The part of a URL query a link to another page keeps (``?range=7d&channel=shopify``, or ""):
    the range (or a page's ``period``, which is one) and the channel / ERP / fulfiller."""
    params = dict(parse_qsl((search or "").lstrip("?")))
    if "range" not in params and params.get(PERIOD_KEY) in RANGES:
        params["range"] = params[PERIOD_KEY]
    kept = {key: params[key] for key in CARRIED if params.get(key)}
    return "?" + urlencode(kept) if kept else ""


def dropdown_options(systems: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, str]]]:
    """Each dimension's dropdown options from :func:`models.queries.scope.scope_systems`."""
    return {dim: [{"label": s["name"], "value": s["system_id"]} for s in systems.get(dim, [])] for dim in DIMENSIONS}


def not_applicable(page: Mapping[str, Any]) -> dict[str, str]:
    """Per dimension a page does not filter by, why (its registry entry's ``filters`` and ``filters_note``)."""
    applies = page.get("filters", ())
    note = page.get("filters_note") or "This page does not filter by it"
    return {dim: note for dim in DIMENSIONS if dim not in applies}


def filter_bar() -> html.Div:
    """The shell's channel / ERP / 3PL pickers (options, values and what applies come by callback)."""
    return html.Div(
        className="filter-bar",
        id="fw-filter-bar",
        role="group",
        **{"aria-label": "Global filters"},
        children=[
            html.Span("Filter", className="filter-bar-title"),
            *(
                html.Label(
                    [
                        html.Span(LABELS[dim], className="filter-label"),
                        dcc.Dropdown(
                            id=f"fw-f-{dim}",
                            options=[],
                            placeholder=ALL_LABELS[dim],
                            searchable=False,
                            className="filter-picker",
                        ),
                    ],
                    id=f"fw-f-{dim}-label",
                    className="filter-field",
                )
                for dim in DIMENSIONS
            ),
        ],
    )
