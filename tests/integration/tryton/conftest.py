"""A real Tryton 8.2 for the session: installed and templated by scripts/tryton, served from a copy of the template.

The first run installs Tryton into ``$HUILIU_TRYTON_HOME`` (default ``~/.cache/huiliu/tryton``) and builds the
template database (about 30 s here); later sessions copy the template and start ``trytond`` in about a second.
Without network (Tryton cannot be installed) the tests are skipped and say why; with ``CI=true`` they fail,
since CI must run them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from tryton_env import Env, TrytonServer

from huiliu.connectors.base import ActionRegistry
from huiliu.connectors.http import HttpClient
from huiliu.connectors.tryton import SYSTEM, TrytonClient, register_actions

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "tryton"


def _unavailable(what: str) -> None:
    message = f"{what} — run scripts/tryton template (needs PyPI access) to install it"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    body = json.dumps({"id": 0, "method": "common.server.version", "params": []}).encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"trytond exited with {process.returncode}")
        request = urllib.request.Request(f"{url}/rpc/", body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=2) as reply:
                if json.load(reply).get("result"):
                    return
        except (OSError, ValueError):
            time.sleep(0.1)
    raise RuntimeError(f"trytond did not answer within {timeout:.0f} s")


@pytest.fixture(scope="session")
def tryton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    """Install (once), build the template (once), then serve a fresh copy of it on a free port."""
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, str(SCRIPT), "template"], capture_output=True, text=True,
                              timeout=900, check=False)
    except subprocess.TimeoutExpired:
        _unavailable("installing Tryton took more than 15 minutes")
        raise  # unreachable: skip/fail raise
    if done.returncode != 0:
        tail = " | ".join(line for line in done.stderr.strip().splitlines()[-3:] if "is ignored" not in line)
        _unavailable(f"Tryton could not be installed or set up ({tail})")
    info = json.loads(done.stdout)
    prepared = time.monotonic()
    workdir = tmp_path_factory.mktemp("tryton")
    port = _free_port()
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - open for the server's whole life
    # scripts/tryton serve copies the template and execs trytond, so this PID is the server's own.
    process = subprocess.Popen([sys.executable, str(SCRIPT), "serve", "--port", str(port), "--workdir",
                                str(workdir)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, timeout=60)
    except RuntimeError as exc:
        process.kill()
        process.wait()
        log.close()
        tail = (workdir / "server.log").read_text(errors="replace")[-500:]
        pytest.fail(f"Tryton did not start: {exc}\n{tail}")
    server = TrytonServer(url, info["database"], info["login"], info["password"], info, {
        "install_and_template_check_s": prepared - started, "copy_and_start_s": time.monotonic() - prepared})
    try:
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
async def tryton(tryton_server: TrytonServer) -> AsyncIterator[Env]:
    async with aiohttp.ClientSession() as http:
        settings = tryton_server.settings()
        client = TrytonClient(settings, HttpClient(SYSTEM, http, timeout=settings.timeout))
        registry = ActionRegistry()
        register_actions(registry, client, settings)
        yield Env(tryton_server, settings, client, registry, http)
