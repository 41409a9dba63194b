"""The tables. Migrations in ``migrations/versions`` create them; a test checks the two agree."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from huiliu.store.types import UTCDateTime

__all__ = [
    "api_tokens",
    "audit_log",
    "cost_centers",
    "crosswalk",
    "dead_letters",
    "departments",
    "employees",
    "event_log",
    "flow_versions",
    "inbox",
    "messages",
    "metadata",
    "org_units",
    "org_users",
    "outbox",
    "project_budgets",
    "run_steps",
    "runs",
    "sessions",
    "users",
    "waits",
    "watermarks",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

messages = Table(
    "messages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(100), nullable=False),
    Column("key", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("dedupe_key", String(300), nullable=True, unique=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("attempt_log", Text, nullable=False, default="[]"),
    Column("relayed_at", UTCDateTime, nullable=True),
    Index(None, "topic", "available_at"),
    Index(None, "key", "id"),
)
"""The database transport's queue. A row is a message; a lease marks who works on it until when. Messages
of one key are handed out one at a time, oldest first."""

dead_letters = Table(
    "dead_letters", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", Integer, nullable=False),
    Column("topic", String(100), nullable=False),
    Column("key", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("reason", String(60), nullable=False),
    Column("last_error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("attempt_log", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("replayed_at", UTCDateTime, nullable=True),
    Column("replays", Integer, nullable=False, server_default="0"),
    Column("discarded_at", UTCDateTime, nullable=True),
    Column("note", Text, nullable=True),
    Column("detail", Text, nullable=True),
    Index(None, "created_at"),
)
"""Work given up, with the reason, the last error, every attempt and the payload to replay."""

inbox = Table(
    "inbox", metadata,
    Column("id", String(36), primary_key=True),
    Column("source", String(40), nullable=False),
    Column("native_id", String(200), nullable=False),
    Column("version", String(100), nullable=False),
    Column("type", String(100), nullable=False),
    Column("business_key", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "native_id", "version"),
    Index(None, "type"),
    Index(None, "type", "received_at"),
)
"""Canonical envelopes, each stored once per (source, native id, version)."""

runs = Table(
    "runs", metadata,
    Column("id", String(36), primary_key=True),
    Column("flow_id", String(100), nullable=False),
    Column("flow_version", String(40), nullable=False),
    Column("envelope_id", String(36), nullable=False),
    Column("business_key", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("context", Text, nullable=False),
    Column("error", Text, nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("flow_digest", String(64), nullable=True),
    UniqueConstraint("flow_id", "envelope_id"),
    Index(None, "status", "started_at"),
    Index(None, "business_key"),
    Index(None, "started_at"),
    Index(None, "flow_id", "status", "started_at"),
    Index(None, "status", "finished_at"),
)
"""Flow runs. The indexes serve the console's list (newest first, by status, flow + status, business key, time)."""

run_steps = Table(
    "run_steps", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False),
    Column("step_id", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("output", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    UniqueConstraint("run_id", "step_id"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", String(36), primary_key=True),
    Column("idempotency_key", String(300), nullable=False, unique=True),
    Column("run_id", String(36), nullable=False),
    Column("step_id", String(100), nullable=False),
    Column("action", String(100), nullable=False),
    Column("request", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("result", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime, nullable=True),
    Index(None, "run_id"),
    Index(None, "status", "action"),
    Index(None, "status", "action", "done_at"),
)
"""External effects, recorded with their idempotency key before the call is made (invariant 2)."""

crosswalk = Table(
    "crosswalk", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity", String(60), nullable=False),
    Column("golden_id", String(200), nullable=False),
    Column("system", String(40), nullable=False),
    Column("native_type", String(60), nullable=False),
    Column("native_id", String(200), nullable=False),
    Column("native_number", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("entity", "golden_id", "system", "native_type"),
    UniqueConstraint("system", "native_type", "native_id"),
)
"""One business object's ids in every system: (entity, golden id) ⇄ (system, native type, native id)."""

event_log = Table(
    "event_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("case_id", String(200), nullable=False),
    Column("activity", String(100), nullable=False),
    Column("system", String(40), nullable=False),
    Column("actor", String(100), nullable=True),
    Column("run_id", String(36), nullable=True),
    Column("outcome", String(20), nullable=False),
    Column("duration_ms", Integer, nullable=True),
    Column("detail", Text, nullable=True),
    Index(None, "case_id"),
    Index(None, "at"),
    Index(None, "run_id"),
    Index(None, "at", "system", "outcome"),
)
"""Every envelope, step, attempt and external call: the source for process mining and KPIs."""

departments = Table(
    "departments", metadata,
    Column("number", String(60), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("parent_number", String(60), nullable=True),
    Column("cost_center", String(60), nullable=True),
    Column("active", Boolean, nullable=False, server_default="1"),
)

employees = Table(
    "employees", metadata,
    Column("number", String(60), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("department_number", String(60), nullable=False),
    Column("erp_user", String(100), nullable=True),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("left_at", UTCDateTime, nullable=True),
)

cost_centers = Table(
    "cost_centers", metadata,
    Column("number", String(60), primary_key=True),
    Column("name", String(200), nullable=False),
)

org_units = Table(
    "org_units", metadata,
    Column("system", String(40), primary_key=True),
    Column("native_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("parent_id", String(100), nullable=True),
    Column("number", String(60), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Departments as each OA directory last listed them, and the golden department number each one is."""

org_users = Table(
    "org_users", metadata,
    Column("system", String(40), primary_key=True),
    Column("native_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("employee_number", String(60), nullable=True),
    Column("department_ids", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("left_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "employee_number"),
)
"""People as each OA directory last listed them (``department_ids`` a JSON list, the main one first)."""

watermarks = Table(
    "watermarks", metadata,
    Column("name", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
)
"""High-water marks of catch-up polling and other periodic reads, with a lease so one process runs each."""

flow_versions = Table(
    "flow_versions", metadata,
    Column("flow_id", String(100), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("version", String(40), nullable=False),
    Column("source", String(500), nullable=False),
    Column("text", Text, nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
)
"""Every version of every flow the hub has loaded (its text), so a run finishes on the version it began with."""

waits = Table(
    "waits", metadata,
    Column("run_id", String(36), primary_key=True),
    Column("step_id", String(100), nullable=False),
    Column("key", String(200), nullable=False),
    Column("events", Text, nullable=False),
    Column("deadline", UTCDateTime, nullable=False),
    Column("on_timeout", String(20), nullable=False),
    Index(None, "key"),
)
"""Runs paused at a ``wait`` step until an event of one of ``events`` carrying ``key`` arrives, or ``deadline``."""

project_budgets = Table(
    "project_budgets", metadata,
    Column("code", String(60), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("budget", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("manager", String(100), nullable=True),
    Column("department", String(60), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)
"""Project budgets (项目预算) by project code; ``budget`` is exact decimal text at the currency's minor unit
(text, not Numeric: SQLite would keep a float)."""

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("display_name", String(200), nullable=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)
"""Console users: an argon2id password hash and one role (admin, integrator, auditor, viewer)."""

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, nullable=False),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)
"""API tokens for scripts: only the SHA-256 of the token is kept (the token is shown once)."""

sessions = Table(
    "sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "expires_at"),
)
"""Console sessions: the SHA-256 of the cookie's value, its CSRF token and its expiry."""

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(500), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("detail", Text, nullable=True),
    Index(None, "at"),
)
"""Who changed or replayed what, and when (every change through the API, every login)."""
