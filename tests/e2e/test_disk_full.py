"""Disk full: the webhook answers 5xx and acknowledges nothing; once there is room again, DingTalk's
redelivery is stored and processed once (fault matrix row 13)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from huiliu.cli.demo import DemoStack
from huiliu.crypto import MsgCrypt
from huiliu.store.schema import messages


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8M", "tmpfs", str(mount)],  # the hub.db fits
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    """Write zeros until the disk is full (unbuffered: nothing is left to fail when the file is closed)."""
    with path.open("wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:  # the last pages, a block at a time
                filler.write(b"\0" * 4096)
        except OSError:
            pass


@pytest.mark.sqlite_only
async def test_disk_full_webhook_answers_503_and_stores_nothing(make_stack: Callable[..., DemoStack],
                                                                small_disk: Path) -> None:
    settings = {"database_url": f"sqlite:///{small_disk / 'hub.db'}"}
    async with make_stack(worker=False, settings=settings) as stack:
        hub = stack.hub
        assert hub is not None and hub.settings.dingtalk is not None
        s = hub.settings.dingtalk
        crypt = MsgCrypt(s.callback_token.get_secret_value(), s.aes_key.get_secret_value(), s.app_key)
        url = f"http://127.0.0.1:{stack.port}/webhooks/dingtalk"

        def sealed(instance_id: str) -> tuple[dict[str, str], str]:
            ts = str(int(time.time() * 1000))
            event = json.dumps({"EventType": "bpms_instance_change", "processInstanceId": instance_id,
                                "type": "finish", "result": "agree", "corpId": "c", "processCode": "PROC-EXPENSE"})
            env = crypt.seal(event + " " * 20000, ts, "n1")  # big enough that no free page can hold it
            return {"msg_signature": env["msg_signature"], "timeStamp": ts, "nonce": "n1"}, json.dumps(
                {"encrypt": env["encrypt"]})

        filler = small_disk / "filler"
        _fill(filler)
        async with aiohttp.ClientSession() as http:
            params, body = sealed("full-1")
            async with http.post(url, params=params, data=body) as resp:
                assert resp.status == 503
                reply = await resp.json()
            assert reply["error"] == "storage_unavailable"
            assert "磁盘" in reply["message"]
            filler.unlink()  # room again: the vendor's redelivery goes through
            params, body = sealed("full-1")
            async with http.post(url, params=params, data=body) as resp:
                assert resp.status == 200
        with hub.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 1
