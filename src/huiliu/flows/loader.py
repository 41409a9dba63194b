"""Read flow files: YAML → :class:`FlowSpec` → compiled :class:`Flow`, every error located in the file.

Owns: parsing YAML safely (duplicate keys, alias bombs, deep nesting and huge files refused), turning
pydantic's errors into located, bilingual messages, and the public entry points. The checks across steps
and compiling are in ``compiler``; finding lines and columns in ``location``. Does not own: the schema
(``model``) or evaluation (``expressions``, ``steps``).

Every error is a :class:`~huiliu.errors.FlowFileError` whose ``where`` is ``file:line:column`` and whose
message names the field path and how to fix it.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from huiliu.errors import FlowFileError
from huiliu.flows.compiler import Compiler
from huiliu.flows.location import Loc, Locator, Problem, field_path, suggest
from huiliu.flows.model import STEP_KINDS, Flow, FlowSpec
from huiliu.flows.steps import SubflowStep
from huiliu.i18n import Text, t

__all__ = ["MAX_CHARS", "MAX_DEPTH", "MAX_NODES", "load_flow", "load_flows", "validate_path"]

MAX_NODES = 50_000
"""Most YAML nodes a flow file may expand to (aliases counted each time they are used)."""

MAX_DEPTH = 50
"""Deepest a flow file may nest (the shipped templates reach 10); the YAML composer, the schema and the
compiler all recurse once per level."""

MAX_CHARS = 200_000
"""Longest flow file, in characters (the shipped templates have a few thousand): parsing is slow Python,
about a second for this many."""

_SUFFIXES = (".yaml", ".yml")


def _too_deep(file: str, line: int, column: int) -> Problem:
    return Problem(line, column, FlowFileError(
        t(f"流程文件嵌套超过 {MAX_DEPTH} 层", f"the flow file nests more than {MAX_DEPTH} levels deep"),
        where=f"{file}:{line}:{column}",
        fix=t("减少列表与映射的嵌套层数", "nest fewer lists and mappings inside each other")))


def _check_nodes(root: yaml.Node, locator_file: str) -> Problem | None:
    """Refuse duplicate keys (YAML would keep the last one silently), alias bombs and deep nesting."""
    budget = MAX_NODES
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            return Problem(1, 1, FlowFileError(
                t(f"流程文件展开后超过 {MAX_NODES} 个节点",
                  f"the flow file expands to more than {MAX_NODES} nodes"),
                where=f"{locator_file}:1:1",
                fix=t("减少锚点（&）与别名（*）的嵌套", "use fewer nested anchors (&) and aliases (*)")))
        if depth > MAX_DEPTH:
            return _too_deep(locator_file, node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in seen:
                        line, column = k.start_mark.line + 1, k.start_mark.column + 1
                        return Problem(line, column, FlowFileError(
                            t(f"键 `{k.value}` 在同一层重复出现",
                              f"key `{k.value}` appears twice in one mapping"),
                            where=f"{locator_file}:{line}:{column}",
                            fix=t("删除或合并重复的键", "remove or merge the duplicate key")))
                    seen.add(k.value)
                stack.extend(((k, depth + 1), (v, depth + 1)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)
    return None


def _parse_yaml(text: str, file: str) -> tuple[yaml.Node | None, Any, Problem | None]:
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # refuses control characters (NUL …) here already
        root = loader.get_single_node()
        if root is None:
            return None, None, Problem(1, 1, FlowFileError(
                t("流程文件是空的", "the flow file is empty"), where=f"{file}:1:1",
                fix=t("从 templates 目录复制一个模板开始", "start from a copy of a shipped template")))
        problem = _check_nodes(root, file)
        if problem is not None:
            return root, None, problem
        try:
            return root, loader.construct_document(root), None
        except (AttributeError, TypeError):  # PyYAML's constructors on a bad explicit tag: `!!timestamp x`
            return root, None, Problem(1, 1, FlowFileError(
                t("YAML 无法读取：某个值与它的显式标签（!!…）不符", "YAML cannot be read: a value does not fit its "
                  "explicit tag (!!…)"), where=f"{file}:1:1",
                fix=t("去掉 !! 标签，给值加引号", "drop the !! tag and quote the value")))
    except RecursionError:  # the composer recurses per level: far deeper than MAX_DEPTH, before it is checked
        return None, None, _too_deep(file, 1, 1)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return None, None, Problem(line, column, FlowFileError(
            t(f"流程文件含有 YAML 不允许的字符 {code}", f"the flow file holds a character YAML does not allow: {code}"),
            where=f"{file}:{line}:{column}",
            fix=t("删除该控制字符（常见于从别处复制的文本）", "remove the control character (often pasted in "
                  "from elsewhere)")))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem_text = " ".join(filter(None, [exc.context, exc.problem]))
        fix = (t("YAML 不允许用 Tab 缩进：改用空格", "YAML does not allow tabs for indentation: use spaces")
               if "\\t" in problem_text or "\t" in problem_text else
               t("检查缩进、引号是否成对、冒号后是否有空格",
                 "check the indentation, that quotes are closed, and "
                 "that a space follows each colon"))
        return None, None, Problem(line, column, FlowFileError(
            t(f"YAML 语法错误：{problem_text}", f"YAML syntax error: {problem_text}"),
            where=f"{file}:{line}:{column}", fix=fix))
    except (yaml.YAMLError, ValueError) as exc:
        return None, None, Problem(1, 1, FlowFileError(
            t(f"YAML 无法读取：{exc}", f"YAML cannot be read: {exc}"), where=f"{file}:1:1",
            fix=t("检查日期与数字的写法；不确定时加引号",
                  "check dates and numbers; quote a value when in doubt")))
    finally:
        if loader is not None:
            loader.dispose()


def _step_label(data: Any, loc: Loc) -> str:
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int) and isinstance(data, dict):
        steps = data.get("steps")
        if isinstance(steps, list) and loc[1] < len(steps) and isinstance(steps[loc[1]], dict):
            step_id = steps[loc[1]].get("id")
            if isinstance(step_id, str):
                return step_id
    return ""


def _describe(err: ErrorDetails, path: str) -> tuple[Text, Text]:
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    if kind == "unknown_field":
        name, allowed = ctx["field"], ctx["allowed"]
        guess = suggest(name, allowed.split(", "))
        hint_zh = f"是否想写 `{guess}`？" if guess else ""
        hint_en = f"did you mean `{guess}`? " if guess else ""
        return (t(f"未知字段 `{path}.{name}`" if path else f"未知的顶层字段 `{name}`",
                  f"unknown field `{name}` in `{path}`" if path else f"unknown top-level field `{name}`"),
                t(f"{hint_zh}此处允许的字段：{allowed}", f"{hint_en}allowed here: {allowed}"))
    if kind == "missing":
        name = path.rsplit(".", 1)[-1]
        return (t(f"缺少必填字段 `{path}`", f"required field `{path}` is missing"),
                t(f"在此处添加 `{name}:`", f"add `{name}:` here"))
    if kind in ("string_type", "code_type", "scalar_type"):
        return (t(f"字段 `{path}` 应为文本，实际是 {type(value).__name__}：{value!r:.60}",
                  f"field `{path}` must be text, got {type(value).__name__}: {value!r:.60}"),
                t("给值加引号，例如 \"001\"、\"6602.03\"、\"2024-05-01\"（不加引号时 YAML 会读成数字或日期）",
                  "quote the value, e.g. \"001\", \"6602.03\", \"2024-05-01\" (unquoted, YAML reads a number "
                  "or a date)"))
    if kind == "amount_type":
        return (t(f"字段 `{path}` 应为金额或表达式，实际是 {type(value).__name__}",
                  f"field `{path}` must be an amount or an expression, got {type(value).__name__}"),
                t("写成数字或 \"{{ 表达式 }}\"", "write a number or \"{{ expression }}\""))
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return (t(f"字段 `{path}` 应为映射（键: 值），实际是 {type(value).__name__}",
                  f"field `{path}` must be a mapping (key: value), got {type(value).__name__}"),
                t("在下一行缩进写出 键: 值", "write key: value pairs indented on the next lines"))
    if kind == "list_type":
        return (t(f"字段 `{path}` 应为列表，实际是 {type(value).__name__}",
                  f"field `{path}` must be a list, got {type(value).__name__}"),
                t("每一项另起一行，以 “- ” 开头", "write each item on its own line starting with \"- \""))
    if kind == "bool_type":
        return (t(f"字段 `{path}` 应为 true 或 false", f"field `{path}` must be true or false"),
                t("写 true 或 false（不加引号）", "write true or false (unquoted)"))
    if kind in ("enum", "literal_error"):
        expected = ctx.get("expected", "")
        return (t(f"字段 `{path}` 的取值 {value!r} 无效", f"field `{path}`: {value!r} is not allowed"),
                t(f"可选值：{expected}", f"allowed values: {expected}"))
    if kind == "string_pattern_mismatch":
        return (t(f"字段 `{path}` 的格式不对：{value!r}", f"field `{path}` is malformed: {value!r}"),
                t(f"应匹配 {ctx.get('pattern')}：步骤 id 只用字母、数字、下划线且不以数字开头；"
                  "事件与动作名形如 system.entity.verb",
                  f"it must match {ctx.get('pattern')}: step ids use letters, digits and underscores and do "
                  "not start with a digit; events and actions look like system.entity.verb"))
    if kind in ("too_short", "string_too_short"):
        return (t(f"字段 `{path}` 不能为空", f"field `{path}` must not be empty"),
                t("至少写一项", "write at least one item"))
    if kind == "step_kind":
        return (t(f"`{path}` 必须恰好有 {'、'.join(STEP_KINDS)} 之一，实际：{ctx['found']}",
                  f"`{path}` needs exactly one of {', '.join(STEP_KINDS)}; found: {ctx['found']}"),
                t("把多出的部分拆成单独的步骤，或补上缺少的类型",
                  "split extra kinds into steps of their own, or "
                  "add the missing kind"))
    if kind == "with_without_call":
        return (t(f"`{path}` 有 with 但不是 call 步骤", f"`{path}` has `with` but is not a call step"),
                t("with 只属于 call 步骤；map 步骤直接写字段",
                  "`with` belongs to call steps; a map step lists its "
                  "fields directly"))
    if kind == "loop_pair":
        return (t(f"`{path}`：for_each 与 as 必须同时出现", f"`{path}`: for_each and as go together"),
                t("同时写 for_each: \"{{ 列表 }}\" 与 as: 名称",
                  "write both for_each: \"{{ list }}\" and as: name"))
    return (t(f"字段 `{path}` 无效：{err['msg']}", f"field `{path}` is invalid: {err['msg']}"),
            t("对照模板检查该字段", "compare the field with a shipped template"))


def _validation_problems(exc: ValidationError, data: Any, locator: Locator) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc: Loc = tuple(err["loc"])
        key = err["type"] == "unknown_field"
        if key:
            loc = (*loc, err["ctx"]["field"])
        where_loc = loc
        path = field_path(loc[:-1] if key else loc)
        what, fix = _describe(err, path)
        step = _step_label(data, loc)
        if step:
            what = t(f"{what.zh}（步骤 `{step}`）", f"{what.en} (step `{step}`)")
        problem = locator.problem(where_loc, what, fix, key=key)
        if problem.error.where not in seen:  # one error per place: union members repeat each other
            seen.add(problem.error.where or "")
            problems.append(problem)
    return problems


def _load(path: Path, known_actions: Collection[str] | None) -> tuple[Flow | None, list[Problem]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(1, 1, FlowFileError(
            t(f"流程文件不是 UTF-8 编码：{exc.reason}", f"the flow file is not UTF-8: {exc.reason}"),
            where=f"{file}:1:1", fix=t("用 UTF-8 编码另存该文件", "save the file as UTF-8")))]
    except OSError as exc:
        return None, [Problem(0, 0, FlowFileError(
            t(f"无法读取流程文件：{exc.strerror}", f"cannot read the flow file: {exc.strerror}"),
            where=file, fix=t("检查路径与权限", "check the path and its permissions")))]
    return _compile(text, path, known_actions)


def _compile(text: str, path: Path, known_actions: Collection[str] | None) -> tuple[Flow | None, list[Problem]]:
    file = str(path)
    if len(text) > MAX_CHARS:
        return None, [Problem(1, 1, FlowFileError(
            t(f"流程文件过大：{len(text)} 个字符，上限 {MAX_CHARS}",
              f"the flow file is too large: {len(text)} characters, at most {MAX_CHARS}"),
            where=f"{file}:1:1", fix=t("拆成几个流程；大段数据放进主数据而不是流程文件",
                                       "split it into several flows; keep large data in master data, not "
                                       "in the flow file")))]
    root, data, problem = _parse_yaml(text, file)
    if problem is not None or root is None:
        return None, [problem] if problem else []
    locator = Locator(file, root)
    try:
        spec = FlowSpec.model_validate(data)
    except ValidationError as exc:
        return None, sorted(_validation_problems(exc, data, locator), key=lambda p: (p.line, p.column))
    compiler = Compiler(spec, locator, known_actions)
    flow = compiler.flow(path, text)
    problems = sorted(compiler.problems, key=lambda p: (p.line, p.column))
    return (None, problems) if problems else (flow, [])


def _first(problems: list[Problem]) -> FlowFileError:
    error = problems[0].error
    if len(problems) == 1:
        return error
    more = len(problems) - 1
    return FlowFileError(t(f"{error.what.zh}（本文件另有 {more} 处错误）",
                           f"{error.what.en} ({more} more in this file)"),
                         where=error.where, fix=error.fix)


def load_flow(path: Path, *, known_actions: Collection[str] | None = None) -> Flow:
    """Load and compile one flow file.

    Args:
        path: the ``.yaml`` file.
        known_actions: the actions ``call`` steps may use; ``None`` accepts any well-formed name.

    Raises:
        FlowFileError: the first problem in the file (``where`` is ``file:line:column``).
    """
    flow, problems = _load(path, known_actions)
    if flow is None:
        raise _first(problems)
    return flow


def compile_flow(text: str, source: Path, *, known_actions: Collection[str] | None = None) -> Flow:
    """Compile a flow from its text (a version kept in the history); ``source`` names it in errors.

    Raises:
        FlowFileError: the first problem in the text.
    """
    flow, problems = _compile(text, source, known_actions)
    if flow is None:
        raise _first(problems)
    return flow


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in _SUFFIXES and p.is_file())


def _duplicates(flows: list[Flow]) -> list[FlowFileError]:
    first: dict[str, Flow] = {}
    errors = []
    for flow in flows:
        if flow.id in first:
            other = first[flow.id]
            errors.append(FlowFileError(
                t(f"流程 id `{flow.id}` 重复：{other.source} 已使用", f"flow id `{flow.id}` is used twice: "
                  f"{other.source} has it too"), where=flow.id_where,
                fix=t("每个流程的 id 必须唯一：改名或删除其中一个文件",
                      "flow ids must be unique: rename one or "
                      "remove one of the files")))
        else:
            first[flow.id] = flow
    return errors


def _subflows(flows: list[Flow]) -> list[FlowFileError]:
    """Every ``subflow`` step names a flow of the set whose trigger is ``manual: true``."""
    by_id = {f.id: f for f in flows}
    manual = sorted(f.id for f in flows if f.trigger.manual)
    errors = []
    for flow in flows:
        for step in flow.steps:
            if not isinstance(step, SubflowStep):
                continue
            target = by_id.get(step.flow_id)
            if target is not None and target.trigger.manual:
                continue
            where = step.origin.where
            fix = t(f"可作子流程的（trigger 为 manual: true）：{', '.join(manual) or '（无）'}",
                    f"flows usable as sub-flows (trigger manual: true): {', '.join(manual) or '(none)'}")
            if target is None:
                errors.append(FlowFileError(t(f"步骤 `{step.id}` 的子流程 `{step.flow_id}` 不存在",
                                              f"step `{step.id}` runs sub-flow `{step.flow_id}`, which does not exist"),
                                            where=where, fix=fix))
            else:
                errors.append(FlowFileError(t(f"步骤 `{step.id}` 的子流程 `{step.flow_id}` 不是手动触发的",
                                              f"step `{step.id}` runs `{step.flow_id}`, whose trigger is not manual"),
                                            where=where, fix=fix))
    return errors


def load_flows(directory: Path, *, known_actions: Collection[str] | None = None) -> list[Flow]:
    """Load every ``*.yaml`` / ``*.yml`` file of a directory, sorted by file name.

    Raises:
        FlowFileError: the first problem of the first bad file, a flow id used by two files, or a sub-flow
            that is not in the directory or not started by hand.
    """
    flows = [load_flow(p, known_actions=known_actions) for p in _files(directory)]
    problems = _duplicates(flows) or _subflows(flows)
    if problems:
        raise problems[0]
    return flows


def validate_path(path: Path, *, known_actions: Collection[str] | None = None) -> list[FlowFileError]:
    """Check a flow file or a directory of them; return every problem found instead of raising.

    Args:
        path: a flow file or a directory of ``*.yaml`` / ``*.yml`` files.
        known_actions: the actions ``call`` steps may use; ``None`` accepts any well-formed name.

    Returns:
        The problems in file order (empty when everything is valid).
    """
    if not path.exists():
        return [FlowFileError(t(f"路径不存在：{path}", f"no such path: {path}"), where=str(path),
                              fix=t("检查路径", "check the path"))]
    files = _files(path) if path.is_dir() else [path]
    errors: list[FlowFileError] = []
    flows: list[Flow] = []
    for file in files:
        flow, problems = _load(file, known_actions)
        errors.extend(p.error for p in problems)
        if flow is not None:
            flows.append(flow)
    return errors + _duplicates(flows) + (_subflows(flows) if path.is_dir() else [])
