"""Feishu event crypto against the contract's vector and the independent lark-oapi SDK as oracle."""

import base64
import json
import random
from typing import Any

import pytest

from huiliu.connectors.feishu import EventCodec, FeishuCipher, FeishuSettings, request_signature
from huiliu.crypto import CryptoError
from huiliu.sandbox.feishu import seal
from huiliu.testing import FakeClock

lark: Any = pytest.importorskip(
    "lark_oapi", reason="lark-oapi (the independent oracle) is not installed: pip install lark-oapi")
from lark_oapi.core.model import RawRequest  # type: ignore[import-untyped]  # noqa: E402
from lark_oapi.core.utils.decryptor import AESCipher  # type: ignore[import-untyped]  # noqa: E402

VECTOR_KEY = "test key"
VECTOR = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="  # contracts §3.4 → "hello world"
HANZI = "审批报销差旅费用金额元角分张王李赵钱孙周吴郑冯陈褚卫蒋沈韩杨朱秦尤许何吕施孔曹严华金魏陶姜，。；：“”！？"


def random_payload(rng: random.Random) -> str:
    n = rng.randint(0, 400)
    text = "".join(rng.choice(HANZI + "abcXYZ0189 {}\"\\") for _ in range(n))
    return json.dumps({"title": text, "n": rng.randint(0, 10**12)}, ensure_ascii=False)


def test_contract_vector_decrypts_and_reencrypts_byte_for_byte() -> None:
    cipher = FeishuCipher(VECTOR_KEY)
    assert cipher.decrypt(VECTOR) == "hello world"
    iv = base64.b64decode(VECTOR)[:16]  # IV = first 16 bytes of the decoded value
    assert cipher.encrypt("hello world", iv=iv) == VECTOR


def test_hand_computed_signature_vector() -> None:
    # sha256_hex("1700000000" + "nonce-1" + "test key" + body), computed once with hashlib from the contract
    body = b'{"encrypt":"' + VECTOR.encode() + b'"}'
    expected = "002a272a435d056759149cce18e88064ff320d38d91a09432445c344c4296949"
    assert request_signature("1700000000", "nonce-1", "test key", body) == expected
    FeishuCipher("test key").verify(expected.upper(), "1700000000", "nonce-1", body)
    with pytest.raises(CryptoError):
        FeishuCipher("test key").verify(expected, "1700000001", "nonce-1", body)


@pytest.mark.parametrize("seed", range(5))
def test_our_encryption_decrypts_with_lark_oapi(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20):
        key = "".join(rng.choice(HANZI + "abc") for _ in range(rng.randint(1, 40)))
        payload = random_payload(rng)
        assert AESCipher(key).decrypt_str(FeishuCipher(key).encrypt(payload)) == payload


@pytest.mark.parametrize("seed", range(5))
def test_lark_oapi_key_derivation_encryption_decrypts_with_ours(seed: int) -> None:
    # lark-oapi only decrypts; encrypt with pycryptodome (its dependency) and lark's own key digest.
    from Crypto.Cipher import AES

    rng = random.Random(100 + seed)
    for _ in range(20):
        key = "k" + "".join(rng.choice(HANZI) for _ in range(rng.randint(0, 30)))
        payload = random_payload(rng).encode()
        iv = rng.randbytes(16)
        pad = 16 - len(payload) % 16
        raw = iv + AES.new(AESCipher(key).digest, AES.MODE_CBC, iv).encrypt(payload + bytes([pad]) * pad)
        assert FeishuCipher(key).decrypt(base64.b64encode(raw).decode()) == payload.decode()


def test_sandbox_sealed_events_pass_lark_oapi_dispatcher_and_our_codec() -> None:
    """The sandbox's body + signature headers are accepted by lark-oapi's full check and by EventCodec."""
    seen: list[Any] = []
    handler = (lark.EventDispatcherHandler.builder("ek-密钥", "vtok")
               .register_p1_customized_event("approval_instance", seen.append).build())
    clock = FakeClock()
    codec = EventCodec(FeishuSettings(app_id="cli_1", app_secret="s", verification_token="vtok",
                                      encrypt_key="ek-密钥"), clock)
    ts = str(int(clock.now().timestamp()))
    event = {"ts": ts, "uuid": "evt-1", "token": "vtok", "type": "event_callback",
             "event": {"type": "approval_instance", "approval_code": "A", "instance_code": "I-中文",
                       "status": "APPROVED", "operate_time": "1666079207003", "uuid": "u"}}
    body, headers = seal(json.dumps(event, ensure_ascii=False), "ek-密钥", ts, "nonce-9")
    request = RawRequest()
    request.uri, request.headers, request.body = "/cb", headers, body
    response = handler.do(request)
    assert response.status_code == 200, response.content
    assert len(seen) == 1
    opened = codec.open(headers, body)
    assert opened.instance_code == "I-中文"  # type: ignore[union-attr]

    request.headers = {**headers, "X-Lark-Signature": "0" * 64}
    assert handler.do(request).status_code == 500  # the oracle refuses a forged signature too
