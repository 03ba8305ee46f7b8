# Owns the tests of the API worker processes (api/workers.py, api/worker.py):
# a real worker process serves a listening socket this test process bound
# and does not serve itself, so every request is answered by the worker; this
# process plays the scanner's part (it writes the store, provides the status
# and receives the wake-ups). Also: a killed worker is restarted, shutdown
# stops them all, and a worker that cannot start fails the start.
"""API worker processes over the same store."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from lws.api.supervisor import ApiWorkers, WorkerFailed
from lws.config import Config
from lws.scan.status import ScannerStatus, ScanState
from lws.store import AccountBatch, Store
from tests.support.regtest import WalletKeys

from .conftest import DEAD_DAEMON, add_account, creds, make_config
from .test_replies import ALICE, CHAIN, _out

BOB = WalletKeys("bob")


class Main:
    """What the main process gives the workers: a status, and wake-ups received."""

    def __init__(self) -> None:
        self.status = ScannerStatus(state=ScanState.OK, daemon_height=CHAIN)
        self.wakes = 0
        self.woken = trio.Event()

    def wake(self) -> None:
        self.wakes += 1
        self.woken.set()


async def listening_socket() -> tuple[trio.socket.SocketType, str]:
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    host, port = sock.getsockname()
    return sock, f"http://{host}:{port}"


def worker_config(tmp_path: Path, **more: Any) -> Config:
    # The store fixture lives at tmp_path / "store": the worker opens the same one.
    return make_config(data_dir=str(tmp_path), daemon_url=DEAD_DAEMON, **more)


async def until(condition: Any, timeout: float = 30) -> None:
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.05)


@pytest.fixture
async def served(tmp_path: Path, store: Store) -> AsyncIterator[tuple[ApiWorkers, Main, str]]:
    sock, url = await listening_socket()
    main = Main()
    workers = ApiWorkers(
        worker_config(tmp_path, auto_accept_import=True),
        [sock],
        1,
        status=lambda: main.status,
        wake=main.wake,
    )
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(workers.run, shutdown)
        yield workers, main, url
        shutdown.set()
    assert workers.pids == set()  # stopped and reaped
    sock.close()


def _post(url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, timeout=30)


async def post(url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return await trio.to_thread.run_sync(_post, url, path, body)


async def test_a_worker_sees_the_scanner_process_writes(
    served: tuple[ApiWorkers, Main, str], store: Store
) -> None:
    workers, main, url = served
    assert len(workers.pids) == 1 and os.getpid() not in workers.pids
    # This process writes as the scanner does; the worker reads the same LMDB.
    account = add_account(store, ALICE)
    first = _out(10, 1, 0, 5_000_000_000_000, 10)
    hashes = [height.to_bytes(32, "big") for height in range(CHAIN + 5)]
    batch = AccountBatch(from_height=0, scan_height=CHAIN, outputs=(first,))
    store.transact(lambda w: w.add_block_batch(0, hashes[:CHAIN], {account: batch}))
    reply = await post(url, "/get_address_info", creds(ALICE))
    assert reply.status_code == 200 and reply.json()["total_received"] == str(first.amount)
    # A later write is seen at once (the worker's reply cache is per store generation).
    second = _out(CHAIN + 1, 1, 0, 7_000_000_000_000, 90)
    more = AccountBatch(from_height=CHAIN, scan_height=CHAIN + 5, outputs=(second,))
    store.transact(lambda w: w.add_block_batch(CHAIN, hashes[CHAIN:], {account: more}))
    reply = await post(url, "/get_address_info", creds(ALICE))
    info = reply.json()
    assert info["total_received"] == str(first.amount + second.amount)
    assert info["blockchain_height"] == CHAIN + 5
    # ... and the worker's writes reach this process's scanner as wake-ups.
    add_account(store, BOB, start=CHAIN)
    assert main.wakes == 0
    reply = await post(url, "/import_wallet_request", creds(BOB))
    assert reply.status_code == 200 and reply.json()["new_request"] is True
    with trio.fail_after(10):
        await main.woken.wait()


async def test_a_killed_worker_is_restarted(
    served: tuple[ApiWorkers, Main, str], store: Store
) -> None:
    workers, _, url = served
    add_account(store, ALICE)
    [pid] = workers.pids
    os.kill(pid, signal.SIGKILL)
    await until(lambda: len(workers.pids) == 1 and pid not in workers.pids)
    reply: httpx.Response | None = None
    with trio.fail_after(30):
        while reply is None:
            try:
                reply = await post(url, "/login", {**creds(ALICE), "create_account": False})
            except httpx.TransportError:  # the new worker is not listening yet
                await trio.sleep(0.1)
    assert reply.status_code == 200


async def test_a_worker_that_cannot_start_fails_the_start(tmp_path: Path) -> None:
    sock, _ = await listening_socket()
    # No store can be made under a file: the worker exits before it listens.
    (tmp_path / "file").write_bytes(b"")
    workers = ApiWorkers(
        make_config(data_dir=str(tmp_path / "file"), daemon_url=DEAD_DAEMON),
        [sock],
        1,
        status=ScannerStatus,
        wake=lambda: None,
    )
    with pytest.raises(BaseExceptionGroup) as raised:
        async with trio.open_nursery() as nursery:
            await nursery.start(workers.run, trio.Event())
    assert raised.group_contains(WorkerFailed, depth=None)
    sock.close()
