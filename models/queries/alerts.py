"""Alerting's own tables: rules, their health, alert states, aggregation groups, the notification log,
silences and Slack users. Plain bound statements; the caller owns the transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.enums import ACTIVE_SQL
from models.queries.alert_signals import impact
from models.queries.common import read_frame
from models.store.dialect import in_list, last_by, seconds_between
from models.store.tables import (
    alert_changes,
    alert_groups,
    alert_notifications,
    alert_rule_health,
    alert_rules,
    alert_silences,
    alert_slack_users,
    alert_states,
)

_JSON = ("definition", "labels", "matchers", "message_ref", "payload", "before", "after")


def _row(mapping: Any) -> dict[str, Any]:
    """A result row with its JSON text columns decoded."""
    row = dict(mapping)
    for key in _JSON:
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


# -- rules -------------------------------------------------------------------------------------
def list_rules(conn: Connection) -> list[dict[str, Any]]:
    """Every rule with its definition, enabled flag and who last edited it."""
    return [_row(r) for r in conn.execute(sa.select(alert_rules).order_by(alert_rules.c.rule_id)).mappings()]


def get_rule(conn: Connection, rule_id: str) -> dict[str, Any] | None:
    """One rule, or None."""
    row = conn.execute(sa.select(alert_rules).where(alert_rules.c.rule_id == rule_id)).mappings().first()
    return _row(row) if row is not None else None


def save_rule(
    conn: Connection, rule_id: str, *, definition: dict[str, Any], origin: str, now: datetime, by: str | None
) -> None:
    """Insert or replace one rule (its ``enabled`` comes from the definition)."""
    conn.execute(sa.delete(alert_rules).where(alert_rules.c.rule_id == rule_id))
    conn.execute(
        alert_rules.insert().values(
            rule_id=rule_id,
            name=definition["name"],
            definition=_dumps(definition),
            enabled=bool(definition.get("enabled", True)),
            origin=origin,
            updated_at=now,
            updated_by=by,
        )
    )


def delete_rule(conn: Connection, rule_id: str) -> None:
    """Remove one rule (its alerts resolve at the next evaluation, as those of any rule gone)."""
    conn.execute(sa.delete(alert_rules).where(alert_rules.c.rule_id == rule_id))


def sync_config_rules(conn: Connection, definitions: Sequence[dict[str, Any]], *, now: datetime) -> dict[str, int]:
    """Bring the rules of the configuration in: new ones added, unedited ones refreshed, those gone from
    the file removed; a rule an admin edited (``updated_by`` set) keeps the admin's version."""
    stored = {r["rule_id"]: r for r in list_rules(conn)}
    wanted = {d["id"]: d for d in definitions}
    counts = {"added": 0, "refreshed": 0, "removed": 0}
    for rule_id, definition in wanted.items():
        row = stored.get(rule_id)
        if row is None:
            save_rule(conn, rule_id, definition=definition, origin="config", now=now, by=None)
            counts["added"] += 1
        elif row["updated_by"] is None and row["definition"] != definition:
            save_rule(conn, rule_id, definition=definition, origin=row["origin"], now=now, by=None)
            counts["refreshed"] += 1
    for rule_id, row in stored.items():
        if row["origin"] == "config" and row["updated_by"] is None and rule_id not in wanted:
            conn.execute(sa.delete(alert_rules).where(alert_rules.c.rule_id == rule_id))
            counts["removed"] += 1
    return counts


# -- health and states -------------------------------------------------------------------------
def save_health(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Replace the health rows of the rules in ``rows``."""
    if not rows:
        return
    ids = [r["rule_id"] for r in rows]
    conn.execute(sa.delete(alert_rule_health).where(alert_rule_health.c.rule_id.in_(ids)))
    conn.execute(alert_rule_health.insert(), list(rows))


def rule_health(conn: Connection) -> dict[str, dict[str, Any]]:
    """Rule id → its last evaluation's health, detail and time."""
    return {r["rule_id"]: dict(r) for r in conn.execute(sa.select(alert_rule_health)).mappings()}


def load_states(conn: Connection, *, group_key: str | None = None) -> list[dict[str, Any]]:
    """Alert states (every one, or one group's), labels decoded."""
    query = sa.select(alert_states).order_by(alert_states.c.rule_id, alert_states.c.series)
    if group_key is not None:
        query = query.where(alert_states.c.group_key == group_key)
    return [_row(r) for r in conn.execute(query).mappings()]


def save_states(conn: Connection, upserts: Sequence[dict[str, Any]], deletes: Iterable[tuple[str, str]]) -> None:
    """Write the states an evaluation changed and drop the ones gone back to ok."""
    keys = [*deletes, *((s["rule_id"], s["series"]) for s in upserts)]
    for rule_id, series in keys:
        conn.execute(sa.delete(alert_states).where(alert_states.c.rule_id == rule_id, alert_states.c.series == series))
    if upserts:
        conn.execute(alert_states.insert(), [{**s, "labels": _dumps(s["labels"])} for s in upserts])


# -- groups --------------------------------------------------------------------------------------
def get_group(conn: Connection, group_key: str) -> dict[str, Any] | None:
    """One aggregation group, or None."""
    row = conn.execute(sa.select(alert_groups).where(alert_groups.c.group_key == group_key)).mappings().first()
    return _row(row) if row is not None else None


def list_groups(conn: Connection, *, active_only: bool = False) -> list[dict[str, Any]]:
    """Aggregation groups, newest episode first."""
    query = sa.select(alert_groups).order_by(alert_groups.c.started_at.desc())
    if active_only:
        query = query.where(alert_groups.c.status == "active")
    return [_row(r) for r in conn.execute(query).mappings()]


def save_group(conn: Connection, group: dict[str, Any]) -> None:
    """Insert or replace one group row."""
    conn.execute(sa.delete(alert_groups).where(alert_groups.c.group_key == group["group_key"]))
    conn.execute(alert_groups.insert().values(**{**group, "labels": _dumps(group["labels"])}))


def due_groups(conn: Connection, *, now: datetime) -> list[dict[str, Any]]:
    """Active groups whose wait or interval is over."""
    query = (
        sa.select(alert_groups)
        .where(alert_groups.c.status == "active", alert_groups.c.next_flush_at <= now)
        .order_by(alert_groups.c.next_flush_at)
    )
    return [_row(r) for r in conn.execute(query).mappings()]


# -- the notification log ----------------------------------------------------------------------
def log_notification(conn: Connection, row: dict[str, Any]) -> int:
    """Append one notification (or one refusal to send it); returns its id."""
    values = {**row}
    for key in ("message_ref", "payload"):
        if values.get(key) is not None and not isinstance(values[key], str):
            values[key] = _dumps(values[key])
    return int(
        conn.execute(
            alert_notifications.insert().values(**values).returning(alert_notifications.c.notification_id)
        ).scalar_one()
    )


def sent_log(conn: Connection, group_key: str, episode: int, channel: str) -> list[dict[str, Any]]:
    """What was delivered for one group episode through one channel, oldest first."""
    n = alert_notifications.c
    query = (
        sa.select(n.notification_id, n.kind, n.sent_at, n.message_ref, n.content_hash, n.result, n.payload)
        .where(n.group_key == group_key, n.episode == episode, n.channel == channel, n.result == "sent")
        .order_by(n.notification_id)
    )
    return [_row(r) for r in conn.execute(query).mappings()]


def sent_since(conn: Connection, channel: str, since: datetime) -> int:
    """Notifications a channel delivered since ``since`` (its rate limit)."""
    n = alert_notifications.c
    query = sa.select(sa.func.count()).where(n.channel == channel, n.result == "sent", n.sent_at >= since)
    return int(conn.execute(query).scalar_one())


def channel_health(conn: Connection) -> dict[str, dict[str, Any]]:
    """Per channel: failures in a row since its last delivery, the last error and when, the last success."""
    frame = read_frame(
        conn,
        f"""
        WITH last_ok AS (
            SELECT channel, max(notification_id) AS ok_id, max(sent_at) AS ok_at
            FROM alert_notifications WHERE result = 'sent' GROUP BY channel
        )
        SELECT n.channel, count(*) FILTER (WHERE n.result = 'failed') AS failures,
               max(n.sent_at) FILTER (WHERE n.result = 'failed') AS failed_at,
               {last_by(conn, "n.detail", "n.notification_id", "n.result = 'failed'")} AS error,
               max(l.ok_at) AS ok_at
        FROM alert_notifications n LEFT JOIN last_ok l USING (channel)
        WHERE n.notification_id > coalesce(l.ok_id, -1) OR n.result = 'sent'
        GROUP BY n.channel
        """,
    )
    out = {}
    for r in frame.to_dict("records"):
        out[r["channel"]] = {
            "failures_in_a_row": int(r["failures"] or 0),
            "last_failure_at": None if pd.isna(r["failed_at"]) else pd.Timestamp(r["failed_at"]).to_pydatetime(),
            "last_error": None if r["error"] is None or pd.isna(r["error"]) else r["error"],
            "last_success_at": None if pd.isna(r["ok_at"]) else pd.Timestamp(r["ok_at"]).to_pydatetime(),
        }
    return out


def list_notifications(conn: Connection, *, channel: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The notification log, newest first."""
    query = sa.select(alert_notifications).order_by(alert_notifications.c.notification_id.desc()).limit(limit)
    if channel:
        query = query.where(alert_notifications.c.channel == channel)
    return [_row(r) for r in conn.execute(query).mappings()]


def digest_sent(conn: Connection, key: str, channel: str) -> bool:
    """True when the digest ``key`` (name@time) already went out through ``channel``."""
    n = alert_notifications.c
    query = sa.select(sa.func.count()).where(
        n.group_key == key, n.channel == channel, n.kind == "digest", n.result == "sent"
    )
    return bool(conn.execute(query).scalar_one())


# -- silences ----------------------------------------------------------------------------------
def insert_silence(conn: Connection, **values: Any) -> int:
    """A new silence; returns its id."""
    values = {**values, "matchers": _dumps(values["matchers"])}
    query = alert_silences.insert().values(**values).returning(alert_silences.c.silence_id)
    return int(conn.execute(query).scalar_one())


def get_silence(conn: Connection, silence_id: int) -> dict[str, Any] | None:
    """One silence, or None."""
    row = conn.execute(sa.select(alert_silences).where(alert_silences.c.silence_id == silence_id)).mappings().first()
    return _row(row) if row is not None else None


def end_silence(conn: Connection, silence_id: int, *, at: datetime, by: str) -> None:
    """Expire a silence now."""
    conn.execute(
        sa.update(alert_silences).where(alert_silences.c.silence_id == silence_id).values(ends_at=at, expired_by=by)
    )


def list_silences(conn: Connection, *, now: datetime, active_only: bool = False) -> list[dict[str, Any]]:
    """Silences (active ones, or all: active first, then by end)."""
    s = alert_silences.c
    query = sa.select(alert_silences).order_by(s.ends_at.desc(), s.silence_id.desc())
    if active_only:
        query = query.where(s.starts_at <= now, s.ends_at > now)
    return [_row(r) for r in conn.execute(query).mappings()]


# -- the admin audit trail ------------------------------------------------------------------------
def record_change(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Append one admin change, in the caller's transaction (the change and its audit row commit together)."""
    conn.execute(
        alert_changes.insert().values(
            changed_at=at,
            actor=actor,
            action=action,
            target=target,
            before=None if before is None else _dumps(before),
            after=None if after is None else _dumps(after),
        )
    )


def list_changes(conn: Connection, *, target: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Admin changes, newest first (one rule's, silence's or Slack user's with ``target``)."""
    query = sa.select(alert_changes).order_by(alert_changes.c.change_id.desc()).limit(limit)
    if target is not None:
        query = query.where(alert_changes.c.target == target)
    return [_row(r) for r in conn.execute(query).mappings()]


# -- Slack users ---------------------------------------------------------------------------------
def slack_users(conn: Connection) -> dict[str, dict[str, Any]]:
    """Slack user id → {user_name, linked_by, linked_at} as stored."""
    return {r["slack_user_id"]: dict(r) for r in conn.execute(sa.select(alert_slack_users)).mappings()}


def link_slack_user(conn: Connection, slack_user_id: str, user_name: str, *, by: str, now: datetime) -> None:
    """Map a Slack user to a Flowwatch user (replacing an earlier mapping)."""
    conn.execute(sa.delete(alert_slack_users).where(alert_slack_users.c.slack_user_id == slack_user_id))
    conn.execute(
        alert_slack_users.insert().values(slack_user_id=slack_user_id, user_name=user_name, linked_by=by, linked_at=now)
    )


def unlink_slack_user(conn: Connection, slack_user_id: str) -> bool:
    """Remove a mapping; False when there was none."""
    result = conn.execute(sa.delete(alert_slack_users).where(alert_slack_users.c.slack_user_id == slack_user_id))
    return bool(result.rowcount)


# -- shift digests -----------------------------------------------------------------------------
def shift_digest(conn: Connection, *, since: datetime, until: datetime, top: int = 5) -> dict[str, Any]:
    """A shift in numbers: exceptions opened in it, still open (by aging), resolved in it and by whom,
    and the value of the orders open exceptions still hold."""
    opened = read_frame(
        conn,
        """
        SELECT severity, count(*) AS n FROM exceptions
        WHERE first_seen >= :since AND first_seen < :until GROUP BY severity ORDER BY severity
        """,
        {"since": since, "until": until},
    )
    age = seconds_between(conn, "first_seen", ":until")
    still_open = read_frame(
        conn,
        f"""
        SELECT exception_id, title, severity, affected_orders, {age} / 3600.0 AS age_hours FROM exceptions
        WHERE status IN {ACTIVE_SQL} AND first_seen < :until
        ORDER BY age_hours DESC, exception_id
        """,
        {"until": until},
    )
    resolved = read_frame(
        conn,
        """
        SELECT actor, count(DISTINCT exception_id) AS n FROM exception_actions
        WHERE action = 'resolve' AND acted_at >= :since AND acted_at < :until
        GROUP BY actor ORDER BY n DESC, actor
        """,
        {"since": since, "until": until},
    )
    open_ids = [int(i) for i in still_open["exception_id"]]
    held = impact(conn, open_ids, top=0) if open_ids else None
    return {
        "since": since,
        "until": until,
        "opened": int(opened["n"].sum()) if not opened.empty else 0,
        "opened_by_severity": {r.severity: int(r.n) for r in opened.itertuples()},
        "open": len(still_open),
        "open_over_24h": int((still_open["age_hours"] > 24).sum()),
        "oldest": [
            {"exception_id": int(r.exception_id), "title": r.title, "age_hours": float(r.age_hours)}
            for r in still_open.head(top).itertuples()
        ],
        "resolved": int(resolved["n"].sum()) if not resolved.empty else 0,
        "resolved_by": {r.actor: int(r.n) for r in resolved.itertuples()},
        "orders_held": held.orders if held else 0,
        "value_at_risk": held.value_at_risk if held else 0.0,
    }


def exception_ids_in(conn: Connection, ids: Sequence[int]) -> list[int]:
    """The ids among ``ids`` that are still active (what a Slack action can act on)."""
    if not ids:
        return []
    frame = read_frame(
        conn,
        f"SELECT exception_id FROM exceptions WHERE status IN {ACTIVE_SQL} AND {in_list(conn, 'exception_id', 'ids')}",
        {"ids": [int(i) for i in ids]},
    )
    return sorted(int(i) for i in frame["exception_id"])
