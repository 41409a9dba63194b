"""``huiliu deadletters show``: a dead letter explained as text, in Chinese (or English with ``--lang en``)."""

from __future__ import annotations

from typing import Any

from huiliu.bus.deadletterview import DeadLetterView
from huiliu.i18n import Lang, Text

__all__ = ["explain_lines"]

_STATUS = {"open": Text("未处理", "open"), "replayed": Text("已重放", "replayed"),
           "discarded": Text("已丢弃", "discarded")}


def explain_lines(view: DeadLetterView, lang: Lang) -> list[str]:
    """The lines to print for one dead letter: summary, document, flow, the ERP's words, the fields."""
    zh = lang is Lang.ZH

    def pick(zh_text: str, en_text: str) -> str:
        return zh_text if zh else en_text

    doc, flow, error = view.document, view.flow, view.error
    lines = [
        pick(f"死信 {view.id}（{_STATUS.get(view.status, Text(view.status, view.status)).zh}，原因 {view.reason}，"
             f"{view.created_at:%Y-%m-%d %H:%M}）",
             f"dead letter {view.id} ({view.status}, reason {view.reason}, {view.created_at:%Y-%m-%d %H:%M})"),
        "  " + view.summary.render(lang),
        "",
        pick("单据", "document"),
        *_pairs(zh, [
            (("来源", "source"), doc.source), (("审批单号", "number"), doc.number),
            (("标题", "title"), doc.title), (("申请人", "applicant"), doc.applicant),
            (("金额", "amount"), f"{doc.amount} {doc.currency or ''}".strip() if doc.amount else None),
            (("业务键", "business key"), doc.business_key),
        ]),
        pick("流程", "flow"),
        *_pairs(zh, [
            (("流程", "flow"), f"{flow.id} v{flow.version}" if flow.id else None),
            (("步骤", "step"), flow.step), (("动作", "action"), flow.action),
            (("运行", "run"), pick(f"{flow.run_id}（{flow.run_status}）", f"{flow.run_id} ({flow.run_status})")
             if flow.run_id else None),
        ]),
        pick("错误", "error"),
        *_pairs(zh, [
            (("说明", "what"), _text(error.get("what"), zh)),
            (("系统", "system"), " ".join(str(x) for x in (error.get("system"), error.get("operation")) if x) or None),
            (("ERP 原话", "ERP's message"), error.get("vendor_message")),
            (("错误码", "code"), error.get("vendor_code")),
            (("修正", "fix"), _text(error.get("fix"), zh)),
        ]),
    ]
    if view.named is not None:
        named = view.named
        label = named.label.render(lang) if named.label else pick("（未知字段）", "(unknown field)")
        lines.append(pick(f"  ERP 指出的字段：{named.vendor_field} → {named.path or '?'}  {label}",
                          f"  field the ERP named: {named.vendor_field} → {named.path or '?'}  {label}"))
    if view.fields:
        lines += ["", pick("推送数据（* 为 ERP 指出的字段；- 为不可修改）",
                           "pushed data (* named by the ERP; - fixed)")]
        for field in view.fields:
            mark = "*" if field.named else (" " if field.editable else "-")
            label = field.label.render(lang) if field.label else ""
            lines.append(f" {mark} {field.path} = {field.value}  [{field.type}] {label}".rstrip())
    lines += ["", pick("下一步：", "next: ") + view.next_steps.render(lang)]
    if view.correctable:
        path = view.named.path if view.named and view.named.path else "PATH"
        lines.append(pick(f"  huiliu deadletters correct {view.id} --set {path}=新值 --note 原因",
                          f"  huiliu deadletters correct {view.id} --set {path}=VALUE --note WHY"))
    return lines


def _pairs(zh: bool, rows: list[tuple[tuple[str, str], Any]]) -> list[str]:
    return [f"  {label[0] if zh else label[1]}：{value}" if zh else f"  {label[1]}: {value}"
            for label, value in rows if value not in (None, "")]


def _text(value: Any, zh: bool) -> str | None:
    if isinstance(value, dict):
        return str(value.get("zh" if zh else "en") or "") or None
    return None if value is None else str(value)
