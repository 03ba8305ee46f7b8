# Owns spreading the CPU-bound half of a scan (find_received: derivations,
# view tags, amounts) over worker processes, one per core. Workers hold the
# current accounts' view keys and get slices of a batch's transactions.
# Must not touch the store or the daemon; results come back in tx order.
"""A pool of scan worker processes."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
from collections.abc import Sequence
from typing import Any

import trio

from lws.monero.ownership import ViewKey
from lws.monero.scan import ReceivedRows, ScanTx, find_received

#: At most this many (transaction, account) pairs go into one find_received
#: call: its dense per-pair intermediate lists must stay small in memory.
MAX_PAIRS_PER_CALL = 200_000


def _chunks(txs: Sequence[ScanTx], accounts: int) -> list[Sequence[ScanTx]]:
    step = max(1, MAX_PAIRS_PER_CALL // max(accounts, 1))
    return [txs[i : i + step] for i in range(0, len(txs), step)]


def scan_inline(txs: Sequence[ScanTx], accounts: Sequence[ViewKey]) -> ReceivedRows:
    """find_received over ``txs`` in bounded chunks, in this process."""
    rows: ReceivedRows = []
    if not accounts:
        return [{} for _ in txs]
    for chunk in _chunks(txs, len(accounts)):
        rows.extend(find_received(chunk, accounts))
    return rows


def _worker_main(conn: multiprocessing.connection.Connection) -> None:
    accounts: Sequence[ViewKey] = ()
    conn.send(("ready", None))  # imports done: the first scan is not slowed by them
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        kind = message[0]
        if kind == "accounts":
            accounts = message[1]
            conn.send(("ok", None))
        elif kind == "scan":
            try:
                conn.send(("ok", scan_inline(message[1], accounts)))
            except Exception as exc:  # reported to the parent, which logs it
                conn.send(("error", repr(exc)))
        elif kind == "stop":
            return


class ScanPool:
    """``workers`` processes (0: one per core; 1: scan in a thread of this process)."""

    def __init__(self, workers: int = 0) -> None:
        self.size = workers or os.cpu_count() or 1
        self._conns: list[multiprocessing.connection.Connection] = []
        self._procs: list[Any] = []
        self._accounts: Sequence[ViewKey] = ()
        self._sent_version: list[int] = []
        self._version = 0

    def start(self) -> None:
        """Start the workers and wait until each is ready (blocking: call it in a thread)."""
        if self.size <= 1 or self._procs:
            return
        context = multiprocessing.get_context("spawn")
        for _ in range(self.size):
            parent, child = context.Pipe()
            proc = context.Process(target=_worker_main, args=(child,), daemon=True, name="lws-scan")
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
            self._sent_version.append(-1)
        for conn in self._conns:
            conn.recv()  # each worker says "ready" once it has imported lws

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(("stop",))
            except OSError:
                pass
            conn.close()
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        self._conns.clear()
        self._procs.clear()

    def set_accounts(self, accounts: Sequence[ViewKey]) -> None:
        """The accounts of the next scans; shipped to workers lazily, once."""
        self._accounts = tuple(accounts)
        self._version += 1

    async def find_received(self, txs: Sequence[ScanTx]) -> ReceivedRows:
        accounts = self._accounts
        if not txs or not accounts:
            return [{} for _ in txs]
        if not self._procs or len(txs) < 2 * self.size:
            return await trio.to_thread.run_sync(scan_inline, txs, accounts)
        slices = _split_by_outputs(txs, len(self._procs))
        results: list[ReceivedRows] = [[] for _ in slices]

        async def run(worker: int, part: Sequence[ScanTx]) -> None:
            results[worker] = await trio.to_thread.run_sync(self._exchange, worker, part)

        async with trio.open_nursery() as nursery:
            for worker, part in enumerate(slices):
                nursery.start_soon(run, worker, part)
        return [row for part_rows in results for row in part_rows]

    def _exchange(self, worker: int, part: Sequence[ScanTx]) -> ReceivedRows:
        conn = self._conns[worker]
        if self._sent_version[worker] != self._version:
            conn.send(("accounts", self._accounts))
            conn.recv()
            self._sent_version[worker] = self._version
        conn.send(("scan", list(part)))
        status, payload = conn.recv()
        if status != "ok":
            raise RuntimeError(f"scan worker failed: {payload}")
        rows: ReceivedRows = payload
        return rows


def _split_by_outputs(txs: Sequence[ScanTx], parts: int) -> list[Sequence[ScanTx]]:
    """Contiguous slices with about equal output counts (the scan cost)."""
    total = sum(len(item.tx.outputs) for item in txs) or 1
    target = total / parts
    slices: list[Sequence[ScanTx]] = []
    start = 0
    acc = 0
    for i, item in enumerate(txs):
        acc += len(item.tx.outputs)
        if acc >= target * (len(slices) + 1) and len(slices) < parts - 1:
            slices.append(txs[start : i + 1])
            start = i + 1
    slices.append(txs[start:])
    return [s for s in slices if len(s)] or [txs]
