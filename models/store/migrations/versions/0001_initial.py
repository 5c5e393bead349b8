"""The schema of version 7: every table, index and sequence of models/store/tables.py, and the
two SQL functions the writer's rollup needs on PostgreSQL (DuckDB has them built in).

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SEQUENCES = (
    "exception_id_seq",
    "exception_action_id_seq",
    "replay_id_seq",
    "bulk_run_id_seq",
    "alert_notification_id_seq",
    "alert_silence_id_seq",
    "alert_change_id_seq",
    "security_audit_id_seq",
)

#: json_extract_string and TRY_CAST(... AS DECIMAL) as DuckDB has them: NULL, never an error, for text
#: that is not JSON or a value that is not a number (a bad payload must not fail an ingest batch).
#: PARALLEL UNSAFE (the default): an EXCEPTION block is a subtransaction, which parallel workers cannot start.
FUNCTIONS = (
    """
    CREATE OR REPLACE FUNCTION fw_json_text(doc text, key text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        RETURN doc::json ->> key;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION fw_json_decimal(doc text, VARIADIC keys text[]) RETURNS numeric(18, 2)
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        parsed json;
        key text;
        value text;
    BEGIN
        parsed := doc::json;  -- parsed once for every key
        FOREACH key IN ARRAY keys LOOP
            value := parsed ->> key;
            IF value IS NOT NULL THEN
                RETURN value::numeric(18, 2);  -- the first present key decides, as coalesce() does
            END IF;
        END LOOP;
        RETURN NULL;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END $$
    """,
)


def upgrade() -> None:
    for name in SEQUENCES:
        op.execute(sa.schema.CreateSequence(sa.Sequence(name)))
    for function in FUNCTIONS:
        op.execute(function)
    op.create_table(
        "alert_changes",
        sa.Column("change_id", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("before", sa.String(), nullable=True),
        sa.Column("after", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("change_id"),
    )
    op.create_index("ix_alert_changes_target", "alert_changes", ["target"], unique=False)
    op.create_table(
        "alert_groups",
        sa.Column("group_key", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("labels", sa.String(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("next_flush_at", sa.DateTime(), nullable=False),
        sa.Column("last_flush_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("group_key"),
    )
    op.create_table(
        "alert_notifications",
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("group_key", sa.String(), nullable=True),
        sa.Column("episode", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("result", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_ref", sa.String(), nullable=True),
        sa.Column("content_hash", sa.String(), nullable=True),
        sa.Column("payload", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_index("ix_alert_notifications_group", "alert_notifications", ["group_key"], unique=False)
    op.create_table(
        "alert_rule_health",
        sa.Column("rule_id", sa.String(), nullable=False),
        sa.Column("health", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("rule_id"),
    )
    op.create_table(
        "alert_rules",
        sa.Column("rule_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("definition", sa.String(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("rule_id"),
    )
    op.create_table(
        "alert_silences",
        sa.Column("silence_id", sa.BigInteger(), nullable=False),
        sa.Column("matchers", sa.String(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("comment", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expired_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("silence_id"),
    )
    op.create_table(
        "alert_slack_users",
        sa.Column("slack_user_id", sa.String(), nullable=False),
        sa.Column("user_name", sa.String(), nullable=False),
        sa.Column("linked_by", sa.String(), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("slack_user_id"),
    )
    op.create_table(
        "alert_states",
        sa.Column("rule_id", sa.String(), nullable=False),
        sa.Column("series", sa.String(), nullable=False),
        sa.Column("labels", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("summary", sa.String(), nullable=True),
        sa.Column("active_since", sa.DateTime(), nullable=True),
        sa.Column("firing_since", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(), nullable=False),
        sa.Column("group_key", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("rule_id", "series"),
    )
    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("last4", sa.String(), nullable=False),
        sa.Column("key_hash", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_addr", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "bulk_run_items",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("exception_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("duplicate_risk", sa.Boolean(), nullable=False),
        sa.Column("replay_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "position"),
    )
    op.create_table(
        "bulk_runs",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("selection", sa.String(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("canary", sa.Integer(), nullable=False),
        sa.Column("rate_per_second", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "business_events",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("flow_id", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=True),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("error_message", sa.String(), nullable=True),
        sa.Column("trace_id", sa.String(), nullable=True),
        sa.Column("payload", sa.String(), nullable=True),
    )
    op.create_index("ix_business_events_correlation_id", "business_events", ["correlation_id"], unique=False)
    op.create_index("ux_business_events_event_id", "business_events", ["event_id"], unique=True)
    op.create_table(
        "cutoffs",
        sa.Column("system_id", sa.String(), nullable=False),
        sa.Column("cutoff", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("system_id"),
    )
    op.create_table(
        "edi_partners",
        sa.Column("partner_id", sa.String(), nullable=False),
        sa.Column("system_id", sa.String(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("partner_id"),
    )
    op.create_table(
        "error_classes",
        sa.Column("class_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("codes", sa.String(), nullable=False),
        sa.Column("patterns", sa.String(), nullable=False),
        sa.Column("exclude", sa.String(), nullable=False),
        sa.Column("explanation", sa.String(), nullable=False),
        sa.Column("runbook", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("suggested_patch", sa.String(), nullable=True),
        sa.Column("resolve_reason", sa.String(), nullable=True),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("class_id"),
    )
    op.create_table(
        "exception_actions",
        sa.Column("action_id", sa.BigInteger(), nullable=False),
        sa.Column("exception_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("acted_at", sa.DateTime(), nullable=False),
        sa.Column("before_state", sa.String(), nullable=True),
        sa.Column("after_state", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("action_id"),
    )
    op.create_table(
        "exception_messages",
        sa.Column("exception_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.Column("first_failed_at", sa.DateTime(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("replays", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("delivered_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("exception_id", "event_id"),
    )
    op.create_table(
        "exception_orders",
        sa.Column("exception_id", sa.BigInteger(), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=False),
    )
    op.create_index("ix_exception_orders_exception_id", "exception_orders", ["exception_id"], unique=False)
    op.create_table(
        "exceptions",
        sa.Column("exception_id", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("flow_id", sa.String(), nullable=True),
        sa.Column("system_id", sa.String(), nullable=True),
        sa.Column("business_key", sa.String(), nullable=True),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("error_class", sa.String(), nullable=True),
        sa.Column("first_error", sa.String(), nullable=True),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("assignee", sa.String(), nullable=True),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("affected_orders", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolution", sa.String(), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("clear_since", sa.DateTime(), nullable=True),
        sa.Column("clear_passes", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("exception_id"),
        sa.UniqueConstraint("fingerprint"),
    )
    op.create_table(
        "expected_events",
        sa.Column("expectation_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("after_event", sa.String(), nullable=False),
        sa.Column("expect_event", sa.String(), nullable=False),
        sa.Column("after_source", sa.String(), nullable=True),
        sa.Column("after_target", sa.String(), nullable=True),
        sa.Column("system_id", sa.String(), nullable=True),
        sa.Column("flow_id", sa.String(), nullable=True),
        sa.Column("within_seconds", sa.Integer(), nullable=True),
        sa.Column("cutoff", sa.String(), nullable=True),
        sa.Column("cutoff_lead_seconds", sa.Integer(), nullable=False),
        sa.Column("unless_events", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("expectation_id"),
    )
    op.create_table(
        "flow_steps",
        sa.Column("flow_id", sa.String(), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("end_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "flows",
        sa.Column("flow_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("source_system", sa.String(), nullable=False),
        sa.Column("target_system", sa.String(), nullable=False),
        sa.Column("start_event", sa.String(), nullable=False),
        sa.Column("end_event", sa.String(), nullable=False),
        sa.Column("sla_seconds", sa.Integer(), nullable=False),
        sa.Column("lag_threshold_seconds", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(), nullable=True),
        sa.Column("replay_kind", sa.String(), nullable=True),
        sa.Column("replay_target", sa.String(), nullable=True),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("replay_rate_per_second", sa.Float(), nullable=True),
        sa.Column("replay_four_eyes", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("flow_id"),
    )
    op.create_table(
        "ingest_segments",
        sa.Column("segment", sa.String(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("segment"),
    )
    op.create_table(
        "key_aliases",
        sa.Column("alias", sa.String(), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("alias"),
    )
    op.create_table(
        "kpi_targets",
        sa.Column("kpi", sa.String(), nullable=False),
        sa.Column("target", sa.Double(), nullable=False),
        sa.Column("direction", sa.String(), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("kpi"),
    )
    op.create_table(
        "order_facts",
        sa.Column("correlation_id", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("erp", sa.String(), nullable=True),
        sa.Column("fulfiller", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(), nullable=True),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(), nullable=True),
        sa.Column("invoiced_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_event_at", sa.DateTime(), nullable=True),
        sa.Column("accepted_flow", sa.String(), nullable=True),
        sa.Column("released_flow", sa.String(), nullable=True),
        sa.Column("dispatched_flow", sa.String(), nullable=True),
        sa.Column("invoiced_flow", sa.String(), nullable=True),
        sa.Column("order_value", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.PrimaryKeyConstraint("correlation_id"),
    )
    op.create_table(
        "queue_samples",
        sa.Column("broker", sa.String(), nullable=False),
        sa.Column("queue", sa.String(), nullable=False),
        sa.Column("sampled_at", sa.DateTime(), nullable=False),
        sa.Column("depth", sa.BigInteger(), nullable=False),
        sa.Column("consumers", sa.Integer(), nullable=True),
        sa.Column("oldest_age_seconds", sa.Float(), nullable=True),
        sa.Column("is_dlq", sa.Boolean(), nullable=False),
        sa.Column("flow_id", sa.String(), nullable=True),
    )
    op.create_table(
        "reconciliation_stages",
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("replay", sa.Boolean(), nullable=False),
        sa.Column("unless_events", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_table(
        "replays",
        sa.Column("replay_id", sa.BigInteger(), nullable=False),
        sa.Column("exception_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("approved_by", sa.String(), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("payload", sa.String(), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("diff", sa.String(), nullable=True),
        sa.Column("bulk_run_id", sa.BigInteger(), nullable=True),
        sa.Column("replay_event_id", sa.String(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("replay_id"),
    )
    op.create_index("ix_replays_exception_id", "replays", ["exception_id"], unique=False)
    op.create_table(
        "schema_meta",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "security_audit",
        sa.Column("audit_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("principal", sa.String(), nullable=True),
        sa.Column("addr", sa.String(), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("audit_id"),
    )
    op.create_index("ix_security_audit_at", "security_audit", ["at"], unique=False)
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(), nullable=False),
        sa.Column("user_name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("addr", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_table(
        "spans",
        sa.Column("trace_id", sa.String(), nullable=False),
        sa.Column("span_id", sa.String(), nullable=False),
        sa.Column("parent_span_id", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=True),
        sa.Column("service_name", sa.String(), nullable=True),
        sa.Column("start_time", sa.DateTime(), nullable=False),
        sa.Column("end_time", sa.DateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status_code", sa.String(), nullable=False),
        sa.Column("status_message", sa.String(), nullable=True),
        sa.Column("correlation_id", sa.String(), nullable=True),
        sa.Column("attributes", sa.String(), nullable=True),
    )
    op.create_index("ix_spans_correlation_id", "spans", ["correlation_id"], unique=False)
    op.create_index("ix_spans_trace_id", "spans", ["trace_id"], unique=False)
    op.create_table(
        "step_starts",
        sa.Column("correlation_id", sa.String(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("correlation_id", "event_type"),
    )
    op.create_table(
        "systems",
        sa.Column("system_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("vendor", sa.String(), nullable=True),
        sa.Column("region", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("system_id"),
    )
    op.create_table(
        "users",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION fw_json_text(text, text)")
    op.execute("DROP FUNCTION fw_json_decimal(text, text[])")
    for name in SEQUENCES:
        op.execute(sa.schema.DropSequence(sa.Sequence(name)))
    op.drop_table("users")
    op.drop_table("systems")
    op.drop_table("step_starts")
    op.drop_index("ix_spans_trace_id", table_name="spans")
    op.drop_index("ix_spans_correlation_id", table_name="spans")
    op.drop_table("spans")
    op.drop_table("sessions")
    op.drop_index("ix_security_audit_at", table_name="security_audit")
    op.drop_table("security_audit")
    op.drop_table("schema_meta")
    op.drop_index("ix_replays_exception_id", table_name="replays")
    op.drop_table("replays")
    op.drop_table("reconciliation_stages")
    op.drop_table("queue_samples")
    op.drop_table("order_facts")
    op.drop_table("kpi_targets")
    op.drop_table("key_aliases")
    op.drop_table("ingest_segments")
    op.drop_table("flows")
    op.drop_table("flow_steps")
    op.drop_table("expected_events")
    op.drop_table("exceptions")
    op.drop_index("ix_exception_orders_exception_id", table_name="exception_orders")
    op.drop_table("exception_orders")
    op.drop_table("exception_messages")
    op.drop_table("exception_actions")
    op.drop_table("error_classes")
    op.drop_table("edi_partners")
    op.drop_table("cutoffs")
    op.drop_index("ux_business_events_event_id", table_name="business_events")
    op.drop_index("ix_business_events_correlation_id", table_name="business_events")
    op.drop_table("business_events")
    op.drop_table("bulk_runs")
    op.drop_table("bulk_run_items")
    op.drop_table("api_keys")
    op.drop_table("alert_states")
    op.drop_table("alert_slack_users")
    op.drop_table("alert_silences")
    op.drop_table("alert_rules")
    op.drop_table("alert_rule_health")
    op.drop_index("ix_alert_notifications_group", table_name="alert_notifications")
    op.drop_table("alert_notifications")
    op.drop_table("alert_groups")
    op.drop_index("ix_alert_changes_target", table_name="alert_changes")
    op.drop_table("alert_changes")
