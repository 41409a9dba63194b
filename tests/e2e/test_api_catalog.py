"""The catalog API over real HTTP against the demo stack: flows and their versions, validation of pasted
flows, connectors (no secret shown, a real health check), the crosswalk, the event log, the queue, and
runs by system — with a clear bilingual 4xx for every bad input."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import BaseModel, SecretStr

from huiliu.cli.demo import DemoStack
from huiliu.service import TEMPLATES
from huiliu.testing.rig import free_port

FLOW = "expense-claim-to-voucher"
OLD = "已生成金蝶凭证"
NEW = "凭证已入账（第二版）"


async def get(http: aiohttp.ClientSession, url: str, **params: Any) -> tuple[int, Any]:
    async with http.get(url, params={k: str(v) for k, v in params.items()}) as resp:
        return resp.status, await resp.json()


async def post(http: aiohttp.ClientSession, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.post(url, json=body) as resp:
        return resp.status, await resp.json()


def bilingual(body: dict[str, Any], *words: str) -> None:
    """A 4xx body: Chinese first, English alongside, with the words that say what to do."""
    assert body["message"] and body["message_en"] and body["message"] != body["message_en"], body
    assert any("\u4e00" <= c <= "\u9fff" for c in body["message"]), body
    for word in words:
        assert word in body["message_en"], (word, body)


def secrets_of(value: Any) -> list[str]:
    """Every secret value in a settings tree."""
    if isinstance(value, SecretStr):
        return [value.get_secret_value()] if value.get_secret_value() else []
    if isinstance(value, BaseModel):
        return [s for name in type(value).model_fields for s in secrets_of(getattr(value, name))]
    return []


async def test_flows_their_versions_a_diff_and_runs_by_system(make_stack: Callable[..., DemoStack],
                                                              tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    v1 = (TEMPLATES / "expense_claim_voucher.yaml").read_text(encoding="utf-8")
    (flows / "expense.yaml").write_text(v1, encoding="utf-8")
    async with make_stack(settings={"flows_dir": flows, "flows_reload_interval": 0}) as stack:
        hub = stack.hub
        assert hub is not None
        stack.submit(stack.company.claim(approve_rate=1.0))
        assert await stack.settle(expected_runs=1, timeout=30)
        base = f"http://127.0.0.1:{stack.port}/api"
        async with aiohttp.ClientSession(headers=stack.api_headers("viewer")) as http:
            status, body = await get(http, f"{base}/flows")
            assert status == 200
            [flow] = body["items"]
            assert flow["id"] == FLOW and flow["version"] == "1" and flow["step_count"] == 5
            assert flow["systems"] == ["dingtalk", "feishu", "kingdee", "wecom"]
            assert flow["trigger"]["kind"] == "events" and "dingtalk.approval.approved" in flow["trigger"]["events"]
            assert flow["source"].endswith("expense.yaml")
            status, detail = await get(http, f"{base}/flows/{FLOW}")
            assert status == 200 and detail["text"] == v1
            assert [(s["id"], s["kind"]) for s in detail["steps"]] == [
                ("employee", "lookup"), ("claim", "map"), ("voucher", "voucher"), ("post_voucher", "call"),
                ("write_back", "call")]
            first_digest = detail["digest"]

            (flows / "expense.yaml").write_text(v1.replace(OLD, NEW).replace('version: "1"', 'version: "2"'),
                                                encoding="utf-8")
            assert hub.catalog.reload_if_changed() is not None
            status, body = await get(http, f"{base}/flows/{FLOW}/versions")
            assert status == 200
            assert [(v["version"], v["current"], v["runs"]) for v in body["items"]] == [("2", True, 0),
                                                                                       ("1", False, 1)]
            assert body["items"][1]["digest"] == first_digest

            status, diff = await get(http, f"{base}/flows/{FLOW}/diff", old=first_digest[:8])
            assert status == 200 and diff["old"]["version"] == "1" and diff["new"]["version"] == "2"
            assert {"zh": "修改步骤 `write_back`：", "en": "step `write_back` changed:"} in diff["changes"]
            changed = [c["diff"] for c in diff["changes"] if "diff" in c]
            assert any(line.startswith("-") and OLD in line for line in changed)
            assert any(line.startswith("+") and NEW in line for line in changed)
            assert any(c.get("en", "").startswith("field version") for c in diff["changes"])
            status, same = await get(http, f"{base}/flows/{FLOW}/diff", old="1", new="2")
            assert status == 200 and same["changes"] == diff["changes"]

            status, body = await get(http, f"{base}/flows/{FLOW}/diff", old="3da3d")  # too short to be a prefix
            assert status == 404
            bilingual(body, "has no version", "at least 6")
            status, body = await get(http, f"{base}/flows/no-such-flow")
            assert status == 404
            bilingual(body, "not loaded", FLOW)
            status, body = await get(http, f"{base}/flows/no-such-flow/versions")
            assert status == 404
            status, body = await get(http, f"{base}/flows/{FLOW}/diff")
            assert status == 422  # old is required

            status, body = await get(http, f"{base}/runs", system="kingdee")
            assert status == 200 and [r["flow_id"] for r in body["items"]] == [FLOW]
            status, body = await get(http, f"{base}/runs", system="hub")  # known (hub actions), no flow touches it
            assert status == 200 and body["items"] == []
            status, body = await get(http, f"{base}/runs", system="sap")
            assert status == 400
            bilingual(body, "unknown system", "kingdee")


BAD_ACTION = """\
id: bad-action
version: "1"
title: 一个调用了不存在动作的流程
trigger:
  event: dingtalk.approval.approved
steps:
  - id: post
    call: kingdee.vouchr.create
    with: {}
"""


async def test_validate_reports_lines_and_columns_and_never_fails_on_hostile_yaml(
        make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        url = f"http://127.0.0.1:{stack.port}/api/flows/validate"
        async with aiohttp.ClientSession(headers=stack.api_headers("integrator")) as http:
            good = (TEMPLATES / "expense_claim_voucher.yaml").read_text(encoding="utf-8")
            assert await post(http, url, {"text": good}) == (200, {"valid": True, "errors": []})

            status, body = await post(http, url, {"text": "id: x\nsteps:\n  - id: [oops\n", "name": "坏.yaml"})
            assert status == 200 and body["valid"] is False
            [error] = body["errors"]
            assert error["line"] == 4 and error["column"] == 1 and error["where"] == "坏.yaml:4:1"
            assert error["message_zh"].startswith("YAML 语法错误") and error["message_en"].startswith("YAML syntax")
            assert error["fix_zh"] and error["fix_en"]

            status, body = await post(http, url, {"text": BAD_ACTION})
            assert status == 200 and body["valid"] is False
            [error] = body["errors"]
            assert error["line"] == 8 and "kingdee.vouchr.create" in error["message_en"]
            assert "kingdee.voucher.create" in (error["fix_en"] or "")  # the closest known action

            bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
                f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                for p, c in zip("abcdefgh", "bcdefghi", strict=True))
            for hostile in (bomb, "[" * 5000, "id: \x00\n", "!!python/object:os.system x\n",
                            "id: !!timestamp x\n", "- " * 3000):
                status, body = await post(http, url, {"text": hostile})
                assert status == 200 and body["valid"] is False and body["errors"], hostile[:40]
            # a lone surrogate is not JSON a UTF-8 reply can quote: once a 500, now a 422 that quotes nothing
            for target, body_in in ((url, {"text": "id: \ud800\n"}),
                                    (f"http://127.0.0.1:{stack.port}/api/auth/login",
                                     {"name": "x", "password": "secret-\ud800-pw"})):
                async with http.post(target, data=json.dumps(body_in), headers={"Content-Type": "application/json"}) \
                        as resp:
                    assert resp.status == 422
                    raw = await resp.text()
                bilingual(json.loads(raw), "invalid request")
                assert "secret-" not in raw and "input" not in json.loads(raw)["errors"][0]
            status, body = await post(http, url, {"text": "x" * 300_000})
            assert status == 200 and "too large" in body["errors"][0]["message_en"]

            status, body = await post(http, url, {"text": "x" * 1_000_001})
            assert status == 422
            bilingual(body, "at most 1000000 characters")
            assert body["where"] == "body.text"
            for bad in ({"text": "id: x", "name": "../../etc/passwd"}, {"name": "x.yaml"}, {"text": 1},
                        {"text": "x", "extra": True}):
                status, body = await post(http, url, bad)
                assert status == 422, bad
                bilingual(body, "invalid request")
        async with aiohttp.ClientSession(headers=stack.api_headers("viewer")) as http:
            status, _ = await post(http, url, {"text": good})
            assert status == 403  # validating is the integrators' work


async def test_connectors_show_no_secret_and_are_checked_for_real(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        hub = stack.hub
        assert hub is not None
        base = f"http://127.0.0.1:{stack.port}/api"
        async with aiohttp.ClientSession(headers=stack.api_headers("admin")) as http:
            async with http.get(f"{base}/connectors") as resp:
                assert resp.status == 200
                raw = await resp.text()
            secrets = secrets_of(hub.settings.dingtalk) + secrets_of(hub.settings.kingdee)
            assert len(secrets) >= 4
            for secret in secrets:
                assert secret not in raw
            items = {c["name"]: c for c in json.loads(raw)["items"]}
            assert set(items) == {"dingtalk", "kingdee"}
            assert items["dingtalk"]["kind"] == "OA" and items["kingdee"]["kind"] == "ERP"
            assert items["kingdee"]["config"]["password"] == "***"
            assert items["kingdee"]["config"]["username"] == "huiliu"  # what is not secret is shown
            assert items["dingtalk"]["config"]["app_secret"] == "***"
            assert items["dingtalk"]["config"]["aes_key"] == "***"
            assert "kingdee.voucher.create" in items["kingdee"]["actions"]
            assert all(a.startswith("dingtalk.") for a in items["dingtalk"]["actions"])
            assert items["kingdee"]["last_check"] is None

            for name in ("kingdee", "dingtalk"):
                status, check = await post(http, f"{base}/connectors/{name}/check")
                assert status == 200 and check["ok"] is True and check["error"] is None, check
                assert check["system"] == name and check["latency_ms"] >= 0
                assert datetime.fromisoformat(check["checked_at"]).tzinfo is not None
            _, listed = await get(http, f"{base}/connectors")
            last = {c["name"]: c["last_check"] for c in listed["items"]}
            assert last["kingdee"]["ok"] is True and last["dingtalk"]["operation"] == "accessToken"

            settings = hub.settings
            assert settings.kingdee is not None and settings.dingtalk is not None
            hub.settings = settings.model_copy(update={
                "kingdee": settings.kingdee.model_copy(update={"password": SecretStr("wrong-password")}),
                "dingtalk": settings.dingtalk.model_copy(update={"app_secret": SecretStr("wrong-secret")})})
            status, check = await post(http, f"{base}/connectors/kingdee/check")
            assert status == 200 and check["ok"] is False
            assert check["error"]["vendor_message"], check  # Kingdee's own words
            assert check["error"]["message"] and check["error"]["message_en"]
            status, check = await post(http, f"{base}/connectors/dingtalk/check")
            assert status == 200 and check["ok"] is False and check["error"]["vendor_message"], check
            _, listed = await get(http, f"{base}/connectors")
            assert {c["name"]: c["last_check"]["ok"] for c in listed["items"]} == {"kingdee": False,
                                                                                  "dingtalk": False}

            hub.settings = settings.model_copy(update={"kingdee": settings.kingdee.model_copy(
                update={"base_url": f"http://127.0.0.1:{free_port()}"})})  # nothing listens there: stopped
            started = time.monotonic()
            status, check = await post(http, f"{base}/connectors/kingdee/check")
            assert status == 200 and check["ok"] is False and check["error"]["kind"] == "no_reply", check
            assert "connection failed" in check["error"]["message_en"]
            assert time.monotonic() - started < 10
            hub.settings = settings

            status, body = await post(http, f"{base}/connectors/odoo/check")
            assert status == 404
            bilingual(body, "not configured", "dingtalk, kingdee")
            status, body = await post(http, f"{base}/connectors/{'x' * 300}/check")
            assert status == 404


async def test_a_stopped_sandbox_fails_the_check(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        base = f"http://127.0.0.1:{stack.port}/api"
        async with aiohttp.ClientSession(headers=stack.api_headers("integrator")) as http:
            status, check = await post(http, f"{base}/connectors/kingdee/check")
            assert status == 200 and check["ok"] is True
            await stack._kd_srv.stop()  # the ERP goes away (stopping again on exit does nothing)
            status, check = await post(http, f"{base}/connectors/kingdee/check")
            assert status == 200 and check["ok"] is False and check["error"]["where"] == "kingdee.ValidateUser", check
            assert check["error"]["kind"] == "no_reply" and "connection failed" in check["error"]["message_en"]


async def test_crosswalk_events_and_the_queue(make_stack: Callable[..., DemoStack]) -> None:
    async with make_stack(worker=False) as stack:
        hub = stack.hub
        assert hub is not None
        base = f"http://127.0.0.1:{stack.port}/api"
        async with aiohttp.ClientSession(headers=stack.api_headers("viewer")) as http:
            # the queue, before a worker runs: the callback waits as a message
            instance = stack.submit(stack.company.claim(approve_rate=1.0))
            deadline = time.monotonic() + 20
            while True:
                _, queued = await get(http, f"{base}/messages", topic="oa.event")
                if queued["items"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            [message] = queued["items"]
            assert message["key"] == instance and message["attempts"] == 0 and message["lease_owner"] is None
            assert "payload" not in message
            status, full = await get(http, f"{base}/messages/{message['id']}")
            assert status == 200 and full["payload"]["instance_id"] == instance and full["attempt_log"] == []
            _, other = await get(http, f"{base}/messages", topic="oa.event", key="no-such-key")
            assert other["items"] == []
            status, body = await get(http, f"{base}/messages/{message['id'] + 1000}")
            assert status == 404
            bilingual(body, "not found", "/api/messages")
            for bad in ("0", "abc"):
                status, _ = await get(http, f"{base}/messages/{bad}")
                assert status == 422
            for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
                status, body = await get(http, f"{base}/messages", **params)
                assert status == 422
                bilingual(body, "invalid request")

            stack.start_worker()
            second = stack.submit(stack.company.claim(approve_rate=1.0))
            assert await stack.settle(expected_runs=2, timeout=30)
            _, queued = await get(http, f"{base}/messages")
            assert queued["items"] == []

            # the crosswalk: each approval linked to its voucher
            _, listed = await get(http, f"{base}/runs")
            run_ids = {r["business_key"]: r["id"] for r in listed["items"]}
            assert set(run_ids) == {instance, second}
            _, trace = await get(http, f"{base}/runs/{run_ids[instance]}")
            number = trace["run"]["context"]["steps"]["post_voucher"]["number"]
            _, vouchers = await get(http, f"{base}/crosswalk", entity="approval", system="kingdee")
            assert len(vouchers["items"]) == 2 and {v["native_type"] for v in vouchers["items"]} == {"GL_VOUCHER"}
            _, found = await get(http, f"{base}/crosswalk", native_number=number)
            [link] = found["items"]
            assert link["system"] == "kingdee" and link["entity"] == "approval"
            _, both = await get(http, f"{base}/crosswalk", golden_id=link["golden_id"])
            assert {(x["system"], x["native_id"]) for x in both["items"]} >= {("dingtalk", instance)}
            _, page = await get(http, f"{base}/crosswalk", entity="employee", limit=3, offset=1)
            assert len(page["items"]) == 3 and page["offset"] == 1
            status, body = await get(http, f"{base}/crosswalk", limit=501)
            assert status == 422

            # the event log
            run_id = run_ids[instance]
            _, events = await get(http, f"{base}/events", run_id=run_id, limit=500)
            assert events["items"] and {e["run_id"] for e in events["items"]} == {run_id}
            ids = [e["id"] for e in events["items"]]
            assert ids == sorted(ids, reverse=True)
            assert {e["activity"] for e in events["items"]} >= {"effect.kingdee.voucher.create", "run.succeeded"}
            _, effects = await get(http, f"{base}/events", activity="effect.", limit=500)
            assert len(effects["items"]) == 4 and all(e["activity"].startswith("effect.") for e in effects["items"])
            created = [e for e in effects["items"] if e["activity"] == "effect.kingdee.voucher.create"]
            assert {e["detail"]["result"]["number"] for e in created} >= {number}  # detail decoded
            _, kd = await get(http, f"{base}/events", system="kingdee", case_id=instance, limit=500)
            assert kd["items"] and all(e["system"] == "kingdee" and e["case_id"] == instance for e in kd["items"])
            _, exact = await get(http, f"{base}/events", activity="effect", limit=5)
            assert exact["items"] == []  # without a trailing '.' or '*' the name is exact
            _, literal = await get(http, f"{base}/events", activity="run_%*")
            assert literal["items"] == []  # % and _ are not wildcards

            _, everything = await get(http, f"{base}/events", limit=500)
            all_ids = [e["id"] for e in everything["items"]]
            seen: list[int] = []
            before: int | None = None
            while True:
                params: dict[str, Any] = {"limit": 7, **({"before_id": before} if before else {})}
                _, page = await get(http, f"{base}/events", **params)
                seen += [e["id"] for e in page["items"]]
                before = page["next_before_id"]
                if before is None:
                    break
            assert seen == all_ids
            future = datetime.now(UTC) + timedelta(hours=1)
            _, none = await get(http, f"{base}/events", since=future.isoformat())
            assert none["items"] == []
            _, naive = await get(http, f"{base}/events", until=future.replace(tzinfo=None).isoformat(), limit=500)
            assert len(naive["items"]) == len(all_ids)  # a naive time is UTC
            _, failed = await get(http, f"{base}/events", outcome="failed")
            assert failed["items"] == []
            for params in ({"before_id": 0}, {"limit": 0}, {"since": "yesterday"}):
                status, body = await get(http, f"{base}/events", **params)
                assert status == 422, params
                bilingual(body, "invalid request")


async def test_values_the_database_cannot_hold_are_a_4xx_not_a_500(make_stack: Callable[..., DemoStack]) -> None:
    """Regressions found by schemathesis: an id beyond the integer column (SQLite's OverflowError, PostgreSQL's
    out of range) and a NUL character (PostgreSQL refuses it in text) were 500s."""
    async with make_stack(worker=False) as stack:
        base = f"http://127.0.0.1:{stack.port}/api"
        async with aiohttp.ClientSession(headers=stack.api_headers("admin")) as http:
            huge = 2**40
            for method, path in (("GET", f"/dead-letters/{huge}"), ("POST", f"/dead-letters/{huge}/replay"),
                                 ("GET", f"/messages/{huge}")):
                async with http.request(method, f"{base}{path}") as resp:
                    assert resp.status == 422, path
                    bilingual(await resp.json(), "invalid request")
            status, body = await get(http, f"{base}/events", before_id=huge)
            assert status == 422
            status, body = await post(http, f"{base}/dead-letters/replay", {"reason": "\u0000"})
            assert status in (200, 422)  # SQLite keeps a NUL; PostgreSQL cannot
            if status == 422:
                bilingual(body, "cannot hold")
            for path, params in (("/crosswalk", {"entity": "\u0000"}), ("/events", {"case_id": "a\u0000b"}),
                                 ("/messages", {"topic": "\u0000"}), ("/runs", {"flow": "\u0000"})):
                status, body = await get(http, f"{base}{path}", **params)
                assert status == 422 or (status == 200 and body["items"] == []), (path, status)
