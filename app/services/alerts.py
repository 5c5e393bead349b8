"""Operator actions on alerting: rules, silences, Slack account links, and the buttons of a Slack alert.

One function per action, shared by the API and the Alerts page. Acting from Slack goes through the
exception lifecycle's own service functions (``ack``, ``apply_many``) with the Flowwatch user the Slack
account is linked to as the actor, so the audit names a person and the lifecycle's rules stay in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy.engine import Connection

from alerts.config import RuleConfig, RulesFileError
from alerts.evaluate import routes, stored_rules
from alerts.labels import Matcher
from alerts.state import Alert, State
from app.services import access, lifecycle
from app.services.access import Principal
from app.services.errors import Conflict, Forbidden, IllegalTransition, InvalidRequest, NotFound
from models.enums import Access, Action, AlertChange, Role
from models.queries import alerts as store
from models.queries.access import get_user
from models.store.toml_files import validation_problems

if TYPE_CHECKING:
    from alerts.runtime import AlertRuntime
    from app.context import AppContext

#: What an unlinked Slack user is told (ephemeral: only they see it).
LINK_HELP = (
    "Your Slack account ({slack_user}) is not linked to a Flowwatch user, so Flowwatch cannot say who acted. "
    "Ask a Flowwatch admin to link it: `PUT /api/v1/alerts/slack-users/{slack_user}` with "
    '`{{"user_name": "<your Flowwatch user>"}}` (as an admin), or the Alerts page, '
    "or `[alerts.slack_users]` in flowwatch.toml."
)


def _runtime(ctx: AppContext) -> AlertRuntime:
    if ctx.alerts is None:
        raise Conflict("alerting is not running in this process")
    return ctx.alerts


def _actor(actor: str) -> str:
    if not actor or not actor.strip():
        raise InvalidRequest("actor is required: who does this")
    return actor.strip()


# -- what the Alerts page and GET /api/v1/alerts show -------------------------------------
def overview(ctx: AppContext, conn: Connection, *, notifications: int = 100) -> dict[str, Any]:
    """Everything the Alerts page shows (the same as ``GET /api/v1/alerts``)."""
    now = ctx.now()
    runtime = _runtime(ctx)
    health = store.rule_health(conn)
    states = store.load_states(conn)
    rules = []
    rows = {r["rule_id"]: r for r in store.list_rules(conn)}
    for rule in stored_rules(conn):
        row = rows[rule.id]
        mine = [s for s in states if s["rule_id"] == rule.id and not s["labels"].get("rule_health")]
        worst = next((st for st in ("firing", "pending", "resolved") if any(s["state"] == st for s in mine)), "ok")
        h = health.get(rule.id, {})
        state = (
            "disabled" if not rule.enabled else (h.get("health") if h.get("health") in ("error", "nodata") else worst)
        )
        rules.append({**rule.definition(), "state": state, "health": h.get("health"), "health_detail": h.get("detail"),
                      "evaluated_at": h.get("evaluated_at"), "alerts": len(mine), "defined_in": rule_source(row),
                      "updated_by": row["updated_by"], "updated_at": row["updated_at"]})  # fmt: skip
    by_state: dict[str, list[dict[str, Any]]] = {"firing": [], "pending": [], "resolved": []}
    for s in states:
        by_state[s["state"]].append(s)
    return {
        "as_of": now,
        "rules": rules,
        "alerts": by_state,
        "groups": store.list_groups(conn, active_only=True),
        "silences": store.list_silences(conn, now=now),
        "channels": runtime.channel_states(now),
        "notifications": store.list_notifications(conn, limit=notifications),
        "changes": store.list_changes(conn, limit=20),
    }


# -- rules -------------------------------------------------------------------------------------
# One source of truth per rule, the ``alert_rules`` row, and where it comes from says who may change it:
#   file    (origin config, never edited): the TOML is the truth; each start refreshes the row from it
#   edited  (origin config, edited from the API or the page): the row is the truth, the file's later
#           changes to that rule are ignored until an admin reverts it (DELETE → the file's version again)
#   api     (created from the API or the page): only the row exists; DELETE removes it
# Evaluation reads the rows each time, so an edit applies on the next evaluation.
def rule_source(row: dict[str, Any]) -> str:
    """``file``, ``edited`` or ``api``: which definition of a rule is the truth (see above)."""
    if row.get("origin") != "config":
        return "api"
    return "edited" if row.get("updated_by") else "file"


def rule_from(definition: dict[str, Any]) -> RuleConfig:
    """A rule definition validated; its errors as one :class:`InvalidRequest` naming each field."""
    try:
        return RuleConfig.model_validate(definition)
    except ValidationError as exc:
        raise InvalidRequest(validation_problems(exc)) from exc


def _check_route(ctx: AppContext, rule: RuleConfig) -> None:
    if rule.route is None or ctx.alerts is None:
        return
    known = routes(ctx.alerts.config)
    if rule.route not in known:
        raise InvalidRequest(f"route: no route named {rule.route!r}; configured: {', '.join(sorted(known))}")


def save_rule(ctx: AppContext, rule: RuleConfig, *, actor: str, rule_id: str | None = None) -> dict[str, Any]:
    """Create a rule (``rule_id`` None) or replace one; an edited file rule keeps its edit over the file's."""
    actor = _actor(actor)
    _check_route(ctx, rule)
    with ctx.writer.transaction() as conn:
        existing = store.get_rule(conn, rule_id or rule.id)
        if rule_id is None and existing is not None:
            raise Conflict(f"rule {rule.id!r} exists; edit it with PUT /api/v1/alerts/rules/{rule.id}")
        if rule_id is not None:
            if existing is None:
                raise NotFound(f"rule {rule_id!r} does not exist")
            if rule.id != rule_id:
                raise InvalidRequest(f"id: {rule.id!r} differs from {rule_id!r} in the path; ids do not change")
        after = rule.definition()
        if existing is not None and existing["definition"] == after:
            return _with_source(existing)  # nothing changes (a file rule stays the file's)
        origin = existing["origin"] if existing else "api"
        store.save_rule(conn, rule.id, definition=after, origin=origin, now=ctx.now(), by=actor)
        before = existing["definition"] if existing else None
        store.record_change(conn, at=ctx.now(), actor=actor, action=_rule_change(before, after), target=rule.id,
                            before=before, after=after)  # fmt: skip
        return _with_source(store.get_rule(conn, rule.id))


def _rule_change(before: dict[str, Any] | None, after: dict[str, Any]) -> AlertChange:
    if before is None:
        return AlertChange.RULE_CREATED
    if {**before, "enabled": after["enabled"]} == after and before.get("enabled") != after["enabled"]:
        return AlertChange.RULE_ENABLED if after["enabled"] else AlertChange.RULE_DISABLED
    return AlertChange.RULE_EDITED


def patch_rule(ctx: AppContext, rule_id: str, changes: dict[str, Any], *, actor: str) -> dict[str, Any]:
    """Change some fields of a rule (``{"threshold": 10}``, ``{"enabled": false}``); the rest stays."""
    actor = _actor(actor)
    if not changes:
        raise InvalidRequest("nothing to change: give at least one field of the rule")
    if "id" in changes and changes["id"] != rule_id:
        raise InvalidRequest(f"id: {changes['id']!r} differs from {rule_id!r} in the path; ids do not change")
    with ctx.engine.connect() as conn:
        row = store.get_rule(conn, rule_id)
    if row is None:
        raise NotFound(f"rule {rule_id!r} does not exist")
    rule = rule_from({**row["definition"], **changes, "id": rule_id})
    return save_rule(ctx, rule, actor=actor, rule_id=rule_id)


def set_rule_enabled(ctx: AppContext, rule_id: str, enabled: bool, *, actor: str) -> dict[str, Any]:
    """Disable (its firing alerts then resolve) or enable a rule."""
    return patch_rule(ctx, rule_id, {"enabled": enabled}, actor=actor)


def delete_rule(ctx: AppContext, rule_id: str, *, actor: str) -> dict[str, Any]:
    """Remove a rule made from the API or the page, or take an edited file rule back to the file's version.
    A rule still exactly as the file says is refused: change the file, or disable it."""
    actor = _actor(actor)
    runtime = _runtime(ctx)
    with ctx.writer.transaction() as conn:
        row = store.get_rule(conn, rule_id)
        if row is None:
            raise NotFound(f"rule {rule_id!r} does not exist")
        source = rule_source(row)
        if source == "file":
            raise Conflict(f"rule {rule_id!r} is defined in the rules file and not edited; disable it instead")
        try:
            from_file = {r.id: r for r in runtime.configured_rules()}.get(rule_id)
        except RulesFileError as exc:
            raise Conflict(f"cannot revert {rule_id!r} to the rules file: {exc}") from exc
        if source == "api" or from_file is None:  # (an edited rule gone from the file: the edit was all left)
            store.delete_rule(conn, rule_id)
            store.record_change(conn, at=ctx.now(), actor=actor, action=AlertChange.RULE_DELETED, target=rule_id,
                                before=row["definition"], after=None)  # fmt: skip
            return {**_with_source(row), "deleted": True, "deleted_by": actor}
        after = from_file.definition()
        store.save_rule(conn, rule_id, definition=after, origin="config", now=ctx.now(), by=None)
        store.record_change(conn, at=ctx.now(), actor=actor, action=AlertChange.RULE_REVERTED, target=rule_id,
                            before=row["definition"], after=after)  # fmt: skip
        return {**_with_source(store.get_rule(conn, rule_id)), "reverted_by": actor}


def rule_definition(ctx: AppContext, rule_id: str) -> dict[str, Any]:
    """A rule's stored definition (what the page's editor starts from)."""
    with ctx.engine.connect() as conn:
        row = store.get_rule(conn, rule_id)
    if row is None:
        raise NotFound(f"rule {rule_id!r} does not exist")
    return {**row["definition"], "enabled": row["enabled"]}


def route_names(ctx: AppContext) -> list[str]:
    """The routes a rule may name."""
    return sorted(routes(ctx.alerts.config)) if ctx.alerts is not None else []


def _with_source(row: dict[str, Any] | None) -> dict[str, Any]:
    return {**row, "defined_in": rule_source(row)} if row else {}


# -- silences ----------------------------------------------------------------------------------
def create_silence(
    ctx: AppContext,
    *,
    matchers: list[Any],
    ends_at: datetime | None,
    author: str,
    comment: str,
    starts_at: datetime | None = None,
) -> dict[str, Any]:
    """Mute the alerts every matcher selects until ``ends_at``; author, comment and end are required."""
    now = ctx.now()
    problems = []
    if not author or not author.strip():
        problems.append("author is required: who silences")
    if not comment or not comment.strip():
        problems.append("comment is required: why it is silenced")
    if ends_at is None:
        problems.append("ends_at is required: a silence always ends")
    parsed: list[Matcher] = []
    try:
        parsed = [Matcher.model_validate(m) for m in matchers]
    except ValidationError as exc:
        problems.append("matchers: " + "; ".join(e["msg"] for e in exc.errors()))
    if not matchers:
        problems.append('matchers: at least one, e.g. flow="shopify-d365-orders"')
    if problems:
        raise InvalidRequest("; ".join(problems))
    assert ends_at is not None
    start, end = _utc(starts_at) if starts_at else now, _utc(ends_at)
    if end <= now or end <= start:
        raise InvalidRequest(f"ends_at {end.isoformat()} must be in the future and after starts_at")
    values: dict[str, Any] = {
        "matchers": [m.model_dump(mode="json") for m in parsed],
        "starts_at": start,
        "ends_at": end,
        "author": author.strip(),
        "comment": comment.strip(),
        "created_at": now,
    }
    with ctx.writer.transaction() as conn:
        silence_id = store.insert_silence(conn, **values)
        made = store.get_silence(conn, silence_id) or {}
        store.record_change(conn, at=now, actor=values["author"], action=AlertChange.SILENCE_CREATED,
                            target=f"silence #{silence_id}", before=None, after=_silence_audit(made))  # fmt: skip
        return made


def expire_silence(ctx: AppContext, silence_id: int, *, actor: str) -> dict[str, Any]:
    """End a silence now (its alerts notify again at their group's next flush)."""
    actor = _actor(actor)
    now = ctx.now()
    with ctx.writer.transaction() as conn:
        silence = store.get_silence(conn, silence_id)
        if silence is None:
            raise NotFound(f"silence {silence_id} does not exist")
        if silence["ends_at"] <= now:
            raise Conflict(f"silence {silence_id} already ended at {silence['ends_at'].isoformat()}")
        store.end_silence(conn, silence_id, at=now, by=actor)
        ended = store.get_silence(conn, silence_id) or {}
        store.record_change(conn, at=now, actor=actor, action=AlertChange.SILENCE_EXPIRED,
                            target=f"silence #{silence_id}", before=_silence_audit(silence),
                            after=_silence_audit(ended))  # fmt: skip
        return ended


def _silence_audit(silence: dict[str, Any]) -> dict[str, Any]:
    keep = ("matchers", "starts_at", "ends_at", "comment", "expired_by")
    return {k: silence[k].isoformat() if isinstance(silence.get(k), datetime) else silence.get(k) for k in keep}


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


# -- Slack accounts --------------------------------------------------------------------------
def link_slack_user(ctx: AppContext, slack_user_id: str, user_name: str, *, actor: str) -> None:
    """Link a Slack user id (``U…``) to a Flowwatch user name."""
    actor = _actor(actor)
    if not slack_user_id.strip() or not user_name.strip():
        raise InvalidRequest("slack_user_id and user_name are required")
    with ctx.writer.transaction() as conn:
        before = store.slack_users(conn).get(slack_user_id.strip())
        store.link_slack_user(conn, slack_user_id.strip(), user_name.strip(), by=actor, now=ctx.now())
        store.record_change(conn, at=ctx.now(), actor=actor, action=AlertChange.SLACK_USER_LINKED,
                            target=slack_user_id.strip(), before={"user_name": before["user_name"]} if before else None,
                            after={"user_name": user_name.strip()})  # fmt: skip


def unlink_slack_user(ctx: AppContext, slack_user_id: str, *, actor: str) -> None:
    """Remove a link stored in the database (those of the settings stay)."""
    actor = _actor(actor)
    with ctx.writer.transaction() as conn:
        before = store.slack_users(conn).get(slack_user_id)
        if before is None or not store.unlink_slack_user(conn, slack_user_id):
            raise NotFound(f"Slack user {slack_user_id} is not linked in the database")
        store.record_change(conn, at=ctx.now(), actor=actor, action=AlertChange.SLACK_USER_UNLINKED,
                            target=slack_user_id, before={"user_name": before["user_name"]}, after=None)  # fmt: skip


def slack_users(ctx: AppContext) -> dict[str, str]:
    """Slack user id → Flowwatch user: the settings' [alerts.slack_users], then the database's (which win)."""
    with ctx.engine.connect() as conn:
        stored = {k: v["user_name"] for k, v in store.slack_users(conn).items()}
    return {**ctx.settings.alerts.slack_users, **stored}


# -- the buttons of a Slack alert ------------------------------------------------------------
SLACK_ACTIONS = {"fw_ack": "acknowledge", "fw_snooze": "snooze", "fw_assign": "assign"}


@dataclass(frozen=True)
class SlackResult:
    """What a button did, in words for the person who pressed it."""

    text: str
    done: int = 0
    skipped: int = 0


def group_exceptions(ctx: AppContext, group_key: str) -> tuple[dict[str, Any], list[int]]:
    """An alert group and the active exceptions its firing alerts are about."""
    runtime = _runtime(ctx)
    now = ctx.now()
    with ctx.engine.connect() as conn:
        group = store.get_group(conn, group_key)
        if group is None:
            raise NotFound(f"alert group {group_key} does not exist")
        alerts = [Alert.from_row(r) for r in store.load_states(conn, group_key=group_key)]
        firing = [a for a in alerts if a.state is State.FIRING]
        ids, _orders = runtime.notifier.exception_ids(conn, firing, now)
    return group, ids


def act_from_slack(ctx: AppContext, action_id: str, value: str, *, actor: str) -> SlackResult:
    """Acknowledge, Snooze or Assign to me on an alert group, as the linked Flowwatch user ``actor``.

    With auth on, the link must name an enabled user with the operator (or admin) role: Slack proves who
    pressed the button, the Flowwatch user decides what they may do (Forbidden otherwise)."""
    if action_id not in SLACK_ACTIONS:
        raise InvalidRequest(f"unknown action {action_id!r}")
    if ctx.settings.auth:
        with ctx.engine.connect() as conn:
            user = get_user(conn, actor)
        who = Principal(actor, "user", role=Role(user["role"])) if user and not user["disabled"] else None
        if access.refusal(who, Access.ACT) is not None:
            raise Forbidden(f"the linked Flowwatch user {actor!r} is not an enabled operator, so it cannot act")
    group_key, _, episode = value.partition(":")
    group, ids = group_exceptions(ctx, group_key)
    now = ctx.now()
    if action_id == "fw_snooze":
        snooze = _runtime(ctx).snooze_for()
        matchers = [{"name": k, "op": "=", "value": v} for k, v in group["labels"].items() if v]
        silence = create_silence(
            ctx,
            matchers=matchers or [{"name": "alertname", "op": "=~", "value": ".+"}],
            ends_at=now + snooze,
            author=actor,
            comment=f"Snoozed from Slack (alert group episode {episode or group['episode']})",
        )
        return SlackResult(
            f"Snoozed this alert until {silence['ends_at']:%H:%M} UTC (silence #{silence['silence_id']}).", 1
        )
    with ctx.writer.transaction() as conn:
        if action_id == "fw_ack":
            done = 0
            for exception_id in ids:
                try:
                    lifecycle.ack(exception_id, conn=conn, actor=actor, now=now)
                    done += 1
                except (IllegalTransition, NotFound):
                    continue  # already acknowledged, or gone: nothing to do for this one
            verb = "Acknowledged"
        else:
            items = lifecycle.apply_many(Action.ASSIGN, ids, conn=conn, actor=actor, now=now, assignee=actor)
            done = sum(i.done for i in items)
            verb = f"Assigned to {actor}:"
    skipped = len(ids) - done
    tail = f" ({skipped} already acknowledged or closed)" if skipped and action_id == "fw_ack" else ""
    return SlackResult(f"{verb} {done} exception{'s' * (done != 1)} as {actor}{tail}.", done, skipped)
