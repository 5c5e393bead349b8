"""Schema v10 on PostgreSQL: the business impact kept per exception and per incident
(``exception_impacts``, ``incident_impacts``), filled here for those already stored; the detection
pass keeps them from then on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.queries.impact import refresh_impact, refresh_incident_impact

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table, key in (("exception_impacts", "exception_id"), ("incident_impacts", "incident_id")):
        op.create_table(
            table,
            sa.Column(key, sa.BigInteger(), nullable=False),
            sa.Column("orders", sa.Integer(), nullable=False),
            sa.Column("value_at_risk", sa.Numeric(20, 2), nullable=False),
            sa.Column("valued_orders", sa.Integer(), nullable=False),
            sa.Column("tier_rank", sa.Integer(), nullable=True),
            sa.Column("customer_tier", sa.String(), nullable=True),
            sa.Column("earliest_ship_by", sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint(key),
        )
    refresh_impact(op.get_bind())
    refresh_incident_impact(op.get_bind())


def downgrade() -> None:
    op.drop_table("incident_impacts")
    op.drop_table("exception_impacts")
