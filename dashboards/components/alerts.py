"""Alerts page builders: rules with their state, alerts, silences, channels and the notification log,
each from the same JSON the API answers (``GET /api/v1/alerts``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from dash import dcc, html

from alerts.config import SEVERITIES, RuleKind
from dashboards.components.tables import badge

#: Badge colour of each rule / alert / channel state (the theme's health and severity pills).
STATE_BADGE = {
    "firing": "breach", "pending": "warning", "resolved": "ok", "ok": "ok", "nodata": "idle", "error": "breach",
    "disabled": "idle", "failing": "breach", "unused": "idle", "sent": "ok", "failed": "breach",
    "rate_limited": "warning",
}  # fmt: skip


def _when(value: Any) -> str:
    if not value:
        return "—"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{at:%b %-d %H:%M:%S}"


def _table(head: list[str], rows: list[list[Any]], empty: str) -> html.Div | html.Table:
    if not rows:
        return html.Div(empty, className="empty")
    return html.Table(
        className="data-table",
        children=[html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody([html.Tr([html.Td(c) for c in r])
                                                                               for r in rows])],
    )  # fmt: skip


#: How each rule source reads on the page (see app/services/alerts.py: one source of truth per rule).
SOURCE_TEXT = {"file": "rules file", "edited": "file, edited", "api": "API / page"}


def rule_rows(rules: list[dict[str, Any]], *, admin: bool = True) -> list[list[Any]]:
    """One row per rule: name, kind, threshold and for, severity, state, source, why (when not ok), and
    for an admin the actions."""
    rows = []
    for r in rules:
        enabled = r.get("enabled", True)
        edited = f" by {r['updated_by']}" if r.get("updated_by") else ""
        actions = (
            html.Div(
                className="al-actions",
                children=[
                    html.Button("Edit", id={"type": "al-rule-edit", "rule": r["id"]}, className="button-link"),
                    html.Button(
                        "Disable" if enabled else "Enable",
                        id={"type": "al-rule-toggle", "rule": r["id"]},
                        className="button-link" + (" button-danger" if enabled else ""),
                    ),
                ],
            )
            if admin
            else ""
        )
        rows.append(
            [
                html.Span(r["name"], title=r["id"], className="al-rule-name"),
                r["kind"],
                f"≥ {r['threshold']:g} for {r['for']}",
                r["severity"],
                badge(r["state"], STATE_BADGE.get(r["state"], "idle")),
                html.Span(SOURCE_TEXT.get(r.get("defined_in", ""), r.get("defined_in") or ""), title=f"source{edited}"),
                r.get("health_detail") or "",
                actions,
            ]
        )
    return rows


def rules_table(rules: list[dict[str, Any]], *, admin: bool = True) -> html.Div | html.Table:
    head = ["Rule", "Kind", "Condition", "Severity", "State", "Source", "Detail", ""]
    return _table(head, rule_rows(rules, admin=admin), "No rules")


def alert_rows(alerts: dict[str, list[dict[str, Any]]], *, admin: bool = True) -> list[list[Any]]:
    """Firing, then pending, then resolved alerts (an admin may start a silence from each active one)."""
    rows = []
    for state in ("firing", "pending", "resolved"):
        for a in alerts.get(state, []):
            labels = a["labels"]
            health = labels.get("rule_health")  # the rule itself: its query fails or it has no data
            where = (
                f"the rule ({health})"
                if health
                else labels.get("flow") or labels.get("system") or labels.get("queue") or ""
            )
            since = a.get("resolved_at") if state == "resolved" else a.get("firing_since") or a.get("active_since")
            mute = (
                html.Button("Silence…", id={"type": "al-alert-silence", "matchers": silence_matchers_for(labels)},
                            className="button-link", title="Fill the silence form with this alert's labels")
                if state != "resolved" and admin else ""
            )  # fmt: skip
            rows.append(
                [badge(state, STATE_BADGE[state]), a["rule_id"], where, a.get("summary") or "", _when(since), mute]
            )
    return rows


#: The labels a silence made from an alert matches on (the rule, and where it fires), in this order.
SILENCE_LABELS = ("alertname", "flow", "system", "queue", "kind", "rule_health")


def silence_matchers_for(labels: dict[str, str]) -> str:
    """The matchers that select this alert's series: its rule and where it fires."""
    return ", ".join(f'{name}="{labels[name]}"' for name in SILENCE_LABELS if labels.get(name))


def alerts_table(alerts: dict[str, list[dict[str, Any]]], *, admin: bool = True) -> html.Div | html.Table:
    head = ["State", "Rule", "Where", "Summary", "Since", ""]
    return _table(head, alert_rows(alerts, admin=admin), "No alert is firing")


def silence_rows(silences: list[dict[str, Any]], now: datetime, *, admin: bool = True) -> list[list[Any]]:
    """Each silence with its matchers, who, why and until when; an active one has an Expire button for
    an admin."""
    rows = []
    for s in silences:
        ends = datetime.fromisoformat(s["ends_at"]) if isinstance(s["ends_at"], str) else s["ends_at"]
        matchers = ", ".join(f'{m["name"]}{m["op"]}"{m["value"]}"' for m in s["matchers"])
        active = ends > now
        status: Any = "active" if active else (f"ended by {s['expired_by']}" if s.get("expired_by") else "ended")
        expire = (
            html.Button("Expire", id={"type": "al-silence-expire", "silence": s["silence_id"]},
                        className="button-link button-danger")
            if active and admin else ""
        )  # fmt: skip
        rows.append([f"#{s['silence_id']}", matchers, s["author"], s["comment"], _when(s["ends_at"]), status, expire])
    return rows


def silences_table(silences: list[dict[str, Any]], now: datetime, *, admin: bool = True) -> html.Div | html.Table:
    head = ["", "Matchers", "Author", "Comment", "Ends", "Status", ""]
    return _table(head, silence_rows(silences, now, admin=admin), "No silences")


def channel_cards(channels: list[dict[str, Any]], *, can_test: bool = True) -> list[html.Div]:
    """A card per channel: its health (a failing one says why and when it is tried next) and a test button
    (for admins only: ``can_test``)."""
    if not channels:
        return [html.Div("No channel configured: set FLOWWATCH_SLACK_* or FLOWWATCH_SMTP_*", className="empty")]
    out = []
    for c in channels:
        detail = c.get("last_error") or (f"last delivered {_when(c.get('last_success_at'))}"
                                         if c.get("last_success_at") else "nothing sent yet")  # fmt: skip
        if c.get("next_try_at"):
            detail += f" · resting until {_when(c['next_try_at'])}"
        out.append(
            html.Div(
                className="al-channel",
                **{"data-channel": c["channel"]},
                children=[
                    html.Div(
                        className="al-channel-head",
                        children=[
                            html.Strong(c["channel"]),
                            html.Span(f" {c['type']} ", className="al-channel-type"),
                            badge(c["status"], STATE_BADGE.get(c["status"], "idle")),
                        ],
                    ),
                    html.Div(detail, className="card-sub"),
                    *(
                        [
                            html.Button(
                                "Send test", id={"type": "al-test", "channel": c["channel"]}, className="button-quiet"
                            )
                        ]
                        if can_test
                        else []
                    ),
                ],
            )
        )
    return out


def notification_rows(log: list[dict[str, Any]]) -> list[list[Any]]:
    """The notification log, newest first: time, channel, kind, result, detail, what it said."""
    rows = []
    for n in log:
        summary = (n.get("payload") or {}).get("summary") or {}
        said = summary.get("title") or (n.get("payload") or {}).get("text") or ""
        result = badge(n["result"], STATE_BADGE.get(n["result"], "idle"))
        rows.append([_when(n["sent_at"]), n["channel"], n["kind"], result, n.get("detail") or "", str(said)[:160]])
    return rows


def notifications_table(log: list[dict[str, Any]]) -> html.Div | html.Table:
    return _table(["Time", "Channel", "Kind", "Result", "Detail", "Said"], notification_rows(log), "Nothing sent yet")


# -- the admin forms ---------------------------------------------------------------------------
MATCHERS_EXAMPLE = 'flow="shopify-d365-orders", kind=~"dead_letter|delivery_failed"'
#: How long a silence made on the page lasts (it always ends).
SILENCE_FOR = {"1 hour": 1, "2 hours": 2, "4 hours": 4, "8 hours": 8, "1 day": 24, "3 days": 72}
#: The rule fields the page's form edits; every other field of a rule keeps its value on edit.
RULE_FORM_FIELDS = ("id", "name", "kind", "threshold", "for", "severity", "labels", "route", "flow", "description")


def _field(label: str, control: Any, name: str, *, wide: bool = False) -> html.Label:
    return html.Label([html.Span(label, className="al-label"), control],
                      className="al-field" + (" al-field-wide" if wide else ""), **{"data-field": name})  # fmt: skip


def rule_form(routes: list[str]) -> html.Div:
    """The rule editor (hidden until New rule or a rule's Edit opens it)."""
    kinds = [{"label": k.value, "value": k.value} for k in RuleKind]
    return html.Div(
        className="al-form",
        children=[
            _field("Id", dcc.Input(id="al-rf-id", placeholder="e.g. erp-dlq", className="al-input"), "id"),
            _field("Name", dcc.Input(id="al-rf-name", placeholder="What on-call reads", className="al-input"),
                   "name", wide=True),
            _field("Kind", dcc.Dropdown(id="al-rf-kind", options=kinds, clearable=False, className="al-picker"),
                   "kind"),
            _field("Threshold", dcc.Input(id="al-rf-threshold", type="number", min=0, className="al-input"),
                   "threshold"),
            _field("For", dcc.Input(id="al-rf-for", placeholder="5m", className="al-input"), "for"),
            _field("Severity", dcc.Dropdown(id="al-rf-severity", options=list(SEVERITIES), clearable=False,
                                            className="al-picker"), "severity"),
            _field("Route", dcc.Dropdown(id="al-rf-route", options=routes, placeholder="by matchers",
                                         className="al-picker"), "route"),
            _field("Flows", dcc.Input(id="al-rf-flow", placeholder="flow ids, comma separated (any)",
                                      className="al-input"), "flow"),
            _field("Labels", dcc.Input(id="al-rf-labels", placeholder="team=erp, tier=1", className="al-input"),
                   "labels", wide=True),
            _field("Description", dcc.Input(id="al-rf-description", className="al-input"), "description",
                   wide=True),
            html.Div(className="al-form-actions", children=[
                html.Button("Save rule", id="al-rf-save", className="button-primary"),
                html.Button("Cancel", id="al-rf-cancel", className="button-quiet"),
                html.Span(id="al-rf-result", className="al-result", **{"aria-live": "polite"}),
            ]),
        ],
    )  # fmt: skip


def rule_form_values(definition: dict[str, Any] | None) -> list[Any]:
    """The form's values, in RULE_FORM_FIELDS order, for a rule (None: a new rule's defaults)."""
    if definition is None:
        definition = {"id": "", "name": "", "kind": "exceptions", "threshold": 1, "for": "5m", "severity": "high"}
    shown = {
        **{name: definition.get(name) for name in RULE_FORM_FIELDS},
        "flow": ", ".join(definition.get("flow") or []),
        "labels": ", ".join(f"{k}={v}" for k, v in (definition.get("labels") or {}).items()),
        "description": definition.get("description") or "",
    }
    return [shown[name] for name in RULE_FORM_FIELDS]


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def labels_from_text(text: str | None) -> dict[str, str]:
    """``"team=erp, tier=1"`` → ``{"team": "erp", "tier": "1"}``; a part without ``=`` names itself."""
    labels = {}
    for part in _names(text):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"labels: {part!r} is not name=value")
        labels[name.strip()] = value.strip().strip('"')
    return labels


def rule_from_form(values: dict[str, Any]) -> dict[str, Any]:
    """The rule fields the form holds, as the API takes them (empty text is unset)."""
    out: dict[str, Any] = {
        "id": (values.get("id") or "").strip(),
        "name": (values.get("name") or "").strip(),
        "kind": values.get("kind"),
        "threshold": values.get("threshold"),
        "for": (values.get("for") or "").strip() or "0s",
        "severity": values.get("severity"),
        "route": values.get("route") or None,
        "flow": _names(values.get("flow")),
        "labels": labels_from_text(values.get("labels")),
        "description": (values.get("description") or "").strip() or None,
    }
    if out["threshold"] is None:
        out.pop("threshold")  # the service's 422 names it
    return out


def silence_form() -> html.Div:
    """Matchers, how long, and why: the author is the page's "Acting as"."""
    return html.Div(
        className="al-form al-silence-form",
        children=[
            _field("Matchers", dcc.Input(id="al-sf-matchers", placeholder=MATCHERS_EXAMPLE,
                                         className="al-input"), "matchers", wide=True),
            _field("For", dcc.Dropdown(id="al-sf-for", options=list(SILENCE_FOR), value="2 hours", clearable=False,
                                       searchable=False, className="al-picker"), "ends_at"),
            _field("Comment", dcc.Input(id="al-sf-comment", placeholder="Why (e.g. ERP upgrade, CHG-4411)",
                                        className="al-input"), "comment", wide=True),
            html.Div(className="al-form-actions", children=[
                html.Button("Create silence", id="al-sf-create", className="button-primary"),
                html.Span(id="al-sf-result", className="al-result", **{"aria-live": "polite"}),
            ]),
        ],
    )  # fmt: skip


_MATCHER_TEXT = re.compile(r'\s*((?:[^,"]|"(?:[^"\\]|\\.)*")+)\s*(?:,|$)')


def matchers_from_text(text: str | None) -> list[str]:
    """``flow="a", kind=~"x|y"`` → one string per matcher (commas inside quotes kept)."""
    text = (text or "").strip()
    return [m.strip() for m in _MATCHER_TEXT.findall(text) if m.strip()] if text else []


def result_text(ok: bool, text: str) -> html.Span:
    """An action's outcome: green when done, red with the service's reason when refused."""
    return html.Span(text, className="al-ok" if ok else "al-error", **{"data-ok": "true" if ok else "false"})


# -- the audit trail -----------------------------------------------------------------------------
def _short(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_short(v) if not isinstance(v, dict) else _matcher(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, str) and _ISO_TIME.match(value):
        return _when(value)
    return str(value)


_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def _matcher(m: dict[str, Any]) -> str:
    return f'{m.get("name")}{m.get("op")}"{m.get("value")}"'


def _what(state: dict[str, Any]) -> str:
    """One line about a rule, a silence or a Slack link as it was or became."""
    if "kind" in state and "threshold" in state:
        return f"{state['kind']} ≥ {_short(state['threshold'])} for {state.get('for')}"
    if "matchers" in state:
        return f"{_short(state['matchers'])} until {_when(state.get('ends_at'))}: {state.get('comment')}"
    return _short(state)


def change_summary(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """What a change changed: the fields that differ (``threshold: 1 → 5``), or what was made or removed."""
    if before is not None and after is not None:
        keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
        return "; ".join(f"{k}: {_short(before.get(k))} → {_short(after.get(k))}" for k in keys) or "no change"
    if after is not None:
        return _what(after)
    return "was " + _what(before or {})


def change_rows(changes: list[dict[str, Any]]) -> list[list[Any]]:
    """The admin audit trail, newest first: when, who, what, on which, and the change itself."""
    return [
        [_when(c["changed_at"]), c["actor"], c["action"].replace("_", " "), c["target"],
         change_summary(c.get("before"), c.get("after"))]
        for c in changes
    ]  # fmt: skip


def changes_table(changes: list[dict[str, Any]]) -> html.Div | html.Table:
    return _table(["Time", "Who", "Change", "Of", "What changed"], change_rows(changes), "No admin changes yet")
