"""Inbound WeCom callbacks (接收事件服务器): the URL handshake, ``sys_approval_change`` events, the reply.

Owns: the XML envelopes of contracts §2.3 around the WXBizMsgCrypt algorithm of :mod:`huiliu.crypto`
(receiveId = corpid), a hardened XML reader, the freshness window, the refusal reasons, and the event
dedupe key. Does not own: what to do with the event (the inbox), nor the crypto itself.

Events are triggers, not data: read the instance with ``getapprovaldetail`` before acting on one.

Order of checks for an event: parameters, body size, outer XML, ``Encrypt``, timestamp, signature, then —
only for a signed message — decryption, the inner XML and the event shape. Each refusal is a
:class:`WebhookRejected` with a machine-readable ``reason`` from :data:`REJECT_REASONS`.

XML is read with expat directly, refusing any DOCTYPE, entity declaration or external entity: WeCom's XML
never has one, and refusing them stops entity-expansion bombs and external-entity reads (``defusedxml``
is not a dependency of the project, so this is the stdlib with the same policy as its ``forbid_dtd``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from huiliu.connectors.wecom.settings import WeComSettings
from huiliu.crypto import CryptoError, MsgCrypt
from huiliu.errors import WebhookRejected
from huiliu.i18n import Text, t
from huiliu.model import Clock

__all__ = ["APPROVAL_EVENT", "REJECT_REASONS", "ApprovalChange", "CallbackCodec", "WeComEvent", "XmlElement",
           "dedupe_key", "parse_xml"]

APPROVAL_EVENT = "sys_approval_change"

REJECT_REASONS = frozenset({"missing_params", "bad_body", "bad_xml", "unsafe_xml", "stale_timestamp",
                            "bad_signature", "bad_ciphertext", "wrong_receiver", "bad_event"})
"""Every ``WebhookRejected.reason`` this module raises."""

_WHERE = "wecom.callback"
_MAX_BODY = 1024 * 1024
_MAX_DEPTH = 32


def _reject(reason: str, what: Text, part: str, fix: Text) -> WebhookRejected:
    return WebhookRejected(reason, what, where=f"{_WHERE} {part}", fix=fix)


# ------------------------------------------------------------------ hardened XML


@dataclass(slots=True)
class XmlElement:
    """One element of a parsed document: its tag, its text (CDATA included) and its child elements."""

    tag: str
    text: str = ""
    children: list[XmlElement] = field(default_factory=list)

    def child(self, tag: str) -> XmlElement | None:
        """The first child element named ``tag``."""
        return next((c for c in self.children if c.tag == tag), None)

    def child_text(self, tag: str) -> str | None:
        """The stripped text of the first child named ``tag``, or ``None``."""
        found = self.child(tag)
        return found.text.strip() if found is not None else None

    def canonical(self) -> str:
        """A stable serialisation (tags, texts, order), for digests."""
        inner = "".join(c.canonical() for c in self.children)
        return f"<{self.tag}>{self.text.strip()!r}{inner}</{self.tag}>"


class _Unsafe(Exception):
    pass


def parse_xml(data: bytes | str) -> XmlElement:
    """Parse a WeCom XML document with DTDs and entities refused.

    Raises:
        ValueError: malformed XML (``str(exc)`` says where).
        PermissionError: a DOCTYPE, an entity declaration or an external entity reference.
    """
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[XmlElement] = []
    root: list[XmlElement] = []

    def forbid(*_: Any) -> Any:
        raise _Unsafe

    def start(tag: str, _attrs: Any) -> None:
        if len(stack) >= _MAX_DEPTH:
            raise _Unsafe
        element = XmlElement(tag)
        if stack:
            stack[-1].children.append(element)
        else:
            root.append(element)
        stack.append(element)

    def end(_tag: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack:
            stack[-1].text += text

    parser.StartDoctypeDeclHandler = forbid
    parser.EntityDeclHandler = forbid
    parser.UnparsedEntityDeclHandler = forbid
    parser.ExternalEntityRefHandler = forbid
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except _Unsafe:
        raise PermissionError("DOCTYPE, entity declarations and external entities are refused") from None
    except expat.ExpatError as exc:
        raise ValueError(f"malformed XML: {expat.errors.messages[exc.code]} at line {exc.lineno}, "
                         f"column {exc.offset}") from None
    if not root:
        raise ValueError("malformed XML: no root element")
    return root[0]


# ------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class ApprovalChange:
    """The ``ApprovalInfo`` of a ``sys_approval_change`` event: a trigger with ids and statuses only.

    Attributes:
        sp_no: the approval number, read as a string (``SpNoStr`` when present: SpNo can exceed 32 bits).
        sp_status: the instance's ``SpStatus`` (1 审批中 … 10 已支付).
        change: ``StatuChangeEvent`` (1 提单, 2 同意, 3 驳回, 4 转审, 5 催办, 6 撤销, 8 通过后撤销, 10 添加备注 …),
            ``None`` when absent.
        sp_name: the template name.
        template_id: the template id.
        apply_time: submit time, epoch seconds.
        applyer: the submitter's userid.
        digest: SHA-1 over the whole ``ApprovalInfo``; tells apart two events that agree on every field above.
    """

    sp_no: str
    sp_status: int
    change: int | None
    sp_name: str
    template_id: str
    apply_time: int
    applyer: str
    digest: str


@dataclass(frozen=True, slots=True)
class WeComEvent:
    """A decrypted callback message.

    Attributes:
        to_user: ``ToUserName``, the corp id.
        from_user: ``FromUserName`` (``sys`` for approval events).
        create_time: ``CreateTime``, epoch seconds; shared by the events of one batch approval.
        msg_type: ``MsgType`` (``event``).
        event: ``Event``, e.g. ``sys_approval_change``.
        agent_id: ``AgentID``, if present.
        approval: the approval change, for ``sys_approval_change``; ``None`` for other events.
        fields: every top-level leaf element's text, for events this module does not model.
        digest: SHA-1 over the whole plaintext message.
    """

    to_user: str
    from_user: str
    create_time: int
    msg_type: str
    event: str
    agent_id: str | None
    approval: ApprovalChange | None
    fields: Mapping[str, str]
    digest: str


def dedupe_key(event: WeComEvent) -> str:
    """The inbox key of one event: equal for redeliveries of it, different for any two distinct events.

    For approvals: corp, SpNo, SpStatus, StatuChangeEvent, CreateTime and a digest of the whole
    ``ApprovalInfo``. Never CreateTime alone: a batch approval sends one event per instance with the same
    CreateTime, and a WeCom SDK that keyed on it dropped all but one (RELIABILITY.md).
    """
    if event.approval is not None:
        a = event.approval
        change = "" if a.change is None else str(a.change)
        return f"wecom:{event.to_user}:{a.sp_no}:{a.sp_status}:{change}:{event.create_time}:{a.digest[:16]}"
    return f"wecom:{event.to_user}:{event.event or event.msg_type}:{event.create_time}:{event.digest[:16]}"


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _int(text: str | None, path: str, *, required: bool = True) -> int | None:
    if text is None or text == "":
        if required:
            raise _bad_event(f"缺少 {path}", f"{path} is missing", path)
        return None
    if not text.lstrip("-").isdigit():
        raise _bad_event(f"{path} 不是整数：{text!r}", f"{path} is not an integer: {text!r}", path)
    return int(text)


def _bad_event(zh: str, en: str, path: str) -> WebhookRejected:
    return _reject("bad_event", t(f"解密后的事件无法解析：{zh}", f"decrypted event cannot be read: {en}"),
                   f"plaintext.{path}", t("该地址可能收到了非企业微信审批的消息；检查回调配置",
                                          "this URL may be receiving other messages; check the callback set-up"))


def _approval(info: XmlElement) -> ApprovalChange:
    sp_no = info.child_text("SpNoStr") or info.child_text("SpNo")
    if not sp_no:
        raise _bad_event("缺少 SpNo", "SpNo is missing", "ApprovalInfo.SpNo")
    applyer = info.child("Applyer")
    sp_status = _int(info.child_text("SpStatus"), "ApprovalInfo.SpStatus")
    assert sp_status is not None
    return ApprovalChange(
        sp_no=sp_no, sp_status=sp_status,
        change=_int(info.child_text("StatuChangeEvent"), "ApprovalInfo.StatuChangeEvent", required=False),
        sp_name=info.child_text("SpName") or "", template_id=info.child_text("TemplateId") or "",
        apply_time=_int(info.child_text("ApplyTime"), "ApprovalInfo.ApplyTime", required=False) or 0,
        applyer=(applyer.child_text("UserId") or "") if applyer is not None else "",
        digest=_sha1(info.canonical()))


class CallbackCodec:
    """Opens WeCom callbacks and answers them, for one callback configuration (URL + Token + AESKey).

    Args:
        settings: the app's settings (token, EncodingAESKey, corp id, tolerance, ack body).
        clock: time source for the freshness check and reply timestamps.
    """

    def __init__(self, settings: WeComSettings, clock: Clock) -> None:
        self._crypt = MsgCrypt(settings.callback_token.get_secret_value(),
                               settings.encoding_aes_key.get_secret_value(), settings.corp_id)
        self._tolerance = settings.timestamp_tolerance.total_seconds()
        self._ack = settings.callback_ack
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock.now().timestamp())

    @staticmethod
    def _params(query: Mapping[str, str], names: tuple[str, ...]) -> list[str]:
        values = [query.get(name) or "" for name in names]
        missing = ", ".join(name for name, value in zip(names, values, strict=True) if not value)
        if missing:
            raise _reject("missing_params", t(f"回调缺少查询参数：{missing}",
                                              f"callback lacks query parameters: {missing}"), "query",
                          t("确认回调地址原样转发了企业微信的查询参数",
                            "make sure the callback URL passes WeCom's query string through"))
        return values

    def verify_url(self, query: Mapping[str, str]) -> str:
        """The URL handshake (``GET ?msg_signature&timestamp&nonce&echostr``): return the plaintext to echo.

        Raises:
            WebhookRejected: with ``reason`` one of :data:`REJECT_REASONS`.
        """
        signature, timestamp, nonce, echostr = self._params(
            query, ("msg_signature", "timestamp", "nonce", "echostr"))
        self._check_fresh(timestamp)
        return self._verify_and_decrypt(signature, timestamp, nonce, echostr, "query.echostr")

    def open(self, query: Mapping[str, str], body: bytes) -> WeComEvent:
        """Verify and decrypt one event callback (``POST ?msg_signature&timestamp&nonce``, XML body).

        Args:
            query: the request's query parameters.
            body: the raw request body, ``<xml><ToUserName/><AgentID/><Encrypt/></xml>``.

        Raises:
            WebhookRejected: with ``reason`` one of :data:`REJECT_REASONS`; nothing was decrypted unless
                the signature matched.
        """
        signature, timestamp, nonce = self._params(query, ("msg_signature", "timestamp", "nonce"))
        encrypt = self._encrypt_field(body)
        self._check_fresh(timestamp)
        plaintext = self._verify_and_decrypt(signature, timestamp, nonce, encrypt, "body.Encrypt")
        return self._event(plaintext)

    def ack(self) -> str:
        """The body of the HTTP 200 acknowledging an event: ``settings.callback_ack`` (unconfirmed)."""
        return self._ack

    def seal(self, message: str) -> str:
        """An encrypted passive reply ``<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`` (§2.4)."""
        timestamp, nonce = str(self._now()), secrets.token_hex(5)
        encrypt = self._crypt.encrypt(message)
        return (f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
                f"<MsgSignature><![CDATA[{self._crypt.sign(timestamp, nonce, encrypt)}]]></MsgSignature>"
                f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>")

    # ------------------------------------------------------------------ steps

    @staticmethod
    def _xml(data: bytes | str, part: str) -> XmlElement:
        try:
            return parse_xml(data)
        except PermissionError as exc:
            raise _reject("unsafe_xml", t("XML 含有 DOCTYPE 或实体声明，已拒绝",
                                          "XML carries a DOCTYPE or entity declarations; refused"), part,
                          t("企业微信的 XML 从不含 DTD；该请求不是来自企业微信",
                            "WeCom's XML never has a DTD; this request did not come from WeCom")) from exc
        except ValueError as exc:
            raise _reject("bad_xml", t(f"XML 格式错误：{exc}", f"malformed XML: {exc}"), part,
                          t("确认该地址只接收企业微信回调，且请求体未被代理改写",
                            "make sure only WeCom callbacks reach this URL, unmodified")) from exc

    def _encrypt_field(self, body: bytes) -> str:
        if not body or len(body) > _MAX_BODY:
            raise _reject("bad_body", t("回调请求体为空或过大", "callback body is empty or too large"), "body",
                          t("确认该地址只接收企业微信回调", "make sure only WeCom callbacks reach this URL"))
        encrypt = self._xml(body, "body").child_text("Encrypt")
        if not encrypt:
            raise _reject("bad_body", t("回调请求体缺少 Encrypt", "callback body has no Encrypt"), "body.Encrypt",
                          t("确认在企业微信后台开启了加密模式的接收事件服务器",
                            "make sure the callback is configured in encrypted mode"))
        return encrypt

    def _check_fresh(self, timestamp: str) -> None:
        if not timestamp.isdigit():
            raise _reject("stale_timestamp", t("回调 timestamp 不是秒级时间戳", "callback timestamp is not seconds"),
                          "query.timestamp", t("企业微信的 timestamp 是秒级整数", "WeCom sends integer seconds"))
        skew = abs(self._now() - int(timestamp))
        if skew > self._tolerance:
            raise _reject("stale_timestamp", t(f"回调时间戳与当前时间相差 {skew} 秒，超出允许范围",
                                               f"callback timestamp is {skew} s from now, too far"),
                          "query.timestamp", t("校准服务器时钟（NTP）；若为重放请求则无需处理",
                                               "synchronise the clock (NTP); a replay needs no action"))

    def _verify_and_decrypt(self, signature: str, timestamp: str, nonce: str, encrypt: str, part: str) -> str:
        try:
            self._crypt.verify(signature, timestamp, nonce, encrypt)
        except CryptoError as exc:
            raise _reject("bad_signature", t("回调签名不匹配", "callback signature does not match"),
                          "query.msg_signature",
                          t("检查 callback_token 是否与企业微信后台「接收事件服务器」的 Token 一致",
                            "check that callback_token matches the Token of the callback configuration")) from exc
        try:
            return self._crypt.decrypt(encrypt)
        except CryptoError as exc:
            if exc.reason == "wrong_receiver":
                raise _reject("wrong_receiver", t("回调是发给另一个企业的", "callback was encrypted for another corp"),
                              part, t("检查 corp_id 是否为本企业的 corpid", "check that corp_id is this corp's corpid")
                              ) from exc
            raise _reject("bad_ciphertext", t("回调密文无法解密", "callback ciphertext cannot be decrypted"), part,
                          t("检查 encoding_aes_key 是否与企业微信后台的 EncodingAESKey 一致",
                            "check that encoding_aes_key matches the console's EncodingAESKey")) from exc

    def _event(self, plaintext: str) -> WeComEvent:
        root = self._xml(plaintext, "plaintext")
        fields = {c.tag: c.text.strip() for c in root.children if not c.children}
        msg_type, event = fields.get("MsgType", ""), fields.get("Event", "")
        if not msg_type:
            raise _bad_event("缺少 MsgType", "MsgType is missing", "MsgType")
        approval = None
        if event == APPROVAL_EVENT:
            info = root.child("ApprovalInfo")
            if info is None:
                raise _bad_event("缺少 ApprovalInfo", "ApprovalInfo is missing", "ApprovalInfo")
            approval = _approval(info)
        return WeComEvent(to_user=fields.get("ToUserName", ""), from_user=fields.get("FromUserName", ""),
                          create_time=_int(fields.get("CreateTime"), "CreateTime") or 0, msg_type=msg_type,
                          event=event, agent_id=fields.get("AgentID") or None, approval=approval, fields=fields,
                          digest=_sha1(plaintext))
