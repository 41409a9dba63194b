"""A hub made of real processes beside in-process sandboxes: for crash tests and the scale-out bench.

The DingTalk and Kingdee sandboxes run on a thread of the calling process; ``huiliu serve`` and any
number of ``huiliu worker`` processes are started with the settings that point them at the sandboxes and
at one database (and, if asked, one broker). Processes are real, so they can be killed for real.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import func, select

from huiliu.crosswalk import Crosswalk, MasterData
from huiliu.sandbox import SandboxServer
from huiliu.sandbox.company import make_company
from huiliu.sandbox.dingtalk import DingTalkSandbox
from huiliu.sandbox.kingdee import KingdeeSandbox
from huiliu.store import Database
from huiliu.store.schema import runs

__all__ = ["HUILIU", "ProcessRig", "free_port"]

HUILIU = str(Path(sys.executable).with_name("huiliu"))
"""The ``huiliu`` command of the running interpreter's environment."""
_AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProcessRig:
    """Sandboxes here, the hub in child processes, one database between them.

    Args:
        logs: directory for the children's output (``serve-0.log``, ``worker-1.log`` …).
        database_url: the hub's database; migrated and loaded with the company's master data.
        seed: the simulated company.
        lease: the workers' lease in seconds (short in crash tests, so a killed worker's work returns soon).
    """

    def __init__(self, logs: Path, database_url: str, *, seed: int = 5, lease: float = 2.0) -> None:
        self.company = make_company(seed)
        self.ding = DingTalkSandbox(app_key="dingrig", app_secret="s3cret", corp_id="dingcorp",  # noqa: S106
                                    callback_token="tok", aes_key=_AES, company=self.company)  # noqa: S106
        self.kd = KingdeeSandbox(acct_id="HL001", username="huiliu", password="pw",  # noqa: S106
                                 company=self.company)
        self.ding_srv, self.kd_srv = SandboxServer(self.ding.app), SandboxServer(self.kd.app)
        self.ding_srv.start_in_thread()
        self.kd_srv.start_in_thread()
        self.port = free_port()
        self.db_url = database_url
        self.lease = lease
        self.procs: list[subprocess.Popen[bytes]] = []
        self.transport_env: dict[str, str] = {}
        """Extra ``HUILIU_*`` settings for every child, e.g. the transport and broker."""
        self.tmp = logs
        db = Database(self.db_url)
        db.migrate()
        with db.begin() as conn:
            MasterData(Crosswalk()).load(conn, depts=self.company.departments, people=self.company.employees,
                                         centers=self.company.cost_centers, oa_system="dingtalk")
        self.db = db

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a child: this one without its ``HUILIU_*``, plus the rig's settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUILIU_")}
        env.update(self.transport_env)
        env.update({
            "HUILIU_DATABASE_URL": self.db_url, "HUILIU_PORT": str(self.port),
            "HUILIU_LEASE_SECONDS": str(self.lease),
            "HUILIU_POLL_INTERVAL": "0.05", "HUILIU_RETRY__INITIAL_INTERVAL": "0.05", "HUILIU_RETRY__JITTER": "0",
            "HUILIU_DINGTALK__BASE_URL": self.ding_srv.url, "HUILIU_DINGTALK__APP_KEY": "dingrig",
            "HUILIU_DINGTALK__APP_SECRET": "s3cret", "HUILIU_DINGTALK__CORP_ID": "dingcorp",
            "HUILIU_DINGTALK__CALLBACK_TOKEN": "tok", "HUILIU_DINGTALK__AES_KEY": _AES,
            "HUILIU_DINGTALK__WRITEBACK_USER_ID": "manager",
            "HUILIU_KINGDEE__BASE_URL": self.kd_srv.url, "HUILIU_KINGDEE__ACCT_ID": "HL001",
            "HUILIU_KINGDEE__USERNAME": "huiliu", "HUILIU_KINGDEE__PASSWORD": "pw",
        })
        env.update(extra)
        return env

    def spawn(self, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        """Start ``huiliu ARGS…`` with the rig's environment (plus ``extra``)."""
        with open(self.tmp / f"{args[0]}-{len(self.procs)}.log", "wb") as log:
            proc = subprocess.Popen([HUILIU, *args], env=self.env(**extra),  # noqa: S603 -- our own command
                                    stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def wait_http(self) -> None:
        """Wait until the hub answers ``/healthz`` (liveness: no credentials needed)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("hub did not start: " + (self.tmp / "serve-0.log").read_text(errors="replace"))

    def start_hub(self, *, worker: bool = False) -> None:
        """``huiliu serve`` (``--no-worker`` unless asked) with DingTalk delivering its callbacks to it."""
        self.spawn("serve", *(() if worker else ("--no-worker",)))
        self.wait_http()
        self.ding.subscribe(f"http://127.0.0.1:{self.port}/webhooks/dingtalk")
        self.ding_srv.run_coroutine(self.ding.start_delivery())

    def submit_approved(self) -> str:
        """Start one claim in DingTalk and approve it; returns the instance id."""
        spec = self.company.claim(approve_rate=1.0)

        async def go() -> str:
            instance_id = self.ding.start_claim(spec)
            self.ding.finish(instance_id, "approved")
            return instance_id

        return str(self.ding_srv.run_coroutine(go()))

    def run_status(self) -> str | None:
        """The status of the (first) run."""
        with self.db.read() as conn:
            return conn.execute(select(runs.c.status)).scalar()

    def succeeded(self) -> int:
        """How many runs have succeeded."""
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(runs)
                                    .where(runs.c.status == "succeeded")).scalar_one())

    def stop_processes(self) -> None:
        """SIGTERM every child (graceful), SIGKILL what does not stop within 10 s."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def close(self) -> None:
        """Stop the children and the sandboxes; close the database."""
        self.stop_processes()
        self.ding_srv.run_coroutine(self.ding.stop_delivery())
        self.ding_srv.stop_thread()
        self.kd_srv.stop_thread()
        self.db.dispose()
