"""Why work was given up, as structured data a person can act on: the ``detail`` of a dead letter.

:func:`diagnose` turns the exception that killed a message into a JSON-ready mapping, stored beside the
rendered text in ``dead_letters.detail``::

    {"kind": "vendor_rejected",
     "what": {"zh": "金蝶拒绝了 Save：…", "en": "Kingdee rejected Save: …"},
     "where": "kingdee.Save",
     "fix": {"zh": "…", "en": "…"},
     # only for a ConnectorError:
     "system": "kingdee", "operation": "Save", "vendor_code": "0",
     "vendor_message": "FACCOUNTID：第1行分录：科目“6602.08”不存在",   # the ERP's words, verbatim
     "field": "FACCOUNTID", "line": 0}

Does not own: storing it (the transports) or explaining it to a user (:mod:`huiliu.bus.deadletterview`).
"""

from __future__ import annotations

from typing import Any

from huiliu.errors import ConnectorError, HuiliuError

__all__ = ["diagnose"]

_LIMIT = 4000


def diagnose(exc: BaseException) -> dict[str, Any]:
    """The structured detail of ``exc``; an error outside the hub's tree is ``internal_error``."""
    if not isinstance(exc, HuiliuError):
        text = f"{type(exc).__name__}: {exc}"[:_LIMIT]
        what = {"zh": "处理超时", "en": "handling timed out"} if isinstance(exc, TimeoutError) else {
            "zh": text, "en": text}
        return {"kind": "internal_error", "what": what, "where": None,
                "fix": {"zh": "查看日志中的错误堆栈；修复后重放",
                        "en": "see the traceback in the log; replay after the fix"}}
    detail: dict[str, Any] = {
        "kind": exc.kind,
        "what": {"zh": exc.what.zh[:_LIMIT], "en": exc.what.en[:_LIMIT]},
        "where": exc.where,
        "fix": None if exc.fix is None else {"zh": exc.fix.zh, "en": exc.fix.en},
    }
    if isinstance(exc, ConnectorError):
        detail.update(system=exc.system, operation=exc.operation, vendor_code=exc.vendor_code,
                      vendor_message=None if exc.vendor_message is None else exc.vendor_message[:_LIMIT],
                      field=exc.field, line=exc.line)
    return detail
