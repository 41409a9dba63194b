"""Flow speed: loading the shipped templates, running steps in memory, and running them stored.

Three tables:

1. **load** — ``load_flow`` of each shipped template (``src/huiliu/flows/templates/*.yaml``, checked
   against the shipped actions as ``huiliu flow validate`` and the hub do) and ``load_flows`` of the whole
   directory. *Cold* is the first load in a fresh interpreter (after imports; a child process per figure,
   so Jinja's lexer and every first call are paid), *warm* a later load in the same process; both are
   medians. Each warm load is split into its phases: YAML with the duplicate-key check, the pydantic
   schema, and compiling (name checks and one Jinja compile per expression; nothing is cached between
   loads).
2. **pure** — :func:`huiliu.flows.advance` and :func:`~huiliu.flows.complete` with an in-memory lookup:
   whole runs of the two expense-claim templates on their recorded fixtures (every step counted, call
   results taken from the fixture), then flows of 20 steps of one kind, each taken from the rules
   template and started with the steps before it already done: ``lookup``, ``map`` (the claim with its
   lines and allocation), ``voucher`` (account table / account rules with a three-way split), and
   ``call`` (building the voucher request, then storing the result).
3. **stored** — :meth:`RunStore.start` for N envelopes, one transaction each, on SQLite in a temporary
   directory (``synchronous`` FULL as shipped, and NORMAL), and on PostgreSQL with ``--pg``: the lookup
   reads master data through the crosswalk, the run's row, its ``run_steps``, the event log, the
   outbox row and the effect message are written. Compared, step for step, with the pure figure for the
   same work (the steps up to the first call, and its request).

    .venv/bin/python bench/flows.py [--repeat 50] [--cold 5] [--runs 2000] [--envelopes 500] [--pg]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import yaml

from huiliu.bus import DbTransport, EventLog, Outbox
from huiliu.crosswalk import Crosswalk, MasterData
from huiliu.flows import Expression, Flow, Lookup, advance, complete, load_flow, load_flows
from huiliu.flows import expressions as flow_expressions
from huiliu.flows.compiler import Compiler
from huiliu.flows.loader import _parse_yaml
from huiliu.flows.location import Locator
from huiliu.flows.model import FlowSpec
from huiliu.model import Department, Employee, SystemClock
from huiliu.service.flowcatalog import FlowCatalog
from huiliu.service.flowtest import load_fixture
from huiliu.service.hub import SHIPPED_ACTIONS, TEMPLATES
from huiliu.service.runs import RunStore, initial_context
from huiliu.store import Database

FIXTURES = TEMPLATES / "fixtures"
SIMPLE, RULES = "expense_claim_voucher", "expense_claim_voucher_rules"
KIND_STEPS = 20
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"

COLD_CHILD = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from huiliu.flows import load_flow, load_flows
imported = time.perf_counter() - started
target, actions = Path(sys.argv[1]), frozenset(json.loads(sys.argv[2]))
started = time.perf_counter()
load_flows(target, known_actions=actions) if target.is_dir() else load_flow(target, known_actions=actions)
print(json.dumps({"import": imported, "load": time.perf_counter() - started}))
"""


def median_time(action: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``action`` over ``repeat`` calls, after one call to warm up."""
    action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cold_time(target: Path, repeat: int) -> tuple[float, float]:
    """Median (import, first load) seconds of ``target`` in fresh interpreters."""
    loads, imports = [], []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", COLD_CHILD, str(target), json.dumps(sorted(SHIPPED_ACTIONS))],
                             check=True, capture_output=True, text=True).stdout
        figures = json.loads(out)
        loads.append(figures["load"])
        imports.append(figures["import"])
    return statistics.median(imports), statistics.median(loads)


@contextmanager
def counted_compiles() -> Iterator[list[int]]:
    """Count the Jinja compiles (expressions and text templates) made inside the block."""
    env = flow_expressions.environment
    count = [0]
    compile_expression, from_string = env.compile_expression, env.from_string

    def counting_expression(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return compile_expression(*args, **kwargs)

    def counting_string(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return from_string(*args, **kwargs)

    env.compile_expression = counting_expression  # type: ignore[method-assign]
    env.from_string = counting_string  # type: ignore[method-assign]
    try:
        yield count
    finally:
        del env.compile_expression, env.from_string


@contextmanager
def counted_evaluations() -> Iterator[list[int]]:
    """Count the expression evaluations (``Expression.evaluate``) made inside the block."""
    count = [0]
    evaluate = Expression.evaluate

    def counting(self: Expression, scope: Mapping[str, Any]) -> Any:
        count[0] += 1
        return evaluate(self, scope)

    Expression.evaluate = counting  # type: ignore[method-assign]
    try:
        yield count
    finally:
        Expression.evaluate = evaluate  # type: ignore[method-assign]


def phases(path: Path, repeat: int) -> tuple[float, float, float]:
    """Median seconds of the loader's phases for one file: YAML, schema, compile (as ``loader._compile``)."""
    text = path.read_text(encoding="utf-8")
    parsed = _parse_yaml(text, str(path))
    root, data = parsed[0], parsed[1]
    assert root is not None
    spec = FlowSpec.model_validate(data)

    def compile_() -> None:
        compiler = Compiler(spec, Locator(str(path), root), SHIPPED_ACTIONS)
        compiler.flow(path, text)
        assert not compiler.problems

    return (median_time(lambda: _parse_yaml(text, str(path)), repeat),
            median_time(lambda: FlowSpec.model_validate(data), repeat), median_time(compile_, repeat))


def bench_load(repeat: int, cold_repeat: int) -> None:
    files = sorted(TEMPLATES.glob("*.yaml"))
    print(f"\n1. load: {len(files)} shipped templates; cold = median of {cold_repeat} fresh interpreters, "
          f"warm = median of {repeat}")
    print(f"{'file':36} {'bytes':>6} {'steps':>5} {'exprs':>5} {'cold ms':>8} {'warm ms':>8} "
          f"{'yaml':>6} {'schema':>6} {'compile':>7} {'µs/expr':>7}")
    total_exprs = 0
    imports = []
    for path in files:
        with counted_compiles() as count:
            flow = load_flow(path, known_actions=SHIPPED_ACTIONS)
        total_exprs += count[0]
        imported, cold = cold_time(path, cold_repeat)
        imports.append(imported)
        warm = median_time(partial(load_flow, path, known_actions=SHIPPED_ACTIONS), repeat)
        y, s, c = phases(path, repeat)
        per_expr = f"{c / count[0] * 1e6:>7.0f}" if count[0] else f"{'-':>7}"  # a flow of plain paths compiles none
        print(f"{path.name:36} {path.stat().st_size:>6} {len(flow.steps):>5} {count[0]:>5} {cold * 1e3:>8.2f} "
              f"{warm * 1e3:>8.2f} {y * 1e3:>6.2f} {s * 1e3:>6.2f} {c * 1e3:>7.2f} {per_expr}")
    imported, cold = cold_time(TEMPLATES, cold_repeat)
    imports.append(imported)
    warm = median_time(lambda: load_flows(TEMPLATES, known_actions=SHIPPED_ACTIONS), repeat)
    print(f"{'all (load_flows)':36} {'':>6} {'':>5} {total_exprs:>5} {cold * 1e3:>8.2f} {warm * 1e3:>8.2f}")
    print(f"(importing huiliu.flows in a fresh interpreter: {statistics.median(imports) * 1e3:.0f} ms, not counted)")


@dataclass
class Case:
    """A template with its fixture: the flow, the run's first context, the lookup and recorded results."""

    flow: Flow
    context: dict[str, Any]
    lookup: Lookup
    results: Mapping[str, Any]
    fixture: Mapping[str, Any]


def case(name: str, path: Path | None = None) -> Case:
    """The template ``name`` (or the flow at ``path``) with the fixture of template ``name``."""
    fixture = load_fixture(FIXTURES / f"{name}.yaml")
    flow = load_flow(path or TEMPLATES / f"{name}.yaml", known_actions=SHIPPED_ACTIONS)
    instance = fixture["instance"]
    context = initial_context(envelope_id="bench", event_type=fixture["event"], source=instance["system"],
                              business_key=instance["instance_id"], payload={"instance": instance}, received_at=None)
    masterdata: Mapping[str, Mapping[str, Any]] = fixture["masterdata"]

    def lookup(entity: str, system: str, key: str) -> Mapping[str, Any] | None:
        return masterdata.get(entity, {}).get(f"{system}:{key}")

    return Case(flow, context, lookup, fixture["results"], fixture)


def run_to_end(c: Case, context: Mapping[str, Any]) -> int:
    """Run ``c.flow`` from ``context`` to the end, calls answered from the fixture; the steps completed."""
    steps = 0
    while True:
        step = advance(c.flow, context, c.lookup)
        steps += len(step.completed)
        if step.effect is None:
            assert step.done
            return steps
        context = complete(c.flow, step.context, step.effect.step_id, c.results[step.effect.step_id])
        steps += 1


def per_second(count: int, action: Callable[[], object], runs: int) -> tuple[float, float]:
    """(count per second, µs per count) of ``action`` run ``runs`` times, after a warm-up call."""
    action()
    started = time.perf_counter()
    for _ in range(runs):
        action()
    seconds = time.perf_counter() - started
    return count * runs / seconds, seconds / (count * runs) * 1e6


def one_kind(base: Case, name: str, prefix: list[str], step_id: str, tmp: Path) -> Case:
    """A flow of the rules template's steps ``prefix`` then 20 copies of ``step_id``; context past the prefix."""
    data = yaml.safe_load((TEMPLATES / f"{name}.yaml").read_text(encoding="utf-8"))
    by_id = {s["id"]: s for s in data["steps"]}
    data["steps"] = [by_id[i] for i in prefix] + [{**by_id[step_id], "id": f"{step_id}_{k:02d}"}
                                                  for k in range(KIND_STEPS)]
    data["id"] = f"bench-{step_id}"
    path = tmp / f"{name}-{step_id}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    c = case(name, path)
    done = advance(base.flow, base.context, base.lookup).context["steps"]  # the real run's first steps
    c.context = {**c.context, "steps": {i: done[i] for i in prefix}, "cursor": len(prefix)}
    c.results = {f"{step_id}_{k:02d}": base.results[step_id] for k in range(KIND_STEPS)} if step_id in base.results \
        else {}
    return c


def bench_pure(runs: int) -> dict[str, float]:
    print(f"\n2. pure: advance/complete in memory, {runs} runs each (µs per step; a skipped step counts as one)")
    print(f"{'what':52} {'steps':>5} {'steps/s':>9} {'µs/step':>8} {'evals/step':>10} {'runs/s':>8}")
    simple, rules = case(SIMPLE), case(RULES)
    pure: dict[str, float] = {}
    for label, c in ((f"{SIMPLE}: whole run", simple), (f"{RULES}: whole run", rules)):
        with counted_evaluations() as evals:
            steps = run_to_end(c, c.context)
        rate, micro = per_second(steps, partial(run_to_end, c, c.context), runs)
        print(f"{label:52} {steps:>5} {rate:>9,.0f} {micro:>8.1f} {evals[0] / steps:>10.1f} {rate / steps:>8,.0f}")
    for label, c in ((SIMPLE, simple), (RULES, rules)):
        with counted_evaluations() as evals:
            steps = len(advance(c.flow, c.context, c.lookup).completed)
        rate, micro = per_second(steps, partial(advance, c.flow, c.context, c.lookup), runs)
        pure[label] = rate
        print(f"{label + ': up to the first call':52} {steps:>5} {rate:>9,.0f} {micro:>8.1f} "
              f"{evals[0] / steps:>10.1f} {rate / steps:>8,.0f}")
    kind_runs = max(1, runs // 10)
    with tempfile.TemporaryDirectory() as tmp:
        kinds: tuple[tuple[str, str, list[str], str], ...] = (
            ("lookup (in-memory master data)", RULES, [], "employee"),
            ("map (claim: 3 fields, 2 lines, allocation)", RULES, ["employee"], "claim"),
            ("map (settle: 2 decimal fields)", RULES, ["employee", "claim"], "settle"),
            ("voucher (account table, 2+1 lines)", SIMPLE, ["employee", "claim"], "voucher"),
            ("voucher (rules, 3-way split, 6+2 lines)", RULES, ["employee", "claim", "settle"], "voucher"),
            ("call (voucher request, then complete)", RULES, ["employee", "claim", "settle", "voucher"],
             "post_voucher"),
        )
        for label, name, prefix, step_id in kinds:
            c = one_kind(simple if name == SIMPLE else rules, name, prefix, step_id, Path(tmp))
            with counted_evaluations() as evals:
                assert run_to_end(c, c.context) == KIND_STEPS
            rate, micro = per_second(KIND_STEPS, partial(run_to_end, c, c.context), kind_runs)
            print(f"{label:52} {KIND_STEPS:>5} {rate:>9,.0f} {micro:>8.1f} {evals[0] / KIND_STEPS:>10.1f}")
    return pure


def database(url: str, *, synchronous: str = "FULL") -> tuple[Database, RunStore]:
    db = Database(url, sqlite_synchronous=synchronous)
    db.migrate()
    clock = SystemClock()
    crosswalk = Crosswalk(clock)
    masterdata = MasterData(crosswalk)
    store = RunStore(flows=FlowCatalog(db, clock, list, lambda: None), transport=DbTransport(db, clock),
                     outbox=Outbox(clock), eventlog=EventLog(clock), masterdata=masterdata, clock=clock)
    return db, store


def load_masterdata(db: Database, store: RunStore, cases: list[Case]) -> None:
    """The fixtures' employees, linked to their DingTalk user ids, with their departments."""
    depts, people = {}, []
    for c in cases:
        for key, e in c.fixture["masterdata"]["employee"].items():
            depts[e["department_number"]] = Department(e["department_number"], e["department_name"],
                                                       cost_center=e["cost_center"])
            people.append(Employee(e["number"], e["name"], e["department_number"], oa_user_id=key.split(":", 1)[1],
                                   erp_user=e["erp_user"]))
    with db.begin() as conn:
        store.masterdata.load(conn, depts=depts.values(), people=people, centers=[], oa_system="dingtalk")


def stored_starts(db: Database, store: RunStore, c: Case, envelopes: int, tag: str) -> tuple[int, float]:
    """Start ``envelopes`` runs of ``c``'s flow, one transaction each; (steps completed, seconds)."""
    instance = c.fixture["instance"]
    contexts = []
    for i in range(envelopes):
        envelope, key = str(uuid.uuid4()), f"{tag}-{i:06d}"
        inst = {**instance, "instance_id": key, "business_id": f"BX{i:06d}"}
        contexts.append((envelope, key, initial_context(
            envelope_id=envelope, event_type=c.fixture["event"], source="dingtalk", business_key=key,
            payload={"instance": inst}, received_at=None)))
    steps_per_run = len(advance(c.flow, c.context, c.lookup).completed)
    started = time.perf_counter()
    for envelope, key, context in contexts:
        with db.begin() as conn:
            store.start(conn, c.flow, envelope_id=envelope, business_key=key, context=context)
    seconds = time.perf_counter() - started
    with db.begin() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM run_steps").scalar_one()
        outbox = conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one()
        failed = conn.exec_driver_sql("SELECT count(*) FROM runs WHERE status <> 'running'").scalar_one()
    assert failed == 0, f"{failed} runs did not stop at their first call"
    assert outbox >= envelopes, outbox
    assert rows >= envelopes * steps_per_run, rows
    return steps_per_run * envelopes, seconds


def pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def bench_stored(envelopes: int, pure: dict[str, float], use_pg: bool) -> None:
    print(f"\n3. stored: RunStore.start for {envelopes} envelopes, one transaction each "
          "(steps up to the first call; its outbox row and message)")
    print(f"{'database':26} {'template':28} {'ms/run':>7} {'pure ms':>7} {'runs/s':>7} {'steps/s':>8} "
          f"{'pure/stored':>11}")
    cases = {SIMPLE: case(SIMPLE), RULES: case(RULES)}
    backends: list[tuple[str, Callable[[Path], tuple[Database, RunStore]]]] = [
        ("sqlite, synchronous=FULL", lambda tmp: database(f"sqlite:///{tmp / 'full.db'}")),
        ("sqlite, synchronous=NORMAL", lambda tmp: database(f"sqlite:///{tmp / 'normal.db'}", synchronous="NORMAL")),
    ]
    schema = f"bench_flows_{uuid.uuid4().hex[:6]}"
    if use_pg:
        if pg_reachable():
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            backends.append(("postgresql", lambda _tmp: database(
                f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}")))
        else:
            print(f"(PostgreSQL at {PG_ADMIN} is not reachable: skipped)")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for label, open_db in backends:
                db, store = open_db(Path(tmp))
                try:
                    load_masterdata(db, store, list(cases.values()))
                    for name, c in cases.items():
                        stored_starts(db, store, c, 10, f"warm-{name}")  # connections, statement caches
                        steps, seconds = stored_starts(db, store, c, envelopes, name)
                        rate = steps / seconds
                        pure_ms = steps / envelopes / pure[name] * 1e3
                        print(f"{label:26} {name:28} {seconds / envelopes * 1e3:>7.2f} {pure_ms:>7.2f} "
                              f"{envelopes / seconds:>7,.0f} {rate:>8,.0f} {pure[name] / rate:>10.1f}×")
                finally:
                    db.dispose()
    finally:
        if use_pg and any(label == "postgresql" for label, _ in backends):
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50, help="warm loads per figure")
    parser.add_argument("--cold", type=int, default=5, help="fresh interpreters per cold figure")
    parser.add_argument("--runs", type=int, default=2000, help="in-memory runs per pure figure")
    parser.add_argument("--envelopes", type=int, default=500, help="runs started per stored figure")
    parser.add_argument("--pg", action="store_true", help="also PostgreSQL at 127.0.0.1:5432, database test")
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()} {platform.system()} {platform.release()}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    bench_load(args.repeat, args.cold)
    pure = bench_pure(args.runs)
    bench_stored(args.envelopes, pure, args.pg)


if __name__ == "__main__":
    main()
