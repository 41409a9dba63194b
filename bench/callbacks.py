"""Callback verification speed: how many vendor callbacks one core checks and decrypts per second.

For each OA, a few thousand real-shaped events (DingTalk JSON, WeCom XML, Feishu JSON; Chinese text in
them) are sealed the way the vendor seals them, then opened by the hub's codec — signature check,
freshness check, AES decryption, parsing — in one thread. This is the CPU cost a webhook pays before it
stores the event; storing it is measured by ``bench/e2e.py``.

    .venv/bin/python bench/callbacks.py [--events 5000]
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Callable

from huiliu.connectors import dingtalk, feishu, wecom
from huiliu.crypto import MsgCrypt
from huiliu.model import SystemClock
from huiliu.sandbox.feishu import seal as feishu_seal

TOKEN, AES = "tok" + secrets.token_hex(4), "".join(secrets.choice("abcdefghijkLMNOP0123456789") for _ in range(43))


def dingtalk_case(n: int) -> tuple[Callable[[int], object], list[tuple[dict[str, str], bytes]]]:
    settings = dingtalk.DingTalkSettings(app_key="dingbench", app_secret="s", corp_id="dingcorp",
                                         callback_token=TOKEN, aes_key=AES, writeback_user_id="u")
    crypt, codec = MsgCrypt(TOKEN, AES, "dingbench"), dingtalk.CallbackCodec(settings, SystemClock())
    now = str(int(time.time() * 1000))
    sealed = []
    for i in range(n):
        event = json.dumps({"EventType": "bpms_instance_change", "processInstanceId": f"inst-{i}", "corpId": "dc",
                            "processCode": "PROC-EXPENSE", "title": "李娜提交的报销申请", "type": "finish",
                            "result": "agree", "staffId": "manager75", "createTime": 1, "finishTime": 2},
                           ensure_ascii=False)
        env = crypt.seal(event, now, f"n{i}")
        sealed.append(({"msg_signature": env["msg_signature"], "timeStamp": now, "nonce": f"n{i}"},
                       json.dumps({"encrypt": env["encrypt"]}).encode()))
    return lambda i: codec.open(*sealed[i]), sealed


def wecom_case(n: int) -> tuple[Callable[[int], object], list[tuple[dict[str, str], bytes]]]:
    settings = wecom.WeComSettings(corp_id="wwbench", corp_secret="s", agent_id=1,
                                   callback_token=TOKEN, encoding_aes_key=AES)
    crypt, codec = MsgCrypt(TOKEN, AES, "wwbench"), wecom.CallbackCodec(settings, SystemClock())
    now = str(int(time.time()))
    sealed = []
    for i in range(n):
        xml = ("<xml><ToUserName><![CDATA[wwbench]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
               f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
               "<Event><![CDATA[sys_approval_change]]></Event><AgentID>1</AgentID>"
               f"<ApprovalInfo><SpNo>20261126{i:04d}</SpNo><SpName><![CDATA[费用报销]]></SpName><SpStatus>2</SpStatus>"
               "<TemplateId><![CDATA[T1]]></TemplateId><ApplyTime>1764100000</ApplyTime><Applyer><UserId>"
               "<![CDATA[lina]]></UserId><Party><![CDATA[2]]></Party></Applyer><SpRecord><SpStatus>2</SpStatus>"
               "<ApproverAttr>1</ApproverAttr><Details><Approver><UserId><![CDATA[wangqiang]]></UserId></Approver>"
               "<Speech><![CDATA[同意]]></Speech><SpStatus>2</SpStatus><SpTime>1764100100</SpTime></Details>"
               "</SpRecord><StatuChangeEvent>2</StatuChangeEvent></ApprovalInfo></xml>")
        encrypt = crypt.encrypt(xml)
        query = {"msg_signature": crypt.sign(now, f"n{i}", encrypt), "timestamp": now, "nonce": f"n{i}"}
        body = f"<xml><ToUserName><![CDATA[wwbench]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        sealed.append((query, body.encode()))
    return lambda i: codec.open(*sealed[i]), sealed


def feishu_case(n: int) -> tuple[Callable[[int], object], list[tuple[dict[str, str], bytes]]]:
    key = secrets.token_hex(16)
    settings = feishu.FeishuSettings(app_id="cli_bench", app_secret="s", verification_token=TOKEN,
                                     encrypt_key=key)
    codec = feishu.EventCodec(settings, SystemClock())
    now = time.time()
    sealed = []
    for i in range(n):
        event = json.dumps({"ts": f"{now:.7f}", "uuid": secrets.token_hex(16), "token": TOKEN,
                            "type": "event_callback",
                            "event": {"app_id": "cli_bench", "tenant_key": "t", "type": "approval_instance",
                                      "approval_code": "7C468A54", "instance_code": f"INST-{i}",
                                      "status": "APPROVED", "operate_time": str(int(now * 1000)),
                                      "instance_operate_time": str(int(now * 1000))}}, ensure_ascii=False)
        body, headers = feishu_seal(event, key, str(int(now)), f"n{i}")
        sealed.append((headers, body))
    return lambda i: codec.open(*sealed[i]), sealed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    for name, case in (("dingtalk", dingtalk_case), ("wecom", wecom_case), ("feishu", feishu_case)):
        open_one, sealed = case(args.events)
        open_one(0)  # warm up
        started = time.process_time()
        for i in range(len(sealed)):
            open_one(i)
        cpu = time.process_time() - started
        print(f"{name:9} {len(sealed) / cpu:8,.0f} callbacks verified and decrypted per CPU-second "
              f"({cpu / len(sealed) * 1e6:.0f} µs each)")


if __name__ == "__main__":
    main()
