"""The workbench page's static furniture: filter bar, bulk bar, the keyed grid, the bulk-replay card, the drawer.

Pure layout (ids prefixed ``ex-``); the page's callbacks fill and switch it. Action buttons
sit in spans that carry their refusal as a tooltip, since a disabled button shows none.
"""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
from dash import dcc, html

from dashboards.components import workbench as wb
from dashboards.components.dialog import confirm_dialog
from dashboards.components.layout import csv_button
from models.enums import ExceptionStatus, FixReason
from models.queries.common import SEVERITIES
from models.queries.exceptions import BAND_LABELS
from models.queries.impact import TIERS

BUTTON_LABELS = {
    "ack": "Acknowledge", "replay": "Replay", "fix": "Fix & replay", "resolve": "Resolve", "ignore": "Ignore",
    "reopen": "Reopen", "assign": "Assign", "severity": "Set", "snooze": "Snooze", "note": "Add note",
    "approve": "Approve & send", "reject": "Reject",
}  # fmt: skip


def _picker(name: str, placeholder: str, options: list[Any], value: Any, *, grow: float = 1) -> html.Div:
    return html.Div(
        dcc.Dropdown(
            id=f"ex-f-{name}", options=options, value=value, multi=True, placeholder=placeholder, className="ex-picker"
        ),
        className="ex-facet",
        style={"flexGrow": grow},
    )


def _known(values: list[str]) -> list[dict[str, str]]:
    """Options standing in for the URL's picks until the real ones load (the dropdown drops a value
    it has no option for, which would silently widen the filter)."""
    return [{"label": v, "value": v} for v in values]


def filters_bar(values: dict[str, Any]) -> html.Div:
    """Search on top, one picker per facet below; every value goes into the URL."""
    status_options = [{"label": s.capitalize(), "value": s} for s in ExceptionStatus]
    kinds = [{"label": label, "value": k} for k, label in wb.KIND_LABELS.items()]
    snoozed = [
        {"label": "Hide snoozed", "value": "hide"},
        {"label": "With snoozed", "value": "include"},
        {"label": "Only snoozed", "value": "only"},
    ]
    return html.Div(
        className="ex-filters",
        children=[
            html.Div(className="ex-filter-row", children=[
                dcc.Input(id="ex-f-q", value=values["q"], debounce=True, type="search", className="ex-input ex-search",
                          placeholder="Search title, error or business key, or paste an order number"),
                dcc.Dropdown(id="ex-f-snoozed", value=values["snoozed"], options=snoozed, clearable=False,
                             searchable=False, className="ex-picker ex-picker-snoozed"),
                html.Button("Reset filters", id="ex-f-reset", className="button-quiet",
                            title="Back to open and acknowledged, everything else any"),
            ]),
            html.Div(className="ex-filter-row ex-facets", children=[
                _picker("status", "Any status", status_options, values["status"], grow=1.5),
                _picker("severity", "Any severity", [{"label": s.capitalize(), "value": s} for s in SEVERITIES],
                        values["severity"]),
                _picker("kind", "Any kind", kinds, values["kind"]),
                _picker("flow", "Any flow", _known(values["flow"]), values["flow"]),
                _picker("system", "Any system", _known(values["system"]), values["system"]),
                _picker("age", "Any age", [{"label": b, "value": b} for b in BAND_LABELS], values["age"]),
                _picker("tier", "Any tier", [{"label": t.capitalize(), "value": t} for t in TIERS], values["tier"]),
                html.Div(dcc.Input(id="ex-f-min", value=values["min"], debounce=True, type="number", min=0,
                                   placeholder="Min value $", className="ex-input"),
                         className="ex-facet", title="Only exceptions whose orders are worth at least this much"),
                dcc.Input(id="ex-f-assignee", value=values["assignee"], debounce=True, type="text",
                          placeholder="Assignee, or “unassigned”", className="ex-input ex-facet"),
            ]),
        ],
    )  # fmt: skip


def bulk_bar(*, can_act: bool = True) -> html.Div:
    """'N selected / M matching', the switch to the whole filtered set, and the bulk actions."""
    return html.Div(
        className="ex-bulkbar",
        children=[
            html.Div(id="ex-selection", className="ex-selection"),
            html.Button(id="ex-select-all", className="button-link", hidden=True),
            html.Div(className="ex-bulk-actions", hidden=not can_act, children=[
                dcc.Input(id="ex-bulk-assignee", placeholder="Assign to…", className="ex-input ex-input-sm",
                          debounce=False),
                html.Button("Assign", id="ex-bulk-assign", className="button-quiet", disabled=True),
                html.Button("Resolve", id="ex-bulk-resolve", className="button-quiet", disabled=True),
                html.Button("Ignore", id="ex-bulk-ignore", className="button-quiet", disabled=True),
                html.Button("Replay…", id="ex-bulk-replay", className="button-primary", disabled=True,
                            title="Plan a bulk replay: a dry run first"),
                csv_button("ex-grid", "exceptions"),
            ]),
        ],
    )  # fmt: skip


def grid() -> dag.AgGrid:
    """The keyed grid on AG Grid's infinite row model: the server answers one block (page) at a time."""
    return dag.AgGrid(
        id="ex-grid",
        columnDefs=wb.GRID_COLUMNS,
        rowModelType="infinite",
        getRowId="params.data.exception_id",
        defaultColDef={"sortable": True, "resizable": True, "suppressMovable": True,
                       "sortingOrder": ["desc", "asc", None]},
        dashGridOptions={
            "rowHeight": wb.ROW_HEIGHT,
            "headerHeight": wb.HEADER_HEIGHT,
            "tooltipShowDelay": 400,
            "suppressCellFocus": True,
            "rowSelection": {"mode": "multiRow", "checkboxes": True, "headerCheckbox": False,
                             "enableClickSelection": False},
            "pagination": True,
            "paginationPageSize": wb.PAGE_SIZE,
            "paginationPageSizeSelector": False,
            "cacheBlockSize": wb.PAGE_SIZE,
            "maxBlocksInCache": 10,
            "infiniteInitialRowCount": 1,
            "localeText": {"noRowsToShow": "No exceptions match these filters"},
        },
        className="ag-theme-quartz fw-grid ex-grid",
        style={"height": f"{wb.MAX_GRID_HEIGHT}px"},
    )  # fmt: skip


def _act(name: str, cls: str = "button-quiet") -> html.Span:
    """An action button in a span carrying its refusal as a tooltip (disabled buttons show none)."""
    return html.Span(
        html.Button(BUTTON_LABELS[name], id={"type": "ex-act", "name": name}, className=cls, disabled=True),
        id={"type": "ex-act-wrap", "name": name},
        className="ex-act",
    )


def _form(label: str, control: Any, button: str) -> html.Div:
    """A labelled control with the button that applies it."""
    return html.Div(
        [html.Div(label, className="ex-label"), html.Div([control, _act(button)], className="ex-form-row")],
        className="ex-form",
    )


def drawer(*, can_act: bool = True) -> html.Aside:
    """The detail panel: header and facts (filled per exception), every action, the fix-and-replay editor.
    Without ``can_act`` (a viewer) the actions are not shown; the callbacks refuse them anyway."""
    severities = [{"label": s.capitalize(), "value": s} for s in SEVERITIES]
    return html.Aside(
        id="ex-drawer",
        className="ex-drawer",
        **{"aria-label": "Exception detail"},
        children=[
            html.Button("×", id="ex-close", className="ex-drawer-close", title="Close (back to the list)"),
            html.Div(id="ex-detail-head", className="ex-detail-head"),
            html.Div(id="ex-detail-facts"),
            html.Div(className="ex-actions", hidden=not can_act, children=[
                html.Div(className="ex-action-row", children=[
                    _act("ack"), _act("replay", "button-primary"), _act("fix"), _act("resolve"), _act("ignore"),
                    _act("reopen"),
                ]),
                html.Div(className="ex-forms", children=[
                    _form("Assign to", dcc.Input(id="ex-assign-to", placeholder="name", className="ex-input"),
                          "assign"),
                    _form("Severity", dcc.Dropdown(id="ex-severity-to", options=severities, clearable=False,
                                                   searchable=False, className="ex-picker"), "severity"),
                    _form("Snooze for", dcc.Dropdown(id="ex-snooze-for", options=list(wb.SNOOZE_CHOICES),
                                                     value="4 hours", clearable=False, searchable=False,
                                                     className="ex-picker"), "snooze"),
                ]),
                html.Div(className="ex-action-row ex-note-row", children=[
                    dcc.Textarea(id="ex-note-text", placeholder="Add a note to the trail…", className="ex-note"),
                    _act("note"),
                ]),
                html.Div(id="ex-approval", className="ex-approval", hidden=True, children=[
                    html.Div(id="ex-approval-note", className="ex-approval-note"),
                    html.Div(className="ex-action-row", children=[
                        _act("approve", "button-primary"), _act("reject"),
                    ]),
                ]),
                html.Div(id="ex-fix", className="ex-fix", hidden=True, children=[
                    html.H3("Fix and replay"),
                    html.P("Edit the payload; the stored original is kept, and the diff and reason are audited.",
                           className="card-sub"),
                    dcc.Textarea(id="ex-fix-text", className="ex-code ex-fix-text", spellCheck=False),
                    html.Div(className="ex-action-row", children=[
                        dcc.Dropdown(id="ex-fix-reason", placeholder="Reason code (required)",
                                     options=[{"label": r.replace("_", " ").capitalize(), "value": r}
                                              for r in FixReason],
                                     clearable=False, searchable=False, className="ex-picker ex-picker-md"),
                        html.Button("Show diff", id="ex-fix-preview", className="button-quiet"),
                        html.Button("Send edited replay", id="ex-fix-send", className="button-primary"),
                    ]),
                    html.Div(id="ex-fix-diff"),
                ]),
            ]),
            html.Div(id="ex-detail-body", className="ex-detail-body"),
        ],
    )  # fmt: skip


def bulk_card() -> html.Section:
    """The bulk replay: its dry run, canary and rate, then the run's progress, controls and per-item results."""
    return html.Section(
        id="ex-bulk-card",
        className="card span-12 ex-bulk-card",
        hidden=True,
        children=[
            html.Div(className="card-head", children=[
                html.Div([html.H2("Bulk replay"),
                          html.P("A dry run first: what would be replayed where, and what is left out",
                                 className="card-sub")]),
                html.Button("Close ✕", id="ex-bulk-close", className="button-quiet"),
            ]),
            html.Div(id="ex-plan"),
            html.Div(id="ex-plan-controls", className="ex-action-row ex-plan-controls", children=[
                html.Label("Canary batch", htmlFor="ex-canary"),
                dcc.Input(id="ex-canary", type="number", min=0, step=1, value=0, className="ex-input ex-input-num"),
                html.Label("Rate (messages/s)", htmlFor="ex-rate"),
                dcc.Input(id="ex-rate", type="number", min=0.1, step=0.1, value=5, className="ex-input ex-input-num"),
                dcc.Checklist(id="ex-dupes", options=[{"label": " Also replay items at duplicate risk",
                                                       "value": "include"}], value=[], className="ex-check"),
                html.Button("Start replay", id="ex-bulk-start", className="button-primary"),
            ]),
            html.Div(id="ex-run-view", className="ex-run-view", children=[
                html.Div(id="ex-run-progress"),
                html.Div(className="ex-action-row", children=[
                    html.Button("Pause", id="ex-run-pause", className="button-quiet", disabled=True),
                    html.Button("Resume", id="ex-run-resume", className="button-quiet", disabled=True),
                    html.Button("Abort", id="ex-run-abort", className="button-quiet button-danger", disabled=True),
                ]),
                html.Div(id="ex-run-items"),
            ], hidden=True),
        ],
    )  # fmt: skip


def bulk_confirmation() -> html.Div:
    """The in-page confirmation of a bulk action (never the browser's confirm()): what will happen,
    in counts, pace and duration, and the buttons to go ahead or not."""
    return confirm_dialog("ex-bulk-ask")
