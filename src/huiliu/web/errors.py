"""Error replies: what failed, where, and how to fix it, in Chinese and English."""

from __future__ import annotations

from huiliu.errors import HuiliuError
from huiliu.i18n import Lang

__all__ = ["error_body"]


def error_body(exc: HuiliuError, reason: str | None = None) -> dict[str, str | None]:
    """The JSON body of an error reply: Chinese first, English alongside."""
    return {"error": reason or exc.kind, "message": exc.render(Lang.ZH), "message_en": exc.render(Lang.EN),
            "where": exc.where}
