"""CallbackCodec rejections, and callback delivery from the sandbox to a tiny receiver that uses it."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from huiliu.connectors.dingtalk import REJECT_REASONS, CallbackCodec, DingTalkSettings
from huiliu.crypto import MsgCrypt
from huiliu.errors import WebhookRejected
from huiliu.sandbox import Fault, FaultKind, FaultPlan, SandboxServer
from huiliu.sandbox.company import make_company
from huiliu.sandbox.dingtalk import DingTalkSandbox
from huiliu.testing import FakeClock

AES = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"
APP = {"app_key": "dingappkey01", "app_secret": "s3cret-value", "corp_id": "dingcorp01",
       "callback_token": "cbtoken", "aes_key": AES}
SETTINGS = DingTalkSettings.model_validate({**APP, "writeback_user_id": "bot"})
EVENT = {"EventType": "bpms_instance_change", "processInstanceId": "inst-1", "type": "finish",
         "result": "agree", "title": "张伟提交的报销申请"}


def now_ms(clock: FakeClock) -> str:
    return str(int(clock.now().timestamp() * 1000))


def sealed(message: str, ts: str, *, token: str = "cbtoken", receive_id: str = "dingappkey01",
           nonce: str = "n0nce") -> tuple[dict[str, str], bytes]:
    env = MsgCrypt(token, AES, receive_id).seal(message, ts, nonce)
    query = {"msg_signature": env["msg_signature"], "timeStamp": ts, "nonce": nonce}
    return query, json.dumps({"encrypt": env["encrypt"]}).encode()


def test_settings_default_the_receive_id_to_the_app_key() -> None:
    assert SETTINGS.receive_id == "dingappkey01"
    with pytest.raises(ValueError, match="43-character"):
        DingTalkSettings.model_validate({**APP, "aes_key": "short", "writeback_user_id": "bot"})
    with pytest.raises(ValueError, match="extra"):
        DingTalkSettings.model_validate({**APP, "writeback_user_id": "bot", "typo_field": 1})


def test_open_accepts_a_valid_callback_with_chinese_text() -> None:
    clock = FakeClock()
    codec = CallbackCodec(SETTINGS, clock)
    query, body = sealed(json.dumps(EVENT, ensure_ascii=False), now_ms(clock))
    assert codec.open(query, body) == EVENT


def test_open_accepts_the_older_parameter_names() -> None:
    clock = FakeClock()
    query, body = sealed(json.dumps(EVENT), now_ms(clock))
    older = {"signature": query["msg_signature"], "timestamp": query["timeStamp"], "nonce": query["nonce"]}
    assert CallbackCodec(SETTINGS, clock).open(older, body)["processInstanceId"] == "inst-1"


def test_reply_decrypts_to_success_and_is_freshly_stamped() -> None:
    clock = FakeClock()
    codec = CallbackCodec(SETTINGS, clock)
    first = codec.reply()
    clock.advance(5)
    second = codec.reply()
    crypt = MsgCrypt("cbtoken", AES, "dingappkey01")
    opened = crypt.open(first["msg_signature"], first["timeStamp"], first["nonce"], first["encrypt"])
    assert opened == "success"
    assert int(second["timeStamp"]) - int(first["timeStamp"]) == 5000
    assert first["nonce"] != second["nonce"]


Case = Callable[[FakeClock], tuple[dict[str, str], bytes]]


def _wrong_signature(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    query, body = sealed(json.dumps(EVENT), now_ms(clock))
    return {**query, "msg_signature": "0" * 40}, body


def _stale(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(json.dumps(EVENT), str(int(clock.now().timestamp() * 1000) - 301_000))


def _future(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(json.dumps(EVENT), str(int(clock.now().timestamp() * 1000) + 301_000))


def _garbage_body(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    query, _ = sealed(json.dumps(EVENT), now_ms(clock))
    return query, b"\xff<xml>not json"


def _no_encrypt(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    query, _ = sealed(json.dumps(EVENT), now_ms(clock))
    return query, b'{"encrypted": "x"}'


def _missing_nonce(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    query, body = sealed(json.dumps(EVENT), now_ms(clock))
    return {k: v for k, v in query.items() if k != "nonce"}, body


def _wrong_receiver(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed(json.dumps(EVENT), now_ms(clock), receive_id="ding-other-corp")


def _not_json(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed("这不是 JSON", now_ms(clock))


def _json_without_event_type(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    return sealed('["bpms_instance_change"]', now_ms(clock))


def _signed_garbage_ciphertext(clock: FakeClock) -> tuple[dict[str, str], bytes]:
    ts, nonce, encrypt = now_ms(clock), "n", "QUJDREVGR0hJSktMTU5PUA=="  # 16 bytes, not ours
    sig = MsgCrypt("cbtoken", AES, "dingappkey01").sign(ts, nonce, encrypt)
    return {"msg_signature": sig, "timeStamp": ts, "nonce": nonce}, json.dumps({"encrypt": encrypt}).encode()


@pytest.mark.parametrize(("case", "reason", "where"), [
    (_wrong_signature, "bad_signature", "query.msg_signature"),
    (_stale, "stale_timestamp", "query.timeStamp"),
    (_future, "stale_timestamp", "query.timeStamp"),
    (_garbage_body, "bad_body", "body"),
    (_no_encrypt, "bad_body", "body"),
    (_missing_nonce, "missing_params", "query"),
    (_wrong_receiver, "wrong_receiver", "body.encrypt"),
    (_not_json, "bad_event", "plaintext"),
    (_json_without_event_type, "bad_event", "plaintext"),
    (_signed_garbage_ciphertext, "bad_ciphertext", "body.encrypt"),
])
def test_open_rejects_with_the_right_reason(case: Case, reason: str, where: str) -> None:
    clock = FakeClock()
    query, body = case(clock)
    with pytest.raises(WebhookRejected) as info:
        CallbackCodec(SETTINGS, clock).open(query, body)
    assert info.value.reason == reason
    assert reason in REJECT_REASONS
    assert info.value.where == f"dingtalk.callback {where}"
    assert info.value.fix is not None


def test_stale_check_uses_the_clock_and_the_configured_tolerance() -> None:
    clock = FakeClock()
    query, body = sealed(json.dumps(EVENT), now_ms(clock))
    clock.advance(299)
    assert CallbackCodec(SETTINGS, clock).open(query, body)["EventType"] == "bpms_instance_change"
    strict = SETTINGS.model_copy(update={"timestamp_tolerance": SETTINGS.timestamp_tolerance / 100})
    with pytest.raises(WebhookRejected) as info:
        CallbackCodec(strict, clock).open(query, body)
    assert info.value.reason == "stale_timestamp"


def test_signature_is_checked_before_decrypting() -> None:
    clock = FakeClock()
    query, _ = sealed(json.dumps(EVENT), now_ms(clock))
    body = json.dumps({"encrypt": "not base64 at all!"}).encode()
    with pytest.raises(WebhookRejected) as info:
        CallbackCodec(SETTINGS, clock).open(query, body)
    assert info.value.reason == "bad_signature"  # not bad_ciphertext: nothing unsigned is decrypted


# ---------------------------------------------------------------- delivery end to end


@dataclass
class Receiver:
    codec: CallbackCodec
    clock: FakeClock
    mode: str = "good"
    bad_first: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    stamps: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.stamps.append((request.query["timeStamp"], request.query["nonce"]))
        try:
            event = self.codec.open(request.query, await request.read())
        except WebhookRejected as exc:
            self.rejected.append(exc.reason)
            return web.json_response({"error": exc.reason}, status=400)
        self.events.append(event)
        if self.calls <= self.bad_first or self.mode == "always_bad":
            self.clock.advance(10)
            if self.mode == "slow":
                await asyncio.sleep(1.0)  # well past the sandbox's ack timeout
            elif self.mode == "forged":
                return web.json_response({**self.codec.reply(), "msg_signature": "f" * 40})
            elif self.mode == "http500":
                return web.json_response({"error": "busy"}, status=500)
            else:
                return web.json_response(self.codec.reply("fail"))
        return web.json_response(self.codec.reply())


@dataclass
class World:
    sandbox: DingTalkSandbox
    receiver: Receiver
    company: Any


@pytest.fixture
def receiver() -> Receiver:
    clock = FakeClock()
    return Receiver(CallbackCodec(SETTINGS, clock), clock)


@pytest.fixture
async def world(receiver: Receiver) -> AsyncIterator[World]:
    app = web.Application()
    app.router.add_post("/dingtalk/callback", receiver.handle)
    company = make_company()
    # a good reply must beat the ack timeout even on a loaded machine; a slow one sleeps past it
    sandbox = DingTalkSandbox(**APP, company=company, clock=receiver.clock, ack_timeout=0.6,
                              retry_schedule=(0.01, 0.01, 0.01), faults=FaultPlan())
    async with SandboxServer(app) as hub:
        sandbox.subscribe(f"{hub.url}/dingtalk/callback")
        await sandbox.start_delivery()
        try:
            yield World(sandbox, receiver, company)
        finally:
            await sandbox.stop_delivery()


async def test_valid_reply_means_delivered_once(world: World) -> None:
    instance_id = world.sandbox.start_claim(world.company.claim())
    world.sandbox.finish(instance_id, "approved")
    assert await world.sandbox.wait_delivered(5)
    stats = world.sandbox.stats
    assert (stats.delivered, stats.failed_attempts, stats.pending, stats.gave_up) == (4, 0, 0, 0)
    assert world.receiver.calls == 4
    kinds = sorted((e["EventType"], e["type"]) for e in world.receiver.events)
    assert kinds == [("bpms_instance_change", "finish"), ("bpms_instance_change", "start"),
                     ("bpms_task_change", "finish"), ("bpms_task_change", "start")]
    finish = next(e for e in world.receiver.events
                  if e["EventType"] == "bpms_instance_change" and e["type"] == "finish")
    assert finish["result"] == "agree"
    assert finish["processInstanceId"] == instance_id
    assert finish["corpId"] == "dingcorp01"
    assert finish["title"].endswith("提交的报销申请")
    assert isinstance(finish["finishTime"], int)


@pytest.mark.parametrize("mode", ["slow", "fail", "forged", "http500"])
async def test_slow_or_bad_replies_are_redelivered_and_counted(world: World, mode: str) -> None:
    world.receiver.mode, world.receiver.bad_first = mode, 1
    instance_id = world.sandbox.start_claim(world.company.claim())
    world.sandbox.finish(instance_id, "refused")
    assert await world.sandbox.wait_delivered(5)
    stats = world.sandbox.stats
    assert stats.delivered == 4
    assert stats.failed_attempts == 1
    assert world.receiver.calls == 5
    assert world.receiver.rejected == []


async def test_each_retry_is_resigned_with_a_fresh_timestamp(world: World) -> None:
    world.receiver.mode, world.receiver.bad_first = "fail", 1
    iid = world.sandbox.start_claim(world.company.claim())
    assert await world.sandbox.wait_delivered(5)
    assert world.sandbox.instances[iid].status == "RUNNING"
    stamps = world.receiver.stamps
    assert len(stamps) == 3
    first_ts, first_nonce = stamps[0]
    retried = [s for s in stamps[1:] if int(s[0]) > int(first_ts)]
    assert retried  # the receiver moved the clock 10 s after the bad first reply
    assert all(nonce != first_nonce for _, nonce in stamps[1:])


async def test_a_receiver_that_never_acknowledges_exhausts_the_schedule(world: World) -> None:
    world.receiver.mode = "always_bad"
    world.sandbox.start_claim(world.company.claim())
    assert await world.sandbox.wait_delivered(5)
    stats = world.sandbox.stats
    assert (stats.delivered, stats.gave_up, stats.pending) == (0, 2, 0)
    assert stats.failed_attempts == 2 * 4  # first try + three retries, per event
    assert world.sandbox.state()["callbacks"]["gave_up"] == 2


async def test_callback_faults_count_as_failed_attempts(world: World) -> None:
    world.sandbox.faults.script("callback", Fault(FaultKind.DROP), Fault(FaultKind.SERVER_ERROR))
    world.sandbox.start_claim(world.company.claim())
    assert await world.sandbox.wait_delivered(5)
    assert world.sandbox.stats.failed_attempts == 2
    assert world.sandbox.stats.delivered == 2
    assert world.receiver.calls == 2  # the faulted attempts never reached the hub


async def test_redeliver_pushes_the_last_instance_event_again(world: World) -> None:
    instance_id = world.sandbox.start_claim(world.company.claim())
    world.sandbox.finish(instance_id, "revoked")
    assert await world.sandbox.wait_delivered(5)
    world.sandbox.redeliver(instance_id, 3)
    assert await world.sandbox.wait_delivered(5)
    terminations = [e for e in world.receiver.events
                    if e["EventType"] == "bpms_instance_change" and e["type"] == "terminate"]
    assert len(terminations) == 4
    assert all(e == terminations[0] for e in terminations)
    assert "result" not in terminations[0]


async def test_events_before_delivery_starts_are_delivered_once_it_does(receiver: Receiver) -> None:
    app = web.Application()
    app.router.add_post("/cb", receiver.handle)
    sandbox = DingTalkSandbox(**APP, company=make_company(), clock=receiver.clock, ack_timeout=0.5)
    async with SandboxServer(app) as hub:
        sandbox.subscribe(f"{hub.url}/cb")
        sandbox.start_claim(sandbox.company.claim())  # type: ignore[union-attr]
        assert sandbox.stats.pending == 2
        assert not await sandbox.wait_delivered(0.05)
        await sandbox.start_delivery()
        try:
            assert await sandbox.wait_delivered(5)
        finally:
            await sandbox.stop_delivery()
    assert sandbox.stats.delivered == 2
