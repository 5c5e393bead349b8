"""What a notification says, built once per group and rendered for each channel: Slack Block Kit (and
its fallback text) and an email's text and HTML parts, from the same facts.

Block Kit limits are kept by construction: a handful of blocks (≤ 50), section texts cut at 3,000
characters with "and N more" and a link to the rest, headers at 150, button values short.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from alerts.config import RuleKind
from models.queries.alert_signals import Impact

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_LIST = 10  # examples listed before "and N more"
ICON = {"firing": "🔴", "resolved": "✅", "test": "🧪"}


@dataclass(frozen=True)
class AlertLine:
    """One alert of the group, as a line of the message."""

    rule: str
    summary: str
    labels: dict[str, str]
    since: datetime | None


@dataclass(frozen=True)
class GroupView:
    """Everything a notification of one alert group says."""

    group_key: str
    episode: int
    status: str  # firing, resolved
    title: str
    severity: str
    alerts: list[AlertLine]
    impact: Impact
    base_url: str
    started_at: datetime
    now: datetime
    group_labels: dict[str, str] = field(default_factory=dict)
    likely_cause: str | None = None
    resolved_at: datetime | None = None
    muted: int = 0  # alerts of the group not shown: silenced, inhibited or in maintenance


def links(view: GroupView) -> dict[str, str]:
    """Links into Flowwatch: the filtered workbench, the flow, the top exception, the alerts page."""
    base = view.base_url.rstrip("/")
    labels = view.group_labels
    query = {k: labels[k] for k in ("flow", "system") if labels.get(k)}
    kind = labels.get("kind")
    if kind and kind not in {str(k) for k in RuleKind} | {
        "exceptions",
        "rule_health",
    }:  # an exception kind: filter on it
        query["kind"] = kind
    out = {"workbench": f"{base}/exceptions" + (f"?{urlencode(query)}" if query else "")}
    if labels.get("flow"):
        out["flow"] = f"{base}/flows?{urlencode({'flow': labels['flow']})}"
    if view.impact.top_exceptions:
        out["exception"] = f"{base}/exceptions?id={view.impact.top_exceptions[0]['exception_id']}"
    out["alerts"] = f"{base}/alerts"
    return out


def order_url(view: GroupView, order: object) -> str:
    """One order's timeline in Flowwatch."""
    return f"{view.base_url.rstrip('/')}/orders?id={quote(str(order), safe='')}"


def money(value: float) -> str:
    """The demo's orders are in USD."""
    return f"${value:,.2f}"


def when(at: datetime | None, now: datetime) -> str:
    """``Mar 4 18:00 UTC (in 3 h)`` / ``(5 h ago)``."""
    if at is None:
        return "—"
    delta = (at - now).total_seconds()
    span = abs(delta)
    rel = f"{span / 3600:.0f} h" if span >= 5400 else f"{span / 60:.0f} min"
    return f"{at:%b %-d %H:%M} UTC ({'in ' + rel if delta >= 0 else rel + ' ago'})"


def _esc(text: str) -> str:
    """Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, text: str) -> str:
    return f"<{url}|{_esc(text)}>"


def fit(lines: list[str], total: int, more_url: str, *, limit: int = MAX_SECTION) -> str:
    """As many ``lines`` as fit in ``limit`` characters, then "and N more" (of ``total``) with a link."""
    shown: list[str] = []
    for line in lines:
        tail = f"\n…and {total - len(shown) - 1:,} more — {_link(more_url, 'see all in Flowwatch')}"
        if sum(len(s) + 1 for s in shown) + len(line) + len(tail) > limit:
            break
        shown.append(line)
    text = "\n".join(shown)
    if total > len(shown):
        text += f"\n…and {total - len(shown):,} more — {_link(more_url, 'see all in Flowwatch')}"
    return text[:limit]


def headline(view: GroupView) -> str:
    """``🔴 FIRING · title`` within Slack's header limit."""
    text = f"{ICON.get(view.status, '')} {view.status.upper()} · {view.title}"
    return text if len(text) <= MAX_HEADER else text[: MAX_HEADER - 1] + "…"


def facts(view: GroupView) -> list[tuple[str, str]]:
    """The business impact, as (label, value) pairs every channel shows."""
    imp = view.impact
    value = money(imp.value_at_risk)
    if imp.orders and imp.valued_orders < imp.orders:
        value += f" ({imp.valued_orders:,} of {imp.orders:,} orders valued)"
    acked = f" · {imp.acknowledged:,} acknowledged" if imp.acknowledged else ""
    out = [
        ("Orders affected", f"{imp.orders:,}"),
        ("Value at risk", value),
        ("Earliest ship-by", when(imp.earliest_ship_by, view.now)),
        ("Customer tier", imp.customer_tier or "not known"),
        ("Exceptions", f"{imp.exceptions:,}{acked}"),
        ("Severity", view.severity),
        ("Likely cause", view.likely_cause or "not found yet"),
    ]
    if imp.assignees:
        out.append(("Assigned to", ", ".join(imp.assignees)[:200]))
    return out


def status_line(view: GroupView) -> str:
    """Since when, and for the resolved state how long it lasted."""
    if view.status == "resolved" and view.resolved_at is not None:
        minutes = (view.resolved_at - view.started_at).total_seconds() / 60
        return f"Resolved at {view.resolved_at:%H:%M} UTC after {minutes:.0f} min"
    muted = f" · {view.muted} muted (silenced, inhibited or in maintenance)" if view.muted else ""
    return f"Firing since {view.started_at:%b %-d %H:%M} UTC{muted}"


def slack_blocks(view: GroupView, *, actions: bool = True) -> list[dict[str, Any]]:
    """The group as Block Kit: header, summary, impact, alerts, top orders, labels, action buttons."""
    url = links(view)
    alert_lines = [f"• *{_esc(a.rule)}*: {_esc(a.summary)}" for a in view.alerts]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline(view), "emoji": True}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": fit(alert_lines, len(alert_lines), url["alerts"])},
        },
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{_esc(v)}"[:2000]} for k, v in facts(view)][:10],
        },
    ]
    if view.impact.top_orders:
        order_lines = [
            f"• {_link(order_url(view, o['correlation_id']), str(o['correlation_id']))}"
            + (f" {money(float(o['order_value']))}" if o.get("order_value") is not None else "")
            for o in view.impact.top_orders[:MAX_LIST]
        ]
        text = "*Top orders*\n" + fit(order_lines, view.impact.orders, url["workbench"], limit=MAX_SECTION - 20)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    context = [status_line(view)] + [f"{k}={v}" for k, v in sorted(view.group_labels.items()) if v]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _esc(" · ".join(context))[:2000]}]})
    if actions:
        blocks.append(action_block(view, url))
    return blocks[:MAX_BLOCKS]


def action_block(view: GroupView, url: dict[str, str]) -> dict[str, Any]:
    """Acknowledge, Snooze, Assign to me (they come back to the interactivity endpoint) and Open."""
    value = f"{view.group_key}:{view.episode}"
    buttons: list[dict[str, Any]] = []
    if view.status == "firing":
        buttons += [
            {
                "type": "button",
                "action_id": "fw_ack",
                "text": _plain("Acknowledge"),
                "value": value,
                "style": "primary",
            },
            {"type": "button", "action_id": "fw_snooze", "text": _plain("Snooze"), "value": value},
            {"type": "button", "action_id": "fw_assign", "text": _plain("Assign to me"), "value": value},
        ]
    buttons.append(
        {"type": "button", "action_id": "fw_open", "text": _plain("Open in Flowwatch"), "url": url["workbench"]}
    )
    return {"type": "actions", "block_id": f"fw:{value}", "elements": buttons}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def fallback_text(view: GroupView) -> str:
    """The notification text Slack shows in notifications and to screen readers."""
    imp = view.impact
    return (
        f"{view.status.upper()}: {view.title} — {imp.orders:,} orders, {money(imp.value_at_risk)} at risk"
        f", earliest ship-by {when(imp.earliest_ship_by, view.now)}"
    )[:3000]


def change_text(view: GroupView, previous: dict[str, Any] | None) -> str:
    """The thread reply of a state change: what moved since the last notification."""
    if view.status == "resolved":
        return f"✅ {status_line(view)}."
    imp = view.impact
    was = ""
    if previous:
        was = f" (was {previous.get('exceptions', 0):,} exceptions, {previous.get('orders', 0):,} orders)"
    counts = f"{imp.exceptions:,} exceptions, {imp.orders:,} orders, {money(imp.value_at_risk)} at risk{was}"
    return f"{ICON['firing']} Now {len(view.alerts)} alert{'s' * (len(view.alerts) != 1)} firing: {counts}."


def subject(view: GroupView) -> str:
    """One subject for the whole episode (mail clients thread on it, beside the headers)."""
    return f"[Flowwatch] {view.title}"[:200]


def email_text(view: GroupView) -> str:
    """The plain-text part."""
    url = links(view)
    lines = [headline(view), status_line(view), ""]
    lines += [f"{k}: {v}" for k, v in facts(view)]
    lines += ["", "Alerts:"] + [f"- {a.rule}: {a.summary}" for a in view.alerts]
    if view.impact.top_orders:
        lines += ["", "Top orders:"]
        lines += [
            f"- {o['correlation_id']}" + (f" {money(float(o['order_value']))}" if o.get("order_value") else "")
            for o in view.impact.top_orders[:MAX_LIST]
        ]
        if view.impact.orders > len(view.impact.top_orders[:MAX_LIST]):
            lines.append(f"…and {view.impact.orders - len(view.impact.top_orders[:MAX_LIST]):,} more")
    lines += ["", f"Open in Flowwatch: {url['workbench']}"]
    if "flow" in url:
        lines.append(f"Flow: {url['flow']}")
    if "exception" in url:
        lines.append(f"Top exception: {url['exception']}")
    return "\n".join(lines) + "\n"


def email_html(view: GroupView) -> str:
    """The HTML part: the same content as the text part."""
    url = links(view)
    e = html.escape
    rows = "".join(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts(view))
    alerts = "".join(f"<li><b>{e(a.rule)}</b>: {e(a.summary)}</li>" for a in view.alerts)
    orders = "".join(
        f"<li><a href='{e(order_url(view, o['correlation_id']))}'>"
        f"{e(str(o['correlation_id']))}</a>"
        + (f" {e(money(float(o['order_value'])))}" if o.get("order_value") else "")
        + "</li>"
        for o in view.impact.top_orders[:MAX_LIST]
    )
    more = view.impact.orders - len(view.impact.top_orders[:MAX_LIST])
    more_html = f"<p>…and {more:,} more</p>" if more > 0 and orders else ""
    extra = "".join(
        f"<a href='{e(url[k])}'>{label}</a> " for k, label in (("flow", "Flow"), ("exception", "Top exception"))
        if k in url
    )  # fmt: skip
    return (
        f"<html><body><h2>{e(headline(view))}</h2><p>{e(status_line(view))}</p>"
        f"<table>{rows}</table><h3>Alerts</h3><ul>{alerts}</ul>"
        + (f"<h3>Top orders</h3><ul>{orders}</ul>{more_html}" if orders else "")
        + f"<p><a href='{e(url['workbench'])}'>Open in Flowwatch</a> {extra}</p></body></html>"
    )
