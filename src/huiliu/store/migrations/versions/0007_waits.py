"""Runs waiting at a ``wait`` step: for which events, which business key, until when.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waits",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("step_id", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("on_timeout", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_waits"),
    )
    op.create_index("ix_waits_key", "waits", ["key"])


def downgrade() -> None:
    op.drop_index("ix_waits_key", table_name="waits")
    op.drop_table("waits")
