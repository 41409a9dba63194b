"""OA directories (departments and people as each OA lists them), leavers, and polling high-water marks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("departments") as batch:
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default="1"))
    with op.batch_alter_table("employees") as batch:
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "org_units",
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("native_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("parent_id", sa.String(100), nullable=True),
        sa.Column("number", sa.String(60), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", "native_id", name="pk_org_units"),
    )
    op.create_table(
        "org_users",
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("native_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("employee_number", sa.String(60), nullable=True),
        sa.Column("department_ids", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", "native_id", name="pk_org_users"),
    )
    op.create_index("ix_org_users_employee_number", "org_users", ["employee_number"])
    op.create_table(
        "watermarks",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_watermarks"),
    )


def downgrade() -> None:
    op.drop_table("watermarks")
    op.drop_index("ix_org_users_employee_number", table_name="org_users")
    op.drop_table("org_users")
    op.drop_table("org_units")
    with op.batch_alter_table("employees") as batch:
        batch.drop_column("left_at")
        batch.drop_column("active")
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("active")
