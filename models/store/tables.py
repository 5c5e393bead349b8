"""Canonical tables. Timestamps are naive UTC; ids from the outside world are strings."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

exception_id_seq = sa.Sequence("exception_id_seq", metadata=metadata)
action_id_seq = sa.Sequence("exception_action_id_seq", metadata=metadata)
replay_id_seq = sa.Sequence("replay_id_seq", metadata=metadata)
bulk_run_id_seq = sa.Sequence("bulk_run_id_seq", metadata=metadata)

schema_meta = sa.Table(
    "schema_meta",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)

systems = sa.Table(
    "systems",
    metadata,
    sa.Column("system_id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),  # storefront, erp, wms, 3pl, supplier, middleware
    sa.Column("vendor", sa.String),
    sa.Column("region", sa.String),
)

flows = sa.Table(
    "flows",
    metadata,
    sa.Column("flow_id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("source_system", sa.String, nullable=False),
    sa.Column("target_system", sa.String, nullable=False),
    sa.Column("start_event", sa.String, nullable=False),  # step A
    sa.Column("end_event", sa.String, nullable=False),  # step B
    sa.Column("sla_seconds", sa.Integer, nullable=False),
    sa.Column("lag_threshold_seconds", sa.Integer, nullable=False),
    sa.Column("queue", sa.String),
    sa.Column("replay_kind", sa.String),  # http, amqp or none
    sa.Column("replay_target", sa.String),
    sa.Column("category", sa.String, nullable=False),  # orders, fulfilment, shipment, invoice, stock, supply
    sa.Column("replay_rate_per_second", sa.Float),  # bulk replay pace that protects the target; null = default
    sa.Column("replay_four_eyes", sa.Boolean),  # a second operator approves replays; null = financial documents
)

business_events = sa.Table(
    "business_events",
    metadata,
    sa.Column("event_id", sa.String, nullable=False),
    sa.Column("correlation_id", sa.String, nullable=False),
    sa.Column("event_type", sa.String, nullable=False),
    sa.Column("flow_id", sa.String),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("target", sa.String),
    sa.Column("channel", sa.String),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # ok, failed, retrying, dead_lettered
    sa.Column("attempt", sa.SmallInteger, nullable=False),
    sa.Column("error_code", sa.String),
    sa.Column("error_message", sa.String),
    sa.Column("trace_id", sa.String),
    sa.Column("payload", sa.String),  # JSON text, kept for replay
    sa.Index("ix_business_events_correlation_id", "correlation_id"),
    # The writer's de-duplication: refuses a stored event_id in O(batch) (see models/ingest/writer.py).
    # create_schema adds it to older databases (their ids are unique already: the writer kept them so).
    sa.Index("ux_business_events_event_id", "event_id", unique=True),
)

spans = sa.Table(
    "spans",
    metadata,
    sa.Column("trace_id", sa.String, nullable=False),
    sa.Column("span_id", sa.String, nullable=False),
    sa.Column("parent_span_id", sa.String),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("kind", sa.String),
    sa.Column("service_name", sa.String),
    sa.Column("start_time", sa.DateTime, nullable=False),
    sa.Column("end_time", sa.DateTime, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("status_code", sa.String, nullable=False),  # unset, ok, error
    sa.Column("status_message", sa.String),
    sa.Column("correlation_id", sa.String),  # business key lifted from attributes
    sa.Column("attributes", sa.String),  # JSON text of span + resource attributes
    sa.Index("ix_spans_trace_id", "trace_id"),
    sa.Index("ix_spans_correlation_id", "correlation_id"),  # orders known only from their spans
)

queue_samples = sa.Table(
    "queue_samples",
    metadata,
    sa.Column("broker", sa.String, nullable=False),
    sa.Column("queue", sa.String, nullable=False),
    sa.Column("sampled_at", sa.DateTime, nullable=False),
    sa.Column("depth", sa.BigInteger, nullable=False),
    sa.Column("consumers", sa.Integer),
    sa.Column("oldest_age_seconds", sa.Float),
    sa.Column("is_dlq", sa.Boolean, nullable=False),
    sa.Column("flow_id", sa.String),
)

# One row per order, maintained from business_events: KPIs read this, not the raw events
# (PERF-NOTES: 12x faster at 10M events).
order_facts = sa.Table(
    "order_facts",
    metadata,
    sa.Column("correlation_id", sa.String, primary_key=True),
    sa.Column("channel", sa.String),
    sa.Column("erp", sa.String),
    sa.Column("fulfiller", sa.String),
    sa.Column("created_at", sa.DateTime),
    sa.Column("accepted_at", sa.DateTime),
    sa.Column("released_at", sa.DateTime),
    sa.Column("dispatched_at", sa.DateTime),
    sa.Column("invoiced_at", sa.DateTime),
    sa.Column("cancelled_at", sa.DateTime),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_event_at", sa.DateTime),
    # The flow that carried each step's first successful end event: sync lag of order steps
    # reads these instead of pairing raw events (PERF-NOTES: the raw pairing is the slow part).
    sa.Column("accepted_flow", sa.String),
    sa.Column("released_flow", sa.String),
    sa.Column("dispatched_flow", sa.String),
    sa.Column("invoiced_flow", sa.String),
    # The order's total from its order.created payload (``total``, or Shopify's ``total_price``):
    # the value an alert says is at risk. Appended last: the writer's merge inserts by position.
    sa.Column("order_value", sa.Numeric(18, 2)),
    # What the seller promised, from the same payload: the customer's tier (``customer_tier``: key or
    # standard) and the ship-by (``ship_by``, or ``ship_within_hours`` after creation); null = unknown.
    sa.Column("customer_tier", sa.String),
    sa.Column("ship_by", sa.DateTime),
    # When the order first fell short of stock (its acceptance failed with a ``STOCK…`` error, or it was
    # held for ``stock_allocation``) and when its first return was received: the perfect order's "in
    # full" and "damage-free" read these instead of scanning every event of those types (schema v9).
    sa.Column("short_at", sa.DateTime),
    sa.Column("returned_at", sa.DateTime),
)

# Completed steps of flows that are not order steps (stock, supply), one row per step: a start (the
# latest successful start before an end) and its first end; kept by the writer so sync lag never pairs
# raw events, and unique per step so no reader has to group the ends of one start (schema v9).
flow_steps = sa.Table(
    "flow_steps",
    metadata,
    sa.Column("flow_id", sa.String, nullable=False),
    sa.Column("correlation_id", sa.String, nullable=False),
    sa.Column("start_at", sa.DateTime, nullable=False),
    sa.Column("end_at", sa.DateTime, nullable=False),
    sa.Index("ux_flow_steps_step", "flow_id", "correlation_id", "start_at", unique=True),
)

# The latest successful start event of each key for those flows: what the next end pairs with.
step_starts = sa.Table(
    "step_starts",
    metadata,
    sa.Column("correlation_id", sa.String, primary_key=True),
    sa.Column("event_type", sa.String, primary_key=True),
    sa.Column("last_at", sa.DateTime, nullable=False),
)

exceptions = sa.Table(
    "exceptions",
    metadata,
    sa.Column("exception_id", sa.BigInteger, exception_id_seq, primary_key=True),
    sa.Column("fingerprint", sa.String, nullable=False, unique=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("flow_id", sa.String),
    sa.Column("system_id", sa.String),
    sa.Column("business_key", sa.String),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("error_class", sa.String),
    sa.Column("first_error", sa.String),
    sa.Column("severity", sa.String, nullable=False),  # critical, high, medium, low
    sa.Column("status", sa.String, nullable=False),  # open, acknowledged, resolved, ignored
    sa.Column("assignee", sa.String),
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
    sa.Column("occurrences", sa.Integer, nullable=False),
    sa.Column("affected_orders", sa.Integer, nullable=False),
    sa.Column("event_id", sa.String),  # the failed message, for replay
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("resolution", sa.String),
    sa.Column("snoozed_until", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("last_error", sa.String),  # the error of the latest failed replay
    # Hold-down before an auto-resolve: when detection first found the condition clear, and in how
    # many passes since; reset when it is found again (detection must not flap).
    sa.Column("clear_since", sa.DateTime),
    sa.Column("clear_passes", sa.Integer),
)

# Every failed message an exception groups (often one per order): what a replay re-sends, each
# under its own idempotency key, and whether it has been delivered since. Detection adds rows as
# occurrences arrive; replays and detection (a later ok attempt from the source) mark them delivered.
exception_messages = sa.Table(
    "exception_messages",
    metadata,
    sa.Column("exception_id", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.String, nullable=False),  # the original message id (the idempotency key)
    sa.Column("correlation_id", sa.String),
    sa.Column("first_failed_at", sa.DateTime, nullable=False),
    sa.Column("last_failed_at", sa.DateTime, nullable=False),
    sa.Column("last_error", sa.String),
    sa.Column("state", sa.String, nullable=False),  # pending, delivered, failed (its last replay failed)
    sa.Column("replays", sa.Integer, nullable=False),  # replays attempted
    sa.Column("delivered_at", sa.DateTime),
    sa.Column("delivered_by", sa.String),  # the replay event that delivered it, or "source" (a later ok attempt)
    sa.PrimaryKeyConstraint("exception_id", "event_id"),
)

exception_orders = sa.Table(
    "exception_orders",
    metadata,
    sa.Column("exception_id", sa.BigInteger, nullable=False),
    sa.Column("correlation_id", sa.String, nullable=False),
    sa.Index("ix_exception_orders_exception_id", "exception_id"),
)


def _impact_columns(key: str) -> list[sa.Column[Any]]:
    """The business impact of a group of orders (``models.queries.impact``), one row per ``key``."""
    return [
        sa.Column(key, sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("orders", sa.Integer, nullable=False),
        sa.Column("value_at_risk", sa.Numeric(20, 2), nullable=False),
        sa.Column("valued_orders", sa.Integer, nullable=False),
        sa.Column("tier_rank", sa.Integer),  # index into TIERS: 0 = the most important
        sa.Column("customer_tier", sa.String),
        sa.Column("earliest_ship_by", sa.DateTime),
    ]


# The impact of each exception's linked orders, kept by the detection pass, so the workbench reads
# one row per exception instead of joining every link to ``order_facts``. No row: no known order.
exception_impacts = sa.Table("exception_impacts", metadata, *_impact_columns("exception_id"))

exception_actions = sa.Table(
    "exception_actions",
    metadata,
    sa.Column("action_id", sa.BigInteger, action_id_seq, primary_key=True),
    sa.Column("exception_id", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("acted_at", sa.DateTime, nullable=False),
    sa.Column("before_state", sa.String),
    sa.Column("after_state", sa.String),
    sa.Column("outcome", sa.String, nullable=False),
    sa.Column("detail", sa.String),
)

# One row per replay of an exception's failed message: the in-flight marker, the four-eyes
# request and the edited payload live here; the audit trail stays in exception_actions.
replays = sa.Table(
    "replays",
    metadata,
    sa.Column("replay_id", sa.BigInteger, replay_id_seq, primary_key=True),
    sa.Column("exception_id", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.String, nullable=False),  # the original message (the idempotency key)
    sa.Column("status", sa.String, nullable=False),  # pending_approval, running, delivered, failed, rejected, abandoned
    sa.Column("requested_by", sa.String, nullable=False),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    sa.Column("approved_by", sa.String),
    sa.Column("approved_at", sa.DateTime),
    sa.Column("payload", sa.String),  # the edited payload; null = the stored original
    sa.Column("reason", sa.String),  # reason code of an edit
    sa.Column("diff", sa.String),  # unified diff original → edited
    sa.Column("bulk_run_id", sa.BigInteger),
    sa.Column("replay_event_id", sa.String),  # <event_id>:replay:<n>, the business event it produced
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("error", sa.String),
    sa.Index("ix_replays_exception_id", "exception_id"),
)

bulk_runs = sa.Table(
    "bulk_runs",
    metadata,
    sa.Column("run_id", sa.BigInteger, bulk_run_id_seq, primary_key=True),
    sa.Column("action", sa.String, nullable=False),  # replay, resolve, ignore, assign
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # running, paused, completed, aborted, canary_failed
    sa.Column("selection", sa.String),  # JSON: the filter or the ids it was planned from
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("canary", sa.Integer, nullable=False),
    sa.Column("rate_per_second", sa.Float),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("detail", sa.String),  # why it stopped
)

bulk_run_items = sa.Table(
    "bulk_run_items",
    metadata,
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("exception_id", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.String),  # replays: the message of the exception this item re-sends
    sa.Column("status", sa.String, nullable=False),  # pending, delivered, failed, done, skipped
    sa.Column("duplicate_risk", sa.Boolean, nullable=False),
    sa.Column("replay_id", sa.BigInteger),
    sa.Column("error", sa.String),
    sa.Column("finished_at", sa.DateTime),
    sa.PrimaryKeyConstraint("run_id", "position"),
)

# EDI trading partners added with `flowwatch partners add` (the settings' edi_partners add to these).
edi_partners = sa.Table(
    "edi_partners",
    metadata,
    sa.Column("partner_id", sa.String, primary_key=True),  # ISA06/ISA08 (or GS02/GS03) id, upper case
    sa.Column("system_id", sa.String, nullable=False),
    sa.Column("added_at", sa.DateTime, nullable=False),
)

# A source system's own id of an order → the order's key (see models/ingest/key_aliases.py).
key_aliases = sa.Table(
    "key_aliases",
    metadata,
    sa.Column("alias", sa.String, primary_key=True),  # <namespace>:<source id>, e.g. shopify:order:8209…
    sa.Column("correlation_id", sa.String, nullable=False),
)

# Write-ahead segments already applied, so a crash between commit and delete never
# applies a segment twice.
ingest_segments = sa.Table(
    "ingest_segments",
    metadata,
    sa.Column("segment", sa.String, primary_key=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
)


# -- alerts (issue 12) ------------------------------------------------------------------------
alert_notification_id_seq = sa.Sequence("alert_notification_id_seq", metadata=metadata)
alert_silence_id_seq = sa.Sequence("alert_silence_id_seq", metadata=metadata)
alert_change_id_seq = sa.Sequence("alert_change_id_seq", metadata=metadata)

# Alert rules, one row per rule and the only definition evaluation reads: those of the TOML file
# (origin 'config', refreshed on start while updated_by is null; an admin's edit sets updated_by and
# wins until DELETE reverts it to the file's) and those made through the API or the page (origin 'api').
alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("rule_id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("definition", sa.String, nullable=False),  # JSON of alerts.config.RuleConfig
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("origin", sa.String, nullable=False),  # config, api
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("updated_by", sa.String),  # null: as the file says
)

# One target per scorecard KPI metric (models/store/default_kpi_targets.toml, then admin edits). The
# target is in the metric's unit (ratios as 0–1); ``updated_by`` null means "as the file says".
kpi_targets = sa.Table(
    "kpi_targets",
    metadata,
    sa.Column("kpi", sa.String, primary_key=True),  # a metric name of models.queries.kpis.KPIS
    sa.Column("target", sa.Double, nullable=False),
    sa.Column("direction", sa.String, nullable=False),  # higher, lower (models.enums.Direction)
    sa.Column("origin", sa.String, nullable=False),  # config, api
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("updated_by", sa.String),
)

# How each rule's last evaluation went, apart from its alerts: ok, nodata or error (never silently ok).
alert_rule_health = sa.Table(
    "alert_rule_health",
    metadata,
    sa.Column("rule_id", sa.String, primary_key=True),
    sa.Column("health", sa.String, nullable=False),  # ok, nodata, error
    sa.Column("detail", sa.String),
    sa.Column("evaluated_at", sa.DateTime, nullable=False),
    sa.Column("duration_ms", sa.Float),
)

# One row per alert (a rule's series: one label set) that is pending, firing or resolved; the state
# survives restarts. group_key names the aggregation group it is notified in.
alert_states = sa.Table(
    "alert_states",
    metadata,
    sa.Column("rule_id", sa.String, nullable=False),
    sa.Column("series", sa.String, nullable=False),  # hash of the label set
    sa.Column("labels", sa.String, nullable=False),  # JSON
    sa.Column("state", sa.String, nullable=False),  # pending, firing, resolved
    sa.Column("value", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("summary", sa.String),
    sa.Column("active_since", sa.DateTime),  # condition true since (pending and firing)
    sa.Column("firing_since", sa.DateTime),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("evaluated_at", sa.DateTime, nullable=False),
    sa.Column("group_key", sa.String),
    sa.PrimaryKeyConstraint("rule_id", "series"),
)

# Aggregation groups (Alertmanager's dispatch): alerts sharing a route and its group_by labels.
# An episode runs from the first firing alert to the group's resolve; its timers survive restarts.
alert_groups = sa.Table(
    "alert_groups",
    metadata,
    sa.Column("group_key", sa.String, primary_key=True),
    sa.Column("route", sa.String, nullable=False),
    sa.Column("labels", sa.String, nullable=False),  # JSON of the group_by labels
    sa.Column("episode", sa.Integer, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # active, closed
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("next_flush_at", sa.DateTime, nullable=False),
    sa.Column("last_flush_at", sa.DateTime),
    sa.Column("closed_at", sa.DateTime),
)

# The notification log: every notification (and every refusal to send one) with its channel, payload
# and delivery result. Dedup reads it ("already sent?"), and it holds the Slack message (channel + ts)
# or the mail Message-ID a later update or resolve of the same group episode belongs to.
alert_notifications = sa.Table(
    "alert_notifications",
    metadata,
    sa.Column("notification_id", sa.BigInteger, alert_notification_id_seq, primary_key=True),
    sa.Column("channel", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),  # firing, update, repeat, resolved, test, digest
    sa.Column("group_key", sa.String),
    sa.Column("episode", sa.Integer),
    sa.Column("sent_at", sa.DateTime, nullable=False),
    sa.Column("result", sa.String, nullable=False),  # sent, failed, rate_limited
    sa.Column("detail", sa.String),  # the error, or what was done (chat.update, thread reply)
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("message_ref", sa.String),  # JSON: {"channel", "ts"} (Slack) or {"message_id"} (mail)
    sa.Column("content_hash", sa.String),  # what the firing set looked like (dedup)
    sa.Column("payload", sa.String),  # what was sent (JSON)
    sa.Index("ix_alert_notifications_group", "group_key"),
)

# Silences: label matchers muting alerts for a while; author, comment and end are required.
alert_silences = sa.Table(
    "alert_silences",
    metadata,
    sa.Column("silence_id", sa.BigInteger, alert_silence_id_seq, primary_key=True),
    sa.Column("matchers", sa.String, nullable=False),  # JSON list of {name, op, value}
    sa.Column("starts_at", sa.DateTime, nullable=False),
    sa.Column("ends_at", sa.DateTime, nullable=False),
    sa.Column("author", sa.String, nullable=False),
    sa.Column("comment", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expired_by", sa.String),  # who ended it early
)

# The audit trail of alerting's admin actions (models.enums.AlertChange): who changed which rule,
# silence or Slack link, when, and the definition before and after (JSON; null when there was none).
alert_changes = sa.Table(
    "alert_changes",
    metadata,
    sa.Column("change_id", sa.BigInteger, alert_change_id_seq, primary_key=True),
    sa.Column("changed_at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("target", sa.String, nullable=False),  # a rule id, "silence #3", a Slack user id
    sa.Column("before", sa.String),
    sa.Column("after", sa.String),
    sa.Index("ix_alert_changes_target", "target"),
)

# Slack user id → Flowwatch user name, so an action taken in Slack is audited under a person
# (the settings' [alerts.slack_users] add to these).
alert_slack_users = sa.Table(
    "alert_slack_users",
    metadata,
    sa.Column("slack_user_id", sa.String, primary_key=True),
    sa.Column("user_name", sa.String, nullable=False),
    sa.Column("linked_by", sa.String, nullable=False),
    sa.Column("linked_at", sa.DateTime, nullable=False),
)

# -- access (issue 11): users, API keys, browser sessions and the security audit ------------------
security_audit_id_seq = sa.Sequence("security_audit_id_seq", metadata=metadata)

# People who log in. The password is an argon2id hash (its parameters are in the hash itself).
users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("role", sa.String, nullable=False),  # viewer, operator, admin
    sa.Column("password_hash", sa.String, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# Machine credentials: only the SHA-256 of the secret is kept; prefix and last4 let a person
# recognise a key in a list without it being usable.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("scope", sa.String, nullable=False),  # ingest, read, act, admin
    sa.Column("prefix", sa.String, nullable=False),
    sa.Column("last4", sa.String, nullable=False),
    sa.Column("key_hash", sa.String, nullable=False, unique=True),
    sa.Column("created_by", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime),
    sa.Column("revoked_at", sa.DateTime),
    sa.Column("last_used_at", sa.DateTime),
    sa.Column("last_used_addr", sa.String),
)

# Server-side browser sessions: the cookie carries a random id, the table its SHA-256, so a copy of
# the database does not hand out live sessions; ended_at is set by logout and by the timeouts.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id_hash", sa.String, primary_key=True),
    sa.Column("user_name", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("ended_at", sa.DateTime),
    sa.Column("addr", sa.String),
)

# Append-only: who logged in (or failed to), created, used or revoked a key, changed a role, or was
# refused. Nothing updates or deletes these rows.
security_audit = sa.Table(
    "security_audit",
    metadata,
    sa.Column("audit_id", sa.BigInteger, security_audit_id_seq, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False, quote=True),  # a reserved word in DuckDB
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("principal", sa.String),
    sa.Column("addr", sa.String),
    sa.Column("detail", sa.String),  # JSON
    sa.Index("ix_security_audit_at", "at"),
)


# -- expected next events, reconciliation, error catalog (issue 15) ---------------------------
# What must follow each flow step and by when (models/store/expectations.py syncs the TOML file
# into it on start): an ok after_event of a key makes an ok expect_event of the same key due.
expected_events = sa.Table(
    "expected_events",
    metadata,
    sa.Column("expectation_id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("after_event", sa.String, nullable=False),
    sa.Column("expect_event", sa.String, nullable=False),
    sa.Column("after_source", sa.String),  # only start events from this system
    sa.Column("after_target", sa.String),  # only start events to this system
    sa.Column("system_id", sa.String),  # who owes the expected event
    sa.Column("flow_id", sa.String),
    sa.Column("within_seconds", sa.Integer),  # due this long after the start…
    sa.Column("cutoff", sa.String),  # …or by the next daily cut-off, HH:MM UTC
    sa.Column("cutoff_lead_seconds", sa.Integer, nullable=False),  # a start later than cut-off − lead: next day's
    sa.Column("unless_events", sa.String, nullable=False),  # JSON list: a key with any of these is left alone
)

# Daily carrier / 3PL cut-offs (HH:MM UTC) by system, from the same file.
cutoffs = sa.Table(
    "cutoffs",
    metadata,
    sa.Column("system_id", sa.String, primary_key=True),
    sa.Column("cutoff", sa.String, nullable=False),
)

# The reconciliation funnel's stages in order, from the same file (models/queries/reconciliation.py).
reconciliation_stages = sa.Table(
    "reconciliation_stages",
    metadata,
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("stage", sa.String, nullable=False),
    sa.Column("label", sa.String, nullable=False),
    sa.Column("event", sa.String, nullable=False),
    sa.Column("grace_seconds", sa.Integer, nullable=False),
    sa.Column("replay", sa.Boolean, nullable=False),  # a gap's keys replay the previous stage's message
    sa.Column("unless_events", sa.String, nullable=False),  # JSON list
)

# Inventory reconciliation checks, from the same file (models/detection/inventory.py): per key (SKU@location)
# the quantity of its latest ok ``adjusted_event`` against that of the latest ok ``published_event`` to each
# system a flow ending in it targets (a storefront).
inventory_checks = sa.Table(
    "inventory_checks",
    metadata,
    sa.Column("check_id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("adjusted_event", sa.String, nullable=False),
    sa.Column("adjusted_quantity", sa.String, nullable=False),  # JSON path in its payload, e.g. $.on_hand
    sa.Column("published_event", sa.String, nullable=False),
    sa.Column("published_quantity", sa.String, nullable=False),
    sa.Column("grace_seconds", sa.Integer, nullable=False),  # an adjustment this recent may still be on its way
    sa.Column("lookback_seconds", sa.Integer, nullable=False),  # keys adjusted this far back are compared
)

# The error catalog (models/store/error_catalog.py): known error classes matched over an error's code
# and message, each with its explanation, Markdown runbook and the safe action to offer. Rows of the
# TOML file (origin 'config') are refreshed on start while updated_by is null; an admin's edit sets
# updated_by and wins over the file; classes an admin adds have origin 'admin'.
error_classes = sa.Table(
    "error_classes",
    metadata,
    sa.Column("class_id", sa.String, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),  # match order: the first matching class wins
    sa.Column("name", sa.String, nullable=False),
    sa.Column("codes", sa.String, nullable=False),  # JSON list, matched case-insensitively
    sa.Column("patterns", sa.String, nullable=False),  # JSON list of regular expressions over the message
    sa.Column("exclude", sa.String, nullable=False),  # JSON list: a message matching one is not this class
    sa.Column("explanation", sa.String, nullable=False),
    sa.Column("runbook", sa.String, nullable=False),  # Markdown
    sa.Column("action", sa.String, nullable=False),  # replay, edit_and_replay, resolve
    sa.Column("suggested_patch", sa.String),  # JSON Patch text, for edit_and_replay
    sa.Column("resolve_reason", sa.String),  # for resolve
    sa.Column("origin", sa.String, nullable=False),  # config, admin
    sa.Column("updated_by", sa.String),  # null: as the file says
    sa.Column("updated_at", sa.DateTime),
)


# -- incidents (issue 15): simultaneous exceptions one shared system explains ---------------------
incident_id_seq = sa.Sequence("incident_id_seq", metadata=metadata)
incident_action_id_seq = sa.Sequence("incident_action_id_seq", metadata=metadata)

# One incident per episode of a system explaining several flows' exceptions (models/detection/incidents.py):
# "Dynamics 365 unavailable". Its exceptions are attached in incident_exceptions; resolving it resolves them.
incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("incident_id", sa.BigInteger, incident_id_seq, primary_key=True),
    sa.Column("system_id", sa.String, nullable=False),  # the root cause: the shared upstream/downstream system
    sa.Column("title", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # open, acknowledged, resolved (models.enums.IncidentStatus)
    sa.Column("owner", sa.String),
    sa.Column("opened_at", sa.DateTime, nullable=False),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("resolution", sa.String),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

incident_exceptions = sa.Table(
    "incident_exceptions",
    metadata,
    sa.Column("incident_id", sa.BigInteger, nullable=False),
    sa.Column("exception_id", sa.BigInteger, nullable=False),
    sa.Column("attached_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("incident_id", "exception_id"),
)

# The impact of the orders of all an incident's exceptions (each order once), kept by the pass too.
incident_impacts = sa.Table("incident_impacts", metadata, *_impact_columns("incident_id"))

# The incident's timeline and audit: opened and exceptions attached (detector), acknowledged, owner set,
# resolved (an operator or the detector); never updated.
incident_actions = sa.Table(
    "incident_actions",
    metadata,
    sa.Column("action_id", sa.BigInteger, incident_action_id_seq, primary_key=True),
    sa.Column("incident_id", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String, nullable=False),  # open, attach, ack, assign, resolve
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("acted_at", sa.DateTime, nullable=False),
    sa.Column("before_state", sa.String),  # JSON: status and owner
    sa.Column("after_state", sa.String),
    sa.Column("detail", sa.String),
    sa.Index("ix_incident_actions_incident", "incident_id"),
)

# -- replicas (issue 16) ----------------------------------------------------------------------
# The scheduled jobs' ledger: which replica last ran each job and how many runs it has had in all,
# so an operator (and the replica test) can see that a job runs once per interval across replicas.
job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("job_id", sa.String, primary_key=True),
    sa.Column("replica", sa.String, nullable=False),  # host:pid of the process that ran it last
    sa.Column("runs", sa.BigInteger, nullable=False),
    sa.Column("last_started_at", sa.DateTime, nullable=False),
    sa.Column("last_seconds", sa.Float, nullable=False),
)
