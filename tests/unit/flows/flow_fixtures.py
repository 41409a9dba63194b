"""Helpers for the flow tests: the shipped template's path, a crosswalk lookup, writing flow files.

A uniquely named module (not ``conftest``) so that ``from flow_fixtures import ...`` can never pick up
another directory's conftest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

TEMPLATE = (Path(__file__).resolve().parents[3] / "src" / "huiliu" / "flows" / "templates"
            / "expense_claim_voucher.yaml")

EMPLOYEES: dict[str, dict[str, Any]] = {
    "manager4521": {"number": "E0007", "name": "王芳", "department_number": "BM0301",
                    "department_name": "华东销售组", "cost_center": "CC02", "erp_user": "wangfang"},
}


def crosswalk(records: Mapping[str, Mapping[str, Any]] = EMPLOYEES
              ) -> Callable[[str, str, str], Mapping[str, Any] | None]:
    calls: list[tuple[str, str, str]] = []

    def lookup(entity: str, system: str, key: str) -> Mapping[str, Any] | None:
        calls.append((entity, system, key))
        return records.get(key) if (entity, system) == ("employee", "dingtalk") else None

    lookup.calls = calls  # type: ignore[attr-defined]
    return lookup


def write_flow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
