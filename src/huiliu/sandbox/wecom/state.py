"""WeCom sandbox tenant state: tokens, templates, approval instances, their state machine and events.

Owns: what each API operation does to the corp (contracts §2.2), the ``getapprovaldetail.info`` shape,
``getapprovalinfo``'s window, page and cursor rules, and the decrypted ``sys_approval_change`` XML
(§2.3). Does not own: HTTP (:mod:`.app`) or delivery (:mod:`.callbacks`).
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from huiliu.model import Clock
from huiliu.sandbox.company import Company

__all__ = [
    "BUSY_ERRCODE",
    "EXPENSE_TEMPLATE_ID",
    "INVALID_PARAMETER_ERRCODE",
    "MAX_SPAN_SECONDS",
    "REFERENCE_CONTROL_ID",
    "CorpState",
]

MAX_SPAN_SECONDS = 31 * 86_400
"""``getapprovalinfo``: ``endtime − starttime`` ≤ 31 days (§2.2)."""
_MAX_SIZE = 100

INVALID_PARAMETER_ERRCODE = 40058
"""errcode for a bad parameter (span over 31 days, unknown control, unknown sp_no …). Unconfirmed: the
contract names no code for these refusals; 40058 is WeCom's generic "不合法的参数"."""

BUSY_ERRCODE = -1
"""errcode of the SERVER_ERROR fault (系统繁忙). Unconfirmed: not in the contract."""

TOKEN_INVALID, TOKEN_EXPIRED, BAD_SECRET, FREQ_LIMIT = 40014, 42001, 40001, 45009
"""invalid access_token, access_token expired, invalid credential, api freq out of limit (§2.5)."""

EXPENSE_TEMPLATE_ID = "3TkZjxugodbqpEJGrRMCXoEmBqJWPpS3sToj8ARwgzz"
REFERENCE_CONTROL_ID = "Text-huiliu-reference"
"""A Text control of the built-in templates that carries the hub's reference (the connector's default)."""

_SHANGHAI = ZoneInfo("Asia/Shanghai")
_LANG = "zh_CN"
_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


class _ApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


def _invalid(message: str) -> _ApiError:
    return _ApiError(INVALID_PARAMETER_ERRCODE, f"invalid parameter: {message}")


def _texts(text: str) -> list[dict[str, str]]:
    return [{"text": text, "lang": _LANG}]


@dataclass
class _Control:
    control: str
    id: str
    title: str
    children: list[_Control] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)
    multi: bool = False

    def as_template(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.children:
            config["table"] = {"children": [c.as_template() for c in self.children]}
        if self.control == "Selector":
            config["selector"] = {"type": "multi" if self.multi else "single",
                                  "options": [{"key": k, "value": _texts(v)} for k, v in self.options]}
        return {"property": {"control": self.control, "id": self.id, "title": _texts(self.title),
                             "placeholder": [], "require": 0, "un_print": 0}, "config": config}


@dataclass
class _Template:
    template_id: str
    name: str
    controls: list[_Control]


@dataclass
class _Detail:
    userid: str
    sp_status: int = 1
    speech: str = ""
    sptime: int = 0


@dataclass
class _Node:
    attr: int
    details: list[_Detail]
    sp_status: int = 1


@dataclass
class _Instance:
    sp_no: str
    sp_name: str
    template_id: str
    apply_time: int
    creator: str
    party: str
    contents: list[dict[str, Any]]
    nodes: list[_Node]
    notifyer: list[str]
    sp_status: int = 1
    comments: list[dict[str, Any]] = field(default_factory=list)
    last_event: str | None = None

    def as_info(self) -> dict[str, Any]:
        """``getapprovaldetail.info`` (§2.2)."""
        return {
            "sp_no": self.sp_no, "sp_name": self.sp_name, "sp_status": self.sp_status,
            "template_id": self.template_id, "apply_time": self.apply_time,
            "applyer": {"userid": self.creator, "partyid": self.party},
            "sp_record": [{"sp_status": n.sp_status, "approverattr": n.attr,
                           "details": [{"approver": {"userid": d.userid}, "speech": d.speech,
                                        "sp_status": d.sp_status, "sptime": d.sptime, "media_id": []}
                                       for d in n.details]} for n in self.nodes],
            "notifyer": [{"userid": u} for u in self.notifyer],
            "apply_data": {"contents": self.contents},
            "comments": self.comments,
        }


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class CorpState:
    """The corp half of :class:`~huiliu.sandbox.wecom.WeComSandbox`: tokens, templates, instances, events.

    A mixin: the attributes below are set by ``WeComSandbox.__init__``.
    """

    corp_id: str
    _corp_secret: str
    agent_id: int
    company: Company | None
    token_ttl: int
    clock: Clock
    cursor_style: str
    templates: dict[str, _Template]
    instances: dict[str, _Instance]
    _tokens: dict[str, float]
    _rng: random.Random
    _seeded: bool
    _day_seq: dict[str, int]
    _comment_seq: int

    if TYPE_CHECKING:  # supplied by CallbackDelivery, which WeComSandbox also inherits
        def _emit(self, plaintext: str) -> None: ...

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    # ------------------------------------------------------------------ tokens

    def _issue_token(self, corpid: str, corpsecret: str) -> dict[str, Any]:
        if corpid != self.corp_id:
            raise _ApiError(40013, "invalid corpid")  # unconfirmed code, not in the contract
        if corpsecret != self._corp_secret:
            raise _ApiError(BAD_SECRET, "invalid credential")
        token = secrets.token_urlsafe(48)
        self._tokens[token] = self.clock.monotonic() + self.token_ttl
        return {"access_token": token, "expires_in": self.token_ttl}

    def _check_token(self, token: str) -> None:
        expiry = self._tokens.get(token)
        if expiry is None:
            raise _ApiError(TOKEN_INVALID, "invalid access_token")
        if expiry <= self.clock.monotonic():
            raise _ApiError(TOKEN_EXPIRED, "access_token expired")

    def invalidate_tokens(self) -> None:
        """Make every issued token invalid (as a secret reset would)."""
        self._tokens.clear()

    # ------------------------------------------------------------------ templates

    def add_template(self, template_id: str, name: str, controls: Sequence[Mapping[str, Any]]) -> None:
        """Define an approval template.

        Args:
            template_id: its id.
            name: its name (``sp_name`` of its instances).
            controls: ``{"control", "id", "title", "children": [...], "options": [(key, text)], "multi"}``.
        """
        self.templates[template_id] = _Template(template_id, name, [_control(c) for c in controls])

    def _template_detail(self, body: Mapping[str, Any]) -> dict[str, Any]:
        template = self._template(body.get("template_id"))
        return {"template_names": _texts(template.name),
                "template_content": {"controls": [c.as_template() for c in template.controls]}}

    def _template(self, template_id: Any) -> _Template:
        template = self.templates.get(str(template_id or ""))
        if template is None:
            raise _invalid(f"template_id {template_id!r} not found")
        return template

    # ------------------------------------------------------------------ applyevent

    def _apply(self, body: Mapping[str, Any]) -> str:
        creator = body.get("creator_userid")
        if not isinstance(creator, str) or not creator:
            raise _invalid("creator_userid is required")
        template = self._template(body.get("template_id"))
        apply_data = body.get("apply_data")
        contents = apply_data.get("contents") if isinstance(apply_data, Mapping) else None
        if not isinstance(contents, list):
            raise _invalid("apply_data.contents is required")
        stored = _check_contents(contents, template.controls, "apply_data.contents")
        summary = body.get("summary_list", [])
        if not isinstance(summary, list) or len(summary) > 3:
            raise _invalid("summary_list has at most 3 rows")
        for row in summary:
            infos = row.get("summary_info") if isinstance(row, Mapping) else None
            if not isinstance(infos, list) or any(not isinstance(i, Mapping) or i.get("lang") != _LANG
                                                  for i in infos):
                raise _invalid("summary_info needs lang zh_CN")
        if body.get("use_template_approver", 0) == 1:
            nodes = [_Node(1, [_Detail(self._default_approver(creator))])]
        else:
            nodes = []
            for group in body.get("approver") or []:
                users = group.get("userid") if isinstance(group, Mapping) else None
                if not isinstance(users, list) or not users or group.get("attr") not in (1, 2):
                    raise _invalid("approver needs attr 1 or 2 and a userid list")
                nodes.append(_Node(int(group["attr"]), [_Detail(str(u)) for u in users]))
            if not nodes:
                raise _invalid("approver is required when use_template_approver is 0")
        notifyer = [str(u) for u in body.get("notifyer") or []]
        return self._open(template, creator, stored, nodes, notifyer)

    def _default_approver(self, creator: str) -> str:
        if self.company is not None:
            others = [e for e in self.company.employees if e.oa_user_id and e.oa_user_id != creator]
            finance = [e for e in others if e.department_number == "BM02"]
            chosen = (finance or others)[:1]
            if chosen and chosen[0].oa_user_id:
                return chosen[0].oa_user_id
        return "manager01"

    def _open(self, template: _Template, creator: str, contents: list[dict[str, Any]], nodes: list[_Node],
              notifyer: list[str]) -> str:
        now = self.clock.now()
        day = now.astimezone(_SHANGHAI).strftime("%Y%m%d")
        # With a seed, each day's numbers start at a seed-drawn point, so two sandboxes (two tenants) seldom
        # share one; without (seed 0) they start at 0001.
        if day not in self._day_seq:
            self._day_seq[day] = self._rng.randrange(0, 5000) if self._seeded else 0
        self._day_seq[day] += 1
        sp_no = f"{day}{self._day_seq[day]:04d}"
        employee = self.company.by_user_id.get(creator) if self.company else None
        party = employee.department_number if employee else "1"
        instance = _Instance(sp_no, template.name, template.template_id, int(now.timestamp()), creator, party,
                             contents, nodes, notifyer)
        self.instances[sp_no] = instance
        self._event(instance, 1, self._now())
        return sp_no

    # ------------------------------------------------------------------ getapprovalinfo / detail

    def _list(self, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            start, end = int(body["starttime"]), int(body["endtime"])
            size = int(body.get("size", _MAX_SIZE))
        except (KeyError, TypeError, ValueError):
            raise _invalid("starttime and endtime (epoch seconds) are required") from None
        if end < start or end - start > MAX_SPAN_SECONDS:
            raise _invalid("the span between starttime and endtime must not exceed 31 days")
        if not 1 <= size <= _MAX_SIZE:
            raise _invalid("size must be between 1 and 100")
        wanted: dict[str, str] = {}
        for f in body.get("filters") or []:
            if not isinstance(f, Mapping) or f.get("key") not in (
                    "template_id", "creator", "department", "sp_status", "record_type"):
                raise _invalid("filters[].key must be template_id, creator, department, sp_status or record_type")
            wanted[str(f["key"])] = str(f.get("value", ""))
        matches = [i.sp_no for i in sorted(self.instances.values(), key=lambda i: (i.apply_time, i.sp_no))
                   if start <= i.apply_time <= end and _matches(i, wanted)]
        new_style = self.cursor_style == "new_cursor"
        raw = body.get("new_cursor") if new_style else body.get("cursor")
        try:
            offset = int(raw or 0)
        except (TypeError, ValueError):
            raise _invalid("bad cursor") from None
        page: dict[str, Any] = {"sp_no_list": matches[offset:offset + size]}
        if offset + size < len(matches):
            page["new_next_cursor" if new_style else "next_cursor"] = (
                str(offset + size) if new_style else offset + size)
        return page

    def _detail(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"info": self._instance(str(body.get("sp_no") or "")).as_info()}

    def _instance(self, sp_no: str) -> _Instance:
        instance = self.instances.get(sp_no)
        if instance is None:
            raise _invalid(f"sp_no {sp_no!r} not found")
        return instance

    # ------------------------------------------------------------------ state machine

    def _act(self, instance: _Instance, userid: str | None, agree: bool, speech: str, now: int) -> None:
        if instance.sp_status != 1:
            raise ValueError(f"approval {instance.sp_no} is not 审批中 (sp_status {instance.sp_status})")
        node = next(n for n in instance.nodes if n.sp_status == 1)
        pending = [d for d in node.details if d.sp_status == 1]
        detail = next((d for d in pending if userid is None or d.userid == userid), None)
        if detail is None:
            raise ValueError(f"{userid} has no pending task on approval {instance.sp_no}")
        detail.sp_status, detail.speech, detail.sptime = (2 if agree else 3), speech, now
        if not agree:
            node.sp_status = instance.sp_status = 3
            self._event(instance, 3, now)
            return
        if node.attr == 2 and any(d.sp_status == 1 for d in node.details):
            self._event(instance, 2, now)  # 会签: one agreed, the others still pending
            return
        node.sp_status = 2
        if all(n.sp_status == 2 for n in instance.nodes):
            instance.sp_status = 2
        self._event(instance, 2, now)

    def _revoke(self, instance: _Instance, now: int) -> None:
        if instance.sp_status != 1:
            raise ValueError(f"approval {instance.sp_no} is not 审批中 (sp_status {instance.sp_status})")
        instance.sp_status = 4
        self._event(instance, 6, now)

    def _revoke_approved(self, instance: _Instance, now: int) -> None:
        if instance.sp_status != 2:
            raise ValueError(f"approval {instance.sp_no} is not 已通过 (sp_status {instance.sp_status})")
        instance.sp_status = 6
        self._event(instance, 8, now)

    def _comment(self, instance: _Instance, userid: str, text: str, now: int) -> None:
        self._comment_seq += 1
        instance.comments.append({"commentUserInfo": {"userid": userid}, "commenttime": now,
                                  "commentcontent": text, "commentid": str(6750538708562308220 + self._comment_seq),
                                  "media_id": []})
        self._event(instance, 10, now)

    # ------------------------------------------------------------------ events

    def _event(self, instance: _Instance, change: int, create_time: int) -> None:
        """Build the decrypted ``sys_approval_change`` XML (§2.3) and hand it to delivery."""
        records = "".join(
            f"<SpRecord><SpStatus>{n.sp_status}</SpStatus><ApproverAttr>{n.attr}</ApproverAttr>"
            + "".join(f"<Details><Approver><UserId>{_cdata(d.userid)}</UserId></Approver>"
                      f"<Speech>{_cdata(d.speech)}</Speech><SpStatus>{d.sp_status}</SpStatus>"
                      f"<SpTime>{d.sptime}</SpTime></Details>" for d in n.details)
            + "</SpRecord>" for n in instance.nodes)
        notifyers = "".join(f"<Notifyer><UserId>{_cdata(u)}</UserId></Notifyer>" for u in instance.notifyer)
        comments = "".join(
            f"<Comments><CommentUserInfo><UserId>{_cdata(c['commentUserInfo']['userid'])}</UserId>"
            f"</CommentUserInfo><CommentTime>{c['commenttime']}</CommentTime>"
            f"<CommentContent>{_cdata(c['commentcontent'])}</CommentContent>"
            f"<CommentId>{_cdata(c['commentid'])}</CommentId></Comments>" for c in instance.comments)
        xml = (f"<xml><ToUserName>{_cdata(self.corp_id)}</ToUserName><FromUserName>{_cdata('sys')}</FromUserName>"
               f"<CreateTime>{create_time}</CreateTime><MsgType>{_cdata('event')}</MsgType>"
               f"<Event>{_cdata('sys_approval_change')}</Event><AgentID>{self.agent_id}</AgentID>"
               f"<ApprovalInfo><SpNo>{instance.sp_no}</SpNo><SpName>{_cdata(instance.sp_name)}</SpName>"
               f"<SpStatus>{instance.sp_status}</SpStatus><TemplateId>{_cdata(instance.template_id)}</TemplateId>"
               f"<ApplyTime>{instance.apply_time}</ApplyTime><Applyer><UserId>{_cdata(instance.creator)}</UserId>"
               f"<Party>{_cdata(instance.party)}</Party></Applyer>{records}{notifyers}{comments}"
               f"<StatuChangeEvent>{change}</StatuChangeEvent></ApprovalInfo></xml>")
        instance.last_event = xml
        self._emit(xml)


def _control(spec: Mapping[str, Any]) -> _Control:
    return _Control(str(spec["control"]), str(spec["id"]), str(spec.get("title") or spec["id"]),
                    [_control(c) for c in spec.get("children", [])],
                    [(str(k), str(v)) for k, v in spec.get("options", [])], bool(spec.get("multi", False)))


_VALUE_KEYS = {"Text": "text", "Textarea": "text", "Number": "new_number", "Money": "new_money", "Date": "date",
               "Selector": "selector", "Contact": None, "File": "files", "Table": "children",
               "RelatedApproval": "related_approval"}


def _check_contents(contents: list[Any], controls: list[_Control], path: str) -> list[dict[str, Any]]:
    """Validate contents against the template's controls; return them as the detail shows them (titled)."""
    by_id = {c.id: c for c in controls}
    stored: list[dict[str, Any]] = []
    for index, item in enumerate(contents):
        here = f"{path}[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("value"), Mapping):
            raise _invalid(f"{here} needs control, id and value")
        control = by_id.get(str(item.get("id")))
        if control is None or control.control != item.get("control"):
            raise _invalid(f"{here}: no {item.get('control')} control {item.get('id')!r} in the template")
        value = dict(item["value"])
        key = _VALUE_KEYS.get(control.control)
        if key is not None and key not in value:
            raise _invalid(f"{here}.value needs {key}")
        if control.control == "Money" and not _is_amount(value["new_money"]):
            raise _invalid(f"{here}.value.new_money is not an amount")
        if control.control == "Table":
            rows = value["children"]
            if not isinstance(rows, list):
                raise _invalid(f"{here}.value.children must be a list")
            if not all(isinstance(row, Mapping) and isinstance(row.get("list"), list) for row in rows):
                raise _invalid(f"{here}.value.children[] must be {{list: [...]}}")
            value["children"] = [{"list": _check_contents(row["list"], control.children,
                                                          f"{here}.children[{i}].list")}
                                 for i, row in enumerate(rows)]
        if control.control == "Selector":
            texts = dict(control.options)
            options = value["selector"].get("options") if isinstance(value["selector"], Mapping) else None
            if not isinstance(options, list) or any(
                    not isinstance(o, Mapping) or (texts and o.get("key") not in texts) for o in options):
                raise _invalid(f"{here}.value.selector.options has an unknown key")
            value["selector"] = {**value["selector"], "options": [
                {"key": o["key"], "value": _texts(texts.get(o["key"], o["key"]))} for o in options]}
        if control.control == "Contact":
            value = {"members": [{**m, "name": m.get("userid")} for m in value.get("members") or []],
                     "departments": list(value.get("departments") or [])}
        stored.append({"control": control.control, "id": control.id, "title": _texts(control.title),
                       "value": value})
    return stored


def _is_amount(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    whole, _, frac = text.lstrip("-").partition(".")
    return whole.isdigit() and (frac == "" or (frac.isdigit() and len(frac) <= 2))


def _matches(instance: _Instance, wanted: Mapping[str, str]) -> bool:
    checks = {"template_id": instance.template_id, "creator": instance.creator, "department": instance.party,
              "sp_status": str(instance.sp_status)}
    return all(checks.get(key, value) == value for key, value in wanted.items())

