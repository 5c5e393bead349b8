"""Shift digests: at each configured time, one message per channel of what happened since the previous
one — exceptions opened, still open and aging, resolved and by whom, and the value still at risk.
Whether a digest went out is in the notification log, so a restart neither repeats nor skips one;
a digest more than an hour late (the server was down) is not sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from alerts import render
from alerts.channels.base import Message
from alerts.config import DigestConfig

LATE = timedelta(hours=1)


def slots(digest: DigestConfig, now: datetime) -> tuple[datetime, datetime]:
    """The latest digest time at or before ``now`` and the one before it (the shift it covers)."""
    times = sorted(datetime.combine((now - timedelta(days=d)).date(), t) for d in range(0, 3) for t in digest.at)
    past = [t for t in times if t <= now]
    return past[-1], past[-2]


def digest_key(digest: DigestConfig, slot: datetime) -> str:
    """The log key of one digest run."""
    return f"digest:{digest.name}@{slot.isoformat()}"


def compose(digest: DigestConfig, data: dict[str, Any], base_url: str) -> Message:
    """The digest as one message for every channel."""
    since, until = data["since"], data["until"]
    by = ", ".join(f"{actor} {n}" for actor, n in data["resolved_by"].items()) or "nobody"
    severities = ", ".join(f"{n} {s}" for s, n in data["opened_by_severity"].items()) or "none"
    oldest = [f"#{o['exception_id']} {o['title']} ({o['age_hours']:.0f} h)" for o in data["oldest"]]
    lines = [
        f"Shift {since:%b %-d %H:%M}–{until:%H:%M} UTC",
        f"Opened: {data['opened']:,} ({severities})",
        f"Still open: {data['open']:,} ({data['open_over_24h']:,} older than 24 h)",
        f"Resolved: {data['resolved']:,} (by {by})",
        f"Value still at risk: {render.money(data['value_at_risk'])} in {data['orders_held']:,} orders",
    ]
    text = "\n".join(lines + (["Oldest open:"] + [f"- {o}" for o in oldest] if oldest else []))
    link = f"{base_url.rstrip('/')}/exceptions"
    title = f"Flowwatch shift digest ({digest.name})"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": title[: render.MAX_HEADER]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[: render.MAX_SECTION]}},
    ]
    if oldest:
        body = "*Oldest open*\n" + render.fit([f"• {o}" for o in oldest], data["open"], link)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    html = "<html><body><h2>" + title + "</h2>" + "".join(f"<p>{render.html.escape(line)}</p>" for line in lines)
    html += (
        "".join(f"<li>{render.html.escape(o)}</li>" for o in oldest) + f"<p><a href='{link}'>Open</a></p></body></html>"
    )
    return Message(
        kind="digest",
        text=f"{title}: {data['opened']} opened, {data['open']} open, {data['resolved']} resolved",
        blocks=blocks,
        subject=f"[Flowwatch] {title} {until:%b %-d %H:%M} UTC",
        body_text=text + f"\n\n{link}\n",
        body_html=html,
    )
