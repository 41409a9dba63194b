"""Typer application and its commands."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
import yaml
from pydantic import ValidationError

from huiliu.bus import DeadLetterFilter, DeadLetters
from huiliu.cli.explain import explain_lines
from huiliu.errors import ConfigError, HuiliuError, NotFound
from huiliu.flows import FlowSpec, diff_flows, load_flow, validate_path
from huiliu.i18n import Lang, Text, t
from huiliu.identity.accounts import ROLES, Accounts
from huiliu.service import SHIPPED_ACTIONS, Hub, Settings, health
from huiliu.service.catchup import PollReport
from huiliu.service.runs import Redrive
from huiliu.store import Database
from huiliu.store.codec import to_jsonable
from huiliu.web import create_app

__all__ = ["app", "main"]

_T = TypeVar("_T")

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="汇流 huiliu：ERP ⇄ OA 集成中枢 / ERP ⇄ OA integration hub")
flow_app = typer.Typer(no_args_is_help=True, help="流程文件 / flow files")
app.add_typer(flow_app, name="flow")
dead_app = typer.Typer(no_args_is_help=True, help="死信：查看、重放、丢弃 / dead letters: list, show, replay, discard")
app.add_typer(dead_app, name="deadletters")
app.add_typer(dead_app, name="dead-letters", hidden=True)
directory_app = typer.Typer(no_args_is_help=True, help="通讯录同步 / organisation directory")
app.add_typer(directory_app, name="directory")
connectors_app = typer.Typer(no_args_is_help=True, help="连接器与健康检查 / connectors and their health")
app.add_typer(connectors_app, name="connectors")
oa_app = typer.Typer(no_args_is_help=True, help="OA 审批补漏 / approvals from the OAs")
app.add_typer(oa_app, name="oa")

_state: dict[str, Lang] = {"lang": Lang.ZH}


def say(text: Text, *, err: bool = False) -> None:
    """Print a message in the chosen language."""
    typer.echo(text.render(_state["lang"]), err=err)


def fail(exc: HuiliuError, code: int = 2) -> typer.Exit:
    """Print an error and return the exit to raise."""
    typer.echo(("错误：" if _state["lang"] is Lang.ZH else "error: ") + exc.render(_state["lang"]), err=True)
    return typer.Exit(code)


def load_settings(**overrides: object) -> Settings:
    """Settings from ``HUILIU_*`` variables plus command-line overrides; a clear error if invalid."""
    try:
        settings = Settings()
        values = {k: v for k, v in overrides.items() if v is not None}
        return settings.model_copy(update=values) if values else settings
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise fail(HuiliuError(t(f"配置无效：{first['msg']}", f"invalid setting: {first['msg']}"),
                               where=f"HUILIU_{field.upper().replace('.', '__')}",
                               fix=t("检查该环境变量的值", "check that environment variable"))) from exc


@app.callback()
def _root(lang: Annotated[Lang, typer.Option("--lang", help="界面语言 zh | en")] = Lang.ZH,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="详细日志 / verbose logs")] = False) -> None:
    _state["lang"] = lang
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def demo(
    claims: Annotated[int, typer.Option(min=1, max=100_000, help="报销审批数 / number of expense claims")] = 200,
    db: Annotated[Path, typer.Option(help="SQLite 文件 / SQLite file")] = Path("huiliu-demo.db"),
    seed: Annotated[int, typer.Option(help="随机种子 / random seed")] = 7,
    serve_after: Annotated[bool, typer.Option("--serve", help="结束后保持 HTTP API 运行 / keep serving")] = False,
    port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP 端口（0=自动）")] = 0,
    timeout: Annotated[float, typer.Option(min=1, help="最长等待秒数 / seconds to wait at most")] = 300.0,
    rate: Annotated[float, typer.Option(
        min=0, help="每秒提交的审批数，0=一次全部提交 / claims per second, 0 = all at once")] = 0.0,
    oa: Annotated[str, typer.Option(help="OA 沙箱：dingtalk | wecom | feishu / the OA sandbox")] = "dingtalk",
    mistakes: Annotated[int, typer.Option(
        min=0, max=1000, help="另加 N 张金蝶会拒绝的报销单（科目不存在），用于演示死信修正 / "
                              "N more claims Kingdee refuses (missing account), to fix as dead letters")] = 0,
) -> None:
    """运行演示：OA 与金蝶沙箱、模拟公司、一批报销审批 / run the demo against local sandboxes."""
    from huiliu.cli.demo import OA_SYSTEMS, print_summary, run_demo  # noqa: PLC0415 - pulls in the sandboxes

    if oa not in OA_SYSTEMS:
        raise fail(ConfigError(t(f"未知的 OA：{oa}", f"unknown OA: {oa}"), where="--oa",
                               fix=t("可选 dingtalk、wecom、feishu", "choose dingtalk, wecom or feishu")))

    if db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    settings = load_settings(database_url=f"sqlite:///{db}", port=port)
    try:
        summary = asyncio.run(run_demo(settings, claims=claims, seed=seed, timeout=timeout,
                                       serve_after=serve_after, lang=_state["lang"], rate=rate,
                                       oa=oa, mistakes=mistakes))
    except HuiliuError as exc:
        raise fail(exc) from exc
    print_summary(summary, _state["lang"])
    say(t(f"数据库保留在 {db}，可用 sqlite3 查看", f"the database is kept at {db} for inspection"))
    if mistakes:
        say(t(f"有 {mistakes} 张报销单被金蝶拒绝，成为死信：HUILIU_DATABASE_URL=sqlite:///{db} huiliu deadletters "
              "show 编号 查看原因；--serve 运行时可用 correct 修正后重新推送",
              f"{mistakes} claims were refused by Kingdee and became dead letters: HUILIU_DATABASE_URL=sqlite:///{db} "
              "huiliu deadletters show ID explains them; with --serve, correct re-pushes them"))
    if summary.failed > mistakes or summary.missing:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="监听地址 / host")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535)] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="只接收，不处理 / API only")] = False,
) -> None:
    """启动 HTTP API 与回调（默认同时运行 worker）/ serve the API and webhooks."""
    settings = load_settings(host=host, port=port)
    try:
        asyncio.run(_serve(settings, with_worker=not no_worker))
    except HuiliuError as exc:
        raise fail(exc) from exc


async def _serve(settings: Settings, *, with_worker: bool) -> None:
    hub = Hub(settings)
    await hub.open(consume=with_worker)
    stop = asyncio.Event()
    worker_task = asyncio.create_task(hub.work(stop)) if with_worker else None
    stream_task = asyncio.create_task(hub.receive_stream(stop)) if hub.wants_stream() else None
    watch_task = None if with_worker else asyncio.create_task(hub.watch_flows(stop))  # work() watches too
    config = uvicorn.Config(create_app(hub), host=settings.host, port=settings.port, log_level="warning",
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    say(t(f"汇流已启动：http://{settings.host}:{settings.port}（Ctrl+C 停止）",
          f"huiliu is serving on http://{settings.host}:{settings.port} (Ctrl+C to stop)"))
    try:
        await server.serve()
    finally:
        stop.set()
        if worker_task is not None:
            await worker_task
        if stream_task is not None:
            await stream_task
        if watch_task is not None:
            await watch_task
        await hub.close()


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(min=1, max=1024, help="并发数 / messages in flight")] = None,
) -> None:
    """只运行 worker（扩展部署）/ run a worker process."""
    settings = load_settings(worker_concurrency=concurrency)
    try:
        asyncio.run(_work(settings))
    except HuiliuError as exc:
        raise fail(exc) from exc


async def _work(settings: Settings) -> None:
    hub = Hub(settings)
    await hub.open()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    say(t("worker 已启动（Ctrl+C 停止，进行中的工作会完成）",
          "worker started (Ctrl+C stops it after the work in flight)"))
    try:
        await hub.work(stop)
    finally:
        await hub.close()


@flow_app.command("validate")
def flow_validate(
    path: Annotated[Path, typer.Argument(help="流程文件或目录 / a flow file or directory")],
) -> None:
    """校验流程文件：报告文件、行、列与字段 / validate flow files."""
    if not path.exists():
        raise fail(HuiliuError(t(f"找不到 {path}", f"{path} not found"), where=str(path),
                               fix=t("给出流程文件或目录的路径", "give the path of a flow file or directory")))
    errors = validate_path(path, known_actions=SHIPPED_ACTIONS)
    for error in errors:
        typer.echo(error.render(_state["lang"]), err=True)
    if errors:
        say(t(f"{len(errors)} 个错误", f"{len(errors)} error(s)"), err=True)
        raise typer.Exit(1)
    say(t("流程文件有效", "flow files are valid"))


@flow_app.command("test")
def flow_test(
    path: Annotated[Path, typer.Argument(help="流程文件 / the flow file")],
    fixture: Annotated[Path, typer.Option("--fixture", help="录制的输入与期望 / recorded input and expectations")],
) -> None:
    """用录制的输入运行流程，打印每一步的输入与输出，并与期望比较 / run a flow on a recorded input."""
    from huiliu.service.flowtest import load_fixture, run_fixture  # noqa: PLC0415 - only this command

    try:
        flow = load_flow(path, known_actions=SHIPPED_ACTIONS)
        report = run_fixture(flow, load_fixture(fixture))
    except HuiliuError as exc:
        raise fail(exc) from exc
    lang = _state["lang"]
    if not report.matched:
        say(t(f"触发条件不匹配：流程 {flow.id} 不会因这条输入启动", f"the trigger does not match: flow {flow.id} "
              "would not start on this input"), err=True)
        raise typer.Exit(1)
    for step in report.steps:
        if step.skipped:
            say(t(f"· {step.step_id}（{step.kind}）跳过：条件为假", f"· {step.step_id} ({step.kind}) skipped"))
            continue
        if step.kind == "call":
            say(t(f"· {step.step_id}（调用）请求：", f"· {step.step_id} (call) request:"))
            typer.echo(json.dumps(step.request, ensure_ascii=False, indent=2))
            say(t("  录制的应答：", "  recorded answer:"))
        else:
            say(t(f"· {step.step_id}（{step.kind}）输出：", f"· {step.step_id} ({step.kind}) output:"))
        typer.echo(json.dumps(step.output, ensure_ascii=False, indent=2))
    if report.error is not None:
        typer.echo(report.error.render(lang), err=True)
        raise typer.Exit(1)
    for difference in report.differences:
        typer.echo(difference.render(lang), err=True)
    if report.differences:
        say(t(f"与期望不符：{len(report.differences)} 处", f"{len(report.differences)} difference(s) from what "
              "is expected"), err=True)
        raise typer.Exit(1)
    say(t(f"通过：{len(report.steps)} 个步骤", f"passed: {len(report.steps)} steps"))


@flow_app.command("diff")
def flow_diff(
    old: Annotated[Path, typer.Argument(help="旧版本 / the old version")],
    new: Annotated[Path, typer.Argument(help="新版本 / the new version")],
) -> None:
    """比较同一流程的两个版本：逐步骤列出增删改 / compare two versions of a flow, step by step."""
    try:
        lines = diff_flows(old.read_text(encoding="utf-8"), new.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise fail(ConfigError(t(f"无法读取或解析：{exc}", f"cannot read or parse: {exc}"),
                               where=f"{old} / {new}", fix=t("给出两个流程文件", "give two flow files"))) from exc
    for line in lines:
        typer.echo(line if isinstance(line, str) else line.render(_state["lang"]))
    if not lines:
        say(t("两个版本相同", "the two versions are the same"))


@flow_app.command("schema")
def flow_schema() -> None:
    """输出流程文件的 JSON Schema（供编辑器补全与校验）/ print the JSON Schema of flow files."""
    typer.echo(json.dumps(FlowSpec.model_json_schema(), ensure_ascii=False, indent=2))


@flow_app.command("redrive")
def flow_redrive(
    flow_id: Annotated[str, typer.Argument(help="流程 id / flow id")],
    since: Annotated[str, typer.Option(help="起始时间（收到时间）ISO 8601 / from")],
    until: Annotated[str | None, typer.Option(help="截止时间，默认现在 / until, default now")] = None,
) -> None:
    """修复后按时间段重新驱动流程（幂等）/ re-drive a flow over a time range after a fix."""
    start = _since(since, "--since")
    end = _since(until, "--until") or datetime.now(UTC)
    assert start is not None
    try:
        report = asyncio.run(_redrive(load_settings(), flow_id, start, end))
    except HuiliuError as exc:
        raise fail(exc) from exc
    say(t(f"新启动 {len(report.started)}，续跑 {len(report.resumed)}，已完成 {report.done}，进行中 {report.running}，"
          f"不匹配 {report.not_matching}",
          f"started {len(report.started)}, resumed {len(report.resumed)}, already done {report.done}, "
          f"in flight {report.running}, not matching {report.not_matching}"))


async def _redrive(settings: Settings, flow_id: str, since: datetime, until: datetime) -> Redrive:
    hub = Hub(settings)
    await hub.open(consume=False)
    try:
        return hub.redrive(flow_id, since=since, until=until)
    finally:
        await hub.close()


@flow_app.command("start")
def flow_start(
    flow_id: Annotated[str, typer.Argument(help="流程 id（trigger 为 manual: true）/ flow id (manual trigger)")],
    key: Annotated[str | None, typer.Option(help="业务键：同一键只启动一次 / business key: one start per key")] = None,
    inputs: Annotated[list[str] | None, typer.Option(
        "--input", "-i", help="输入 名称=值，可重复；流程中读作 form['名称'] / input name=value, repeatable")] = None,
) -> None:
    """手动启动流程 / start a flow by hand."""
    values: dict[str, str] = {}
    for item in inputs or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise fail(ConfigError(t(f"输入格式不对：{item!r}", f"bad input: {item!r}"), where="--input",
                                   fix=t("写成 名称=值，例如 --input 月份=2026-11",
                                         "write name=value, e.g. --input month=2026-11")))
        values[name.strip()] = value
    try:
        business_key, started = asyncio.run(_with_hub(load_settings(), lambda hub: _start(hub, flow_id, key, values)))
    except HuiliuError as exc:
        raise fail(exc) from exc
    if started:
        say(t(f"已启动 {flow_id}，业务键 {business_key}；由 worker 执行", f"started {flow_id}, business key "
              f"{business_key}; a worker runs it"))
    else:
        say(t(f"业务键 {business_key} 已启动过，未重复启动", f"business key {business_key} was started before; "
              "not started again"))


async def _start(hub: Hub, flow_id: str, key: str | None, values: dict[str, str]) -> tuple[str, bool]:
    return hub.start_flow(flow_id, key=key, inputs=values, actor="cli")


@directory_app.command("sync")
def directory_sync(
    oa: Annotated[str, typer.Option(help="OA：dingtalk | wecom | feishu / whose directory")] = "dingtalk",
) -> None:
    """从 OA 同步部门与人员到汇流（增量：只写变化）/ sync departments and people from an OA."""
    try:
        report = asyncio.run(_with_hub(load_settings(), lambda hub: hub.sync_directory(oa)))
    except HuiliuError as exc:
        raise fail(exc) from exc
    say(t(f"部门：新增 {len(report.units_created)}，改名 {len(report.units_renamed)}，调整上级 "
          f"{len(report.units_moved)}，撤销 {len(report.units_removed)}；人员：入职 {len(report.users_joined)}，"
          f"变更 {len(report.users_changed)}，离职 {len(report.users_left)}，再入职 {len(report.users_rehired)}"
          f"（{report.seconds:.2f} 秒）",
          f"departments: {len(report.units_created)} new, {len(report.units_renamed)} renamed, "
          f"{len(report.units_moved)} moved, {len(report.units_removed)} removed; people: "
          f"{len(report.users_joined)} joined, {len(report.users_changed)} changed, {len(report.users_left)} left, "
          f"{len(report.users_rehired)} rehired ({report.seconds:.2f} s)"))
    for user, instances in report.leavers_in_flight.items():
        say(t(f"离职人员 {user} 仍有待办审批，请转交：{', '.join(instances)}",
              f"{user} has left with approvals still waiting on them; transfer: {', '.join(instances)}"))
    for problem in report.problems:
        typer.echo(f"{problem.where}: {problem.message.render(_state['lang'])}", err=True)


@connectors_app.command("check")
def connectors_check(
    names: Annotated[list[str] | None, typer.Argument(
        help="连接器名，默认全部已配置的 / connectors, default all")] = None,
) -> None:
    """用一次真实的认证调用检查连接器 / check connectors with a real authenticated call."""
    async def check(hub: Hub) -> list[dict[str, Any]]:
        return [await health.connector_check(hub, name) for name in (names or health.configured_names(hub))]

    try:
        results = asyncio.run(_with_hub(load_settings(), check))
    except HuiliuError as exc:
        raise fail(exc) from exc
    if not results:
        raise fail(ConfigError(t("没有配置任何连接器", "no connector is configured"), where="HUILIU_*",
                               fix=t("例如设置 HUILIU_KINGDEE__BASE_URL 等", "e.g. set HUILIU_KINGDEE__BASE_URL …")))
    lang = _state["lang"]
    for r in results:
        if r["ok"]:
            say(t(f"{r['system']}：正常（{r['operation']}，{r['latency_ms']} ms）",
                  f"{r['system']}: healthy ({r['operation']}, {r['latency_ms']} ms)"))
        else:
            error = r["error"]
            typer.echo(f"{r['system']}: " + (error["message"] if lang is Lang.ZH else error["message_en"])
                       + (f" — {error['vendor_message']}" if error.get("vendor_message") else ""), err=True)
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)


@oa_app.command("catch-up")
def oa_catch_up(
    oa: Annotated[str, typer.Option(help="OA：dingtalk | wecom | feishu")],
    since: Annotated[str | None, typer.Option(help="起始（提交时间）ISO 8601；默认按高水位 / from")] = None,
    until: Annotated[str | None, typer.Option(help="截止，默认现在 / until, default now")] = None,
) -> None:
    """列出 OA 中的审批并补处理遗漏的（幂等）/ list an OA's approvals and queue the ones the hub missed."""
    start, end = _since(since, "--since"), _since(until, "--until")

    async def poll(hub: Hub) -> PollReport:
        if oa not in hub.sources:
            raise ConfigError(t(f"未配置 OA：{oa}", f"OA not configured: {oa}"), where="--oa",
                              fix=t(f"已配置：{', '.join(hub.sources) or '（无）'}",
                                    f"configured: {', '.join(hub.sources) or '(none)'}"))
        return await hub.catch_up(f"cli:{os.getpid()}").poll(oa, since=start, until=end)

    try:
        report = asyncio.run(_with_hub(load_settings(), poll))
    except HuiliuError as exc:
        raise fail(exc) from exc
    if report.skipped:
        say(t("另一个进程正在轮询该 OA，本次跳过", "another process is polling this OA; skipped"))
        return
    say(t(f"列出 {report.listed} 个审批，{report.queued} 个已排队补处理",
          f"{report.listed} approvals listed, {report.queued} queued for processing"))


async def _with_hub(settings: Settings, action: Callable[[Hub], Awaitable[_T]]) -> _T:
    hub = Hub(settings)
    await hub.open(consume=False)
    try:
        return await action(hub)
    finally:
        await hub.close()


def _dead_letters() -> DeadLetters:
    try:
        hub = Hub(load_settings())
        hub.db.migrate()
    except HuiliuError as exc:
        raise fail(exc) from exc
    return hub.deadletters


def _since(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(HuiliuError(t(f"时间格式无效：{value}", f"invalid time: {value}"), where=option,
                               fix=t("用 ISO 8601，例如 2026-11-25T08:00+08:00",
                                     "use ISO 8601, e.g. 2026-11-25T08:00+08:00"))) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dead_app.command("list")
def dead_list(
    reason: Annotated[str | None, typer.Option(help="按原因过滤 / by reason")] = None,
    key: Annotated[str | None, typer.Option(help="按业务键（如审批实例号）/ by business key")] = None,
    include_closed: Annotated[bool, typer.Option("--all", help="包括已重放、已丢弃 / include closed")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """列出死信与各原因数量 / list dead letters and counts by reason."""
    dl = _dead_letters()
    rows = dl.find(DeadLetterFilter(reason=reason, key=key, include_closed=include_closed), limit=limit)
    for d in rows:
        state = "discarded" if d.discarded_at else "replayed" if d.replayed_at else "open"
        first_line = d.last_error.splitlines()[0] if d.last_error else ""
        typer.echo(f"{d.id}\t{d.created_at:%Y-%m-%d %H:%M:%S}\t{state}\t{d.reason}\t{d.topic}\t{d.key}\t"
                   f"{d.attempts}\t{first_line[:120]}")
    counts = dl.counts_by_reason()
    summary = "，".join(f"{k} {v}" for k, v in counts.items()) or "0"
    say(t(f"未处理死信：{summary}", f"open dead letters: {summary}"))


@dead_app.command("show")
def dead_show(
    dead_id: Annotated[int, typer.Argument(help="死信编号 / id")],
    as_json: Annotated[bool, typer.Option("--json", help="输出原始 JSON（含全部尝试）/ raw JSON")] = False,
) -> None:
    """说明一条死信：单据、步骤、ERP 的原话与可修改的字段 / explain one dead letter."""
    try:
        dl = _dead_letters()
        if as_json:
            typer.echo(json.dumps({**to_jsonable(dl.get(dead_id)), "explain": to_jsonable(dl.explain(dead_id))},
                                  ensure_ascii=False, indent=2))
            return
        view = dl.explain(dead_id)
    except HuiliuError as exc:
        raise fail(exc) from exc
    for line in explain_lines(view, _state["lang"]):
        typer.echo(line)


@dead_app.command("correct")
def dead_correct(
    dead_id: Annotated[int, typer.Argument(help="死信编号 / id")],
    sets: Annotated[list[str], typer.Option("--set", help="路径=新值，可多次，如 voucher.lines[1].account=6602.01 "
                                                          "/ PATH=VALUE, repeatable")],
    note: Annotated[str, typer.Option(help="修改原因（必填）/ why (required)")],
    actor: Annotated[str, typer.Option(help="操作人 / who corrects")] = "cli",
) -> None:
    """修改推送数据后重新推送（同一参考号，不会重复生成单据）/ correct the mapped values and re-push."""
    changes: dict[str, str] = {}
    for item in sets:
        path, sep, value = item.partition("=")
        if not sep or not path.strip():
            raise fail(HuiliuError(t(f"--set 格式应为 路径=新值：{item}", f"--set takes PATH=VALUE: {item}"),
                                   where="--set", fix=t("例如 --set voucher.lines[1].account=6602.01",
                                                        "e.g. --set voucher.lines[1].account=6602.01")))
        changes[path.strip()] = value
    try:
        _dead_letters().correct(dead_id, changes, note=note, actor=actor)
    except HuiliuError as exc:
        raise fail(exc) from exc
    say(t(f"已修改 {len(changes)} 个字段并重新推送死信 {dead_id}",
          f"corrected {len(changes)} field(s) and re-pushed dead letter {dead_id}"))


@dead_app.command("replay")
def dead_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="死信编号 / ids")] = None,
    reason: Annotated[str | None, typer.Option(help="按原因 / by reason")] = None,
    key: Annotated[str | None, typer.Option(help="按业务键 / by business key")] = None,
    since: Annotated[str | None, typer.Option(help="起始时间 ISO 8601 / from")] = None,
    until: Annotated[str | None, typer.Option(help="截止时间 ISO 8601 / until")] = None,
) -> None:
    """修复后重放死信（一条、按条件或时间段）/ replay after a fix."""
    if not (ids or reason or key or since or until):
        raise fail(HuiliuError(t("没有指定要重放的死信", "no dead letters chosen"), where="deadletters replay",
                               fix=t("给出编号，或 --reason / --key / --since / --until",
                                     "give ids, or --reason / --key / --since / --until")))
    where = DeadLetterFilter(ids=ids or (), reason=reason, key=key, since=_since(since, "--since"),
                             until=_since(until, "--until"))
    try:
        done = _dead_letters().replay(where)
    except HuiliuError as exc:
        raise fail(exc) from exc
    say(t(f"已重放 {len(done)} 条：{done}", f"replayed {len(done)}: {done}"))


@dead_app.command("discard")
def dead_discard(
    ids: Annotated[list[int], typer.Argument(help="死信编号 / ids")],
    note: Annotated[str, typer.Option(help="原因（必填），如“已在 ERP 手工录入” / why (required)")],
) -> None:
    """不重放，注明原因后关闭 / close without replaying, with a reason."""
    try:
        done = _dead_letters().discard(DeadLetterFilter(ids=ids), note=note)
    except HuiliuError as exc:
        raise fail(exc) from exc
    say(t(f"已丢弃 {len(done)} 条：{done}", f"discarded {len(done)}: {done}"))


def main() -> None:
    """Console entry point."""
    app(prog_name="huiliu")
    sys.exit(0)


user_app = typer.Typer(no_args_is_help=True, help="控制台用户与 API 令牌 / console users and API tokens")
app.add_typer(user_app, name="user")


def _accounts_db() -> tuple[Database, Accounts]:
    try:
        hub = Hub(load_settings())
        hub.db.migrate()
    except HuiliuError as exc:
        raise fail(exc) from exc
    return hub.db, Accounts(hub.clock)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="用户名 / user name")],
    role: Annotated[str, typer.Option(help=f"角色 / role: {', '.join(ROLES)}")] = "viewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="从标准输入读取密码 / read it from stdin")]
    = False,
) -> None:
    """新建控制台用户（密码以 argon2id 保存）/ add a console user."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt(
        t("密码", "password").render(_state["lang"]), hide_input=True, confirmation_prompt=True)
    db, accounts = _accounts_db()
    try:
        with db.begin() as conn:
            accounts.add_user(conn, name, password, role)
            accounts.audit(conn, actor="cli", action="user.add", target=f"user:{name}", outcome="ok",
                           detail={"role": role})
    except HuiliuError as exc:
        raise fail(exc) from exc
    say(t(f"已新建用户 {name}（{role}）", f"user {name} added ({role})"))


@user_app.command("token")
def user_token(
    name: Annotated[str, typer.Argument(help="用户名 / user name")],
    label: Annotated[str, typer.Option("--label", help="令牌用途 / what the token is for")] = "script",
) -> None:
    """为用户新建 API 令牌（只显示这一次）/ a new API token (shown once)."""
    db, accounts = _accounts_db()
    try:
        with db.begin() as conn:
            token = accounts.create_token(conn, name, label)
            accounts.audit(conn, actor="cli", action="token.create", target=f"user:{name}", outcome="ok",
                           detail={"label": label, "prefix": token[:10]})
    except HuiliuError as exc:
        raise fail(exc) from exc
    say(t("新令牌（只显示这一次，请妥善保存）：", "the new token (shown once; keep it safe):"))
    typer.echo(token)


@user_app.command("revoke")
def user_revoke(prefix: Annotated[str, typer.Argument(help="令牌或其前 10 个字符 / the token or its first 10 "
                                                          "characters")]) -> None:
    """吊销 API 令牌 / revoke an API token."""
    db, accounts = _accounts_db()
    with db.begin() as conn:
        revoked = accounts.revoke_token(conn, prefix)
        accounts.audit(conn, actor="cli", action="token.revoke", target=f"token:{prefix[:10]}",
                       outcome="ok" if revoked else "none")
    if not revoked:
        raise fail(NotFound(t(f"没有以 {prefix[:10]} 开头的有效令牌", f"no live token starts with {prefix[:10]}"),
                            where="prefix", fix=t("检查令牌前缀", "check the token's prefix")))
    say(t(f"已吊销 {revoked} 个令牌", f"revoked {revoked} token(s)"))
