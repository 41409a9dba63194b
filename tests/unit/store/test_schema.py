from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select, text
from sqlalchemy.exc import StatementError

from huiliu.errors import ConfigError
from huiliu.store import Database, dumps, loads, metadata
from huiliu.store.schema import event_log


def test_migrations_match_the_tables(db: Database) -> None:
    db.migrate()  # a second run is a no-op
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


@pytest.mark.sqlite_only
def test_sqlite_runs_in_wal_mode(db: Database) -> None:
    with db.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_times_come_back_tz_aware_and_naive_ones_are_refused(db: Database) -> None:
    shanghai = datetime(2026, 11, 25, 17, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    with db.begin() as conn:
        conn.execute(insert(event_log).values(at=shanghai, case_id="c", activity="a", system="s", outcome="ok"))
    with db.read() as conn:
        at = conn.execute(select(event_log.c.at)).scalar_one()
    assert at == shanghai and at.tzinfo is UTC
    with pytest.raises(StatementError, match="tz-aware"), db.begin() as conn:
        conn.execute(insert(event_log).values(at=datetime(2026, 1, 1), case_id="c", activity="a",
                                              system="s", outcome="ok"))


def test_json_codec_keeps_decimals_and_chinese() -> None:
    from decimal import Decimal

    text_value = dumps({"金额": Decimal("12800.10"), "摘要": "差旅费" * 400})
    assert "差旅费" in text_value  # not \\u-escaped
    assert loads(text_value) == {"金额": "12800.10", "摘要": "差旅费" * 400}


def test_bad_database_url_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as exc:
        Database("not a url")
    assert "HUILIU_DATABASE_URL" in str(exc.value)
    with pytest.raises(ConfigError) as secret:
        Database("postgresql+nodriver://u:hunter2@h/db")
    assert "hunter2" not in str(secret.value)
    assert "***" in str(secret.value)
    with pytest.raises(ConfigError, match="synchronous"):
        Database("sqlite://", sqlite_synchronous="SOMETIMES")
