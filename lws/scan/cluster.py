# Owns sending the scan work (parsing get_blocks slices, then find_received)
# to a Dask distributed cluster instead of local worker processes, behind
# the same interface as ScanPool (lws.scan.pool.ScanWorkers): the accounts'
# view keys are scattered to the workers once per change of the account set
# and referenced by every task; a batch is cut into shrinking slices that
# the scheduler hands to free workers; results come back as msgpack (only
# what the scanner reads). Faults become ScanClusterUnavailable (the
# scheduler is gone: the scanner backs off, this reconnects) or
# ScanWorkerError (a task failed); nothing half-done reaches the store.
# Must not touch the store or the daemon, and must not import Dask at module
# level: `lws serve` without --scan-cluster never loads it.
"""Scan work on a Dask distributed cluster (``lws serve --scan-cluster``)."""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

import msgspec
import trio

from lws.daemon import BlocksReply
from lws.errors import DaemonError, LwsError, ScanClusterUnavailable, ScanWorkerError
from lws.monero.ownership import ViewKey, uses_x25519_ladders
from lws.monero.scan import ReceivedRows, ScanTx

from .batch import (
    ParsedBatch,
    ScanTxInputs,
    SpendBatch,
    TxInputsView,
    merge_batches,
    split_reply_guided,
)
from .ladders import use_fastest_ladders
from .pool import (
    _PARSED_DECODER,
    _ROWS_DECODER,
    _TXS_DECODER,
    ScannedAndFound,
    SliceHandler,
    _split_by_outputs,
    parse_and_scan_inline,
    scan_inline,
)

#: Dask's Client and Future (typed as Any: Dask's own functions are not
#: annotated, and this module must import without Dask).
Client = Any
Future = Any

log = logging.getLogger(__name__)

#: Seconds to reach the scheduler (Dask retries a refused connection until
#: then): a scheduler on the same network answers in milliseconds; a TLS
#: handshake with a loaded one well within this.
CONNECT_TIMEOUT_S = 10.0
#: Seconds to wait for the client to close (shutdown must not hang on a
#: scheduler that went away).
CLOSE_TIMEOUT_S = 5.0

#: Dask's own loggers in lws's process: only what breaks it (see _connected).
DASK_LOG_LEVEL = logging.CRITICAL

_ENCODER = msgspec.msgpack.Encoder()
_REPLY_DECODER = msgspec.msgpack.Decoder(BlocksReply)


class AccountSet(msgspec.Struct, frozen=True):
    """The view keys of the scans, scattered to every worker as one value
    (pickled: a view scalar does not fit msgpack's 64-bit integers)."""

    keys: tuple[ViewKey, ...]


class ClusterTls(msgspec.Struct, frozen=True):
    """PEM files of lws's side of a tls:// connection."""

    ca_file: str
    cert_file: str
    key_file: str


# --- what runs on the workers ---------------------------------------------------


@functools.cache
def _prepare_worker_process() -> None:
    """Once per worker process: pick the faster X25519 backend if the C
    extension is not built there (it times both, a few ms)."""
    if uses_x25519_ladders():
        use_fastest_ladders()


def spend_batch(batch: ParsedBatch) -> SpendBatch:
    """A parsed batch cut down to what the scanner's process reads (blocks,
    metadata, each transaction's inputs): the compact form sent back."""
    return SpendBatch(
        start_height=batch.start_height,
        blocks=batch.blocks,
        txs=tuple(
            ScanTxInputs(
                tx=TxInputsView(
                    version=item.tx.version,
                    unlock_time=item.tx.unlock_time,
                    inputs=item.tx.inputs,
                )
            )
            for item in batch.txs
        ),
        metas=batch.metas,
        skipped=batch.skipped,
    )


def parse_and_scan_task(
    encoded_reply: bytes, accounts: AccountSet | None, start: int, end: int
) -> bytes:
    """On a worker: parse a slice of a get_blocks reply and scan its txs of
    heights in [start, end); msgpack of (SpendBatch, rows)."""
    _prepare_worker_process()
    keys = accounts.keys if accounts is not None else ()
    batch, rows = parse_and_scan_inline(_REPLY_DECODER.decode(encoded_reply), keys, start, end)
    return _ENCODER.encode((spend_batch(batch), rows))


def scan_task(encoded_txs: bytes, accounts: AccountSet | None) -> bytes:
    """On a worker: find_received's rows of some (pool) transactions, as msgpack."""
    _prepare_worker_process()
    keys = accounts.keys if accounts is not None else ()
    return _ENCODER.encode(scan_inline(_TXS_DECODER.decode(encoded_txs), keys))


# --- the scanner's side ---------------------------------------------------------


def _quiet_dask_loggers() -> None:
    """Dask's client logs a traceback for each failed reconnect while the
    scheduler is away (its loggers have their own levels, set when Dask is
    imported); the scanner reports the cluster's state itself, once."""
    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(DASK_LOG_LEVEL)


def _same(a: Sequence[ViewKey], b: Sequence[ViewKey]) -> bool:
    """The same view key objects (the scanner keeps one per account until it changes)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


class ClusterPool:
    """The scan work of one lws on the Dask scheduler at ``address``."""

    def __init__(
        self,
        address: str,
        *,
        tls: ClusterTls | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.address = address
        self._tls = tls
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._accounts: tuple[ViewKey, ...] = ()
        #: The accounts scattered last and the future that names them on the cluster.
        self._scattered: tuple[ViewKey, ...] | None = None
        self._keys_future: Future | None = None
        #: How many scatters were made (tests check there is one per account set).
        self.scatters = 0

    # --- ScanWorkers --------------------------------------------------------------

    def start(self) -> None:
        """Connect to the scheduler (blocking). Raises ScanClusterUnavailable,
        naming the address, if it cannot be reached."""
        with self._lock:
            self._connected()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def set_accounts(self, accounts: Sequence[ViewKey]) -> None:
        """The accounts of the next scans; scattered before the next task if they changed."""
        self._accounts = tuple(accounts)

    @property
    def accounts(self) -> Sequence[ViewKey]:
        return self._accounts

    async def find_received(self, txs: Sequence[ScanTx]) -> ReceivedRows:
        if not txs or not self._accounts:
            return [{} for _ in txs]
        futures = await self._submit(self._submit_scan, txs)
        rows: ReceivedRows = []
        for future in futures:
            raw = await self._result(future)
            rows.extend(await trio.to_thread.run_sync(_ROWS_DECODER.decode, raw))
        return rows

    async def parse_and_find(
        self,
        reply: BlocksReply,
        start: int,
        end: int,
        on_slice: SliceHandler | None = None,
    ) -> ScannedAndFound:
        """As ScanPool.parse_and_find: the slices run on the cluster's workers
        (the scheduler gives each free worker the next one), and are handed to
        ``on_slice`` in chain order as they come in."""
        futures = await self._submit(self._submit_parse, reply, start, end)
        parts: list[SpendBatch] = []
        rows: ReceivedRows = []
        for future in futures:
            raw = await self._result(future)
            part, part_rows = await trio.to_thread.run_sync(_PARSED_DECODER.decode, raw)
            if on_slice is not None:
                await on_slice(part, part_rows)
            parts.append(part)
            rows.extend(part_rows)
        return merge_batches(parts), rows

    # --- internals --------------------------------------------------------------

    def _connected(self) -> Client:
        """The client, connected (a lost one is closed and replaced)."""
        client = self._client
        if client is not None and client.status == "running":
            return client
        self._drop()
        distributed = importlib.import_module("distributed")
        _quiet_dask_loggers()
        security = None
        if self._tls is not None:
            security = distributed.Security(
                tls_ca_file=self._tls.ca_file,
                tls_client_cert=self._tls.cert_file,
                tls_client_key=self._tls.key_file,
                require_encryption=True,
            )
        try:
            self._client = distributed.Client(
                self.address,
                security=security,
                timeout=self._connect_timeout,
                set_as_default=False,
                name="lws-scanner",
            )
        except Exception as exc:  # OSError, TimeoutError, TLS errors: all mean "not there"
            log.debug("scan cluster %s: %r", self.address, exc)
            raise self._unavailable() from None
        log.info("scan cluster %s: connected", self.address)
        return self._client

    def _unavailable(self) -> ScanClusterUnavailable:
        return ScanClusterUnavailable(f"scan cluster {self.address} is unreachable")

    def _drop(self) -> None:
        """Forget the client and what lived on the cluster through it."""
        client, self._client = self._client, None
        self._keys_future = None
        self._scattered = None
        if client is not None:
            try:
                client.close(timeout=CLOSE_TIMEOUT_S)
            except Exception as exc:  # closing a client whose scheduler is gone
                log.debug("scan cluster %s: close: %r", self.address, exc)

    def _keys(self, client: Client) -> Future | None:
        """The future of the current accounts on the cluster, scattered (to
        every worker) only when the account set changed."""
        if not self._accounts:
            return None
        if (
            self._keys_future is None
            or self._scattered is None
            or not _same(self._scattered, self._accounts)
        ):
            accounts = self._accounts
            self._keys_future = client.scatter(
                AccountSet(keys=accounts), broadcast=True, hash=False
            )
            self._scattered = accounts
            self.scatters += 1
        return self._keys_future

    def _threads(self, client: Client) -> int:
        return max(1, int(sum(client.nthreads().values())))

    def _submit_parse(self, reply: BlocksReply, start: int, end: int) -> list[Future]:
        client = self._connected()
        keys = self._keys(client)
        slices = (
            [reply] if len(reply.blocks) < 2 else split_reply_guided(reply, self._threads(client))
        )
        return [
            client.submit(parse_and_scan_task, _ENCODER.encode(part), keys, start, end, pure=False)
            for part in slices
        ]

    def _submit_scan(self, txs: Sequence[ScanTx]) -> list[Future]:
        client = self._connected()
        keys = self._keys(client)
        parts = _split_by_outputs(txs, min(self._threads(client), len(txs)))
        return [
            client.submit(scan_task, _ENCODER.encode(list(part)), keys, pure=False)
            for part in parts
        ]

    async def _submit(self, submit: Any, *args: Any) -> list[Future]:
        """``submit(*args)`` in a thread, under the lock; connection and
        scatter failures become ScanClusterUnavailable."""

        def locked() -> list[Future]:
            with self._lock:
                try:
                    return submit(*args)  # type: ignore[no-any-return]
                except LwsError:
                    raise
                except Exception as exc:
                    raise self._failure(exc) from None

        return await trio.to_thread.run_sync(locked, abandon_on_cancel=True)

    async def _result(self, future: Future) -> bytes:
        """A task's result (in a thread a cancel abandons; the cluster drops
        the task once nobody holds its future)."""

        def wait() -> bytes:
            try:
                return bytes(future.result())
            except DaemonError:
                raise  # a block that does not parse: the scanner backs off
            except Exception as exc:
                with self._lock:
                    raise self._failure(exc) from None

        return await trio.to_thread.run_sync(wait, abandon_on_cancel=True)

    def _failure(self, exc: Exception) -> LwsError:
        """What a failed call means: the scheduler is gone (the client is not
        running: drop it, the next call reconnects), or a task failed."""
        client = self._client
        if client is None or client.status != "running":
            log.debug("scan cluster %s: %r", self.address, exc)
            self._drop()
            return self._unavailable()
        if isinstance(exc, importlib.import_module("distributed").KilledWorker):
            return ScanWorkerError(
                f"scan cluster {self.address}: a scan task killed every worker it ran on"
            )
        # A task that failed on a live cluster (or data lost with its
        # workers): start afresh next time, scattering the keys again.
        self._keys_future = None
        self._scattered = None
        return ScanWorkerError(f"scan cluster {self.address}: a scan task failed: {exc!r}")


__all__ = ["AccountSet", "ClusterPool", "ClusterTls", "parse_and_scan_task", "scan_task"]
