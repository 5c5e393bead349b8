"""Error catalog admin builders: the classes in match order, and a class's edit as a change set.

Pure functions: the page hands them what ``models.queries.error_classes`` returns and gives the
change set to ``app.services.error_catalog.save_error_class`` (which validates it like the file).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from dash import dcc, html

from dashboards.components.exception_detail import SAFE_ACTION_TEXT

#: The fields the page's form edits, in form order.
FORM_FIELDS = ("explanation", "runbook", "action", "suggested_patch", "resolve_reason")


def class_table(classes: Sequence[dict[str, Any]], *, selected: str | None) -> html.Table | html.Div:
    """Order, name (a link selecting the class), what it matches, the safe action and who edited it."""
    if not classes:
        return html.Div("The catalog is empty", className="empty-state")
    rows = [
        html.Tr(
            className="is-selected" if c["class_id"] == selected else "",
            children=[
                html.Td(str(c["position"] + 1), className="num"),
                html.Td(dcc.Link(c["name"], href=f"/error-catalog?class={quote(c['class_id'])}", className="ec-link")),
                html.Td(", ".join(c["codes"]) or "—", className="ec-codes"),
                html.Td(SAFE_ACTION_TEXT.get(c["action"], c["action"]).split(":")[0]),
                html.Td(
                    "file" if c["updated_by"] is None and c["origin"] == "config" else f"edited by {c['updated_by']}"
                ),
            ],
            **{"data-class": c["class_id"]},
        )
        for c in classes
    ]
    head = html.Thead(html.Tr([html.Th("#", className="num"), html.Th("Class"), html.Th("Codes"),
                               html.Th("Safe action"), html.Th("Source")]))  # fmt: skip
    return html.Table([head, html.Tbody(rows)], className="data-table ec-table")


def form_values(row: dict[str, Any] | None) -> list[str]:
    """The form's values for ``row`` (empty strings for a missing class or field), in :data:`FORM_FIELDS` order."""
    return ["" if row is None or row.get(f) is None else str(row[f]) for f in FORM_FIELDS]


def changes_from_form(row: dict[str, Any], values: Sequence[str | None]) -> dict[str, Any]:
    """Only the fields the form changed; an emptied optional field becomes null."""
    changes: dict[str, Any] = {}
    for field, value in zip(FORM_FIELDS, values, strict=True):
        new = (value or "").strip() or None
        if field in ("explanation", "runbook", "action") and new is None:
            new = ""  # required: the service refuses it naming the field
        old = row.get(field)
        if (old or None) != (new or None):
            changes[field] = new
    return changes
