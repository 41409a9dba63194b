"""The callback crypto against the published vectors and against wechatpy, an independent implementation."""

import random
import string

import pytest
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from huiliu.crypto import CryptoError, MsgCrypt, signature

DING = {"token": "mryue", "key": "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7", "rid": "ding6ccabc44d2c8d38b"}
DING_ENCRYPT = ("0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxO"
                "K+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3")
WECOM = {"token": "123456", "key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "rid": "wx49f0ab532d5d035a"}


def test_dingtalk_published_vector() -> None:
    crypt = MsgCrypt(DING["token"], DING["key"], DING["rid"])
    assert signature("mryue", "1608001896814", "WL4PK6yA", DING_ENCRYPT) == "03044561471240d4a14bb09372dfcfd4fd0e40cb"
    plain = crypt.open("03044561471240d4a14bb09372dfcfd4fd0e40cb", "1608001896814", "WL4PK6yA", DING_ENCRYPT)
    assert plain == '{"EventType":"check_url"}'


def test_wecom_published_vector() -> None:
    crypt = MsgCrypt(WECOM["token"], WECOM["key"], WECOM["rid"])
    echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
    assert crypt.open("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425", echostr) == (
        "5927782489442352469")


def _chinese(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(["报销", "差旅费", "张伟", "¥", "，", "😀", *string.ascii_letters]) for _ in range(n))


@pytest.mark.parametrize("seed", range(25))
def test_agrees_with_wechatpy_both_ways(seed: int) -> None:
    rng = random.Random(seed)
    message = _chinese(rng, rng.randint(0, 600))
    ours = MsgCrypt(DING["token"], DING["key"], DING["rid"])
    theirs = PrpCrypto(WeChatCrypto(DING["token"], DING["key"], DING["rid"]).key)
    # wechatpy encrypts, huiliu decrypts
    assert ours.decrypt(theirs.encrypt(message, DING["rid"])) == message
    # huiliu encrypts, wechatpy decrypts
    assert theirs.decrypt(ours.encrypt(message), DING["rid"]) == message


def test_deterministic_ciphertext_equals_wechatpy() -> None:
    ours = MsgCrypt(DING["token"], DING["key"], DING["rid"])
    theirs = PrpCrypto(WeChatCrypto(DING["token"], DING["key"], DING["rid"]).key)
    message = "张三提交的报销申请，金额 ¥1,234.56"
    theirs.get_random_string = lambda: b"1234567890123456"  # type: ignore[method-assign]
    assert ours.encrypt(message, b"1234567890123456").encode() == theirs.encrypt(message, DING["rid"])


def test_length_prefix_counts_bytes_not_characters() -> None:
    crypt = MsgCrypt(DING["token"], DING["key"], DING["rid"])
    text = "中" * 1000
    assert crypt.decrypt(crypt.encrypt(text)) == text


def test_rejections() -> None:
    crypt = MsgCrypt(DING["token"], DING["key"], DING["rid"])
    other = MsgCrypt(DING["token"], DING["key"], "ding-someone-else")
    env = crypt.seal("hello", "1608001896814", "nonce")
    with pytest.raises(CryptoError) as bad_sig:
        crypt.open("0" * 40, env["timeStamp"], env["nonce"], env["encrypt"])
    assert bad_sig.value.reason == "bad_signature"
    with pytest.raises(CryptoError) as wrong_rid:
        other.decrypt(env["encrypt"])
    assert wrong_rid.value.reason == "wrong_receiver"
    with pytest.raises(CryptoError) as truncated:
        crypt.decrypt(env["encrypt"][:-8])
    assert truncated.value.reason == "bad_ciphertext"
    with pytest.raises(CryptoError) as garbage:
        crypt.decrypt("!!!not base64!!!")
    assert garbage.value.reason == "bad_ciphertext"
    wrong_key = MsgCrypt(DING["token"], "A" * 43, DING["rid"])
    with pytest.raises(CryptoError):
        wrong_key.decrypt(env["encrypt"])


def test_bad_key_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="43"):
        MsgCrypt("t", "short", "r")
