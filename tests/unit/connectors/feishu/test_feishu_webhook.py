"""EventCodec: every refusal reason, url_verification, v1/v2 events, dedupe keys; delivery from the sandbox."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from huiliu.connectors.feishu import (
    REJECT_REASONS,
    ApprovalEvent,
    EventCodec,
    FeishuCipher,
    FeishuSettings,
    UrlVerification,
    dedupe_key,
)
from huiliu.errors import WebhookRejected
from huiliu.sandbox import Fault, FaultKind, FaultPlan, SandboxServer
from huiliu.sandbox.company import make_company
from huiliu.sandbox.feishu import CLAIM_APPROVAL_CODE, FeishuSandbox, seal
from huiliu.testing import FakeClock

KEY, TOKEN = "encrypt-key-密钥", "verification-token-1"
SETTINGS = FeishuSettings(app_id="cli_a1", app_secret="s", verification_token=TOKEN, encrypt_key=KEY)
PLAIN = FeishuSettings(app_id="cli_a1", app_secret="s", verification_token=TOKEN)


def v1(clock: FakeClock, **over: Any) -> dict[str, Any]:
    event = {"ts": f"{clock.now().timestamp():.7f}", "uuid": "bc447199585340d1f3728d26b1c0297a", "token": TOKEN,
             "type": "event_callback",
             "event": {"app_id": "cli_a1", "tenant_key": "tk", "type": "approval_instance",
                       "approval_code": "7C468A54", "instance_code": "81D31358", "status": "APPROVED",
                       "operate_time": 1666079207003, "instance_operate_time": "1666079207003", "uuid": "6525bffb"}}
    event.update(over)
    return event


def sealed(clock: FakeClock, payload: Any, *, key: str = KEY, nonce: str = "n1") -> tuple[dict[str, str], bytes]:
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    body, headers = seal(text, key, str(int(clock.now().timestamp())), nonce)
    return headers, body


def signed(clock: FakeClock, body: bytes) -> tuple[dict[str, str], bytes]:
    ts = str(int(clock.now().timestamp()))
    return {"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": "n",
            "X-Lark-Signature": FeishuCipher(KEY).sign(ts, "n", body)}, body


def test_accepts_an_encrypted_v1_approval_event_with_chinese_text() -> None:
    clock = FakeClock()
    headers, body = sealed(clock, v1(clock, uuid="evt-中文"))
    event = EventCodec(SETTINGS, clock).open(headers, body)
    assert isinstance(event, ApprovalEvent)
    assert (event.event_id, event.event_type, event.approval_code, event.instance_code, event.status) == (
        "evt-中文", "approval_instance", "7C468A54", "81D31358", "APPROVED")
    assert event.instance_uuid == "6525bffb"
    assert event.operate_time is not None
    assert int(event.operate_time.timestamp() * 1000) == 1666079207003
    assert event.schema == "1.0"
    assert EventCodec.reply() == {"msg": "success"}


def test_operate_time_as_a_string_is_read_too() -> None:
    clock = FakeClock()
    body = v1(clock)
    body["event"]["operate_time"] = "1666079207003"
    event = EventCodec(SETTINGS, clock).open(*sealed(clock, body))
    assert isinstance(event, ApprovalEvent)
    assert event.operate_time is not None
    assert int(event.operate_time.timestamp() * 1000) == 1666079207003


def test_accepts_a_plain_event_when_no_encrypt_key_is_set() -> None:
    clock = FakeClock()
    event = EventCodec(PLAIN, clock).open({}, json.dumps(v1(clock)).encode())
    assert isinstance(event, ApprovalEvent)
    assert event.status == "APPROVED"


def test_accepts_a_v2_envelope() -> None:
    clock = FakeClock()
    body = {"schema": "2.0", "header": {"event_id": "e2", "event_type": "approval_instance", "token": TOKEN,
                                        "create_time": str(int(clock.now().timestamp() * 1000)), "tenant_key": "tk",
                                        "app_id": "cli_a1"},
            "event": {"approval_code": "A", "instance_code": "I", "status": "REJECTED"}}
    event = EventCodec(PLAIN, clock).open({}, json.dumps(body).encode())
    assert isinstance(event, ApprovalEvent)
    assert (event.schema, event.event_id, event.status, event.tenant_key) == ("2.0", "e2", "REJECTED", "tk")


@pytest.mark.parametrize("settings", [SETTINGS, PLAIN])
def test_url_verification_is_answered_with_its_challenge(settings: FeishuSettings) -> None:
    clock = FakeClock()
    payload = {"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"}
    if settings.encrypt_key.get_secret_value():
        body = json.dumps({"encrypt": FeishuCipher(KEY).encrypt(json.dumps(payload))}).encode()
    else:
        body = json.dumps(payload).encode()
    opened = EventCodec(settings, clock).open({}, body)  # no signature headers: none are checked for it
    assert opened == UrlVerification("ajls384kdjx98XX")
    assert opened.reply() == {"challenge": "ajls384kdjx98XX"}


def test_url_verification_with_a_wrong_token_is_refused() -> None:
    body = json.dumps({"challenge": "c", "token": "other", "type": "url_verification"}).encode()
    with pytest.raises(WebhookRejected) as info:
        EventCodec(PLAIN, FakeClock()).open({}, body)
    assert info.value.reason == "wrong_token"


def test_task_event_needs_a_task_id_and_keys_on_it() -> None:
    clock = FakeClock()
    body = v1(clock)
    body["event"] = {**body["event"], "type": "approval_task", "task_id": "t-1", "status": "PENDING"}
    first = EventCodec(SETTINGS, clock).open(*sealed(clock, body))
    assert isinstance(first, ApprovalEvent)
    assert first.task_id == "t-1"
    del body["event"]["task_id"]
    with pytest.raises(WebhookRejected) as info:
        EventCodec(SETTINGS, clock).open(*sealed(clock, body))
    assert (info.value.reason, info.value.where) == ("bad_event", "feishu.event event.task_id")


def test_dedupe_key_is_the_full_key() -> None:
    clock = FakeClock()
    codec = EventCodec(SETTINGS, clock)

    def key(**over: Any) -> str:
        body = v1(clock)
        body["uuid"] = over.pop("uuid", body["uuid"])
        body["event"] = {**body["event"], **over}
        event = codec.open(*sealed(clock, body))
        assert isinstance(event, ApprovalEvent)
        return dedupe_key(event)

    base = key()
    assert key() == base  # a redelivery (fresh IV, nonce) keeps the key
    others = {key(uuid="other"), key(instance_code="other"), key(status="REVERTED"),
              key(type="approval_task", task_id="9")}
    assert base not in others
    assert len(others) == 4


Case = Callable[[FakeClock], tuple[dict[str, str], bytes]]


def _bad_signature(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    headers, body = sealed(clock, v1(clock))
    return {**headers, "X-Lark-Signature": "0" * 64}, body


def _signature_over_other_body(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    headers, body = sealed(clock, v1(clock))
    return headers, body.replace(b'{"encrypt"', b'{ "encrypt"')  # same JSON, other bytes


def _missing_signature(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    headers, body = sealed(clock, v1(clock))
    return {k: v for k, v in headers.items() if k != "X-Lark-Signature"}, body


def _wrong_token(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(clock, v1(clock, token="someone-else"))


def _no_token(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    body = v1(clock)
    del body["token"]
    return sealed(clock, body)


def _bad_base64(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return signed(clock, json.dumps({"encrypt": "***not base64***"}).encode())


def _bad_length(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return signed(clock, json.dumps({"encrypt": base64.b64encode(b"x" * 20).decode()}).encode())


def _bad_padding(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(clock, v1(clock), key="a-different-key")


def _non_json_body(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return signed(clock, b"\xff<xml>not json")


def _json_array_body(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return signed(clock, b'["encrypt"]')


def _non_json_plaintext(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(clock, "这不是 JSON")


def _encrypt_not_a_string(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return signed(clock, b'{"encrypt": 42}')


def _stale_header(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    body, headers = seal(json.dumps(v1(clock)), KEY, str(int(clock.now().timestamp()) - 301), "n")
    return headers, body


def _future_header(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    body, headers = seal(json.dumps(v1(clock)), KEY, str(int(clock.now().timestamp()) + 301), "n")
    return headers, body


def _unreadable_timestamp(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    body, headers = seal(json.dumps(v1(clock)), KEY, "yesterday", "n")
    return headers, body


def _unknown_event_type(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    body = v1(clock)
    body["event"]["type"] = "leave_approval"
    return sealed(clock, body)


def _unknown_request_type(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(clock, v1(clock, type="card_action"))


def _unknown_schema(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(clock, {"schema": "3.0", "header": {"token": TOKEN}, "event": {}})


def _missing_instance_code(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    body = v1(clock)
    del body["event"]["instance_code"]
    return sealed(clock, body)


def _missing_event_id(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    body = v1(clock)
    del body["uuid"]
    return sealed(clock, body)


def _challenge_not_a_string(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(clock, {"challenge": 5, "token": TOKEN, "type": "url_verification"})


@pytest.mark.parametrize(("case", "reason", "where"), [
    (_bad_signature, "bad_signature", "headers.X-Lark-Signature"),
    (_signature_over_other_body, "bad_signature", "headers.X-Lark-Signature"),
    (_missing_signature, "missing_signature", "headers"),
    (_wrong_token, "wrong_token", "token"),
    (_no_token, "wrong_token", "token"),
    (_bad_base64, "bad_base64", "body.encrypt"),
    (_bad_length, "bad_ciphertext", "body.encrypt"),
    (_bad_padding, "bad_padding", "body.encrypt"),
    (_non_json_body, "bad_body", "body"),
    (_json_array_body, "bad_body", "body"),
    (_non_json_plaintext, "not_json", "plaintext"),
    (_encrypt_not_a_string, "bad_body", "body.encrypt"),
    (_stale_header, "stale_timestamp", "headers.X-Lark-Request-Timestamp"),
    (_future_header, "stale_timestamp", "headers.X-Lark-Request-Timestamp"),
    (_unreadable_timestamp, "stale_timestamp", "headers.X-Lark-Request-Timestamp"),
    (_unknown_event_type, "unknown_event", "event.type"),
    (_unknown_request_type, "unknown_event", "type"),
    (_unknown_schema, "unknown_event", "schema"),
    (_missing_instance_code, "bad_event", "event.instance_code"),
    (_missing_event_id, "bad_event", "uuid"),
    (_challenge_not_a_string, "bad_challenge", "challenge"),
])
def test_open_rejects_with_the_right_reason(case: Case, reason: str, where: str) -> None:
    clock = FakeClock()
    headers, body = case(clock)
    with pytest.raises(WebhookRejected) as info:
        EventCodec(SETTINGS, clock).open(headers, body)
    assert info.value.reason == reason
    assert reason in REJECT_REASONS
    assert info.value.where == f"feishu.event {where}"
    assert info.value.fix is not None
    assert KEY not in str(info.value)


def test_plain_events_are_checked_for_freshness_by_their_ts() -> None:
    clock = FakeClock()
    body = json.dumps(v1(clock)).encode()
    clock.advance(299)
    assert isinstance(EventCodec(PLAIN, clock).open({}, body), ApprovalEvent)
    clock.advance(2)
    with pytest.raises(WebhookRejected) as info:
        EventCodec(PLAIN, clock).open({}, body)
    assert (info.value.reason, info.value.where) == ("stale_timestamp", "feishu.event ts")


def test_an_encrypted_body_without_a_configured_key_is_refused() -> None:
    clock = FakeClock()
    with pytest.raises(WebhookRejected) as info:
        EventCodec(PLAIN, clock).open(*sealed(clock, v1(clock)))
    assert info.value.reason == "bad_body"


def test_signature_check_can_be_turned_off() -> None:
    clock = FakeClock()
    headers, body = _missing_signature(clock)
    loose = SETTINGS.model_copy(update={"verify_signature": False})
    assert isinstance(EventCodec(loose, clock).open(headers, body), ApprovalEvent)


# ---------------------------------------------------------------- delivery end to end


@dataclass
class Receiver:
    codec: EventCodec
    clock: FakeClock
    fail_first: int = 0
    calls: int = 0
    events: list[ApprovalEvent] = field(default_factory=list)
    challenges: int = 0
    rejected: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        try:
            opened = self.codec.open(request.headers, await request.read())
        except WebhookRejected as exc:
            self.rejected.append(exc.reason)
            return web.json_response({"msg": exc.reason}, status=400)
        if isinstance(opened, UrlVerification):
            self.challenges += 1
            return web.json_response(opened.reply())
        self.events.append(opened)
        if self.calls <= self.fail_first:
            self.clock.advance(10)
            return web.json_response({"msg": "busy"}, status=500)
        return web.json_response(self.codec.reply())


@dataclass
class World:
    sandbox: FeishuSandbox
    receiver: Receiver
    url: str


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock()
    receiver = Receiver(EventCodec(SETTINGS, clock), clock)
    app = web.Application()
    app.router.add_post("/feishu/events", receiver.handle)
    sandbox = FeishuSandbox(app_id="cli_a1", app_secret="s", verification_token=TOKEN, encrypt_key=KEY,
                            company=make_company(), clock=clock, ack_timeout=0.5, retry_schedule=(0.01, 0.01),
                            faults=FaultPlan())
    async with SandboxServer(app) as hub:
        url = f"{hub.url}/feishu/events"
        await sandbox.subscribe(url)
        sandbox.subscribe_approval(CLAIM_APPROVAL_CODE)
        await sandbox.start_delivery()
        try:
            yield World(sandbox, receiver, url)
        finally:
            await sandbox.stop_delivery()


def claim(world: World) -> str:
    company = world.sandbox.company
    assert company is not None
    return world.sandbox.start_claim(company.claim())


async def test_subscribe_performs_the_url_verification_handshake(world: World) -> None:
    assert world.receiver.challenges == 1
    assert world.sandbox.callback_url == world.url
    other = FeishuSandbox(app_id="cli_a1", app_secret="s", verification_token="wrong-token", encrypt_key=KEY)
    with pytest.raises(ValueError, match="url_verification"):
        await other.subscribe(world.url)
    assert other.callback_url is None
    assert world.receiver.rejected == ["wrong_token"]


async def test_events_are_delivered_decrypted_and_verified(world: World) -> None:
    code = claim(world)
    world.sandbox.approve(code)
    assert await world.sandbox.wait_delivered(5)
    assert [e.status for e in world.receiver.events] == ["PENDING", "APPROVED"]
    assert all(e.instance_code == code and e.approval_code == CLAIM_APPROVAL_CODE for e in world.receiver.events)
    assert world.receiver.rejected == []
    assert world.sandbox.stats.delivered == 2


async def test_unsubscribed_definitions_push_nothing(world: World) -> None:
    world.sandbox.define_approval("OTHER", "采购", [{"id": "w1", "name": "单号", "type": "input"}])
    code = world.sandbox.submit("OTHER", "ou_x", [{"id": "w1", "type": "input", "value": "PO-1"}])
    world.sandbox.approve(code)
    assert await world.sandbox.wait_delivered(2)
    assert world.receiver.events == []
    assert len([e for e in world.sandbox.events if e["event"]["instance_code"] == code]) == 0


async def test_failed_attempts_are_retried_with_the_same_event_id(world: World) -> None:
    world.receiver.fail_first = 1 + 1  # the handshake counted as the first call
    code = claim(world)
    assert await world.sandbox.wait_delivered(5)
    stats = world.sandbox.stats
    assert (stats.delivered, stats.failed_attempts, stats.gave_up) == (1, 1, 0)
    first, second = world.receiver.events
    assert first.event_id == second.event_id
    assert dedupe_key(first) == dedupe_key(second)
    assert first.instance_code == code
    assert world.receiver.rejected == []  # the retry was re-stamped after the receiver's clock moved


async def test_callback_faults_count_and_redelivery_repeats_the_key(world: World) -> None:
    world.sandbox.faults.script("callback", Fault(FaultKind.DROP))
    code = claim(world)
    world.sandbox.cancel(code)
    assert await world.sandbox.wait_delivered(5)
    assert world.sandbox.stats.failed_attempts == 1
    world.sandbox.redeliver(code, 2)
    assert await world.sandbox.wait_delivered(5)
    canceled = [e for e in world.receiver.events if e.status == "CANCELED"]
    assert len(canceled) == 3
    assert len({dedupe_key(e) for e in canceled}) == 1


async def test_a_receiver_that_never_answers_200_exhausts_the_schedule(world: World) -> None:
    world.receiver.fail_first = 10**6
    claim(world)
    assert await world.sandbox.wait_delivered(5)
    stats = world.sandbox.stats
    assert (stats.delivered, stats.failed_attempts, stats.gave_up, stats.pending) == (0, 3, 1, 0)


async def test_revert_pushes_a_reverted_event(world: World) -> None:
    code = claim(world)
    world.sandbox.approve(code)
    world.sandbox.revert(code)
    assert await world.sandbox.wait_delivered(5)
    assert [e.status for e in world.receiver.events] == ["PENDING", "APPROVED", "REVERTED"]
    with pytest.raises(ValueError, match="reverted"):
        world.sandbox.revert(code)
    await asyncio.sleep(0)
