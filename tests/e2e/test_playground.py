# Owns the proof of the README's first command: `lws serve` with no monerod
# configured starts the regtest playground, and the request its welcome text
# tells a person to send (get_address_info of the demo wallet) shows the
# coinbase the playground mined to that wallet, equal to the block rewards
# monerod itself reports for those blocks.
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.regtest import free_port

#: monerod start, 80 funding blocks, lws start and the scan, on a busy CI machine.
START_TIMEOUT_S = 180


def _wait_for(pattern: str, path: Path, proc: subprocess.Popen[bytes]) -> re.Match[str]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text(errors="replace"))
        if found:
            return found
        assert proc.poll() is None, f"lws serve exited:\n{path.read_text()}"
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} in {path.name} after {START_TIMEOUT_S}s")


def test_the_playground_shows_the_demo_wallets_mined_coinbase(tmp_path: Path) -> None:
    port = free_port()
    out_path, log_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(out_path, "wb") as out, open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lws",
                "serve",
                "--data-dir",
                str(tmp_path / "data"),
                "--listen",  # and otherwise the defaults, as the README runs it
                f"127.0.0.1:{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=log,
            start_new_session=True,
        )
    try:
        # What a person reads: the API URL and the demo wallet's keys.
        welcome = _wait_for(
            r"API URL:\s+(\S+)\s+demo address:\s+(\S+)\s+demo view key:\s+(\S+)", out_path, proc
        )
        url, address, view_key = welcome.groups()
        daemon_url = _wait_for(r"daemon (http://127\.0\.0\.1:\d+)\)", log_path, proc).group(1)
        credentials = {"address": address, "view_key": view_key}
        with httpx.Client(timeout=30) as client:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                info = client.post(f"{url}/get_address_info", json=credentials).json()
                if info["start_height"] == 0 and info["scanned_block_height"] >= 81:
                    break
                assert time.monotonic() < deadline, f"demo wallet not scanned: {info}"
                time.sleep(0.5)
            scanned = info["scanned_block_height"]
            # Every block but the genesis block was mined to the demo wallet.
            headers = client.post(
                f"{daemon_url}/json_rpc",
                json={
                    "jsonrpc": "2.0",
                    "id": "0",
                    "method": "get_block_headers_range",
                    "params": {"start_height": 1, "end_height": scanned - 1},
                },
            ).json()["result"]["headers"]
        rewards = sum(int(header["reward"]) for header in headers)
        assert len(headers) == scanned - 1
        assert rewards > 0
        assert int(info["total_received"]) == rewards
        assert info["total_sent"] == "0"
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the playground stops its monerod
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # Ctrl-C reaches every process of the group (the scan workers too): lws
    # stops without a traceback from any of them.
    stderr = log_path.read_text(errors="replace")
    assert "Traceback" not in stderr, stderr[-3000:]
