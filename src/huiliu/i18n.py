"""Bilingual text for what users read: Chinese first, English switchable.

Library code builds :class:`Text` values and never chooses the language itself; the entry points (CLI,
web) pick one from the settings and render.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Lang", "Text", "t"]


class Lang(enum.StrEnum):
    """A language users can choose."""

    ZH = "zh"
    EN = "en"


@dataclass(frozen=True, slots=True)
class Text:
    """One message in Chinese and English."""

    zh: str
    en: str

    def render(self, lang: Lang = Lang.ZH) -> str:
        """Return the message in ``lang``."""
        return self.zh if lang is Lang.ZH else self.en

    def __str__(self) -> str:
        return self.zh


def t(zh: str, en: str) -> Text:
    """Build a :class:`Text`; short enough to use inline at a ``raise``."""
    return Text(zh, en)
