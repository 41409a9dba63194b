"""Settings and positions of the SQL connector: bad input gets a clear error (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from huiliu.connectors.sql import ChangeCapture, Position, SqlClient, SqlSettings
from huiliu.errors import ConfigError

URL = "mysql+pymysql://erp:S3cret-Pw@10.0.0.5:3306/u8"
SOURCE = {"name": "orders", "table": "orders", "key": ["id"], "watermark": "updated_at"}


def test_the_password_never_shows() -> None:
    settings = SqlSettings(url=URL, sources=[SOURCE])
    assert "S3cret-Pw" not in repr(settings) and "S3cret-Pw" not in settings.safe_url
    assert settings.safe_url == "mysql+pymysql://erp:***@10.0.0.5:3306/u8"
    assert settings.password == "S3cret-Pw"


@pytest.mark.parametrize(("change", "message"), [
    ({"url": "oracle://x@y/z"}, "unsupported database"),
    ({"url": "not a url"}, "not a SQLAlchemy URL"),
    ({"sources": [{**SOURCE, "watermark": None}]}, "watermark column or a change_table"),
    ({"sources": [{**SOURCE, "timezone": "Asia/Beijing"}]}, "unknown time zone"),
    ({"sources": [{**SOURCE, "encodings": {"name": "gbk2"}}]}, "unknown encoding"),
    ({"sources": [{**SOURCE, "key": ["id; DROP TABLE x"]}]}, "not a plain column name"),
    ({"sources": [{**SOURCE, "overlap": -5}]}, "cannot be negative"),
    ({"sources": [SOURCE, SOURCE]}, "two sources share a name"),
    ({"sources": [{**SOURCE, "columns": {"a": "x", "b": "x"}}]}, "same canonical name"),
])
def test_bad_settings_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        SqlSettings(**{"url": URL, "sources": [SOURCE], **change})
    assert "S3cret-Pw" not in str(caught.value)


def test_an_unknown_source_is_a_config_error() -> None:
    client = SqlClient(SqlSettings(url=URL, sources=[SOURCE]))
    try:
        with pytest.raises(ConfigError, match="orders"):
            ChangeCapture(client, "order", store=None)  # type: ignore[arg-type]
    finally:
        client.dispose()


def test_positions_keep_their_types_and_prune_the_window() -> None:
    t0 = datetime(2026, 1, 5, 9, 0, 0)
    start = Position().advanced((t0, 7), {t0: {"a"}}, timedelta(seconds=30))
    later = start.advanced((t0 + timedelta(seconds=31), 9), {t0 + timedelta(seconds=31): {"b"}},
                           timedelta(seconds=30))
    assert later.mark == (t0 + timedelta(seconds=31), 9)
    assert not later.has_seen(t0, "a")  # out of the window: dropped
    assert later.has_seen(t0 + timedelta(seconds=31), "b")
    back = Position.from_token(later.token())
    assert back == later and back.mark is not None and back.mark[0].tzinfo is None  # naive stays naive
    aware = Position((datetime(2026, 1, 5, tzinfo=UTC), "K-1", Decimal("1.50"), b"\x01"))
    assert Position.from_token(aware.token()) == aware
    assert Position().advanced((5,), {5: {"x"}}, 0) == Position((5,), {})  # no window, nothing kept
    with pytest.raises(ConfigError):
        Position.from_token('{"v": 99}')
