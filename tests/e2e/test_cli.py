"""The command line as a user runs it: the demo, flow validation, and bad arguments or settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from huiliu.service import TEMPLATES

HUILIU = str(Path(sys.executable).with_name("huiliu"))


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUILIU_")}
    return subprocess.run([HUILIU, *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True,
                          timeout=180, check=False)


@pytest.mark.slow
def test_demo_runs_and_prints_a_summary_that_adds_up(tmp_path: Path) -> None:
    result = run("demo", "--claims", "40", "--db", "demo.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "汇流演示结果" in out
    approved = int(out.split("通过 ")[1].split(" ")[0])
    line = next(line for line in out.splitlines() if "生成凭证" in line)
    assert int(line.split()[-1]) == approved
    line = next(line for line in out.splitlines() if "流程完成" in line)
    assert int(line.split()[-1]) == approved
    assert (tmp_path / "demo.db").exists()
    wecom = run("demo", "--oa", "wecom", "--claims", "12", "--db", "wecom.db", cwd=tmp_path)
    assert wecom.returncode == 0, wecom.stderr
    approved = int(wecom.stdout.split("通过 ")[1].split(" ")[0])
    line = next(line for line in wecom.stdout.splitlines() if "已审核凭证" in line)
    assert int(line.split()[-1]) == approved
    no_oa = run("directory", "sync", "--oa", "weaver", cwd=tmp_path)
    assert no_oa.returncode == 2
    assert "无法同步 weaver 的通讯录" in no_oa.stderr
    unknown = run("demo", "--oa", "weaver", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "未知的 OA：weaver" in unknown.stderr and "dingtalk、wecom、feishu" in unknown.stderr
    english = run("--lang", "en", "demo", "--claims", "5", "--db", "demo2.db", cwd=tmp_path)
    assert english.returncode == 0, english.stderr
    assert "vouchers created (Kingdee)" in english.stdout


def test_flow_validate_accepts_the_templates_and_names_the_line_of_a_typo(tmp_path: Path) -> None:
    ok = run("flow", "validate", str(TEMPLATES), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "有效" in ok.stdout
    text = (TEMPLATES / "expense_claim_voucher.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("account:"))
    lines[index] = lines[index].replace("account:", "acount:")
    bad = tmp_path / "typo.yaml"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("flow", "validate", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert f"typo.yaml:{index + 1}:" in result.stderr
    assert "acount" in result.stderr
    english = run("--lang", "en", "flow", "validate", str(bad), cwd=tmp_path)
    assert "error(s)" in english.stderr


def test_bad_arguments_and_settings_are_clear_errors(tmp_path: Path) -> None:
    missing = run("flow", "validate", "no-such-dir", cwd=tmp_path)
    assert missing.returncode == 2
    assert "找不到" in missing.stderr
    bad_arg = run("demo", "--claims", "0", cwd=tmp_path)
    assert bad_arg.returncode == 2
    assert "--claims" in bad_arg.stderr
    bad_env = run("worker", cwd=tmp_path, HUILIU_WORKER_CONCURRENCY="lots")
    assert bad_env.returncode == 2
    assert "HUILIU_WORKER_CONCURRENCY" in bad_env.stderr
    bad_url = run("worker", cwd=tmp_path, HUILIU_DATABASE_URL="nonsense://")
    assert bad_url.returncode == 2
    assert "HUILIU_DATABASE_URL" in bad_url.stderr
    sqlite = f"sqlite:///{tmp_path / 'x.db'}"
    kafka = run("worker", cwd=tmp_path, HUILIU_DATABASE_URL=sqlite, HUILIU_TRANSPORT="kafka")
    assert kafka.returncode == 2
    assert "HUILIU_TRANSPORT" in kafka.stderr
    no_url = run("worker", cwd=tmp_path, HUILIU_DATABASE_URL=sqlite, HUILIU_TRANSPORT="rabbitmq")
    assert no_url.returncode == 2
    assert "HUILIU_BROKER_URL" in no_url.stderr
    no_broker = run("worker", cwd=tmp_path, HUILIU_DATABASE_URL=sqlite, HUILIU_TRANSPORT="rabbitmq",
                    HUILIU_BROKER_URL="amqp://guest:guest@127.0.0.1:1/")
    assert no_broker.returncode == 2
    assert "无法连接消息代理" in no_broker.stderr
    assert "Traceback" not in no_broker.stderr
    unreachable = run("worker", cwd=tmp_path, HUILIU_DATABASE_URL="postgresql+psycopg://hl:s3cr3t@127.0.0.1:1/x")
    assert unreachable.returncode == 2
    assert "无法连接数据库" in unreachable.stderr
    assert "s3cr3t" not in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_deadletters_commands(tmp_path: Path) -> None:
    from huiliu.bus import DbTransport
    from huiliu.store import Database

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    db = Database(url)
    db.migrate()
    transport = DbTransport(db)
    with db.begin() as conn:
        for i in range(3):
            transport.bury(conn, topic="effect", key=f"实例-{i}", payload={"outbox_id": f"o{i}"},
                           reason="vendor_rejected", error=f"金蝶：FACCOUNTID：科目 66{i} 不存在", attempts=2)
    db.dispose()
    env = {"HUILIU_DATABASE_URL": url}
    listed = run("deadletters", "list", cwd=tmp_path, **env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("vendor_rejected") == 3 + 1  # three rows and the count line
    assert "实例-1" in listed.stdout
    assert "科目 661 不存在" in listed.stdout
    shown = run("deadletters", "show", "2", cwd=tmp_path, **env)
    assert shown.returncode == 0
    assert "业务键：实例-1" in shown.stdout and "科目 661 不存在" in shown.stdout  # explained, in Chinese
    raw = run("deadletters", "show", "2", "--json", cwd=tmp_path, **env)
    assert raw.returncode == 0
    assert '"key": "实例-1"' in raw.stdout
    replayed = run("deadletters", "replay", "1", cwd=tmp_path, **env)
    assert replayed.returncode == 0, replayed.stderr
    assert "已重放 1 条" in replayed.stdout
    discarded = run("deadletters", "discard", "2", "--note", "已在金蝶手工录入", cwd=tmp_path, **env)
    assert discarded.returncode == 0, discarded.stderr
    remaining = run("--lang", "en", "deadletters", "list", cwd=tmp_path, **env)
    assert "open dead letters: vendor_rejected 1" in remaining.stdout
    # bad input: clear errors, nothing changed
    for args, expected in [
        (("deadletters", "replay"), "没有指定"),
        (("deadletters", "replay", "1"), "已处理过"),
        (("deadletters", "show", "42"), "不存在"),
        (("deadletters", "replay", "--since", "yesterday"), "时间格式无效"),
        (("deadletters", "discard", "3"), "--note"),
        (("flow", "redrive", "expense-claim-to-voucher", "--since", "last week"), "时间格式无效"),
    ]:
        result = run(*args, cwd=tmp_path, **env)
        assert result.returncode == 2, args
        assert expected in result.stderr, (args, result.stderr)
    after = run("deadletters", "list", cwd=tmp_path, **env)
    assert "vendor_rejected 1" in after.stdout


FIXTURE = TEMPLATES / "fixtures" / "expense_claim_voucher.yaml"
EXPENSE = TEMPLATES / "expense_claim_voucher.yaml"


def test_flow_test_runs_the_template_on_its_fixture_and_catches_a_changed_rule(tmp_path: Path) -> None:
    passed = run("flow", "test", str(EXPENSE), "--fixture", str(FIXTURE), cwd=tmp_path)
    assert passed.returncode == 0, passed.stderr
    assert "通过：5 个步骤" in passed.stdout and "· voucher（voucher）输出" in passed.stdout
    assert "已生成金蝶凭证 记-0001" in passed.stdout
    changed = tmp_path / "expense.yaml"  # finance moves 交通费 to another account: the test must notice
    changed.write_text(EXPENSE.read_text(encoding="utf-8").replace('交通费: "6602.04"', '交通费: "6602.09"'),
                       encoding="utf-8")
    failed = run("flow", "test", str(changed), "--fixture", str(FIXTURE), cwd=tmp_path)
    assert failed.returncode == 1
    assert "post_voucher.voucher.lines[1].account：应为 '6602.04'，实际 '6602.09'" in failed.stderr
    no_result = tmp_path / "fixture.yaml"
    no_result.write_text(FIXTURE.read_text(encoding="utf-8").replace("  post_voucher: {id:", "  other: {id:"),
                         encoding="utf-8")
    missing = run("flow", "test", str(EXPENSE), "--fixture", str(no_result), cwd=tmp_path)
    assert missing.returncode == 1 and "步骤 `post_voucher`（kingdee.voucher.create）没有录制的结果" in missing.stderr
    bad = run("flow", "test", str(EXPENSE), "--fixture", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert bad.returncode == 2 and "无法读取测试数据" in bad.stderr


def test_flow_diff_names_changed_added_and_removed_steps(tmp_path: Path) -> None:
    text = EXPENSE.read_text(encoding="utf-8")
    new = tmp_path / "v2.yaml"
    new.write_text(text.replace('version: "1"', 'version: "2"').replace('交通费: "6602.04"', '交通费: "6602.09"')
                   .replace("  - id: write_back", "  - id: notify"), encoding="utf-8")
    out = run("flow", "diff", str(EXPENSE), str(new), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "字段 version：'1' → '2'" in out.stdout
    assert "修改步骤 `voucher`" in out.stdout and "+" in out.stdout and "6602.09" in out.stdout
    assert "新增步骤 `notify`" in out.stdout and "删除步骤 `write_back`" in out.stdout
    same = run("flow", "diff", str(EXPENSE), str(EXPENSE), cwd=tmp_path)
    assert "两个版本相同" in same.stdout
    assert run("flow", "diff", str(EXPENSE), str(tmp_path / "none.yaml"), cwd=tmp_path).returncode == 2


def test_flow_schema_is_json_schema_an_editor_can_use(tmp_path: Path) -> None:
    import json

    out = run("flow", "schema", cwd=tmp_path)
    schema = json.loads(out.stdout)
    assert schema["title"] == "FlowSpec" and {"id", "trigger", "steps"} <= set(schema["required"])
    assert "StepSpec" in schema["$defs"] and schema["additionalProperties"] is False


def test_flow_start_starts_a_manual_flow_once_per_key(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "month.yaml").write_text("""\
id: month-end
version: "1"
title: 月结检查
trigger: {manual: true}
steps:
  - id: check
    map: {month: "{{ form['月份'] }}"}
""", encoding="utf-8")
    env = {"HUILIU_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}", "HUILIU_FLOWS_DIR": str(flows)}
    started = run("flow", "start", "month-end", "--key", "2026-11", "--input", "月份=2026年11月", cwd=tmp_path, **env)
    assert started.returncode == 0, started.stderr
    assert "已启动 month-end，业务键 month-end@2026-11" in started.stdout
    again = run("--lang", "en", "flow", "start", "month-end", "--key", "2026-11", cwd=tmp_path, **env)
    assert again.returncode == 0 and "was started before; not started again" in again.stdout
    from huiliu.store import Database, loads
    from huiliu.store.schema import inbox

    db = Database(env["HUILIU_DATABASE_URL"])
    with db.read() as conn:
        stored = dict(conn.execute(inbox.select().with_only_columns(inbox.c.type, inbox.c.payload)).all())
    db.dispose()
    assert loads(stored["manual.month-end"])["document"] == {"月份": "2026年11月"}  # Chinese intact
    finished = loads(stored["hub.flow.finished"])  # a map-only flow ends at once; its end is announced
    assert finished["status"] == "succeeded" and finished["steps"] == {"check": {"month": "2026年11月"}}
    for args, expected in [
        (("flow", "start", "month-end", "--input", "月份"), "名称=值"),
        (("flow", "start", "no-such-flow"), "month-end"),
    ]:
        result = run(*args, cwd=tmp_path, **env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert expected in result.stderr, (args, result.stderr)


def test_user_add_token_and_revoke(tmp_path: Path) -> None:
    from huiliu.identity.accounts import Accounts
    from huiliu.model import SystemClock
    from huiliu.store import Database

    env = {"HUILIU_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}
    added = subprocess.run([HUILIU, "user", "add", "王出纳", "--role", "integrator", "--password-stdin"],
                           input="足够长的密码-123\n", cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env={**{k: v for k, v in os.environ.items() if not k.startswith("HUILIU_")}, **env},
                           check=False)
    assert added.returncode == 0, added.stderr
    assert "已新建用户 王出纳（integrator）" in added.stdout
    issued = run("user", "token", "王出纳", "--label", "月结脚本", cwd=tmp_path, **env)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("hl_") and len(token) > 40
    db = Database(env["HUILIU_DATABASE_URL"])
    accounts = Accounts(SystemClock())
    with db.begin() as conn:
        who = accounts.by_token(conn, token)
        assert who is not None and (who.name, who.role) == ("王出纳", "integrator")
        principal, _ = accounts.login(conn, "王出纳", "足够长的密码-123")  # the password was stored, hashed
    assert principal.role == "integrator"
    revoked = run("user", "revoke", token[:10], cwd=tmp_path, **env)
    assert revoked.returncode == 0 and "已吊销 1 个令牌" in revoked.stdout
    with db.begin() as conn:
        assert accounts.by_token(conn, token) is None
    db.dispose()
    for args, expected in [
        (("user", "token", "nobody"), "nobody"),
        (("user", "revoke", "hl_nothing"), "hl_nothing"),
        (("user", "add", "x", "--role", "root", "--password-stdin"), "root"),
    ]:
        result = run(*args, cwd=tmp_path, **env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert expected in result.stderr, (args, result.stderr)


@pytest.mark.slow
def test_demo_serve_opens_the_console_with_a_one_time_login(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUILIU_")}
    with subprocess.Popen([HUILIU, "demo", "--claims", "8", "--mistakes", "1", "--serve", "--db", "serve.db"],
                          cwd=tmp_path, env=clean, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:
        try:
            assert proc.stdout is not None
            line = ""
            for line in proc.stdout:  # the summary, then the console's address and login
                if "控制台：" in line:
                    break
            match = re.search(r"(http://[\d.]+:\d+)/console/ （用户 demo，密码 (\S+)，", line)
            assert match is not None, line
            site, password = match.groups()
            session = requests.Session()
            page = session.post(f"{site}/console/login", data={"name": "demo", "password": password}, timeout=10)
            assert page.status_code == 200 and page.url == f"{site}/console/"
            approved = re.search(r'data-key="approvals_today">(\d+)<', page.text)
            assert approved is not None and int(approved.group(1)) >= 1
            assert re.search(r'data-key="dead_letters_open">1<', page.text)  # the mistake, waiting for finance
            wrong = requests.post(f"{site}/console/login", data={"name": "demo", "password": "x" * 12}, timeout=10)
            assert wrong.status_code == 401
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_connectors_check_says_which_system_fails_and_why(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    none = run("connectors", "check", cwd=tmp_path, HUILIU_DATABASE_URL=db)
    assert none.returncode == 2 and "没有配置任何连接器" in none.stderr
    down = run("connectors", "check", cwd=tmp_path, HUILIU_DATABASE_URL=db,
               HUILIU_KINGDEE__BASE_URL="http://127.0.0.1:9", HUILIU_KINGDEE__ACCT_ID="HL001",
               HUILIU_KINGDEE__USERNAME="huiliu", HUILIU_KINGDEE__PASSWORD="secret-pw-123")
    assert down.returncode == 1 and down.stderr.startswith("kingdee: 连接失败")
    assert "secret-pw-123" not in down.stderr + down.stdout
    unknown = run("connectors", "check", "weaver", cwd=tmp_path, HUILIU_DATABASE_URL=db)
    assert unknown.returncode == 2 and "连接器 weaver 未配置" in unknown.stderr
