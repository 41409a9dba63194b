"""Console users, API tokens, sessions, login throttling and the audit log.

A user has one role: ``viewer`` reads runs and dead letters; ``auditor`` also reads the audit log;
``integrator`` also replays, discards, re-drives and starts flows; ``admin`` also manages users and tokens.
Passwords are hashed with argon2id (``argon2-cffi``'s defaults); API tokens and session ids are random
(32 bytes) and only their SHA-256 is stored, so a copy of the database opens nothing. After
:data:`MAX_FAILURES` failed logins in a row a user is locked for :data:`LOCK_SECONDS`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select, update

from huiliu.errors import ConfigError, HuiliuError
from huiliu.i18n import Text, t
from huiliu.model import Clock
from huiliu.store import dumps
from huiliu.store.schema import api_tokens, audit_log, sessions, users

__all__ = ["LOCK_SECONDS", "MAX_FAILURES", "ROLES", "SESSION_HOURS", "Accounts", "LoginRefused", "Principal",
           "Role"]

Role = Literal["viewer", "auditor", "integrator", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
MAX_FAILURES = 5
LOCK_SECONDS = 900
SESSION_HOURS = 12
TOKEN_PREFIX = "hl_"  # noqa: S105 - the visible start of every token, not a secret
TOUCH_EVERY = timedelta(minutes=1)
"""A token's last use is recorded at most this often: not a write per request."""
_hasher = PasswordHasher()


class LoginRefused(HuiliuError):
    """A login that did not succeed: wrong name or password (one message for both), or locked."""

    kind = "login_refused"

    def __init__(self, what: Text, *, where: str | None = None, fix: Text | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(what, where=where, fix=fix)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, their role, and how they proved it (``token`` or ``session``)."""

    user_id: int
    name: str
    role: str
    via: str
    csrf: str | None = None
    token_id: int | None = None
    """The API token whose last use is due to be recorded (:meth:`Accounts.touch`), else ``None``."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Accounts:
    """Users, tokens, sessions and the audit log, in the caller's transaction."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def add_user(self, conn: Connection, name: str, password: str, role: str, *,
                 display_name: str | None = None) -> int:
        """Create a user; :class:`ConfigError` for a taken name, an unknown role or a short password."""
        if role not in ROLES:
            raise ConfigError(t(f"未知的角色 {role}", f"unknown role {role}"), where="role",
                              fix=t(f"可用：{', '.join(ROLES)}", f"use one of {', '.join(ROLES)}"))
        if len(password) < 10:
            raise ConfigError(t("密码至少 10 个字符", "a password needs at least 10 characters"), where="password",
                              fix=t("换一个更长的密码", "choose a longer one"))
        if not name.strip() or len(name) > 100:
            raise ConfigError(t("用户名不能为空，最多 100 个字符", "a user name is 1 to 100 characters"),
                              where="name", fix=t("换一个用户名", "choose another name"))
        if conn.execute(select(users.c.id).where(users.c.name == name)).first() is not None:
            raise ConfigError(t(f"用户 {name} 已存在", f"user {name} exists"), where="name",
                              fix=t("换一个用户名，或修改已有用户", "choose another name, or change that user"))
        row = conn.execute(insert(users).values(
            name=name, display_name=display_name, password_hash=_hasher.hash(password), role=role, active=True,
            failed_logins=0, created_at=self.clock.now()).returning(users.c.id)).one()
        return int(row.id)

    def login(self, conn: Connection, name: str, password: str) -> tuple[Principal, str]:
        """Check a password; a new session ``(principal, cookie value)``.

        Raises:
            LoginRefused: unknown user, wrong password, inactive, or locked (``retry_after`` seconds). The
                failure count and the audit row are written first: commit the transaction even then.
        """
        now = self.clock.now()
        row = conn.execute(select(users).where(users.c.name == name)).first()
        refused = LoginRefused(t("用户名或密码不正确", "wrong user name or password"), where="login",
                               fix=t(f"连续 {MAX_FAILURES} 次错误将锁定 {LOCK_SECONDS // 60} 分钟",
                                     f"{MAX_FAILURES} failures in a row lock the user for {LOCK_SECONDS // 60} "
                                     "minutes"))
        if row is None or not row.active:
            _hasher.hash(password)  # the same work as a real check: no timing hint that the name is unknown
            raise refused
        if row.locked_until is not None and row.locked_until > now:
            wait = (row.locked_until - now).total_seconds()
            raise LoginRefused(t(f"登录失败次数过多，已锁定，请 {int(wait) + 1} 秒后再试",
                                 f"too many failed logins: locked for {int(wait) + 1} more seconds"),
                               where="login", fix=t("稍后再试，或请管理员重置密码",
                                                    "wait, or ask an admin to reset the password"),
                               retry_after=wait)
        try:
            _hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            failures = row.failed_logins + 1
            locked = now + timedelta(seconds=LOCK_SECONDS) if failures >= MAX_FAILURES else None
            conn.execute(update(users).where(users.c.id == row.id).values(
                failed_logins=0 if locked else failures, locked_until=locked))
            self.audit(conn, actor=name, action="login", target=f"user:{name}", outcome="refused",
                       detail={"locked": locked is not None})
            raise refused from None
        conn.execute(update(users).where(users.c.id == row.id).values(failed_logins=0, locked_until=None))
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        conn.execute(insert(sessions).values(id_hash=_digest(cookie), user_id=row.id, csrf=csrf, created_at=now,
                                             expires_at=now + timedelta(hours=SESSION_HOURS)))
        self.audit(conn, actor=name, action="login", target=f"user:{name}", outcome="ok")
        return Principal(row.id, row.name, row.role, "session", csrf), cookie

    def logout(self, conn: Connection, cookie: str) -> None:
        """End a session."""
        conn.execute(sessions.delete().where(sessions.c.id_hash == _digest(cookie)))

    def by_session(self, conn: Connection, cookie: str) -> Principal | None:
        """The user of a live session, or ``None``."""
        row = conn.execute(select(users, sessions.c.csrf, sessions.c.expires_at).select_from(
            sessions.join(users, users.c.id == sessions.c.user_id)).where(
            sessions.c.id_hash == _digest(cookie))).first()
        if row is None or row.expires_at <= self.clock.now() or not row.active:
            return None
        return Principal(row.id, row.name, row.role, "session", row.csrf)

    def create_token(self, conn: Connection, user: str, name: str) -> str:
        """A new API token for ``user`` (returned once; only its digest is kept)."""
        row = conn.execute(select(users.c.id, users.c.active).where(users.c.name == user)).first()
        if row is None or not row.active:
            raise ConfigError(t(f"用户 {user} 不存在或已停用", f"no active user {user}"), where="user",
                              fix=t("先创建用户：huiliu user add", "create the user first: huiliu user add"))
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        conn.execute(insert(api_tokens).values(user_id=row.id, name=name, prefix=token[:10],
                                               token_hash=_digest(token), created_at=self.clock.now()))
        return token

    def by_token(self, conn: Connection, token: str) -> Principal | None:
        """The user of a live API token, or ``None``. Only reads: record the use with :meth:`touch`."""
        row = conn.execute(select(users, api_tokens.c.id.label("token_id"), api_tokens.c.revoked_at,
                                  api_tokens.c.last_used_at).select_from(
            api_tokens.join(users, users.c.id == api_tokens.c.user_id)).where(
            api_tokens.c.token_hash == _digest(token))).first()
        if row is None or row.revoked_at is not None or not row.active:
            return None
        due = row.last_used_at is None or self.clock.now() - row.last_used_at > TOUCH_EVERY
        return Principal(row.id, row.name, row.role, "token", token_id=row.token_id if due else None)

    def touch(self, conn: Connection, principal: Principal) -> None:
        """Record that the principal's token was used now, when :meth:`by_token` said it is due."""
        if principal.token_id is not None:
            conn.execute(update(api_tokens).where(api_tokens.c.id == principal.token_id).values(
                last_used_at=self.clock.now()))

    def revoke_token(self, conn: Connection, prefix: str) -> int:
        """Revoke the tokens starting with ``prefix``; how many."""
        return int(conn.execute(update(api_tokens).where(api_tokens.c.prefix == prefix[:10],
                                                         api_tokens.c.revoked_at.is_(None))
                                .values(revoked_at=self.clock.now())).rowcount)

    def audit(self, conn: Connection, *, actor: str, action: str, target: str, outcome: str,
              detail: Mapping[str, Any] | None = None) -> None:
        """Record who did what to what."""
        conn.execute(insert(audit_log).values(at=self.clock.now(), actor=actor, action=action, target=target[:500],
                                              outcome=outcome, detail=dumps(dict(detail)) if detail else None))
