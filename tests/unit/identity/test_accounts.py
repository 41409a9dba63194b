"""Accounts: a token's lookup only reads; its last use is written at most once a minute."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from huiliu.identity.accounts import TOUCH_EVERY, Accounts
from huiliu.store import Database
from huiliu.store.schema import api_tokens
from huiliu.testing import FakeClock


def last_used(db: Database) -> object:
    with db.read() as conn:
        return conn.execute(select(api_tokens.c.last_used_at)).scalar_one()


def test_a_token_lookup_reads_and_says_when_its_use_is_due(db: Database, clock: FakeClock) -> None:
    accounts = Accounts(clock)
    with db.begin() as conn:
        accounts.add_user(conn, "李出纳", "一个足够长的密码-2026", "viewer")
        token = accounts.create_token(conn, "李出纳", "脚本")
    with db.read() as conn:
        first = accounts.by_token(conn, token)
    assert first is not None and first.name == "李出纳" and first.token_id is not None  # never used: due
    assert last_used(db) is None  # the lookup wrote nothing
    with db.begin() as conn:
        accounts.touch(conn, first)
    assert last_used(db) == clock.now()
    clock.advance(TOUCH_EVERY.total_seconds() - 1)
    with db.read() as conn:
        soon = accounts.by_token(conn, token)
    assert soon is not None and soon.token_id is None  # used less than a minute ago: nothing to write
    with db.begin() as conn:
        accounts.touch(conn, soon)  # a no-op
    assert last_used(db) == clock.now() - timedelta(seconds=TOUCH_EVERY.total_seconds() - 1)
    clock.advance(2)
    with db.read() as conn:
        later = accounts.by_token(conn, token)
    assert later is not None and later.token_id is not None
