"""A fuzzed corpus of bad flow files: every one is refused with a located FlowFileError, or runs to a HuiliuError.

The corpus is built deterministically (``random.Random(SEED)``) from the shipped templates: wrong types,
misspelt and deleted keys, duplicate step ids, references to steps that do not exist or come later, wait
steps without a timeout, truncated text, byte garbage and invalid UTF-8, deep nesting, alias bombs, huge
files, and hostile expressions placed in step fields. For each case: never a bare Python exception, never
more than two seconds, never Python internals or a file's content in an output or a message.
"""

from __future__ import annotations

import copy
import json
import random
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from huiliu.errors import FlowFileError, HuiliuError
from huiliu.flows import Flow, advance, complete, load_flow
from huiliu.flows.loader import MAX_CHARS, MAX_DEPTH, MAX_NODES
from huiliu.i18n import Lang
from huiliu.service.flowtest import load_fixture, run_fixture

SEED = 20240531
TEMPLATES = sorted((Path(__file__).resolve().parents[3] / "src" / "huiliu" / "flows" / "templates").glob("*.yaml"))
TREES: dict[str, dict[str, Any]] = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in TEMPLATES}
TEXTS: dict[str, str] = {p.stem: p.read_text(encoding="utf-8") for p in TEMPLATES}
BUDGET = 5.0
"""Seconds one case may take, loading and running together: a bound, not a speed target (the largest
refused files take ~1.2 s alone; a shared CI machine may take twice that)."""

CANARY = "CANARY_PATH"
"""Placeholder for the canary file's path in hostile expressions (the file is made in tmp_path)."""

LEAKS = re.compile(r"<class |<function |<built-in |<bound method|<module |<method |object at 0x|'__name__': |"
                   r"'__builtins__': |<attribute |/etc/passwd|root:x:0:0")
"""What Python internals look like in text: a repr, a globals dict, a class list, a file read."""


# --- the corpus ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    data: str | bytes

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.name}"


Path_ = tuple[str | int, ...]


def walk(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))


def put(tree: Any, path: Path_, value: Any) -> None:
    for part in path[:-1]:
        tree = tree[part]
    tree[path[-1]] = value


def dump(tree: Any) -> str:
    return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False, width=1000)


def misspell(rng: random.Random, word: str) -> str:
    choice = rng.randrange(4)
    if choice == 0 and len(word) > 2:
        i = rng.randrange(len(word) - 1)
        swapped = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        return swapped if swapped != word else word + "s"
    if choice == 1 and len(word) > 1:
        i = rng.randrange(len(word))
        return word[:i] + word[i + 1:]
    if choice == 2:
        return word.upper() if word.upper() != word else word + "_"
    return word + rng.choice(["s", "_", "1", " "])


WRONG_VALUES: list[Any] = [["a", 1], {"k": "v"}, 42, 3.5, True, False, None, "", -1, "2024-05-01", [], {},
                           [[[]]], {"for_each": 1}, 10**40]


def wrong_types(rng: random.Random, n: int) -> list[Case]:
    cases = []
    for i in range(n):
        name = rng.choice(list(TREES))
        tree = copy.deepcopy(TREES[name])
        spots = [p for p, v in walk(tree) if p and not isinstance(v, dict | list)]
        spot = rng.choice(spots)
        put(tree, spot, copy.deepcopy(rng.choice(WRONG_VALUES)))
        cases.append(Case("type", f"{i}-{name}", dump(tree)))
    return cases


def unknown_keys(rng: random.Random, n: int) -> list[Case]:
    cases = []
    for i in range(n):
        name = rng.choice(list(TREES))
        tree = copy.deepcopy(TREES[name])
        spots = [(p, v) for p, v in walk(tree) if isinstance(v, dict) and v]
        spot, mapping = rng.choice(spots)
        key = rng.choice(list(mapping))
        wrong = misspell(rng, str(key))
        renamed = {(wrong if k == key else k): v for k, v in mapping.items()}
        if spot:
            put(tree, spot, renamed)
        else:
            tree = renamed
        cases.append(Case("key", f"{i}-{name}-{wrong}", dump(tree)))
    return cases


def deleted_keys(rng: random.Random, n: int) -> list[Case]:
    cases = []
    for i in range(n):
        name = rng.choice(list(TREES))
        tree = copy.deepcopy(TREES[name])
        spots = [v for _, v in walk(tree) if isinstance(v, dict) and v]
        mapping = rng.choice(spots)
        key = rng.choice(list(mapping))
        del mapping[key]
        cases.append(Case("delete", f"{i}-{name}-{key}", dump(tree)))
    return cases


def duplicate_ids() -> list[Case]:
    cases = []
    for name, original in TREES.items():
        steps = original["steps"]
        for j in range(1, len(steps)):
            tree = copy.deepcopy(original)
            tree["steps"][j]["id"] = steps[j - 1]["id"]
            cases.append(Case("dup", f"{name}-{j}", dump(tree)))
    return cases


def string_spots(tree: Any, step: int) -> list[Path_]:
    """String fields of a step that hold values: map and with values, summaries, keys, amounts."""
    return [p for p, v in walk(tree["steps"][step], ("steps", step))
            if isinstance(v, str) and any(part in ("map", "with", "summary", "key", "amount", "fields")
                                          for part in p[2:])]


def bad_references(rng: random.Random) -> list[Case]:
    """``steps.x`` for a step that does not exist, that comes later, or is the step itself."""
    cases = []
    for name, original in TREES.items():
        ids = [s["id"] for s in original["steps"]]
        for j in range(len(ids)):
            spots = string_spots(original, j)
            if not spots:
                continue
            later = ids[j + 1:] or ["nosuch"]
            for label, target in (("unknown", "no_such_step"), ("later", rng.choice(later)), ("self", ids[j])):
                tree = copy.deepcopy(original)
                put(tree, rng.choice(spots), f"{{{{ steps.{target} }}}}")
                cases.append(Case("ref", f"{name}-{j}-{label}", dump(tree)))
    return cases


WAITS: list[dict[str, Any]] = [
    {"event": "dingtalk.approval.approved", "key": "{{ instance.instance_id }}"},
    {"event": "dingtalk.approval.approved", "key": "{{ instance.instance_id }}", "on_timeout": "continue"},
    {"event": "dingtalk.approval.approved", "key": "{{ instance.instance_id }}", "timeout": 0},
    {"event": "dingtalk.approval.approved", "key": "{{ instance.instance_id }}", "timeout": -5},
    {"event": "dingtalk.approval.approved", "key": "{{ instance.instance_id }}", "timeout": "soon"},
    {"event": "dingtalk.approval.approved", "key": "{{ instance.instance_id }}", "timeout": 10**12},
    {"event": "dingtalk.approval.approved", "key": "{{ instance.instance_id }}", "timeout": float("nan")},
    {"event": "dingtalk.approval.approved", "key": "{{ instance.instance_id }}", "timeout": None},
    {"event": [], "key": "{{ instance.instance_id }}", "timeout": 60},
    {"event": "dingtalk.approval.approved", "timeout": 60},
]


def waits() -> list[Case]:
    cases = []
    for i, wait in enumerate(WAITS):
        name = list(TREES)[i % len(TREES)]
        tree = copy.deepcopy(TREES[name])
        tree["steps"].insert(1, {"id": "verdict", "wait": wait})
        cases.append(Case("wait", f"{i}-{name}", dump(tree)))
    return cases


def truncated(rng: random.Random, n: int) -> list[Case]:
    cases = []
    for i in range(n):
        name = rng.choice(list(TEXTS))
        text = TEXTS[name]
        cases.append(Case("truncate", f"{i}-{name}", text[:rng.randrange(len(text))]))
    return cases


def garbage(rng: random.Random, n: int) -> list[Case]:
    cases: list[Case] = []
    for i in range(n):
        name = rng.choice(list(TEXTS))
        raw = TEXTS[name].encode("utf-8")
        at = rng.randrange(len(raw))
        choice = i % 6
        if choice == 0:  # random bytes in the middle
            blob = raw[:at] + rng.randbytes(rng.randrange(1, 64)) + raw[at:]
        elif choice == 1:  # a UTF-8 sequence cut in half (the templates are full of Chinese)
            blob = raw[:at] + b"\xe6\x8a" + raw[at:]
        elif choice == 2:  # bytes that are never UTF-8
            never = [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]
            blob = raw[:at] + rng.choice(never) + raw[at:]
        elif choice == 3:  # control characters YAML refuses
            blob = raw[:at] + rng.choice([b"\x00", b"\x07", b"\x1b[31m", b"\x7f", b"\x0c"]) + raw[at:]
        elif choice == 4:  # nothing but noise
            blob = rng.randbytes(rng.randrange(1, 4096))
        else:  # printable noise in the middle: YAML indicators, tabs, quotes
            noise = "".join(rng.choice(":-?[]{}&*!|>'\"%@`#,\t \n") for _ in range(rng.randrange(1, 40)))
            blob = raw[:at] + noise.encode() + raw[at:]
        cases.append(Case("garbage", f"{i}-{name}", blob))
    cases += [Case("garbage", "empty", ""), Case("garbage", "bom-only", "\ufeff"),
              Case("garbage", "only-comment", "# 只有注释\n"), Case("garbage", "scalar", "报销"),
              Case("garbage", "list", "- a\n- b\n"),
              Case("garbage", "utf16", TEXTS[next(iter(TEXTS))].encode("utf-16")),
              Case("garbage", "two-docs", TEXTS[next(iter(TEXTS))] + "---\nid: x\n"),
              Case("garbage", "python-tag", "id: !!python/object/apply:os.system ['cat /etc/passwd']\n"),
              Case("garbage", "bad-timestamp", "id: !!timestamp not-a-date\n"),
              Case("garbage", "bad-binary", "id: !!binary '!!!'\n"),
              Case("garbage", "huge-int", "id: x\nretry: {max_attempts: " + "9" * 5000 + "}\n")]
    return cases


def nested() -> list[Case]:
    head = dump(TREES["expense_claim_voucher"]).replace("steps:\n", "steps:\n- id: deep\n  map:\n    x: ", 1)
    cases = []
    for depth in (MAX_DEPTH - 10, MAX_DEPTH + 10, 300, 1000, 2000):
        cases.append(Case("deep", f"list-{depth}", head.replace("x: ", "x: " + "[" * depth + "]" * depth
                                                                + "\n    y: ", 1)))
        cases.append(Case("deep", f"map-{depth}", head.replace("x: ", "x: " + "{a: " * depth + "1" + "}" * depth
                                                               + "\n    y: ", 1)))
    block = "".join("\n" + "  " * (i + 3) + f"k{i}:" for i in range(400)) + " 1\n"
    cases.append(Case("deep", "block-400", "id: deep\nversion: '1'\ntitle: x\ntrigger: {event: a.b}\nsteps:\n"
                                           "- id: s\n  map:\n    x:" + block))
    return cases


def bombs() -> list[Case]:
    cases = []
    for levels in (5, 9, 12, 30):
        lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
        body = "\n".join(lines)
        cases.append(Case("bomb", f"laughs-{levels}", f"{body}\nid: bomb\nversion: '1'\ntitle: x\ntrigger: "
                                                    f"{{event: a.b}}\nsteps:\n- id: s\n  map: {{x: *a{levels - 1}}}\n"))
    cases.append(Case("bomb", "self-alias", "&a [*a]\n"))
    cases.append(Case("bomb", "merge-chain", "base: &b {id: x}\n" + "".join(
        f"m{i}: &m{i} {{<<: *{'b' if i == 0 else f'm{i - 1}'}, k{i}: 1}}\n" for i in range(200))))
    return cases


def huge() -> list[Case]:
    base = TEXTS["expense_claim_voucher"]
    steps = "".join(f"  - id: s{i}\n    map: {{x: \"{{{{ instance.title }}}}\"}}\n" for i in range(1_000))
    many = "  - id: many\n    map: {x: [" + ",".join(["1"] * (MAX_NODES + 1_000)) + "]}\n"
    return [
        Case("huge", "over-limit", "#" + "长" * (MAX_CHARS + 1) + "\n" + base),
        Case("huge", "long-comment", "# " + "注" * (MAX_CHARS // 2) + "\n" + base),
        Case("huge", "long-literal", base.replace("book: \"001\"", "book: \"" + "1" * (MAX_CHARS // 2) + "\"")),
        Case("huge", "1000-steps", base + steps),
        Case("huge", "too-many-nodes", base + many),
        Case("huge", "long-expression", base.replace("{{ instance.business_id }}",
                                                     "{{ " + " ~ ".join(["instance.title"] * 3_000) + " }}")),
    ]


HOSTILE: list[str] = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('cat CANARY_PATH').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'].popen('cat CANARY_PATH').read() }}",
    "{{ lipsum(10**6) }}",
    "{{ range.__globals__ }}",
    "{{ dict.__base__.__subclasses__() }}",
    "{{ form.__init__.__globals__ }}",
    "{{ form|attr('__class__') }}",
    "{{ form['__class__'] }}",
    "{{ form.items.__self__ }}",
    "{{ self }}",
    "{{ self.__init__.__globals__ }}",
    "{{ config }}",
    "{{ request.application.__globals__ }}",
    "{{ open('CANARY_PATH').read() }}",
    "{{ import('os') }}",
    "{% import 'CANARY_PATH' as x %}{{ x }}",
    "{% include 'CANARY_PATH' %}",
    "{% extends 'CANARY_PATH' %}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% set x = 1 %}{{ x }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{{ 'a' * 10**9 }}",
    "{{ [1] * 10**9 }}",
    "{{ 10**10**10 }}",
    "{{ range(10**9) | list }}",
    "{{ 'x' | center(10**9) }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ ['a' * 10**6] * 10**6 }}",
    "{{ (['a' * 10**6] * 1000) | join }}",
    "{{ ''.join(['a' * 10**6] * 10000) }}",
    "{{ [1] | batch(10**9, 0) | list }}",
    "{{ [1] | batch(10**6, 'a' * 10**6) | list }}",
    "{{ ([[1]] * 500000) | sum(start=[]) }}",
    "{{ ('a' * 10**6).translate({97: 'b' * 10**6}) }}",
    "{{ 'a'.encode().center(10**10) }}",
    "{{ form.fromkeys(range(99999), 'a' * 10**6) | string }}",
    "{{ ('%' * 10**5) | urlencode | urlencode | urlencode | urlencode | urlencode | urlencode }}",
    "{{ '%s' % form }}",
    "{{ '{0.__class__}'.format(form) }}",
    "{{ range }}",
    "{{ dict }}",
    "{{ form.items }}",
    "{{ form.get | string }}",
    "{{ [form.items] | join }}",
    "{{ range ~ '' }}",
    "{{ (range(5) | list) | map(attribute='bit_length') | list }}",
    "{{ " + "(" * 500 + "1" + ")" * 500 + " }}",
    "{{ " + "+".join(["1"] * 2000) + " }}",
    "{{ form" + " | string" * 1000 + " }}",
    "{{ instance | pprint }}",
    "{{ form | tojson }}",
    "{{ steps.__class__ }}",
    "{{ event.source.__len__() }}",
]


def hostile(rng: random.Random) -> list[Case]:
    cases = []
    for i, source in enumerate(HOSTILE):
        for variant in ("native", "text"):
            name = rng.choice(list(TREES))
            tree = copy.deepcopy(TREES[name])
            candidates = [(j, p) for j in range(len(tree["steps"])) for p in string_spots(tree, j)]
            _, spot = rng.choice(candidates)
            put(tree, spot, source if variant == "native" else f"摘要 {source} 结束")
            cases.append(Case("hostile", f"{i}-{variant}-{name}", dump(tree)))
        condition = source.removeprefix("{{ ").removesuffix(" }}")
        if "{%" not in condition:
            tree = copy.deepcopy(TREES[rng.choice(list(TREES))])
            tree["steps"][-1]["when"] = condition
            cases.append(Case("hostile", f"{i}-when", dump(tree)))
    return cases


def corpus() -> list[Case]:
    rng = random.Random(SEED)
    return [*wrong_types(rng, 90), *unknown_keys(rng, 50), *deleted_keys(rng, 50), *duplicate_ids(),
            *bad_references(rng), *waits(), *truncated(rng, 40), *garbage(rng, 36), *nested(), *bombs(),
            *huge(), *hostile(rng)]


CORPUS = corpus()


# --- running a case --------------------------------------------------------------------------------------

class Hung(BaseException):
    """A case ran past its deadline (a BaseException, so no ``except`` in the code under test swallows it)."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def fire(_signum: int, _frame: object) -> None:
        raise Hung(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


FORM: dict[str, Any] = {
    "报销事由": "上海出差", "借款余额": "800.00",
    "费用明细": [{"费用类型": "差旅费", "金额": "1000.00", "费用说明": "上海高铁"},
                 {"费用类型": "交通费", "金额": "234.56", "费用说明": "市内打车"}],
    "分摊明细": [{"部门": "BM03", "比例": "50%"}, {"部门": "BM02", "比例": "50%"}],
    "付款事由": "支付货款", "供应商": "上海晨光文具有限公司", "供应商编码": "GYS001",
    "统一社会信用代码": "91310000MA1FL0XJ2K", "付款金额": {"amount": "12800.05", "currency": "CNY"},
    "发票号": "04512873", "付款日期": "2026-11-26T00:00:00+08:00", "采购事由": "办公用品",
    "采购明细": [{"物品名称": "签字笔", "物品编码": "P001", "单位": "盒", "数量": "10", "单价": "12.50",
                  "说明": "黑色"}],
}
RECORD: dict[str, Any] = {"number": "E1001", "name": "李娜", "department_number": "BM02", "department_name": "财务部",
                          "cost_center": "CC01", "erp_user": "u1001", "post_voucher": {"reference": "202611250001"}}
RESULT: dict[str, Any] = {"id": "100001", "number": "记-0001", "status": "C", "paid": True, "amount": "12800.05",
                          "untaxed_amount": "125.00", "reference": "202611250001", "posted": True}


def context() -> dict[str, Any]:
    """A realistic run context: a DingTalk approval whose form has the fields every template reads."""
    instance = {"system": "dingtalk", "instance_id": "inst-0001", "process_code": "PROC-EXPENSE",
                "title": "李娜提交的申请", "status": "approved", "originator_user_id": "0123",
                "originator_dept_id": "BM02", "business_id": "202611250001",
                "created_at": "2026-11-25T01:00:00+00:00", "finished_at": "2026-11-25T17:30:00+00:00",
                "form": copy.deepcopy(FORM)}
    return {"event": {"id": "ev-1", "type": "dingtalk.approval.approved", "source": "dingtalk",
                      "business_key": "inst-0001", "received_at": None},
            "instance": instance, "form": instance["form"], "reference": "202611250001", "steps": {}, "cursor": 0}


def lookup(entity: str, system: str, key: str) -> dict[str, Any] | None:
    return copy.deepcopy(RECORD) if key != "missing" else None


def drive(flow: Flow) -> list[Any]:
    """Run the flow to its end, answering every call and wait; the outputs and requests it made."""
    seen: list[Any] = []
    state = context()
    for _ in range(len(flow.steps) + 1):
        step = advance(flow, state, lookup)
        seen.extend(output for _, output in step.completed)
        if step.done:
            break
        if step.effect is not None:
            seen.append(step.effect.request)
            state = complete(flow, step.context, step.effect.step_id, RESULT)
        else:
            assert step.wait is not None
            seen.append(step.wait.key)
            state = complete(flow, step.context, step.wait.step_id, {"type": step.wait.events[0], "payload": {}})
    return seen


def write(tmp_path: Path, case: Case, canary: Path) -> Path:
    path = tmp_path / "flow.yaml"
    if isinstance(case.data, bytes):
        path.write_bytes(case.data)
    else:
        path.write_text(case.data.replace(CANARY, str(canary)), encoding="utf-8")
    return path


def assert_located(error: FlowFileError, path: Path) -> None:
    assert error.where is not None
    assert re.fullmatch(re.escape(str(path)) + r":\d+:\d+", error.where), error.where
    rendered = error.render()
    assert str(path) in rendered
    assert error.fix is not None and error.fix.render()


def assert_clean(text: str, secret: str) -> None:
    assert secret not in text, "a file's content leaked"
    assert not LEAKS.search(text), f"Python internals leaked: {LEAKS.search(text)}"


def run_case(tmp_path: Path, case: Case) -> str:
    """Load and run one case; returns ``refused``, ``failed`` (a HuiliuError while running) or ``ran``."""
    canary = tmp_path / "canary.txt"
    secret = f"canary-{random.Random(case.id).getrandbits(64):x}"
    canary.write_text(secret, encoding="utf-8")
    path = write(tmp_path, case, canary)
    started = time.perf_counter()
    with deadline(5 * BUDGET):
        try:
            flow = load_flow(path)
        except FlowFileError as exc:
            outcome, text, where = "refused", exc.render() + exc.render(Lang.EN), exc.where
            assert_located(exc, path)
        else:
            try:
                seen = drive(flow)
            except HuiliuError as exc:
                outcome, text, where = "failed", exc.render() + exc.render(Lang.EN), exc.where
            else:
                outcome, text, where = "ran", json.dumps(seen, ensure_ascii=False, default=str), "-"
    elapsed = time.perf_counter() - started
    assert where, f"an error without a place: {text}"
    assert elapsed < BUDGET, f"{case.id} took {elapsed:.2f} s"
    assert_clean(text, secret)
    return outcome


# --- the tests -------------------------------------------------------------------------------------------

def test_corpus_is_deterministic_and_large() -> None:
    again = corpus()
    assert [c.data for c in again] == [c.data for c in CORPUS]
    assert 300 <= len(CORPUS) <= 800  # grows with the shipped templates (bad references, duplicate ids)
    assert len({c.id for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("name", list(TREES))
def test_unmutated_templates_run_to_the_end_on_the_realistic_context(name: str) -> None:
    path = next(p for p in TEMPLATES if p.stem == name)
    flow = load_flow(path)
    fixture = path.parent / "fixtures" / path.name
    if fixture.exists():  # a template for other events (a schedule, an ERP row) runs on its own fixture
        report = run_fixture(flow, load_fixture(fixture))
        assert report.matched and report.error is None and report.steps, report.error
        return
    seen = drive(flow)
    assert seen, "the context must take the template somewhere"


SCHEMA_KINDS = ("type", "key", "delete")


@pytest.mark.parametrize("case", [c for c in CORPUS if c.kind in SCHEMA_KINDS], ids=lambda c: c.id)
def test_schema_mutations(tmp_path: Path, case: Case) -> None:
    run_case(tmp_path, case)


@pytest.mark.parametrize("case", [c for c in CORPUS if c.kind in ("dup", "ref", "wait")], ids=lambda c: c.id)
def test_cross_step_mutations_are_refused(tmp_path: Path, case: Case) -> None:
    outcome = run_case(tmp_path, case)
    if case.kind == "wait":
        valid = WAITS[int(case.name.split("-")[0])]
        has_timeout = isinstance(valid.get("timeout"), int) and 0 < valid["timeout"] <= 90 * 86400
        assert outcome == "refused" or has_timeout
    else:
        assert outcome == "refused"


@pytest.mark.parametrize("case", [c for c in CORPUS if c.kind in ("truncate", "garbage")], ids=lambda c: c.id)
def test_broken_text(tmp_path: Path, case: Case) -> None:
    run_case(tmp_path, case)


@pytest.mark.parametrize("case", [c for c in CORPUS if c.kind in ("deep", "bomb", "huge")], ids=lambda c: c.id)
def test_resource_attacks(tmp_path: Path, case: Case) -> None:
    outcome = run_case(tmp_path, case)
    if case.name in ("over-limit", "too-many-nodes") or (case.kind == "bomb" and case.name != "laughs-5"):
        assert outcome == "refused"
    if case.kind == "deep" and case.name.split("-")[-1].isdigit() and int(case.name.split("-")[-1]) > MAX_DEPTH:
        assert outcome == "refused"


@pytest.mark.parametrize("case", [c for c in CORPUS if c.kind == "hostile"], ids=lambda c: c.id)
def test_hostile_expressions(tmp_path: Path, case: Case) -> None:
    run_case(tmp_path, case)


# --- regressions: bugs the corpus found ------------------------------------------------------------------

DEMO = """\
id: demo
version: "1"
title: 演示
trigger: {event: dingtalk.approval.approved}
steps:
  - id: s
    map:
      x: VALUE
"""


def refused(tmp_path: Path, text: str | bytes) -> FlowFileError:
    path = tmp_path / "flow.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(FlowFileError) as info:
        load_flow(path)
    assert_located(info.value, path)
    return info.value


def evaluated(tmp_path: Path, source: str) -> HuiliuError | Any:
    path = tmp_path / "flow.yaml"
    path.write_text(DEMO.replace("VALUE", json.dumps(source, ensure_ascii=False)), encoding="utf-8")
    flow = load_flow(path)
    try:
        return advance(flow, context(), lookup).completed[0][1]["x"]
    except HuiliuError as exc:
        return exc


@pytest.mark.parametrize("text", [
    DEMO.replace("VALUE", "[" * 2000 + "]" * 2000),           # the YAML composer recursed: RecursionError
    DEMO.replace("VALUE", "{a: " * 400 + "1" + "}" * 400),
    DEMO.replace("VALUE", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)),
])
def test_deep_yaml_is_refused_not_a_recursion_error(tmp_path: Path, text: str) -> None:
    error = refused(tmp_path, text)
    assert f"{MAX_DEPTH}" in error.render()


def test_control_character_is_located_not_a_reader_error(tmp_path: Path) -> None:
    error = refused(tmp_path, DEMO.replace("VALUE", "a\x00b"))
    assert error.where is not None and error.where.endswith(":8:11")
    assert "#x0000" in error.render()


def test_bad_explicit_tag_is_a_flow_error_not_an_attribute_error(tmp_path: Path) -> None:
    error = refused(tmp_path, DEMO.replace("VALUE", "!!timestamp not-a-date"))
    assert "!!" in error.render()


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    started = time.perf_counter()
    error = refused(tmp_path, "#" + "x" * (MAX_CHARS + 1) + "\n" + DEMO.replace("VALUE", "1"))
    assert time.perf_counter() - started < 0.5
    assert str(MAX_CHARS) in error.render()


@pytest.mark.parametrize("source", [
    "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    "{{ " + "[" * 3000 + "]" * 3000 + " }}",
    "{{ " + "not " * 3000 + "1 }}",
    "{{ " + "+".join(["1"] * 3000) + " }}",
    "{{ form" + ".k" * 3000 + " }}",
    "{{ form" + "|string" * 3000 + " }}",
])
def test_deep_expression_is_a_located_syntax_error_not_a_recursion_error(tmp_path: Path, source: str) -> None:
    error = refused(tmp_path, DEMO.replace("VALUE", json.dumps(source)))
    assert error.where is not None and error.where.endswith(":8:10")
    assert "50" in error.render()


def test_deep_condition_is_a_located_syntax_error(tmp_path: Path) -> None:
    text = DEMO.replace("  - id: s\n", "  - id: s\n    when: \"" + "(" * 2000 + "1" + ")" * 2000 + "\"\n")
    error = refused(tmp_path, text.replace("VALUE", "1"))
    assert error.where is not None and error.where.endswith(":7:11")


@pytest.mark.parametrize("source", [
    "{{ range }}", "x {{ range }}", "x {{ dict }}", "x {{ form.items }}", "{{ form.get | string }}",
    "{{ range ~ '' }}", "{{ [form.items] | join }}", "{{ (form | attr('items')) | upper }}", "x {{ form['items'] }}",
    "{{ (range(3) | list) | map(attribute='bit_length') | list | string }}",
])
def test_functions_have_no_text_form(tmp_path: Path, source: str) -> None:
    result = evaluated(tmp_path, source)
    assert isinstance(result, HuiliuError), f"{source} gave {result!r}"
    assert_clean(result.render() + result.render(Lang.EN), "canary")
    assert "not data" in result.render(Lang.EN)


def test_calling_methods_still_works(tmp_path: Path) -> None:
    assert evaluated(tmp_path, "{{ form.get('报销事由') }}") == "上海出差"
    assert evaluated(tmp_path, "{{ ', '.join(['a', 'b']) }}") == "a, b"
    assert evaluated(tmp_path, "{{ dict(a=1) }}") == {"a": 1}
    assert evaluated(tmp_path, "{{ range(3) | list }}") == [0, 1, 2]
    assert evaluated(tmp_path, "{{ [1, 2] | batch(2) | list }}") == [[1, 2]]
    assert evaluated(tmp_path, "{{ [1, 2.5] | sum }}") == 3.5
    assert evaluated(tmp_path, "{{ 'ab'.upper() }}") == "AB"


@pytest.mark.parametrize("source", [
    "{{ ['a' * 10**6] * 10**6 }}",                                  # one string, shared a million times
    "x {{ ['a' * 10**6] * 10**6 }}",
    "{{ [[1] * 10**5] * 10**5 }}",
    "{{ [1] | batch(10**9, 0) | list }}",
    "{{ [1] | batch(10**6, 'a' * 10**6) | list | string }}",
    "{{ ([[1]] * 500000) | sum(start=[]) }}",                         # quadratic
    "{{ ('a' * 10**6).translate({97: 'b' * 10**6}) }}",
    "{{ ''.join(['a' * 10**5] * 10**4) }}",
    "{{ ('x' * 10**6).join(range(1000) | map('string')) }}",
    "{{ 'a'.encode().center(10**10) }}",
    "{{ 'a'.encode().zfill(10**10) }}",
    "{{ form.fromkeys(range(99999), 'a' * 10**6) | string }}",
    "{{ ('%' * 10**5) | urlencode | urlencode | urlencode | urlencode | urlencode }}",
])
def test_memory_bombs_are_refused_before_they_are_built(tmp_path: Path, source: str) -> None:
    started = time.perf_counter()
    result = evaluated(tmp_path, source)
    assert time.perf_counter() - started < 1.0
    assert isinstance(result, HuiliuError)
    assert "沙箱" in result.render()
