"""``huiliu flow diff``: what changed between two versions of a flow, step by step.

Steps are matched by their ``id``: added, removed, moved, and changed ones (with a unified diff of the
step as YAML); the trigger, the retry policy and the other top-level fields are compared as a whole.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from huiliu.i18n import Text, t

__all__ = ["diff_flows"]


def _dump(value: Any) -> list[str]:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False, default_flow_style=False).splitlines()


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    steps = doc.get("steps")
    return [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []


def diff_flows(old_text: str, new_text: str) -> list[Text | str]:
    """The differences between two flow files' texts, as report lines (texts) and diff lines (strings).

    Raises:
        yaml.YAMLError: a text is not YAML.
    """
    old, new = yaml.safe_load(old_text) or {}, yaml.safe_load(new_text) or {}
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [t("两个文件都须是流程（YAML 映射）", "both files must be flows (YAML mappings)")]
    lines: list[Text | str] = []
    for key in dict.fromkeys([*old, *new]):
        if key == "steps" or old.get(key) == new.get(key):
            continue
        lines.append(t(f"字段 {key}：{old.get(key)!r} → {new.get(key)!r}", f"field {key}: {old.get(key)!r} → "
                       f"{new.get(key)!r}"))
    old_steps = {str(s.get("id")): s for s in _steps(old)}
    new_steps = {str(s.get("id")): s for s in _steps(new)}
    old_order, new_order = list(old_steps), list(new_steps)
    for step_id in new_order:
        if step_id not in old_steps:
            lines.append(t(f"新增步骤 `{step_id}`（第 {new_order.index(step_id) + 1} 步）",
                           f"step `{step_id}` added (step {new_order.index(step_id) + 1})"))
    for step_id in old_order:
        if step_id not in new_steps:
            lines.append(t(f"删除步骤 `{step_id}`", f"step `{step_id}` removed"))
    kept_old = [s for s in old_order if s in new_steps]
    kept_new = [s for s in new_order if s in old_steps]
    if kept_old != kept_new:
        lines.append(t(f"步骤顺序：{' → '.join(kept_old)}  变为  {' → '.join(kept_new)}",
                       f"step order: {' → '.join(kept_old)}  became  {' → '.join(kept_new)}"))
    for step_id in kept_new:
        if old_steps[step_id] != new_steps[step_id]:
            lines.append(t(f"修改步骤 `{step_id}`：", f"step `{step_id}` changed:"))
            lines.extend(difflib.unified_diff(_dump(old_steps[step_id]), _dump(new_steps[step_id]), "旧 old",
                                              "新 new", lineterm="", n=1))
    return lines
