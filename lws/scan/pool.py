# Owns spreading the CPU-bound half of a scan (parsing a get_blocks reply,
# then find_received: derivations, view tags, amounts) over worker
# processes, one per core. Workers hold the current accounts' view keys and
# get slices of a reply (or of a list of transactions).
# Parsed batches and rows travel as msgpack (msgspec), not pickle: decoding
# them is on the scanner's critical path and msgspec is ~5x faster.
# Must not touch the store or the daemon; results come back in chain order.
"""A pool of scan worker processes."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec
import trio

from lws.daemon import BlocksReply
from lws.errors import DaemonError, ScanWorkerError
from lws.gc_tuning import tune_for_long_running
from lws.monero.extra import parse_extra
from lws.monero.ownership import ViewKey, uses_x25519_ladders
from lws.monero.scan import ReceivedRows, ScanTx, find_received
from lws.scan.batch import (
    ParsedBatch,
    SpendBatch,
    merge_batches,
    parse_blocks,
    split_reply_guided,
)

from .ladders import use_fastest_ladders

#: A parsed reply, and find_received's rows for its txs in [start, end).
ParsedAndFound = tuple[ParsedBatch, ReceivedRows]
#: What the scanner gets back: a worker's batch comes decoded as a SpendBatch.
ScannedAndFound = tuple[ParsedBatch | SpendBatch, ReceivedRows]

#: At most this many (tx public key, account) pairs go into one find_received
#: call: its dense per-pair intermediates (a 32-byte derivation with the C
#: extension; a ladder result, two view-tag candidates and an inverse,
#: ~250 bytes, on the X25519 path) must stay small in memory. Counted per key, not per transaction: a transaction with one
#: additional key per output weighs up to 17 times a plain one (chunks of
#: 20 such transactions for 10,000 accounts took a scan worker from ~70 to
#: ~140 MB).
MAX_KEY_PAIRS_PER_CALL = 200_000

_ENCODER = msgspec.msgpack.Encoder()
_TXS_DECODER = msgspec.msgpack.Decoder(list[ScanTx])
_ROWS_DECODER = msgspec.msgpack.Decoder(ReceivedRows)
#: Awaited with each slice of a batch, in chain order (see parse_and_find).
SliceHandler = Callable[[ParsedBatch | SpendBatch, ReceivedRows], Awaitable[None]]

#: The scanner's process reads only the inputs of a worker's transactions.
_PARSED_DECODER = msgspec.msgpack.Decoder(tuple[SpendBatch, ReceivedRows])


class ScanWorkers(Protocol):
    """What the scanner asks of whoever does its CPU work: the local worker
    processes (:class:`ScanPool`) or a Dask cluster (lws.scan.cluster); the
    scanner does not care which."""

    def start(self) -> None:
        """Be ready to scan (blocking: the scanner calls it in a thread)."""
        ...

    def close(self) -> None:
        """Stop, abandoning any scan under way (blocking)."""
        ...

    def set_accounts(self, accounts: Sequence[ViewKey]) -> None:
        """The accounts of the next scans."""
        ...

    @property
    def accounts(self) -> Sequence[ViewKey]:
        """The accounts set last."""
        ...

    async def find_received(self, txs: Sequence[ScanTx]) -> ReceivedRows:
        """find_received's rows of ``txs`` (pool transactions) for the accounts."""
        ...

    async def parse_and_find(
        self,
        reply: BlocksReply,
        start: int,
        end: int,
        on_slice: SliceHandler | None = None,
    ) -> ScannedAndFound:
        """``reply`` parsed and the rows of its txs of heights in [start, end),
        each slice handed to ``on_slice`` in chain order (see ScanPool)."""
        ...


def _chunks(txs: Sequence[ScanTx], accounts: int) -> list[Sequence[ScanTx]]:
    """Consecutive runs of ``txs`` of at most MAX_KEY_PAIRS_PER_CALL (key,
    account) pairs each (a transaction alone may exceed it)."""
    budget = MAX_KEY_PAIRS_PER_CALL // max(accounts, 1)
    # Every key takes 32 bytes of a tx's extra: when even that bound fits
    # (one account, or few transactions), there is nothing to count.
    if sum(1 + len(item.tx.extra) // 32 for item in txs) <= budget:
        return [txs]
    chunks: list[Sequence[ScanTx]] = []
    start = 0
    keys = 0
    for i, item in enumerate(txs):
        extra = parse_extra(item.tx.extra)
        weight = len(extra.tx_pubkeys) + min(len(extra.additional_pubkeys), len(item.tx.outputs))
        if keys + weight > budget and i > start:
            chunks.append(txs[start:i])
            start, keys = i, 0
        keys += weight
    chunks.append(txs[start:])
    return chunks


def scan_inline(txs: Sequence[ScanTx], accounts: Sequence[ViewKey]) -> ReceivedRows:
    """find_received over ``txs`` in bounded chunks, in this process."""
    rows: ReceivedRows = []
    if not accounts:
        return [{} for _ in txs]
    for chunk in _chunks(txs, len(accounts)):
        rows.extend(find_received(chunk, accounts))
    return rows


def parse_and_scan_inline(
    reply: BlocksReply, accounts: Sequence[ViewKey], start: int, end: int
) -> ParsedAndFound:
    """Parse ``reply`` (skips not logged: see ParsedBatch.skipped) and scan
    its transactions of heights in [start, end) for ``accounts``."""
    batch = parse_blocks(reply, log_skips=False)
    kept = [tx for tx, meta in zip(batch.txs, batch.metas) if start <= meta.height < end]
    return batch, scan_inline(kept, accounts)


def _worker_main(conn: multiprocessing.connection.Connection) -> None:
    # Ctrl-C reaches the whole process group; stopping is the main process's
    # job (ScanPool.close sends "stop", and a dead main process ends recv()
    # with EOFError), so a worker must not die on it with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    accounts: Sequence[ViewKey] = ()
    tune_for_long_running()
    if uses_x25519_ladders():
        use_fastest_ladders()  # the X25519 backend is timed once, here, not in a scan
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
                txs = _TXS_DECODER.decode(message[1])
                conn.send(("ok", _ENCODER.encode(scan_inline(txs, accounts))))
            except Exception as exc:  # reported to the parent, which logs it
                conn.send(("error", repr(exc)))
        elif kind == "parse_scan":
            try:
                found = parse_and_scan_inline(message[1], accounts, *message[2])
                conn.send(("ok", _ENCODER.encode(found)))
            except DaemonError as exc:  # a block that does not parse
                conn.send(("daemon_error", str(exc)))
            except Exception as exc:
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
        #: A call was abandoned (cancelled) while a worker was busy: the
        #: workers' pipes are out of step, so they are killed and restarted.
        self._out_of_step = False
        #: Exchanges under way in threads (an abandoned one may still wait on
        #: its pipe): close() lets them fail on EOF before closing the pipes.
        self._in_flight = 0
        self._idle = threading.Condition()

    def start(self) -> None:
        """Start the workers and wait until each is ready (blocking: call it in a thread)."""
        if self.size <= 1 and uses_x25519_ladders():
            use_fastest_ladders()  # this process scans: time the backends here, once
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

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (empty when scanning in-process)."""
        return [int(proc.pid) for proc in self._procs]

    def close(self) -> None:
        """Stop the workers; a worker busy with an abandoned call is killed at once."""
        busy = self._out_of_step
        for conn in self._conns:
            try:
                conn.send(("stop",))
            except OSError:
                pass
        for proc in self._procs:
            if busy:
                proc.kill()
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        with self._idle:  # a dead worker's pipe gives EOF to a thread still reading it
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=5)
        for conn in self._conns:
            conn.close()
        self._conns.clear()
        self._procs.clear()
        self._sent_version.clear()
        self._out_of_step = False

    def _restart(self) -> None:
        self.close()
        self.start()

    async def _in_step(self) -> None:
        """Restart the workers if a call was abandoned (once per public call)."""
        if self._out_of_step:
            await trio.to_thread.run_sync(self._restart)

    async def _call(self, function: Any, *args: Any) -> Any:
        """``function(*args)`` in a thread that a cancel abandons at once.

        A scan of a large batch may take minutes; shutdown must not wait for
        it. The abandoned batch is never written (the caller is cancelled
        before its store write), and the workers that were computing it are
        killed and restarted by the next public call (see _in_step).
        """
        try:
            return await trio.to_thread.run_sync(function, *args, abandon_on_cancel=True)
        except trio.Cancelled:
            self._out_of_step = True
            raise

    def set_accounts(self, accounts: Sequence[ViewKey]) -> None:
        """The accounts of the next scans; shipped to workers lazily, once."""
        self._accounts = tuple(accounts)
        self._version += 1

    @property
    def accounts(self) -> Sequence[ViewKey]:
        return self._accounts

    async def find_received(self, txs: Sequence[ScanTx]) -> ReceivedRows:
        accounts = self._accounts
        if not txs or not accounts:
            return [{} for _ in txs]
        await self._in_step()
        if not self._procs:
            return await self._call(scan_inline, txs, accounts)  # type: ignore[no-any-return]
        # Even a single pool tx goes to a worker: scanned for many accounts it
        # would hold this process's GIL (and its API) for a long while.
        slices = _split_by_outputs(txs, min(len(self._procs), len(txs)))
        results: list[ReceivedRows] = [[] for _ in slices]

        errors: list[Exception] = []

        async def run(worker: int, part: Sequence[ScanTx]) -> None:
            try:
                results[worker] = await self._call(
                    self._exchange, worker, ("scan", _ENCODER.encode(list(part))), _ROWS_DECODER
                )
            except ScanWorkerError as exc:  # let every worker answer
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            for worker, part in enumerate(slices):
                nursery.start_soon(run, worker, part)
        if errors:
            raise errors[0]
        return [row for part_rows in results for row in part_rows]

    async def parse_and_find(
        self,
        reply: BlocksReply,
        start: int,
        end: int,
        on_slice: SliceHandler | None = None,
    ) -> ScannedAndFound:
        """``reply`` parsed (one batch) and the rows of its txs of heights in [start, end).

        The reply is cut into slices of shrinking size (split_reply_guided),
        and each worker parses and scans one slice after another, taking the
        next free one: a worker slowed down (by another process on its core)
        takes fewer, instead of the batch waiting for its half, and the last
        small slices end the batch on both workers at about the same time
        (on the bench batch, equal halves ended 250 and 340 ms in on a noisy
        2-core VM). Only blobs travel to the workers.

        ``on_slice``, when given, is awaited with each slice's batch and rows
        in chain order as soon as the slices before it are in, while the
        workers go on with the rest; an exception it raises stops the batch
        and is raised here as itself. Raises DaemonError when a block does
        not parse.
        """
        accounts = self._accounts
        await self._in_step()
        if not self._procs or len(reply.blocks) < 2:
            whole: ParsedAndFound = await self._call(
                parse_and_scan_inline, reply, accounts, start, end
            )
            if on_slice is not None:
                await on_slice(*whole)
            return whole
        slices = split_reply_guided(reply, len(self._procs))
        # A worker's reply is kept encoded until its turn in chain order comes:
        # the worker gets its next slice at once, not after a decode here.
        encoded: list[bytes | None] = [None] * len(slices)
        results: list[tuple[SpendBatch, ReceivedRows] | None] = [None] * len(slices)
        errors: list[Exception] = []
        taken = 0
        arrived_send, arrived = trio.open_memory_channel[None](len(slices))

        async def run(worker: int) -> None:
            nonlocal taken
            while taken < len(slices) and not errors:
                index = taken
                taken += 1
                message = ("parse_scan", slices[index], (start, end))
                try:
                    encoded[index] = await self._call(self._exchange, worker, message, None)
                except (DaemonError, ScanWorkerError) as exc:  # the others finish their slice
                    errors.append(exc)
                    return
                arrived_send.send_nowait(None)

        handler_failed: list[Exception] = []

        async def deliver(scope: trio.CancelScope) -> None:
            """Decode the slices in chain order as they arrive; hand each on."""
            delivered = 0
            async with arrived:
                async for _ in arrived:
                    while delivered < len(slices) and not errors:
                        raw = encoded[delivered]
                        if raw is None:
                            break
                        encoded[delivered] = None
                        result = await trio.to_thread.run_sync(_PARSED_DECODER.decode, raw)
                        results[delivered] = result
                        delivered += 1
                        if on_slice is None:
                            continue
                        try:
                            await on_slice(*result)
                        except Exception as exc:  # raised as itself below, not in a group
                            handler_failed.append(exc)
                            scope.cancel()  # the batch is lost: stop the workers' slices
                            return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(deliver, nursery.cancel_scope)
            async with arrived_send, trio.open_nursery() as workers:
                for worker in range(min(len(self._procs), len(slices))):
                    workers.start_soon(run, worker)
        if handler_failed:
            raise handler_failed[0]
        if errors:
            raise errors[0]
        done = [result for result in results if result is not None]
        batch = merge_batches([parsed for parsed, _ in done])
        return batch, [row for _, rows in done for row in rows]

    def _exchange(
        self, worker: int, message: tuple[Any, ...], decoder: msgspec.msgpack.Decoder[Any] | None
    ) -> Any:
        """Send ``message`` to a worker and return its reply, decoded unless
        ``decoder`` is None (then the encoded bytes)."""
        conn = self._conns[worker]
        with self._idle:
            self._in_flight += 1
        try:
            payload = self._exchange_on(conn, worker, message)
            return payload if decoder is None else decoder.decode(payload)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _exchange_on(
        self, conn: multiprocessing.connection.Connection, worker: int, message: tuple[Any, ...]
    ) -> Any:
        try:
            if self._sent_version[worker] != self._version:
                conn.send(("accounts", self._accounts))
                conn.recv()
                self._sent_version[worker] = self._version
            conn.send(message)
            status, payload = conn.recv()
        except (EOFError, OSError) as exc:  # the worker died (killed, out of memory)
            self._out_of_step = True
            raise ScanWorkerError(f"scan worker {worker} died: {exc!r}") from None
        if status == "daemon_error":
            raise DaemonError(payload)
        if status != "ok":
            raise ScanWorkerError(f"scan worker {worker} failed: {payload}")
        return payload


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
