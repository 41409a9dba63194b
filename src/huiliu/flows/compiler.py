"""Compile a validated :class:`FlowSpec` into a :class:`Flow`, with the checks that span the file.

Owns: unique step ids, ``steps.x`` only to earlier steps, known actions, names, filters and loop
variables, refusing ``{% %}`` statements, and compiling every template once with its origin. Every
problem is collected (not raised) so that ``validate_path`` can list them all. Does not own: YAML or the
schema (``loader``, ``model``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from jinja2.exceptions import TemplateSyntaxError

from huiliu.bus.retry import RetryPolicy
from huiliu.crosswalk import DEPARTMENT_FIELDS, EMPLOYEE_FIELDS
from huiliu.flows.accounts import WILDCARD, AccountRule, AccountRules, AccountTable, Split, covers
from huiliu.flows.expressions import (
    CONTEXT_NAMES,
    Expression,
    Origin,
    environment,
    parse_condition,
    parse_value,
)
from huiliu.flows.location import Loc, Locator, Problem, field_path, suggest
from huiliu.flows.model import (
    DEFAULT_TIMEZONE,
    ON_ERROR_KEYWORDS,
    AccountRulesSpec,
    AccountTableSpec,
    Flow,
    FlowSpec,
    ForEachSpec,
    RetrySpec,
    SplitSpec,
    StepSpec,
    Trigger,
    ValueSpec,
    VoucherLineSpec,
    VoucherSpec,
)
from huiliu.flows.nodes import DictNode, ForEachNode, ListNode, ValueNode
from huiliu.flows.steps import (
    BranchStep,
    CallStep,
    FilterStep,
    LineRule,
    LookupStep,
    MapStep,
    Step,
    SubflowStep,
    VoucherStep,
    WaitStep,
)
from huiliu.i18n import Text, t
from huiliu.model import ApprovalInstance, Voucher

__all__ = ["Compiler"]

EVENT_FIELDS = frozenset({"id", "type", "source", "business_key", "received_at"})
"""``event`` in a run's context (``service.runs.initial_context``)."""
APPROVAL_FIELDS = frozenset(f.name for f in dataclasses.fields(ApprovalInstance))
"""``instance`` when the flow starts on approvals: the canonical approval instance."""
VOUCHER_FIELDS = frozenset({*(f.name for f in dataclasses.fields(Voucher)), "preparer"})
"""A ``voucher`` step's output: the canonical voucher (and the preparer, when the step names one)."""
WAIT_FIELDS = frozenset({"type", "source", "payload", "timed_out"})
"""A ``wait`` step's output: the awaited event, or ``timed_out``."""
DICT_METHODS = frozenset({"get", "items", "keys", "values"})
TIME_FIELDS = frozenset({"created_at", "finished_at", "received_at"})
"""Fields of ``event`` / ``instance`` that hold an ISO time."""
DATA_FIELDS = frozenset({"form", "tasks", "attachments"})
"""Fields of ``instance`` that hold a mapping or a list."""
AMOUNT_FILTERS = frozenset({"decimal", "fen"})


def _hint(guess: str | None, rest: Text) -> Text:
    """``rest``, preceded by "did you mean …?" when there is a close match."""
    if guess is None:
        return rest
    return t(f"是否想写 `{guess}`？{rest.zh}", f"did you mean `{guess}`? {rest.en}")


class Compiler:
    """Checks across steps and compiles every template, collecting every problem in :attr:`problems`.

    Args:
        spec: the validated flow file.
        locator: finds lines and columns in the same file.
        known_actions: the actions ``call`` steps may use, or ``None`` for any.
    """

    def __init__(self, spec: FlowSpec, locator: Locator, known_actions: Collection[str] | None) -> None:
        self.spec = spec
        self.locator = locator
        self.known_actions = known_actions
        self.problems: list[Problem] = []
        self.step_ids = [s.id for s in spec.steps]
        self.also_done: tuple[str, ...] = ()
        """Steps an expression may also refer to (a compensation sees its own step's result)."""
        self.builtins = frozenset(environment.globals)

    def fail(self, loc: Loc, what: Text, fix: Text, *, key: bool = False) -> None:
        """Record a problem at ``loc``."""
        self.problems.append(self.locator.problem(loc, what, fix, key=key))

    def origin(self, loc: Loc, step: str | None, *, key: bool = False) -> Origin:
        """The :class:`Origin` of the value at ``loc``."""
        line, column = self.locator.position(loc, key=key)
        inner = loc[2:] if step is not None else loc
        return Origin(self.locator.file, line, column, step, field_path(inner))

    def expr(self, value: object, loc: Loc, index: int | None, names: frozenset[str], *,
             condition: bool = False) -> Expression:
        """Compile one string (or YAML scalar) after checking names, steps and filters."""
        step = self.step_ids[index] if index is not None else None
        origin = self.origin(loc, step)
        if not isinstance(value, str):
            return Expression.constant(value, origin)
        path = field_path(loc)
        if condition and "{{" in value:
            self.fail(loc, t(f"`{path}` 是条件表达式，不要写 {{{{ }}}}",
                             f"`{path}` is a bare condition: no {{{{ }}}}"),
                      t("直接写表达式，例如 when: \"instance.process_code == 'PROC-X'\"",
                        "write the expression itself, e.g. when: \"instance.process_code == 'PROC-X'\""))
            return Expression.constant(value, origin)
        try:
            parsed = parse_condition(value) if condition else parse_value(value)
        except TemplateSyntaxError as exc:
            self.fail(loc, t(f"`{path}` 的表达式语法错误：{exc.message}（{value}）",
                             f"syntax error in the expression of `{path}`: {exc.message} ({value})"),
                      t("检查括号、引号以及 {{ }} 是否成对",
                        "check that brackets, quotes and {{ }} are paired"))
            return Expression.constant(value, origin)
        ok = True
        if parsed.statements:
            ok = False
            found = ", ".join(parsed.statements)
            self.fail(loc, t(f"`{path}` 用了 {{% %}} 语句（{found}），流程中只允许 {{{{ 表达式 }}}}",
                             f"`{path}` uses {{% %}} statements ({found}); flows allow "
                             "only {{ expressions }}"),
                      t("用 a if 条件 else b、过滤器或 map 步骤的 for_each 代替",
                        "use `a if cond else b`, filters, or a map step's for_each instead"))
        allowed = CONTEXT_NAMES | self.builtins | names
        for name in sorted(parsed.names - allowed):
            ok = False
            guess = suggest(name, allowed)
            self.fail(loc, t(f"`{path}` 用了未知的名称 `{name}`（{value}）", f"`{path}` uses an unknown name "
                             f"`{name}` ({value})"),
                      _hint(guess, t(f"可用的名称：{', '.join(sorted(allowed))}",
                                     f"known names: {', '.join(sorted(allowed))}")))
        checks: list[tuple[Text, frozenset[str], frozenset[str]]] = [
            (t("过滤器", "filter"), parsed.filters, frozenset(environment.filters)),
            (t("测试", "test"), parsed.tests, frozenset(environment.tests))]
        for noun, used, known in checks:
            for name in sorted(used - known):
                ok = False
                guess = suggest(name, known)
                self.fail(loc, t(f"`{path}` 用了未知的{noun.zh} `{name}`（{value}）",
                                 f"`{path}` uses an unknown {noun.en} `{name}` ({value})"),
                          _hint(guess, t("流程专用的过滤器：decimal、sum_amount、fen、local_date、add_days",
                                         "flow filters: decimal, sum_amount, fen, local_date, add_days")))
        earlier = [*(self.step_ids[:index] if index is not None else []), *self.also_done]
        before_zh, before_en = ", ".join(earlier) or "（无）", ", ".join(earlier) or "(none)"
        for ref in sorted(parsed.step_refs - set(earlier)):
            ok = False
            if ref in self.step_ids:
                what = t(f"`{path}` 引用了 `steps.{ref}`，但步骤 `{ref}` 不在它之前",
                         f"`{path}` refers to `steps.{ref}`, but step `{ref}` does not come before it")
                fix = t(f"把步骤 `{ref}` 移到前面，或改用已完成的步骤：{before_zh}",
                        f"move step `{ref}` earlier, or use a step that has run: {before_en}")
            else:
                guess = suggest(ref, earlier)
                what = t(f"`{path}` 引用了不存在的步骤 `steps.{ref}`",
                         f"`{path}` refers to unknown step `steps.{ref}`")
                fix = _hint(guess, t(f"之前的步骤：{before_zh}", f"steps before it: {before_en}"))
            self.fail(loc, what, fix)
        if ok:
            for data_path in sorted(parsed.paths):
                ok = self.known_field(data_path, loc, value) and ok
        if ok:
            for name, data_path in sorted(parsed.filtered):
                ok = self.known_type(name, data_path, loc, value) and ok
        if not ok:
            return Expression.constant(value, origin)
        try:
            return Expression.compile(parsed, origin)
        except TemplateSyntaxError as exc:
            self.fail(loc, t(f"`{path}` 的表达式无法编译：{exc.message}（{value}）",
                             f"the expression of `{path}` does not compile: {exc.message} ({value})"),
                      t("检查过滤器与测试的名称和参数", "check the names and arguments of filters and tests"))
            return Expression.constant(value, origin)

    def fields_of(self, data_path: tuple[str, ...]) -> tuple[str, frozenset[str]] | None:
        """What ``event.x`` / ``instance.x`` / ``steps.<id>.x`` may name, where the loader can know it."""
        root = data_path[0]
        if root == "event":
            return "event", EVENT_FIELDS
        if root == "instance":
            events = self.spec.trigger.event
            kinds = {".approval." in e for e in ([events] if isinstance(events, str) else events or [])}
            if kinds == {True}:
                return "instance", APPROVAL_FIELDS
            if not kinds or kinds == {False}:  # an ERP row, a schedule, a manual start: its key and its form
                return "instance", frozenset({"instance_id", "form"})
            return None
        if root != "steps" or len(data_path) < 3 or data_path[1] not in self.step_ids:
            return None
        step = self.spec.steps[self.step_ids.index(data_path[1])]
        known: frozenset[str] | None = None
        if step.map is not None:
            known = frozenset(step.map)
        elif step.lookup is not None:
            known = {"employee": frozenset(EMPLOYEE_FIELDS), "department": frozenset(DEPARTMENT_FIELDS)}.get(
                step.lookup.entity)
        elif step.voucher is not None:
            known = VOUCHER_FIELDS
        else:
            known = {"wait": WAIT_FIELDS, "filter": frozenset({"passed"}), "branch": frozenset({"goto"}),
                     "subflow": frozenset({"status", "steps"})}.get(step.kind)
        return None if known is None else (f"steps.{step.id}", known | DICT_METHODS)

    def known_field(self, data_path: tuple[str, ...], loc: Loc, value: str) -> bool:
        """Refuse ``instance.originator_userid`` and the like: a field the data never has (a typo)."""
        known = self.fields_of(data_path)
        if known is None:
            return True
        holder, names = known
        name = data_path[2] if data_path[0] == "steps" else data_path[1]
        if name in names:
            return True
        guess = suggest(name, sorted(names))
        path = field_path(loc)
        self.fail(loc, t(f"`{path}` 读取的 `{holder}.{name}` 不存在（{value}）",
                         f"`{path}` reads `{holder}.{name}`, which does not exist ({value})"),
                  _hint(guess, t(f"`{holder}` 有：{', '.join(sorted(names - DICT_METHODS))}",
                                 f"`{holder}` has: {', '.join(sorted(names - DICT_METHODS))}")))
        return False

    def known_type(self, name: str, data_path: tuple[str, ...], loc: Loc, value: str) -> bool:
        """Refuse a filter on data of a type it never takes, where the type is known: an amount filter on
        a time (``instance.finished_at | decimal``), ``local_date`` on anything but a time.
        """  # noqa: D205
        known = self.fields_of(data_path)
        if known is None or len(data_path) != 2 or data_path[0] not in ("event", "instance"):
            return True
        kind = "time" if data_path[1] in TIME_FIELDS else "data" if data_path[1] in DATA_FIELDS else "text"
        wrong = (name in AMOUNT_FILTERS and kind != "text") or (name == "local_date" and kind != "time")
        if not wrong:
            return True
        kinds = {"time": t("时间", "a time"), "data": t("列表或映射", "a list or mapping"), "text": t("文本", "text")}
        wanted = (t("时间", "a time") if name == "local_date"
                  else t("金额（文本或数字）", "an amount (text or a number)"))
        path = field_path(loc)
        holder = ".".join(data_path)
        self.fail(loc, t(f"`{path}` 对 `{holder}`（{kinds[kind].zh}）使用了 {name}，它只接受{wanted.zh}（{value}）",
                         f"`{path}` applies {name} to `{holder}` ({kinds[kind].en}); {name} takes {wanted.en} "
                         f"({value})"),
                  t("检查字段是否写错，例如金额在 form['…'] 里，日期用 finished_at | local_date",
                    "check the field: amounts are in form['…'], dates come from finished_at | local_date"))
        return False

    def loop_name(self, name: str, loc: Loc) -> None:
        """Refuse a loop variable that would hide a context name."""
        if name in CONTEXT_NAMES or name in self.builtins:
            self.fail(loc, t(f"循环变量 `{name}` 会遮住同名的上下文数据",
                             f"loop variable `{name}` would hide the "
                             "context value of that name"),
                      t("换一个名字，例如 row、line、item", "choose another name, e.g. row, line, item"))

    def value(self, spec: ValueSpec, loc: Loc, index: int, names: frozenset[str]) -> ValueNode:
        """Compile a built value: template, list, mapping or ``for_each``."""
        if isinstance(spec, ForEachSpec):
            self.loop_name(spec.as_, (*loc, "as"))
            items = self.expr(spec.for_each, (*loc, "for_each"), index, names)
            body = self.value(spec.fields, (*loc, "fields"), index, names | {spec.as_})
            return ForEachNode(items, spec.as_, body)
        if isinstance(spec, dict):
            return self.mapping(spec, loc, index, names)
        if isinstance(spec, list):
            return ListNode(tuple(self.value(v, (*loc, i), index, names) for i, v in enumerate(spec)))
        return self.expr(spec, loc, index, names)

    def mapping(self, spec: Mapping[str, ValueSpec], loc: Loc, index: int, names: frozenset[str]) -> DictNode:
        """Compile a mapping of built values."""
        return DictNode(tuple((k, self.value(v, (*loc, k), index, names)) for k, v in spec.items()))

    def account_rules(self, spec: AccountRulesSpec, loc: Loc, index: int, names: frozenset[str]) -> AccountRules:
        """Compile a multi-attribute account rule set, checking every rule against ``by`` and the rules before."""
        attributes = list(spec.by)
        for name in attributes:
            if name == "account":
                self.fail((*loc, "by", name), t("`account` 不能作为科目规则的属性名：它是规则中写科目的位置",
                                                "`account` cannot be an attribute name: rules use it for the "
                                                "account"),
                          t("给该属性换个名字，例如 subject、kind", "rename the attribute, e.g. subject, kind"),
                          key=True)
        by = tuple((name, self.expr(value, (*loc, "by", name), index, names)) for name, value in spec.by.items())
        shown = ", ".join(attributes)
        rules: list[AccountRule] = []
        checked: list[tuple[int, AccountRule]] = []  # sound rules by number, for the shadowing check
        for k, rule in enumerate(spec.rules):
            rloc: Loc = (*loc, "rules", k)
            patterns: list[tuple[str, str]] = []
            sound = True  # a rule with a bad attribute or pattern is left out of the shadowing check
            for name, raw in rule.items():
                if name == "account":
                    continue
                if name not in spec.by:
                    sound = False
                    guess = suggest(name, [*attributes, "account"])
                    self.fail((*rloc, name), t(f"科目规则 {k + 1} 用了未知的属性 `{name}`",
                                               f"account rule {k + 1} uses an unknown attribute `{name}`"),
                              _hint(guess, t(f"属性须先在 account.by 中定义：{shown}；科目写在 account",
                                             f"attributes must be defined in account.by: {shown}; the account "
                                             "goes in account")), key=True)
                    continue
                pattern = str(raw)
                if WILDCARD in pattern[:-1]:
                    sound = False
                    self.fail((*rloc, name), t(f"科目规则 {k + 1} 的 `{name}: {pattern}`：\"*\" 只能单独使用或放在末尾",
                                               f"account rule {k + 1}, `{name}: {pattern}`: \"*\" stands alone or "
                                               "at the end"),
                              t("写 \"*\"（任意值）或 \"前缀*\"（如 \"P-*\"），其余写完整的值",
                                "write \"*\" (anything) or \"prefix*\" (e.g. \"P-*\"), otherwise the whole value"))
                    continue
                if pattern != WILDCARD:  # "*" is the same as leaving the attribute out
                    patterns.append((name, pattern))
            if "account" not in rule:
                self.fail(rloc, t(f"科目规则 {k + 1} 缺少 `account`", f"account rule {k + 1} has no `account`"),
                          t(f"在规则中写出科目，例如 {{{attributes[0]}: …, account: \"6602.03\"}}",
                            f"write the account in the rule, e.g. {{{attributes[0]}: …, account: \"6602.03\"}}"))
                continue
            new = AccountRule(tuple(patterns), self.expr(str(rule["account"]), (*rloc, "account"), index, names))
            rules.append(new)
            if not sound:
                continue
            hidden_by = next(((number, earlier) for number, earlier in checked if self._hides(earlier, new)), None)
            if hidden_by is not None:
                number, earlier = hidden_by
                self.fail(rloc, t(f"科目规则 {k + 1}（{new.describe()}）永远不会生效：前面的规则 {number}"
                                  f"（{earlier.describe()}）已匹配它能匹配的一切",
                                  f"account rule {k + 1} ({new.describe()}) can never apply: rule {number} "
                                  f"({earlier.describe()}) comes first and matches everything it matches"),
                          t("先写更具体的规则（例如先写 type+dept，再写只有 type 的），或删除这条规则",
                            "put the more specific rule first (type and dept before type alone), or "
                            "remove this one"))
            checked.append((k + 1, new))
        return AccountRules(by, tuple(rules), self.origin((*loc,), self.step_ids[index]))

    @staticmethod
    def _hides(earlier: AccountRule, later: AccountRule) -> bool:
        """Whether ``earlier`` matches everything ``later`` matches, so that ``later`` never applies."""
        mine = dict(later.patterns)
        return all(covers(pattern, mine.get(name, WILDCARD)) for name, pattern in earlier.patterns)

    def split(self, spec: SplitSpec, loc: Loc, index: int, names: frozenset[str]) -> Split:
        """Compile a line's ``split``; its item is named ``as`` in ``share`` (and in the line's other fields)."""
        self.loop_name(spec.as_, (*loc, "as"))
        if spec.as_ in names:
            self.fail((*loc, "as"), t(f"分摊的名称 `{spec.as_}` 与 for_each 的 as 重名",
                                      f"the split's name `{spec.as_}` is the for_each's name too"),
                      t("换一个名字，例如 part、share", "choose another name, e.g. part, share"))
        return Split(self.expr(spec.by, (*loc, "by"), index, names), spec.as_,
                     self.expr(spec.share, (*loc, "share"), index, names | {spec.as_}))

    def line(self, line: VoucherLineSpec, loc: Loc, index: int, step: StepSpec) -> LineRule:
        """Compile one voucher line rule."""
        none: frozenset[str] = frozenset()
        names = none
        for_each = None
        if line.for_each is not None and line.as_ is not None:
            self.loop_name(line.as_, (*loc, "as"))
            for_each = self.expr(line.for_each, (*loc, "for_each"), index, none)
            names = frozenset({line.as_})
        when = (self.expr(line.when, (*loc, "when"), index, names, condition=True)
                if line.when is not None else None)
        split = self.split(line.split, (*loc, "split"), index, names) if line.split is not None else None
        # The amount is split, so it is the amount before the split: it cannot read the split's item.
        amount = self.expr(line.amount, (*loc, "amount"), index, names)
        if split is not None:
            names = names | {split.name}
        account: Expression | AccountTable | AccountRules
        if isinstance(line.account, AccountRulesSpec):
            account = self.account_rules(line.account, (*loc, "account"), index, names)
        elif isinstance(line.account, AccountTableSpec):
            table = tuple((k, self.expr(v, (*loc, "account", "map", k), index, names))
                          for k, v in line.account.map.items())
            by = self.expr(line.account.by, (*loc, "account", "by"), index, names)
            account = AccountTable(by, table)
        else:
            account = self.expr(line.account, (*loc, "account"), index, names)
        return LineRule(
            origin=self.origin(loc, step.id), for_each=for_each, name=line.as_, direction=line.direction,
            account=account, amount=amount, summary=self.expr(line.summary, (*loc, "summary"), index, names),
            aux=tuple((k, self.expr(v, (*loc, "aux", k), index, names)) for k, v in line.aux.items()),
            when=when, split=split)

    def voucher(self, spec: VoucherSpec, base: Loc, index: int, step: StepSpec,
                when: Expression | None) -> Step:
        """Compile a voucher step's rules."""
        none: frozenset[str] = frozenset()
        rules = tuple(self.line(line, (*base, "lines", j), index, step) for j, line in enumerate(spec.lines))
        preparer = None
        preparer_steps: tuple[str, ...] = ()
        if spec.preparer is not None:
            preparer = self.expr(spec.preparer, (*base, "preparer"), index, none)
            try:
                preparer_steps = tuple(sorted(parse_value(spec.preparer).step_refs))
            except TemplateSyntaxError:  # already reported by expr
                preparer_steps = ()
        return VoucherStep(
            id=step.id, origin=self.origin(base, step.id, key=True), when=when,
            book=self.expr(spec.book, (*base, "book"), index, none),
            date=self.expr(spec.date, (*base, "date"), index, none),
            group=self.expr(spec.group, (*base, "group"), index, none),
            currency=self.expr(spec.currency, (*base, "currency"), index, none),
            reference=self.expr(spec.reference, (*base, "reference"), index, none),
            rules=rules, preparer=preparer, preparer_steps=preparer_steps)

    def step(self, step: StepSpec, index: int) -> Step:
        """Compile one step."""
        loc: Loc = ("steps", index)
        none: frozenset[str] = frozenset()
        if step.id in self.step_ids[:index]:
            first = self.step_ids.index(step.id)
            self.fail((*loc, "id"), t(f"步骤 id `{step.id}` 重复（第 {first + 1} 个步骤已用过）",
                                      f"step id `{step.id}` is used twice (step {first + 1} has it too)"),
                      t("每个步骤的 id 必须唯一：改一个名字", "step ids must be unique: rename one"))
        when = (self.expr(step.when, (*loc, "when"), index, none, condition=True)
                if step.when is not None else None)
        origin = self.origin(loc, step.id)
        if step.lookup is not None:
            spec = step.lookup
            return LookupStep(id=step.id, origin=origin, when=when, entity=spec.entity, system=spec.system,
                              key=self.expr(spec.key, (*loc, "lookup", "key"), index, none),
                              required=spec.required)
        if step.map is not None:
            return MapStep(id=step.id, origin=origin, when=when,
                           fields=self.mapping(step.map, (*loc, "map"), index, none))
        if step.voucher is not None:
            return self.voucher(step.voucher, (*loc, "voucher"), index, step, when)
        if step.filter is not None:
            return FilterStep(id=step.id, origin=origin, when=when,
                              condition=self.expr(step.filter, (*loc, "filter"), index, none, condition=True))
        if step.branch is not None:
            branch = step.branch
            cases = tuple((self.expr(case.when, (*loc, "branch", "cases", j, "when"), index, none, condition=True),
                           self.target(case.goto, (*loc, "branch", "cases", j, "goto"), index, step.id))
                          for j, case in enumerate(branch.cases))
            otherwise = (self.target(branch.else_, (*loc, "branch", "else"), index, step.id)
                         if branch.else_ is not None else None)
            return BranchStep(id=step.id, origin=origin, when=when, cases=cases, otherwise=otherwise)
        if step.subflow is not None:
            sub = step.subflow
            if sub.flow == self.spec.id:
                self.fail((*loc, "subflow", "flow"), t(f"步骤 `{step.id}` 把流程自己当作子流程：会无限循环",
                                                       f"step `{step.id}` runs its own flow as a sub-flow: a loop"),
                          t("子流程应是另一个 trigger 为 manual: true 的流程",
                            "a sub-flow is another flow whose trigger is manual: true"))
            return SubflowStep(id=step.id, origin=origin, when=when, flow_id=sub.flow,
                               inputs=self.mapping(sub.with_, (*loc, "subflow", "with"), index, none),
                               timeout=sub.timeout)
        if step.wait is not None:
            wait = step.wait
            events = (wait.event,) if isinstance(wait.event, str) else tuple(wait.event)
            return WaitStep(id=step.id, origin=origin, when=when, events=events,
                            key=self.expr(wait.key, (*loc, "wait", "key"), index, none), timeout=wait.timeout,
                            on_timeout=wait.on_timeout)
        action = step.call or ""
        self.action(action, (*loc, "call"), step.id)
        policy = _policy(step.retry or self.spec.retry)
        compensation = None
        if step.compensate is not None:
            undo = step.compensate
            self.action(undo.call, (*loc, "compensate", "call"), step.id)
            self.also_done = (step.id,)
            try:
                request = self.mapping(undo.with_, (*loc, "compensate", "with"), index, frozenset({"undo"}))
            finally:
                self.also_done = ()
            compensation = CallStep(id=f"{step.id}.compensate", origin=self.origin((*loc, "compensate"), step.id),
                                    when=None, action=undo.call, request=request, retry=policy)
        self.on_error(step, loc, index)
        return CallStep(id=step.id, origin=origin, when=when, action=action,
                        request=self.mapping(step.with_ or {}, (*loc, "with"), index, none),
                        retry=policy, on_error=step.on_error, compensation=compensation)

    def action(self, action: str, loc: Loc, step_id: str) -> None:
        """Refuse an action no configured connector offers."""
        if self.known_actions is not None and action not in self.known_actions:
            known = sorted(self.known_actions)
            guess = suggest(action, known)
            self.fail(loc, t(f"未知的动作 `{action}`（步骤 `{step_id}`）",
                             f"unknown action `{action}` (step `{step_id}`)"),
                      _hint(guess, t(f"可用的动作：{', '.join(known) or '（无）'}",
                                     f"known actions: {', '.join(known) or '(none)'}")))

    def on_error(self, step: StepSpec, loc: Loc, index: int) -> None:
        """``on_error`` is a keyword or a later step (a forward jump: a flow never loops)."""
        target = step.on_error
        if target is None or target in ON_ERROR_KEYWORDS:
            if target == "compensate" and step.compensate is None and not any(
                    s.compensate is not None for s in self.spec.steps[:index]):
                self.fail((*loc, "on_error"), t(f"步骤 `{step.id}` 失败时要补偿，但它和之前的步骤都没有写 compensate",
                                                f"step `{step.id}` compensates on failure, but neither it nor an "
                                                "earlier step says how (compensate)"),
                          t("给已执行的调用步骤加上 compensate: {call: …, with: …}，或改用 on_error: fail",
                            "add compensate: {call: …, with: …} to the call steps before it, or use on_error: fail"))
            return
        self.target(target, (*loc, "on_error"), index, step.id, keywords=ON_ERROR_KEYWORDS)

    def target(self, target: str, loc: Loc, index: int, step_id: str, *, keywords: tuple[str, ...] = ()) -> str:
        """A jump (``goto``, ``else``, ``on_error``) must name a later step: a flow never loops."""
        later = self.step_ids[index + 1:]
        if target in later:
            return target
        field = str(loc[-1])
        options_zh = "，".join(filter(None, [", ".join(keywords), f"它之后的步骤：{', '.join(later) or '（无）'}"]))
        options_en = "; ".join(filter(None, [", ".join(keywords), f"a step after it: {', '.join(later) or '(none)'}"]))
        if target in self.step_ids:
            what = t(f"步骤 `{step_id}` 的 {field} 跳回到 `{target}`：流程只能向后跳，不能形成循环",
                     f"step `{step_id}` {field} jumps back to `{target}`: a flow only jumps forward, never in a "
                     "cycle")
            fix = t(f"可用：{options_zh}", f"use {options_en}")
        else:
            guess = suggest(target, [*keywords, *later])
            what = t(f"步骤 `{step_id}` 的 {field} 是未知的 `{target}`",
                     f"step `{step_id}` has an unknown {field} `{target}`")
            fix = _hint(guess, t(f"可用：{options_zh}", f"use {options_en}"))
        self.fail(loc, what, fix)
        return target

    def reachable(self) -> None:
        """Every step can run on some path: after a ``branch`` with ``else``, the next step needs a case
        that goes to it (or an ``on_error`` that does).
        """  # noqa: D205
        steps = self.spec.steps
        reached = {0}
        for i, step in enumerate(steps):
            if i not in reached:
                continue
            targets: list[str] = []
            if step.branch is not None:
                targets = [c.goto for c in step.branch.cases]
                if step.branch.else_ is not None:
                    targets.append(step.branch.else_)
                else:
                    reached.add(i + 1)
            else:
                reached.add(i + 1)
            if step.on_error is not None and step.on_error not in ON_ERROR_KEYWORDS:
                targets.append(step.on_error)
            reached.update(self.step_ids.index(g) for g in targets if g in self.step_ids)
        for i, step in enumerate(steps):
            if i not in reached:
                self.fail(("steps", i, "id"), t(f"步骤 `{step.id}` 永远不会执行：前面的 branch 总会跳过它",
                                                f"step `{step.id}` can never run: the branch before it always "
                                                "jumps past it"),
                          t("让某个 branch 的 goto 指向它，或删除该步骤",
                            "make a branch case go to it, or remove the step"))

    def flow(self, source: Path, text: str = "") -> Flow:
        """Compile the whole flow; check :attr:`problems` before using it."""
        trigger = self.spec.trigger
        condition = (self.expr(trigger.when, ("trigger", "when"), None, frozenset(), condition=True)
                     if trigger.when is not None else None)
        steps = tuple(self.step(step, i) for i, step in enumerate(self.spec.steps))
        self.reachable()
        line, column = self.locator.position(("id",))
        zone = trigger.timezone or DEFAULT_TIMEZONE
        if trigger.schedule is not None:
            self.schedule(trigger.schedule, zone)
            events: tuple[str, ...] = (f"schedule.{self.spec.id}",)
        elif trigger.manual:
            events = (f"manual.{self.spec.id}",)
        else:
            events = (trigger.event,) if isinstance(trigger.event, str) else tuple(trigger.event or ())
        return Flow(id=self.spec.id, version=self.spec.version, title=self.spec.title, source=source,
                    trigger=Trigger(events, trigger.when, condition, schedule=trigger.schedule,
                                    timezone=zone, manual=trigger.manual),
                    steps=steps,
                    description=self.spec.description, id_where=f"{self.locator.file}:{line}:{column}", text=text,
                    on_error=self.spec.on_error)

    def schedule(self, cron: str, timezone: str) -> None:
        """A five-field cron expression and a known time zone."""
        fields = cron.split()
        if len(fields) != 5 or not croniter.is_valid(cron):
            self.fail(("trigger", "schedule"), t(f"schedule 不是有效的 cron 表达式：{cron}",
                                                 f"schedule is not a valid cron expression: {cron}"),
                      t("写五段：分 时 日 月 周，例如 \"0 2 * * *\" 表示每天 02:00，\"30 8 * * 1-5\" 表示工作日 08:30",
                        "write five fields: minute hour day month weekday, e.g. \"0 2 * * *\" every day at 02:00, "
                        "\"30 8 * * 1-5\" weekdays at 08:30"))
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory (`Asia`), too long a name
            self.fail(("trigger", "timezone"), t(f"未知的时区 `{timezone}`", f"unknown time zone `{timezone}`"),
                      t("用 IANA 时区名，例如 Asia/Shanghai", "use an IANA zone name, e.g. Asia/Shanghai"))


def _policy(spec: RetrySpec | None) -> RetryPolicy | None:
    """The runtime policy for a validated spec."""
    if spec is None:
        return None
    return RetryPolicy(initial_interval=spec.initial_interval, multiplier=spec.multiplier,
                       max_interval=spec.max_interval, max_attempts=spec.max_attempts, jitter=spec.jitter,
                       non_retryable=frozenset(spec.non_retryable))
