"""Where things are in a flow file: field paths, YAML marks, and located problems.

Owns: walking the composed YAML nodes along a field path (as pydantic reports it) to a line and column,
and the :class:`Problem` record every loader check produces. Does not own: what the problems are
(``loader``, ``compiler``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from huiliu.errors import FlowFileError
from huiliu.flows.model import TAGS
from huiliu.i18n import Text

__all__ = ["Loc", "Locator", "Problem", "field_path", "suggest"]

Loc = tuple[str | int, ...]
"""A field path as pydantic gives it: ``("steps", 2, "voucher", "lines", 0, "amount")``."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a flow file, with its position for sorting."""

    line: int
    column: int
    error: FlowFileError


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to a misspelt ``word``, if any is close."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def field_path(loc: Loc) -> str:
    """``("steps", 2, "voucher")`` → ``steps[2].voucher``; union tags are left out."""
    out = ""
    for part in loc:
        if part in TAGS or part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Locator:
    """Finds the line and column of a field path in the composed YAML."""

    def __init__(self, file: str, root: yaml.Node) -> None:
        self.file = file
        self.root = root

    def node(self, loc: Loc, *, key: bool = False) -> yaml.Node:
        """The node at ``loc`` (its key with ``key``); a missing key gives the mapping that lacks it."""
        node, key_node = self.root, None
        for part in loc:
            if part in TAGS:
                continue
            if part == "[key]":
                key = True
                continue
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        key_node, node = k, v
                        break
                else:
                    return node  # a missing key: the mapping that should hold it
            elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
                  and 0 <= part < len(node.value)):
                node, key_node = node.value[part], None
            else:
                return node
        return key_node if key and key_node is not None else node

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """1-based line and column of :meth:`node`."""
        mark = self.node(loc, key=key).start_mark
        return mark.line + 1, mark.column + 1

    def problem(self, loc: Loc, what: Text, fix: Text, *, key: bool = False) -> Problem:
        """A :class:`FlowFileError` at ``loc``."""
        line, column = self.position(loc, key=key)
        return Problem(line, column, FlowFileError(what, where=f"{self.file}:{line}:{column}", fix=fix))
