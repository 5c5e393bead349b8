"""Issue 15 on PostgreSQL: orders' promises (customer tier, ship-by), incidents, inventory checks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEQUENCES = ("incident_id_seq", "incident_action_id_seq")

# A stated ship-by read by the writer from payloads it did not validate: NULL, never an error.
JSON_TIMESTAMP = """
CREATE OR REPLACE FUNCTION fw_json_timestamp(doc text, key text) RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE AS $$
BEGIN
    RETURN ((doc::json ->> key)::timestamptz) AT TIME ZONE 'UTC';
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(JSON_TIMESTAMP)
    for name in SEQUENCES:
        op.execute(sa.schema.CreateSequence(sa.Sequence(name)))
    op.add_column("order_facts", sa.Column("customer_tier", sa.String(), nullable=True))
    op.add_column("order_facts", sa.Column("ship_by", sa.DateTime(), nullable=True))
    op.create_table(
        "inventory_checks",
        sa.Column("check_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("adjusted_event", sa.String(), nullable=False),
        sa.Column("adjusted_quantity", sa.String(), nullable=False),
        sa.Column("published_event", sa.String(), nullable=False),
        sa.Column("published_quantity", sa.String(), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("lookback_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("check_id"),
    )
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.BigInteger(), sa.Sequence("incident_id_seq"), nullable=False),
        sa.Column("system_id", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolution", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    op.create_table(
        "incident_exceptions",
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("exception_id", sa.BigInteger(), nullable=False),
        sa.Column("attached_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "exception_id"),
    )
    op.create_table(
        "incident_actions",
        sa.Column("action_id", sa.BigInteger(), sa.Sequence("incident_action_id_seq"), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("acted_at", sa.DateTime(), nullable=False),
        sa.Column("before_state", sa.String(), nullable=True),
        sa.Column("after_state", sa.String(), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("action_id"),
    )
    op.create_index("ix_incident_actions_incident", "incident_actions", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_incident_actions_incident", table_name="incident_actions")
    for table in ("incident_actions", "incident_exceptions", "incidents", "inventory_checks"):
        op.drop_table(table)
    op.drop_column("order_facts", "ship_by")
    op.drop_column("order_facts", "customer_tier")
    for name in SEQUENCES:
        op.execute(sa.schema.DropSequence(sa.Sequence(name)))
    op.execute("DROP FUNCTION fw_json_timestamp(text, text)")
