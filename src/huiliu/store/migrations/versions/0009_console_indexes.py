"""Indexes the console's reads need with a million runs: the runs list, a run's trace and the summary.

- ``runs (started_at)``: the list, newest first, its deep pages and its time window, without sorting the table.
- ``runs (flow_id, status, started_at)``: the list filtered by flow and status (the rare combinations too).
- ``outbox (run_id)``, ``event_log (run_id)``: a run's effects and events (the trace) without a table scan.
- ``inbox (type)``, ``outbox (status, action)``: the summary's counts read from the index alone.

Figures: ``bench/console.py``. On PostgreSQL each index is built under a lock that holds writes to its table
back for the build (seconds for a million runs); run the upgrade when the hub is quiet.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_runs_started_at", "runs", ["started_at"]),
    ("ix_runs_flow_id_status_started_at", "runs", ["flow_id", "status", "started_at"]),
    ("ix_outbox_run_id", "outbox", ["run_id"]),
    ("ix_outbox_status_action", "outbox", ["status", "action"]),
    ("ix_event_log_run_id", "event_log", ["run_id"]),
    ("ix_inbox_type", "inbox", ["type"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
