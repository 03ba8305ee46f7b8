# Owns the end-to-end proof of `lws serve --api-workers 2` on a regtest
# monerod of its own: a keep-alive connection that an API worker process
# accepted (found by which process holds the server side of the socket, from
# /proc) sees the outputs the scanner in the main process wrote after blocks
# were mined to the account; and the rate budget of a client is one for the
# main process and its workers together (the shared rate-limit table).
"""API worker processes see the main process's scanner writes."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LwsProcess
from tests.support.regtest import Monerod, WalletKeys

pytestmark = pytest.mark.e2e

KEYS = WalletKeys("api-workers-e2e")
#: Connections tried until one lands on a worker (the kernel picks the acceptor).
MAX_TRIES = 200


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _api_workers(main: int) -> list[int]:
    return [
        pid
        for pid in _children(main)
        if b"lws.api_worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def _server_side_owner(conn: socket.socket, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the server side of the TCP connection ``conn``."""
    client_port = conn.getsockname()[1]
    server_port = conn.getpeername()[1]
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if (
            int(local.rsplit(":", 1)[1], 16) == server_port
            and int(remote.rsplit(":", 1)[1], 16) == client_port
        ):
            inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    return None


def _exchange(conn: socket.socket, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    """One keep-alive request on ``conn``; its status and whole reply body."""
    data = json.dumps(body).encode()
    conn.sendall(
        f"POST {path} HTTP/1.1\r\nHost: lws\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += conn.recv(65536)
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += conn.recv(65536)
    return int(head.split(b" ")[1]), rest


def _post(conn: socket.socket, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """One keep-alive request on ``conn``; the JSON reply."""
    status, rest = _exchange(conn, path, body)
    assert status == 200, rest
    reply: dict[str, Any] = json.loads(rest)
    return reply


def test_a_worker_served_connection_sees_the_scanner_writes(tmp_path: Path) -> None:
    with Monerod(tmp_path / "monerod") as daemon:
        daemon.mine(5, WalletKeys("api-workers-miner").address())
        lws = LwsProcess(tmp_path / "lws", daemon, "--api-workers", "2")
        try:
            lws.login(KEYS)
            workers = _api_workers(lws.proc.pid)
            assert len(workers) == 1
            creds = {"address": KEYS.address(), "view_key": KEYS.view_secret.hex()}
            conn = None
            for _ in range(MAX_TRIES):
                candidate = socket.create_connection(("127.0.0.1", lws.port))
                _post(candidate, "/get_address_info", creds)
                if _server_side_owner(candidate, workers) is not None:
                    conn = candidate
                    break
                candidate.close()
            assert conn is not None, "no connection was accepted by the API worker"
            before = _post(conn, "/get_address_info", creds)
            assert before["total_received"] == "0"

            daemon.mine(3, KEYS.address())  # coinbase outputs to the account
            height = daemon.height()
            lws.wait_scanned(KEYS, height)  # the main process's scanner wrote them
            after = _post(conn, "/get_address_info", creds)
            assert _server_side_owner(conn, workers) == workers[0]  # still the worker
            assert after["scanned_block_height"] >= height
            assert int(after["total_received"]) > 0
            unspent = _post(conn, "/get_unspent_outs", {**creds, "amount": "0"})
            assert unspent["outputs"] == []  # coinbase is still locked for 60 blocks
            conn.close()
        finally:
            lws.stop()


def _status(conn: socket.socket, path: str, body: dict[str, Any]) -> int:
    """One keep-alive request on ``conn``; its status (the reply is read whole)."""
    return _exchange(conn, path, body)[0]


def test_the_processes_share_one_rate_budget(tmp_path: Path, monerod: Monerod) -> None:
    limit = 3
    lws = LwsProcess(tmp_path / "lws", monerod, "--api-workers", "2", "--rate-limit", str(limit))
    try:
        deadline = time.monotonic() + 30
        while not (workers := _api_workers(lws.proc.pid)):
            assert time.monotonic() < deadline, "the API worker did not start"
            time.sleep(0.1)
        owners = [lws.proc.pid, *workers]
        # One keep-alive connection accepted by each process.
        conns: dict[int, socket.socket] = {}
        for _ in range(MAX_TRIES):
            candidate = socket.create_connection(("127.0.0.1", lws.port))
            _status(candidate, "/get_version", {})
            owner = _server_side_owner(candidate, owners)
            if owner is not None and owner not in conns:
                conns[owner] = candidate
            else:
                candidate.close()
            if len(conns) == 2:
                break
        assert len(conns) == 2, "no connection to each process"
        first, second = conns.values()
        relay = {"tx": "00"}  # refused by monerod: each still spends the budget
        statuses = [_status(conn, "/submit_raw_tx", relay) for conn in (first, second, first)]
        assert 429 not in statuses
        assert _status(second, "/submit_raw_tx", relay) == 429  # the budget is one
        for conn in conns.values():
            conn.close()
    finally:
        lws.stop()


def test_the_default_serves_from_one_process_per_core(tmp_path: Path, monerod: Monerod) -> None:
    # api_workers = 0 is the configured default (tests pin 1 elsewhere):
    # one process per core, at most 4, as conf/lws.example.toml documents.
    expected_workers = max(1, min(os.cpu_count() or 1, 4)) - 1
    lws = LwsProcess(tmp_path / "lws", monerod, "--api-workers", "0")
    try:
        deadline = time.monotonic() + 30
        while len(_api_workers(lws.proc.pid)) < expected_workers:
            assert time.monotonic() < deadline, "the API workers did not start"
            time.sleep(0.1)
        time.sleep(0.5)  # no more than that start
        assert len(_api_workers(lws.proc.pid)) == expected_workers
        assert lws.login(KEYS)["new_address"] in (True, False)
    finally:
        lws.stop()
