"""Directory sync speed: a company of 50,000 people in 2,000 departments, first sync and a day later.

The first sync creates everything; the second applies a day's churn (moves, renames, leavers, joiners,
people changing department) to the same size of directory. Both run in one transaction each, on
SQLite (default) or PostgreSQL, and print seconds and rows/s.

    .venv/bin/python bench/directory.py [--users 50000] [--departments 2000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from huiliu.bus import EventLog
from huiliu.crosswalk import Crosswalk
from huiliu.identity import DirectorySync
from huiliu.model import OrgUnit, OrgUser, SystemClock
from huiliu.store import Database

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"


def company(rng: random.Random, n_units: int, n_users: int) -> tuple[list[OrgUnit], list[OrgUser]]:
    units = [OrgUnit("1", "总公司")]
    for i in range(2, n_units + 1):
        parent = units[rng.randrange(max(1, len(units) // 4) if i > 50 else len(units))].native_id
        units.append(OrgUnit(str(i), f"部门{i:04d}", parent))
    users = []
    for i in range(n_users):
        depts = (str(rng.randint(1, n_units)),) + ((str(rng.randint(1, n_units)),) if i % 10 == 0 else ())
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
        users.append(OrgUser(f"u{i:06d}", name, f"E{100000 + i}", depts))
    return units, users


def churn(rng: random.Random, units: list[OrgUnit], users: list[OrgUser]) -> tuple[list[OrgUnit], list[OrgUser]]:
    units = list(units)
    for i in rng.sample(range(50, len(units)), 20):  # moves
        u = units[i]
        units[i] = OrgUnit(u.native_id, u.name, units[rng.randrange(1, 40)].native_id)
    for i in rng.sample(range(1, len(units)), 20):  # renames
        u = units[i]
        units[i] = OrgUnit(u.native_id, u.name + "（新）", u.parent_id)
    users = list(users)
    leavers = set(rng.sample(range(len(users)), 300))
    users = [u for i, u in enumerate(users) if i not in leavers]
    for i in rng.sample(range(len(users)), 500):  # transfers
        u = users[i]
        users[i] = OrgUser(u.native_id, u.name, u.employee_number, (str(rng.randint(1, len(units))),))
    users += [OrgUser(f"n{i:05d}", "新员工", f"N{i:05d}", ("1",)) for i in range(300)]
    return units, users


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--departments", type=int, default=2_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    rng = random.Random(1)
    units, users = company(rng, args.departments, args.users)
    with tempfile.TemporaryDirectory() as tmp:
        url, schema = f"sqlite:///{Path(tmp) / 'dir.db'}", None
        if args.database_url:
            schema = f"bench_dir_{uuid.uuid4().hex[:6]}"
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            url = f"{args.database_url}?options=-csearch_path%3D{schema}"
        db = Database(url)
        db.migrate()
        clock = SystemClock()
        sync = DirectorySync(Crosswalk(clock), EventLog(clock), clock)
        try:
            for label, (u, p) in (("first sync", (units, users)), ("a day later", churn(rng, units, users))):
                started = time.perf_counter()
                with db.begin() as conn:
                    report = sync.apply(conn, "dingtalk", u, p, complete=True)
                seconds = time.perf_counter() - started
                print(f"{label:12} {len(p):,} people, {len(u):,} departments: {seconds:.2f} s "
                      f"({(len(p) + len(u)) / seconds:,.0f} rows/s), {report.changes:,} changes, "
                      f"{len(report.problems)} problems")
        finally:
            db.dispose()
            if schema:
                with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
