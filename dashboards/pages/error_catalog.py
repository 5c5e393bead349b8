"""Error catalog admin: the known error classes in match order; edit a class's explanation, runbook and
safe action, or revert it to the catalogue file. ``?class=<id>`` opens one.

Each edit is one call of the same service as ``PUT /api/v1/error-classes/{id}`` (and Revert of
``DELETE``), as the logged-in admin (an admin-only page; the callback refuses anyone else).
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from app.services import error_catalog
from app.services.errors import ServiceError
from dashboards.app import acting_as, acts, current_ctx
from dashboards.components.error_catalog import changes_from_form, class_table, form_values
from dashboards.components.exception_detail import SAFE_ACTION_TEXT
from dashboards.components.layout import card, page_header
from models.enums import Access
from models.queries.error_classes import list_error_classes

dash.register_page(
    __name__, path="/error-catalog", name="Error catalog", title="Error catalog · Flowwatch", order=85, admin_only=True
)


def _field(label: str, component: Any) -> html.Label:
    return html.Label([html.Span(label, className="ec-label"), component], className="ec-field")


def layout(**query: str) -> html.Div:
    """The catalog, with the class ``?class=`` open in the editor."""
    return html.Div(
        className="page",
        children=[
            dcc.Store(id="ec-class", data=query.get("class") or None),
            dcc.Store(id="ec-saved", data=0),
            page_header(
                "Error catalog",
                "Known errors of the ERPs, storefronts and 3PLs: what they mean, the runbook and the safe action",
                [],
            ),
            html.Div(
                className="grid",
                children=[
                    card(
                        "Classes",
                        "In match order: the first that recognises an error explains it",
                        html.Div(id="ec-list", className="table-wrap"),
                        span=6,
                    ),
                    card(
                        "Edit",
                        "Your edit wins over the catalogue file until you revert it",
                        html.Div(
                            [
                                html.H3(id="ec-name"),
                                _field("Explanation", dcc.Textarea(id="ec-explanation", className="ec-text")),
                                _field(
                                    "Runbook (Markdown)", dcc.Textarea(id="ec-runbook", className="ec-text ec-tall")
                                ),
                                _field(
                                    "Safe action",
                                    dcc.Dropdown(
                                        id="ec-action",
                                        clearable=False,
                                        searchable=False,
                                        options=[{"label": t, "value": v} for v, t in SAFE_ACTION_TEXT.items()],
                                    ),
                                ),
                                _field("Suggested patch (JSON Patch, edit and replay)", dcc.Input(id="ec-patch")),
                                _field("Resolve reason", dcc.Input(id="ec-reason")),
                                html.Div(
                                    [
                                        html.Button("Save", id="ec-save", className="button-primary"),
                                        html.Button("Revert to file", id="ec-revert", className="button-quiet"),
                                    ],
                                    className="ec-buttons",
                                ),
                                html.Div(id="ec-message", className="ec-message", role="status"),
                                html.H3("Runbook preview"),
                                dcc.Markdown(id="ec-preview", className="ex-runbook"),
                            ],
                            id="ec-editor",
                        ),
                        span=6,
                    ),
                ],
            ),
        ],
    )


def _row(class_id: str | None) -> dict[str, Any] | None:
    if not class_id:
        return None
    with current_ctx().engine.connect() as conn:
        return next((c for c in list_error_classes(conn) if c["class_id"] == class_id), None)


@dash.callback(
    Output("ec-list", "children"),
    Output("ec-name", "children"),
    *(Output(f"ec-{name}", "value") for name in ("explanation", "runbook", "action", "patch", "reason")),
    Input("ec-class", "data"),
    Input("ec-saved", "data"),
)
def _load(class_id: str | None, _saved: int) -> tuple[Any, ...]:
    """The list, and the open class's fields as stored (after a save or revert, too)."""
    with current_ctx().engine.connect() as conn:
        classes = list_error_classes(conn)
    row = next((c for c in classes if c["class_id"] == class_id), None)
    name = row["name"] if row else "Pick a class"
    return (class_table(classes, selected=class_id), name, *form_values(row))


@dash.callback(Output("ec-preview", "children"), Input("ec-runbook", "value"))
def _preview(runbook: str | None) -> str:
    """The runbook as the workbench's detail panel will show it."""
    return runbook or ""


@dash.callback(
    Output("ec-message", "children"),
    Output("ec-saved", "data"),
    Input("ec-save", "n_clicks"),
    Input("ec-revert", "n_clicks"),
    State("ec-class", "data"),
    *(State(f"ec-{name}", "value") for name in ("explanation", "runbook", "action", "patch", "reason")),
    State("ec-saved", "data"),
    prevent_initial_call=True,
)
@acts(Access.ADMIN)
def _act(_save: int | None, _revert: int | None, class_id: str | None, *rest: Any) -> tuple[Any, ...]:
    """Save the form's changes or revert the class, through the same service as the API."""
    *values, saved = rest
    row = _row(class_id)
    if row is None or class_id is None:
        return "Pick a class first", saved
    ctx = current_ctx()
    try:
        if dash.ctx.triggered_id == "ec-revert":
            after = error_catalog.revert_error_class(ctx, class_id, actor=acting_as())
            message = "Reverted to the catalogue file" if after else "Removed (it was added here)"
        else:
            changes = changes_from_form(row, values)
            if not changes:
                return "Nothing changed", saved
            error_catalog.save_error_class(ctx, class_id, changes, actor=acting_as())
            message = f"Saved {', '.join(changes)}"
    except ServiceError as exc:
        return f"Refused: {exc}", saved
    return message, int(saved or 0) + 1
