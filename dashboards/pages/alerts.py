"""Alerts: rules with their state, what is firing, silences, channels (with a test button each) and the
notification log — the same data as ``GET /api/v1/alerts`` — and the admin actions: create, edit,
disable and enable rules, create and expire silences. Each action is one call of
``app/services/alerts``, the same function the API calls."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import dash
from dash import ALL, Input, Output, State, dcc, html
from dash import ctx as dash_ctx

from app.services import alerts as service
from app.services.errors import ServiceError
from dashboards.app import acting_as, acts, can, current_ctx
from dashboards.components.alerts import (
    RULE_FORM_FIELDS,
    SILENCE_FOR,
    alerts_table,
    changes_table,
    channel_cards,
    matchers_from_text,
    notifications_table,
    result_text,
    rule_form,
    rule_form_values,
    rule_from_form,
    rules_table,
    silence_form,
    silences_table,
)
from dashboards.components.layout import card, page_header
from models.enums import Access

dash.register_page(
    __name__, path="/alerts", name="Alerts", title="Alerts · Flowwatch", order=80,
    filters_note="Alert rules watch the whole estate; a rule's own conditions say what it covers",
)  # fmt: skip

EDITOR_NOTE = (
    "The fields every rule has; its other settings (kinds, windows…) are kept as they are. "
    "PUT/PATCH /api/v1/alerts/rules edits all of them."
)
_FORM_IDS = [f"al-rf-{name}" for name in RULE_FORM_FIELDS]


def layout(**_query: str) -> html.Div:
    """The alerts page (no I/O here: the first refresh fills it). Rules, silences and tests are an
    admin's: others see no controls for them, and the callbacks refuse them anyway."""
    ctx = current_ctx()
    admin = can(Access.ADMIN)
    return html.Div(
        className="page al-page",
        children=[
            dcc.Interval(id="al-interval", interval=ctx.settings.refresh_seconds * 1000),
            dcc.Store(id="al-changed"),
            dcc.Store(id="al-editing"),
            page_header(
                "Alerts",
                "What on-call is told, through which channel, and what is muted",
                [html.Span(id="al-updated", className="updated", children="loading…")],
            ),
            html.Div(
                className="grid",
                children=[
                    card(
                        "Firing and pending",
                        "Alerts by state",
                        html.Div(id="al-alerts", className="table-wrap"),
                        span=8,
                    ),
                    card(
                        "Channels",
                        "Health from the notification log",
                        html.Div(id="al-channels", className="al-channels"),
                        span=4,
                        controls=html.Span(id="al-test-result", className="al-result", **{"aria-live": "polite"}),
                    ),
                    card(
                        "Rules",
                        "From the rules file, edited, or made here; an edit applies on the next evaluation",
                        html.Div(id="al-rules", className="table-wrap"),
                        span=12,
                        controls=[
                            html.Span(id="al-rules-result", className="al-result", **{"aria-live": "polite"}),
                            html.Button("New rule", id="al-rule-new", className="button-primary", hidden=not admin),
                        ],
                    ),
                    html.Section(
                        id="al-editor",
                        hidden=True,
                        className="card span-12 al-editor",
                        children=[
                            html.Div(
                                className="card-head",
                                children=[
                                    html.Div(
                                        [
                                            html.H2("New rule", id="al-editor-title"),
                                            html.P(
                                                EDITOR_NOTE,
                                                className="card-sub",
                                            ),
                                        ]
                                    )
                                ],
                            ),
                            rule_form(service.route_names(ctx)),
                        ],
                    ),
                    card(
                        "Silences",
                        "Mute the alerts the matchers select until the silence ends; a comment is required",
                        html.Div(
                            [
                                html.Div(silence_form(), hidden=not admin),
                                html.Div(id="al-silences", className="table-wrap"),
                            ]
                        ),
                        span=12,
                    ),
                    card(
                        "Notification log",
                        "Each notification's channel, time, result and content",
                        html.Div(id="al-log", className="table-wrap"),
                        span=12,
                    ),
                    card(
                        "Admin changes",
                        "Who changed which rule, silence or Slack link, and how (GET /api/v1/alerts/changes)",
                        html.Div(id="al-changes", className="table-wrap"),
                        span=12,
                    ),
                ],
            ),
        ],
    )


def _pressed() -> Any:
    """The id of the button really clicked (re-rendered buttons fire with no clicks), else None."""
    triggered = dash_ctx.triggered
    if not triggered or not triggered[0].get("value"):
        return None
    return dash_ctx.triggered_id


def _changed() -> str:
    return uuid.uuid4().hex


@dash.callback(
    Output("al-alerts", "children"),
    Output("al-channels", "children"),
    Output("al-rules", "children"),
    Output("al-silences", "children"),
    Output("al-log", "children"),
    Output("al-changes", "children"),
    Output("al-updated", "children"),
    Input("al-interval", "n_intervals"),
    Input("al-test-result", "children"),
    Input("al-changed", "data"),
)
def _refresh(_tick: int | None, _tested: Any, _changed_token: Any) -> tuple[Any, ...]:
    ctx = current_ctx()
    with ctx.engine.connect() as conn:
        data = service.overview(ctx, conn, notifications=50)
    now, admin = data["as_of"], can(Access.ADMIN)
    return (
        alerts_table(data["alerts"], admin=admin),
        channel_cards(data["channels"], can_test=admin),
        rules_table(data["rules"], admin=admin),
        silences_table(data["silences"], now, admin=admin),
        notifications_table(data["notifications"]),
        changes_table(data["changes"]),
        f"Updated {now:%H:%M:%S} UTC",
    )


@dash.callback(
    Output("al-test-result", "children"),
    Input({"type": "al-test", "channel": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
@acts(Access.ADMIN)
def _send_test(_clicks: list[int | None]) -> Any:
    """Send a test notification through the channel whose button was pressed."""
    pressed = _pressed()
    if not isinstance(pressed, dict):
        return dash.no_update
    channel = pressed["channel"]
    ctx = current_ctx()
    if ctx.alerts is None:
        return result_text(False, "alerting is not running")
    (result,) = ctx.alerts.send_test(ctx.now(), [channel])
    return result_text(result["ok"], f"{channel}: {'delivered' if result['ok'] else 'failed — ' + result['detail']}")


# -- rules -----------------------------------------------------------------------------------------
@dash.callback(
    Output("al-editor", "hidden"),
    Output("al-editor-title", "children"),
    Output("al-editing", "data"),
    Output("al-rf-id", "disabled"),
    Output("al-rf-result", "children"),
    *[Output(i, "value") for i in _FORM_IDS],
    Input("al-rule-new", "n_clicks"),
    Input({"type": "al-rule-edit", "rule": ALL}, "n_clicks"),
    Input("al-rf-cancel", "n_clicks"),
    prevent_initial_call=True,
)
def _open_editor(_new: int | None, _edits: list[int | None], _cancel: int | None) -> tuple[Any, ...]:
    """New rule: an empty form; Edit: the rule's fields; Cancel: closed."""
    pressed = _pressed()
    keep = [dash.no_update] * len(_FORM_IDS)
    if pressed is None:
        return (dash.no_update,) * 5 + tuple(keep)
    if pressed == "al-rf-cancel":
        return (True, dash.no_update, None, False, "", *keep)
    if pressed == "al-rule-new":
        return (False, "New rule", None, False, "", *rule_form_values(None))
    rule_id = pressed["rule"]
    try:
        definition = service.rule_definition(current_ctx(), rule_id)
    except ServiceError as exc:
        return (False, f"Edit rule {rule_id}", None, True, result_text(False, str(exc)), *keep)
    return (False, f"Edit rule {rule_id}", rule_id, True, "", *rule_form_values(definition))


@dash.callback(
    Output("al-rf-result", "children", allow_duplicate=True),
    Output("al-rules-result", "children", allow_duplicate=True),
    Output("al-changed", "data", allow_duplicate=True),
    Output("al-editor", "hidden", allow_duplicate=True),
    Input("al-rf-save", "n_clicks"),
    State("al-editing", "data"),
    *[State(i, "value") for i in _FORM_IDS],
    prevent_initial_call=True,
)
@acts(Access.ADMIN)
def _save_rule(clicks: int | None, editing: str | None, *values: Any) -> tuple[Any, ...]:
    """Create the rule, or change the edited one's form fields (its other settings stay)."""
    if not clicks:
        return (dash.no_update,) * 4
    ctx = current_ctx()
    try:
        fields = rule_from_form(dict(zip(RULE_FORM_FIELDS, values, strict=True)))
        if editing:
            fields.pop("id")
            saved = service.patch_rule(ctx, editing, fields, actor=acting_as())
        else:
            saved = service.save_rule(ctx, service.rule_from(fields), actor=acting_as())
    except (ServiceError, ValueError) as exc:
        return result_text(False, str(exc)), dash.no_update, dash.no_update, False
    verb = "saved" if editing else "created"
    done = result_text(True, f"Rule {saved['rule_id']} {verb} by {saved['updated_by']}; applies on the next evaluation")
    return "", done, _changed(), True


@dash.callback(
    Output("al-rules-result", "children", allow_duplicate=True),
    Output("al-changed", "data", allow_duplicate=True),
    Input({"type": "al-rule-toggle", "rule": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
@acts(Access.ADMIN)
def _toggle_rule(_clicks: list[int | None]) -> tuple[Any, Any]:
    """Disable an enabled rule (its alerts resolve) or enable a disabled one."""
    pressed = _pressed()
    if not isinstance(pressed, dict):
        return dash.no_update, dash.no_update
    ctx = current_ctx()
    try:
        enabled = service.rule_definition(ctx, pressed["rule"])["enabled"]
        row = service.set_rule_enabled(ctx, pressed["rule"], not enabled, actor=acting_as())
    except ServiceError as exc:
        return result_text(False, str(exc)), dash.no_update
    verb = "enabled" if row["enabled"] else "disabled"
    return result_text(True, f"Rule {row['rule_id']} {verb} by {row['updated_by']}"), _changed()


# -- silences --------------------------------------------------------------------------------------
@dash.callback(
    Output("al-sf-result", "children"),
    Output("al-changed", "data", allow_duplicate=True),
    Output("al-sf-comment", "value"),
    Input("al-sf-create", "n_clicks"),
    State("al-sf-matchers", "value"),
    State("al-sf-for", "value"),
    State("al-sf-comment", "value"),
    prevent_initial_call=True,
)
@acts(Access.ADMIN)
def _create_silence(
    clicks: int | None, matchers: str | None, lasts: str | None, comment: str | None
) -> tuple[Any, Any, Any]:
    """A silence from the form; the service refuses one without matchers, comment or author."""
    if not clicks:
        return dash.no_update, dash.no_update, dash.no_update
    ctx = current_ctx()
    hours = SILENCE_FOR.get(lasts or "")
    try:
        made = service.create_silence(
            ctx,
            matchers=matchers_from_text(matchers),
            ends_at=ctx.now() + timedelta(hours=hours) if hours else None,
            author=acting_as(),
            comment=comment or "",
        )
    except ServiceError as exc:
        return result_text(False, str(exc)), dash.no_update, dash.no_update
    text = f"Silence #{made['silence_id']} by {made['author']} until {made['ends_at']:%b %-d %H:%M} UTC"
    return result_text(True, text), _changed(), ""


@dash.callback(
    Output("al-sf-result", "children", allow_duplicate=True),
    Output("al-changed", "data", allow_duplicate=True),
    Input({"type": "al-silence-expire", "silence": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
@acts(Access.ADMIN)
def _expire_silence(_clicks: list[int | None]) -> tuple[Any, Any]:
    """End a silence now."""
    pressed = _pressed()
    if not isinstance(pressed, dict):
        return dash.no_update, dash.no_update
    try:
        ended = service.expire_silence(current_ctx(), int(pressed["silence"]), actor=acting_as())
    except ServiceError as exc:
        return result_text(False, str(exc)), dash.no_update
    return result_text(True, f"Silence #{ended['silence_id']} expired by {ended['expired_by']}"), _changed()


@dash.callback(
    Output("al-sf-matchers", "value"),
    Output("al-sf-result", "children", allow_duplicate=True),
    Input({"type": "al-alert-silence", "matchers": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def _silence_from_alert(_clicks: list[int | None]) -> tuple[Any, Any]:
    """An alert's Silence…: its matchers in the form, for the person to say why and for how long."""
    pressed = _pressed()
    if not isinstance(pressed, dict):
        return dash.no_update, dash.no_update
    return pressed["matchers"], result_text(True, "Matchers from the alert: add a comment, then Create silence")
