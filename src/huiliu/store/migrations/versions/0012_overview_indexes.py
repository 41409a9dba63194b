"""Indexes the console's overview (驾驶舱) needs with a million runs: each of its figures is a range over one.

- ``inbox (type, received_at)``: approvals received per day, by the approved types.
- ``outbox (status, action, done_at)``: documents created per day (done, document actions) and in all, and
  today's latency, read from the index alone.
- ``runs (status, finished_at)``: runs ended per day and hour by status (success rate, failures, throughput).
- ``event_log (at, system, outcome)``: the last day's failed external calls by system, from the index alone.

Figures: ``bench/overview.py`` (and the module docstring of ``huiliu.web.overview``). On PostgreSQL each
index is built under a lock that holds writes to its table back for the build; run the upgrade when the hub
is quiet.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_inbox_type_received_at", "inbox", ["type", "received_at"]),
    ("ix_outbox_status_action_done_at", "outbox", ["status", "action", "done_at"]),
    ("ix_runs_status_finished_at", "runs", ["status", "finished_at"]),
    ("ix_event_log_at_system_outcome", "event_log", ["at", "system", "outcome"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
