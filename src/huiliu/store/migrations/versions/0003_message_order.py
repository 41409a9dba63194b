"""Index messages by business key, for per-key ordering in the database transport.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_key_id", "messages", ["key", "id"])


def downgrade() -> None:
    op.drop_index("ix_messages_key_id", "messages")
