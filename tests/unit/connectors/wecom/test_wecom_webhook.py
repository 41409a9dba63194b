"""CallbackCodec: the contract's vector, wechatpy as an independent oracle, every refusal, dedupe keys."""

import random
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from wechatpy.enterprise.crypto import WeChatCrypto

from huiliu.connectors.wecom import REJECT_REASONS, CallbackCodec, WeComEvent, WeComSettings, dedupe_key
from huiliu.crypto import MsgCrypt
from huiliu.errors import WebhookRejected
from huiliu.sandbox import FaultPlan, SandboxServer
from huiliu.sandbox.wecom import SubscriptionFailed, WeComSandbox
from huiliu.testing import FakeClock

AES = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
CORP_ID = "wx49f0ab532d5d035a"
TOKEN = "123456"
SETTINGS = WeComSettings.model_validate({"corp_id": CORP_ID, "corp_secret": "s", "callback_token": TOKEN,
                                         "encoding_aes_key": AES})
EVENT = ("<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
         "<CreateTime>1571732272</CreateTime><MsgType><![CDATA[event]]></MsgType>"
         "<Event><![CDATA[sys_approval_change]]></Event><AgentID>3010040</AgentID>"
         "<ApprovalInfo><SpNo>201910220003</SpNo><SpName><![CDATA[{name}]]></SpName><SpStatus>1</SpStatus>"
         "<TemplateId><![CDATA[3TkaH5KFbrG9heEQWLJjhgpFwmqAFB4dLEnapaB7aaa]]></TemplateId>"
         "<ApplyTime>1571728713</ApplyTime><Applyer><UserId><![CDATA[WuJunJie]]></UserId>"
         "<Party><![CDATA[1]]></Party></Applyer><StatuChangeEvent>{change}</StatuChangeEvent>"
         "</ApprovalInfo></xml>")


def event_xml(name: str = "示例模板", change: int = 10) -> str:
    return EVENT.replace("{name}", name).replace("{change}", str(change))


def now_s(clock: FakeClock) -> str:
    return str(int(clock.now().timestamp()))


def sealed(message: str, ts: str, *, token: str = TOKEN, corp: str = CORP_ID, nonce: str = "437374425",
           encrypt: str | None = None) -> tuple[dict[str, str], bytes]:
    crypt = MsgCrypt(token, AES, corp)
    encrypt = crypt.encrypt(message) if encrypt is None else encrypt
    query = {"msg_signature": crypt.sign(ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID><![CDATA[1]]></AgentID>" \
           f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return query, body.encode()


def chinese(rng: random.Random, n: int) -> str:
    return "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(n))


def test_contract_vector_echostr_handshake() -> None:
    clock = FakeClock(datetime.fromtimestamp(1411443780, tz=UTC))
    query = {"msg_signature": "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "timestamp": "1411443780",
             "nonce": "437374425",
             "echostr": "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="}
    assert CallbackCodec(SETTINGS, clock).verify_url(query) == "5927782489442352469"
    with pytest.raises(WebhookRejected) as info:
        CallbackCodec(SETTINGS, clock).verify_url({**query, "nonce": "437374426"})
    assert info.value.reason == "bad_signature"


@pytest.mark.parametrize("seed", range(8))
def test_wechatpy_encrypts_and_the_codec_opens(seed: int) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    name = chinese(rng, rng.randint(1, 300))
    ts, nonce = now_s(clock), str(rng.randint(1, 10**9))
    envelope = WeChatCrypto(TOKEN, AES, CORP_ID).encrypt_message(event_xml(name), nonce, ts)
    encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", envelope)
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", envelope)
    assert encrypt is not None
    assert signature is not None
    query = {"msg_signature": signature.group(1), "timestamp": ts, "nonce": nonce}
    body = f"<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt>{encrypt.group(1)}</Encrypt></xml>".encode()
    event = CallbackCodec(SETTINGS, clock).open(query, body)
    assert event.approval is not None
    assert event.approval.sp_name == name
    assert event.approval.sp_no == "201910220003"
    assert event.approval.change == 10
    # The same ciphertext passes the URL handshake as an echostr.
    echo = CallbackCodec(SETTINGS, clock).verify_url({**query, "echostr": encrypt.group(1)})
    assert echo == event_xml(name)


@pytest.mark.parametrize("seed", range(8))
def test_the_codec_seals_and_wechatpy_opens(seed: int) -> None:
    rng = random.Random(100 + seed)
    message = chinese(rng, rng.randint(1, 1000))
    reply = CallbackCodec(SETTINGS, FakeClock()).seal(message)
    fields = dict(re.findall(r"<(MsgSignature|TimeStamp|Nonce)>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</\1>", reply))
    opened = WeChatCrypto(TOKEN, AES, CORP_ID).decrypt_message(reply, fields["MsgSignature"], fields["TimeStamp"],
                                                               fields["Nonce"])
    assert (opened.decode() if isinstance(opened, bytes) else opened) == message


def test_open_reads_the_official_example_fields() -> None:
    clock = FakeClock()
    event = CallbackCodec(SETTINGS, clock).open(*sealed(event_xml(), now_s(clock)))
    assert (event.to_user, event.from_user, event.msg_type, event.event) == (CORP_ID, "sys", "event",
                                                                               "sys_approval_change")
    assert event.create_time == 1571732272
    assert event.agent_id == "3010040"
    assert event.approval is not None
    assert (event.approval.sp_status, event.approval.applyer, event.approval.apply_time) == (1, "WuJunJie",
                                                                                           1571728713)


def test_spnostr_wins_over_a_numeric_spno() -> None:
    clock = FakeClock()
    xml = event_xml().replace("<SpNo>201910220003</SpNo>", "<SpNo>1</SpNo><SpNoStr>202410220000000003</SpNoStr>")
    event = CallbackCodec(SETTINGS, clock).open(*sealed(xml, now_s(clock)))
    assert event.approval is not None
    assert event.approval.sp_no == "202410220000000003"


def test_ack_follows_the_setting() -> None:
    assert CallbackCodec(SETTINGS, FakeClock()).ack() == ""
    success = SETTINGS.model_copy(update={"callback_ack": "success"})
    assert CallbackCodec(success, FakeClock()).ack() == "success"


Case = Callable[[FakeClock], tuple[dict[str, str], bytes]]
BOMB = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
        "<xml><Encrypt>&d;</Encrypt></xml>")
EXTERNAL = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>'


def _replace_body(body: bytes) -> Case:
    def case(clock: FakeClock) -> tuple[dict[str, str], bytes]:
        query, _ = sealed(event_xml(), now_s(clock))
        return query, body
    return case


def _wrong_signature(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    query, body = sealed(event_xml(), now_s(clock))
    return {**query, "msg_signature": "0" * 40}, body


def _wrong_token(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(event_xml(), now_s(clock), token="another-token")


def _bad_base64(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed("", now_s(clock), encrypt="!!!not-base64***")


def _truncated_ciphertext(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed("", now_s(clock), encrypt="QUJDREVGR0g=")  # 8 bytes: not an AES block


def _wrong_receive_id(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(event_xml(), now_s(clock), corp="wwANOTHERCORP")


def _stale(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(event_xml(), str(int(clock.now().timestamp()) - 301))


def _millis(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(event_xml(), str(int(clock.now().timestamp() * 1000)))


def _missing_nonce(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    query, body = sealed(event_xml(), now_s(clock))
    return {k: v for k, v in query.items() if k != "nonce"}, body


def _inner(plaintext: str) -> Case:
    def case(clock: FakeClock) -> tuple[dict[str, str], bytes]:
        return sealed(plaintext, now_s(clock))
    return case


CASES: list[tuple[str, Case, str]] = [
    ("missing nonce", _missing_nonce, "missing_params"),
    ("empty body", _replace_body(b""), "bad_body"),
    ("no Encrypt", _replace_body(b"<xml><ToUserName>x</ToUserName></xml>"), "bad_body"),
    ("JSON body", _replace_body(b'{"encrypt": "abc"}'), "bad_xml"),
    ("malformed outer XML", _replace_body(b"<xml><Encrypt>abc</xml>"), "bad_xml"),
    ("entity bomb outside", _replace_body(BOMB.encode()), "unsafe_xml"),
    ("external entity outside", _replace_body(EXTERNAL.encode()), "unsafe_xml"),
    ("wrong signature", _wrong_signature, "bad_signature"),
    ("wrong token", _wrong_token, "bad_signature"),
    ("stale timestamp", _stale, "stale_timestamp"),
    ("millisecond timestamp", _millis, "stale_timestamp"),
    ("bad base64", _bad_base64, "bad_ciphertext"),
    ("truncated ciphertext", _truncated_ciphertext, "bad_ciphertext"),
    ("wrong receiveId", _wrong_receive_id, "wrong_receiver"),
    ("malformed inner XML", _inner("<xml><MsgType>event</MsgType>"), "bad_xml"),
    ("entity bomb inside", _inner(BOMB.replace("<xml><Encrypt>&d;</Encrypt></xml>",
                                               "<xml><MsgType>&d;</MsgType></xml>")), "unsafe_xml"),
    ("not XML inside", _inner('{"EventType": "check_url"}'), "bad_xml"),
    ("no MsgType", _inner("<xml><Event>sys_approval_change</Event></xml>"), "bad_event"),
    ("approval without info", _inner("<xml><MsgType>event</MsgType><Event>sys_approval_change</Event>"
                                     "<CreateTime>1</CreateTime></xml>"), "bad_event"),
    ("approval without SpNo", _inner(event_xml().replace("<SpNo>201910220003</SpNo>", "")), "bad_event"),
    ("SpStatus not a number", _inner(event_xml().replace("<SpStatus>1</SpStatus>", "<SpStatus>x</SpStatus>", 1)),
     "bad_event"),
]


@pytest.mark.parametrize(("name", "case", "reason"), CASES, ids=[c[0] for c in CASES])
def test_bad_callbacks_are_rejected_with_a_reason(name: str, case: Case, reason: str) -> None:
    clock = FakeClock()
    codec = CallbackCodec(SETTINGS, clock)
    query, body = case(clock)
    with pytest.raises(WebhookRejected) as info:
        codec.open(query, body)
    assert info.value.reason == reason
    assert reason in REJECT_REASONS
    assert info.value.where is not None
    assert info.value.where.startswith("wecom.callback")
    assert TOKEN not in str(info.value)
    assert AES not in str(info.value)
    # The codec still works afterwards.
    assert codec.open(*sealed(event_xml(), now_s(clock))).approval is not None


def test_handshake_refusals() -> None:
    clock = FakeClock()
    codec = CallbackCodec(SETTINGS, clock)
    query, _ = sealed("", now_s(clock), encrypt="!!!")
    with pytest.raises(WebhookRejected) as missing:
        codec.verify_url(query)
    assert missing.value.reason == "missing_params"
    with pytest.raises(WebhookRejected) as bad:
        codec.verify_url({**query, "echostr": "!!!"})
    assert bad.value.reason == "bad_ciphertext"


def test_dedupe_key_tells_apart_what_createtime_alone_would_merge() -> None:
    clock = FakeClock()
    codec = CallbackCodec(SETTINGS, clock)

    def key(xml: str) -> str:
        return dedupe_key(codec.open(*sealed(xml, now_s(clock))))

    base = key(event_xml())
    assert key(event_xml()) == base  # a redelivery of the same message
    assert key(event_xml(change=2)) != base  # same SpNo and CreateTime, another change
    assert key(event_xml().replace("<SpNo>201910220003</SpNo>", "<SpNo>201910220004</SpNo>")) != base
    assert key(event_xml().replace("<SpStatus>1</SpStatus>", "<SpStatus>2</SpStatus>", 1)) != base
    # Two comments on one approval within the same second differ only inside ApprovalInfo.
    assert key(event_xml().replace("</Applyer>", "</Applyer><Comments><CommentId>1</CommentId></Comments>")) != \
        key(event_xml().replace("</Applyer>", "</Applyer><Comments><CommentId>2</CommentId></Comments>"))


# ------------------------------------------------------------------ end to end with the sandbox


@dataclass
class Receiver:
    codec: CallbackCodec
    events: list[WeComEvent] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        try:
            if request.method == "GET":
                return web.Response(text=self.codec.verify_url(query))
            self.events.append(self.codec.open(query, await request.read()))
        except WebhookRejected as exc:
            self.rejected.append(exc.reason)
            return web.Response(status=400, text=exc.reason)
        return web.Response(text=self.codec.ack())


@dataclass
class Wired:
    sandbox: WeComSandbox
    receiver: Receiver
    url: str


@pytest.fixture
async def wired() -> AsyncIterator[Wired]:
    clock = FakeClock()
    sandbox = WeComSandbox(corp_id=CORP_ID, corp_secret="s", callback_token=TOKEN, encoding_aes_key=AES, clock=clock,
                           faults=FaultPlan(), retry_schedule=(0.01, 0.01))
    receiver = Receiver(CallbackCodec(SETTINGS, clock))
    app = web.Application()
    app.router.add_route("*", "/wecom/callback", receiver.handle)
    async with SandboxServer(app) as srv:
        url = f"{srv.url}/wecom/callback"
        await sandbox.subscribe(url)
        yield Wired(sandbox, receiver, url)
        await sandbox.stop_delivery()


def contents(reason: str) -> list[dict[str, Any]]:
    return [{"control": "Textarea", "id": "Textarea-1569573760001", "value": {"text": reason}}]


async def test_batch_approval_sharing_a_createtime_gives_five_distinct_keys(wired: Wired) -> None:
    sp_nos = [wired.sandbox.submit("zhangsan", contents(f"报销{i}")) for i in range(5)]
    assert await wired.sandbox.wait_delivered()
    wired.receiver.events.clear()
    create_time = wired.sandbox.batch_approve(sp_nos)
    assert await wired.sandbox.wait_delivered()
    events = wired.receiver.events
    assert len(events) == 5
    assert {e.create_time for e in events} == {create_time}
    assert {e.approval.sp_no for e in events if e.approval} == set(sp_nos)
    assert len({dedupe_key(e) for e in events}) == 5
    assert all(e.approval is not None and (e.approval.sp_status, e.approval.change) == (2, 2) for e in events)


async def test_a_redelivered_event_has_the_same_key(wired: Wired) -> None:
    sp_no = wired.sandbox.submit("zhangsan", contents("差旅"))
    wired.sandbox.approve(sp_no)
    wired.sandbox.redeliver(sp_no, times=2)
    assert await wired.sandbox.wait_delivered()
    keys = [dedupe_key(e) for e in wired.receiver.events]
    assert len(keys) == 4
    assert keys[1] == keys[2] == keys[3]
    assert keys[0] != keys[1]
    assert wired.sandbox.stats.delivered == 4
    assert wired.receiver.rejected == []


async def test_subscribing_a_url_that_fails_the_handshake_is_refused(wired: Wired) -> None:
    other = WeComSandbox(corp_id=CORP_ID, corp_secret="s", callback_token="another-token", encoding_aes_key=AES,
                         clock=FakeClock())
    try:
        with pytest.raises(SubscriptionFailed):
            await other.subscribe(wired.url)
        assert other.callback_url is None
        assert wired.receiver.rejected == ["bad_signature"]
    finally:
        await other.stop_delivery()


async def test_a_receiver_that_refuses_is_retried_then_given_up(wired: Wired) -> None:
    wired.receiver.codec = CallbackCodec(SETTINGS.model_copy(update={"corp_id": "wwOTHER"}), FakeClock())
    wired.sandbox.submit("zhangsan", contents("差旅"))
    assert await wired.sandbox.wait_delivered()
    assert wired.sandbox.stats.gave_up == 1
    assert wired.sandbox.stats.failed_attempts == 3
    assert wired.receiver.rejected == ["wrong_receiver"] * 3

