"""Alerts page builders: rules with their state, alerts, silences, channels and the notification log,
each from the same JSON the API answers (``GET /api/v1/alerts``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import html

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


def rule_rows(rules: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per rule: name, kind, threshold and for, severity, state (with why, when not ok)."""
    return [
        [
            html.Span(r["name"], title=r["id"]),
            r["kind"],
            f"≥ {r['threshold']:g} for {r['for']}",
            r["severity"],
            badge(r["state"], STATE_BADGE.get(r["state"], "idle")),
            r.get("health_detail") or "",
        ]
        for r in rules
    ]


def rules_table(rules: list[dict[str, Any]]) -> html.Div | html.Table:
    return _table(["Rule", "Kind", "Condition", "Severity", "State", "Detail"], rule_rows(rules), "No rules")


def alert_rows(alerts: dict[str, list[dict[str, Any]]]) -> list[list[Any]]:
    """Firing, then pending, then resolved alerts."""
    rows = []
    for state in ("firing", "pending", "resolved"):
        for a in alerts.get(state, []):
            where = a["labels"].get("flow") or a["labels"].get("system") or a["labels"].get("queue") or ""
            since = a.get("resolved_at") if state == "resolved" else a.get("firing_since") or a.get("active_since")
            rows.append([badge(state, STATE_BADGE[state]), a["rule_id"], where, a.get("summary") or "", _when(since)])
    return rows


def alerts_table(alerts: dict[str, list[dict[str, Any]]]) -> html.Div | html.Table:
    return _table(["State", "Rule", "Where", "Summary", "Since"], alert_rows(alerts), "No alert is firing")


def silence_rows(silences: list[dict[str, Any]], now: datetime) -> list[list[Any]]:
    """Each silence with its matchers, who, why and until when (ended ones say so)."""
    rows = []
    for s in silences:
        ends = datetime.fromisoformat(s["ends_at"]) if isinstance(s["ends_at"], str) else s["ends_at"]
        matchers = ", ".join(f'{m["name"]}{m["op"]}"{m["value"]}"' for m in s["matchers"])
        status = "active" if ends > now else "ended"
        rows.append([f"#{s['silence_id']}", matchers, s["author"], s["comment"], _when(s["ends_at"]), status])
    return rows


def silences_table(silences: list[dict[str, Any]], now: datetime) -> html.Div | html.Table:
    return _table(["", "Matchers", "Author", "Comment", "Ends", "Status"], silence_rows(silences, now), "No silences")


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
                children=[
                    html.Strong(c["channel"]),
                    html.Span(f" {c['type']} "),
                    badge(c["status"], STATE_BADGE.get(c["status"], "idle")),
                    html.Div(detail, className="card-sub"),
                    *(
                        [html.Button("Send test", id={"type": "al-test", "channel": c["channel"]}, className="btn")]
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
