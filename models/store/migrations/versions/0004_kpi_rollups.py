"""Schema v9 on PostgreSQL, rollups the KPIs read instead of raw events: order_facts.short_at and
returned_at (kept by the writer, filled here for orders already stored), and flow_steps unique per
step (each start's first end; the other rows removed here before the unique index is built).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.ingest.step_rollup import keep_first_ends
from models.ingest.writer import backfill_order_shortfalls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_facts", sa.Column("short_at", sa.DateTime(), nullable=True))
    op.add_column("order_facts", sa.Column("returned_at", sa.DateTime(), nullable=True))
    backfill_order_shortfalls(op.get_bind())
    keep_first_ends(op.get_bind())
    op.create_index("ux_flow_steps_step", "flow_steps", ["flow_id", "correlation_id", "start_at"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_flow_steps_step", table_name="flow_steps")
    op.drop_column("order_facts", "returned_at")
    op.drop_column("order_facts", "short_at")
