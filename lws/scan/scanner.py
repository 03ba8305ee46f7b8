# Owns the scan loop: keeps the store in step with monerod's chain for every
# active account (tip pass for accounts at the top, catch-up pass for new or
# imported ones, reorg rollback, pool view), with backoff while the daemon is
# down, progress in the logs and its status (status.py). CPU work goes to the
# worker pool (pool.py), the records of a batch are built by batch_write.py,
# storage is lws.store (one write transaction per batch); blocks and (tx,
# account) pairs scanned are counted in lws.metrics. It reloads its accounts
# every round and wakes early when told (wake()) or when another process
# (`lws admin`) changed the accounts (the store's account-change counter).
# Must not serve HTTP or decide anything about accounts beyond scanning them.
"""The scanner task."""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Sequence
from typing import Any

import msgspec
import trio

from lws import metrics
from lws.daemon import MAX_BLOCKS_PER_REPLY, BlocksReply, Daemon, NetworkMismatch
from lws.errors import DaemonError, DaemonUnavailable, ScanClusterUnavailable, ScanWorkerError
from lws.monero.errors import MoneroFormatError
from lws.monero.ownership import ViewKey, make_view_key
from lws.monero.scan import (
    ReceivedOutput,
    ReceivedRows,
    ScanTx,
    find_spends,
)
from lws.monero.subaddress import build_subaddress_table, lookahead_ranges
from lws.store import (
    AccountBatch,
    AccountPool,
    AccountRecord,
    AccountStatus,
    ChainMismatch,
    OutputRecord,
    Reader,
    SpendRecord,
    Store,
)

from .batch import ParsedBatch, SpendBatch, TxMeta, log_skipped, pool_tx
from .batch_write import AccountBatchBuilder, KnownInStore, append_records
from .owned_filter import OwnedFilter
from .pool import ScanPool, ScanWorkers
from .status import ScannerStatus, ScanState

log = logging.getLogger(__name__)

#: Longest wait between retries while monerod is down or failing.
MAX_BACKOFF_S = 60.0
#: How often progress is logged while blocks are being scanned.
PROGRESS_EVERY_S = 10.0
#: Pool transactions kept parsed between polls (bounded by the pool itself,
#: this caps memory if monerod's pool is huge).
MAX_POOL_CACHE = 50_000
#: While it waits, how often the scanner looks whether another process
#: changed the accounts (the store's generation, free; then one meta key):
#: how soon `lws admin`'s changes take effect with a long poll interval.
ACCOUNTS_CHECK_S = 0.25


class _Account(msgspec.Struct):
    account_id: int
    record: AccountRecord
    view_key: ViewKey


class Scanner:
    def __init__(
        self,
        store: Store,
        daemon: Daemon,
        *,
        network: str,
        workers: int = 0,
        poll_interval: float = 2.0,
        batch_blocks: int = MAX_BLOCKS_PER_REPLY,
        pool: ScanWorkers | None = None,
    ) -> None:
        self.store = store
        self.daemon = daemon
        self.network = network
        self.poll_interval = poll_interval
        self.batch_blocks = max(1, batch_blocks)
        #: A pool passed in (``workers`` is then ignored) stays the caller's:
        #: run() starts it if need be and leaves it running when it ends.
        self.pool: ScanWorkers = pool if pool is not None else ScanPool(workers)
        self._owns_pool = pool is None
        self.status = ScannerStatus()
        self._wakeup = trio.Event()
        self._genesis: bytes | None = None
        self._view_keys: dict[int, tuple[Any, ViewKey]] = {}
        self._pool_cache: dict[bytes, tuple[ScanTx, TxMeta] | None] = {}
        #: What each cached pool tx pays to each tip account (by account id),
        #: valid for the view keys in _pool_keys: a pool pass scans only new
        #: txs (for every tip account) and new or changed accounts (for the
        #: txs kept), not the whole pool for every account again.
        self._pool_rows: dict[bytes, dict[int, tuple[ReceivedOutput, ...]]] = {}
        self._pool_keys: dict[int, ViewKey] = {}
        self._pool_seen: tuple[frozenset[bytes], frozenset[tuple[int, int]]] | None = None
        self._progress_at = 0.0
        self._progress_blocks = 0
        #: Built from the store on first use; the scanner is the only writer
        #: of outputs and adds each batch's to it.
        self._owned: OwnedFilter | None = None
        #: The store's account-change counter as of the last account load.
        self._accounts_version = 0

    # --- public -------------------------------------------------------------

    def wake(self) -> None:
        """Accounts or requests changed: scan again now instead of after the poll interval."""
        self._wakeup.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await trio.to_thread.run_sync(self.pool.start)
        except ScanClusterUnavailable as exc:  # the first scan reconnects, or backs off
            self._set_state(ScanState.CLUSTER_UNAVAILABLE, str(exc), logging.WARNING)
        task_status.started()
        backoff = 1.0
        try:
            while True:
                try:
                    progressed = await self.step()
                    backoff = 1.0
                except NetworkMismatch as exc:
                    self._set_state(ScanState.WRONG_NETWORK, str(exc), logging.ERROR)
                    await self._sleep(MAX_BACKOFF_S)
                    continue
                except (DaemonUnavailable, DaemonError) as exc:
                    self._set_state(ScanState.UNAVAILABLE, str(exc), logging.WARNING)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
                except ScanClusterUnavailable as exc:  # nothing was written; reconnects
                    self._set_state(ScanState.CLUSTER_UNAVAILABLE, str(exc), logging.WARNING)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
                except ScanWorkerError as exc:  # nothing was written; workers restart
                    self._set_state(ScanState.WORKER_FAILED, str(exc), logging.ERROR)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
                except ChainMismatch as exc:  # nothing was written
                    # The stored chain moved under a batch (an operator's
                    # rollback): the next round starts from the store again.
                    log.warning("scanned batch dropped: %s", exc)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
                if not progressed:
                    await self._sleep(self.poll_interval)
        finally:
            if self._owns_pool:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(self.pool.close)

    async def step(self) -> bool:
        """One round: tip pass, catch-up pass, pool. True if blocks were scanned."""
        info = await self.daemon.check_network(self.network)
        self._update(daemon_height=info.height)
        if info.bootstrapped:
            raise DaemonUnavailable(
                "monerod is serving from a bootstrap daemon: not scanning from it"
            )
        if info.syncing:
            self._set_state(
                ScanState.SYNCHRONIZING,
                f"monerod is syncing ({info.height}/{info.target_height})",
                logging.INFO,
            )
            return False
        if self._genesis is None:
            self._genesis = await self._block_hash_at(0)
        accounts = await trio.to_thread.run_sync(self._load_accounts)
        top = await trio.to_thread.run_sync(self.store.query, lambda r: r.chain_top())
        chain_next = 0 if top is None else top[0] + 1
        tip = [a for a in accounts if a.record.scan_height >= chain_next]
        behind = [a for a in accounts if a.record.scan_height < chain_next]
        self._update(
            chain_height=chain_next, accounts_active=len(accounts), accounts_behind=len(behind)
        )

        scanned = await self._tip_pass(tip, top, info.height)
        if behind and not scanned:
            scanned = await self._catch_up_pass(behind, chain_next)
        if scanned:
            # Scan heights moved (an account may have left and rejoined the
            # tip since the last pool pass): the next pool pass rebuilds.
            self._pool_seen = None
        else:
            await self._pool_pass(tip)
        self._set_state(ScanState.OK, "", logging.INFO)
        return scanned

    # --- passes -------------------------------------------------------------

    async def _tip_pass(
        self, tip: list[_Account], top: tuple[int, bytes] | None, daemon_height: int
    ) -> bool:
        assert self._genesis is not None
        if top is None:
            # Empty store: start at the lowest account start, or just follow the tip.
            heights = [a.record.scan_height for a in tip]
            start = min(heights) if heights else max(daemon_height - 1, 0)
            start = min(start, max(daemon_height - 1, 0))
            reply = await self.daemon.get_blocks([self._genesis], start_height=start)
            first_new = start
        else:
            history = await trio.to_thread.run_sync(
                self.store.query, lambda r: r.block_id_history()
            )
            if not history or history[-1] != self._genesis:
                history.append(self._genesis)
            reply = await self.daemon.get_blocks(history)
            if not reply.blocks:
                return False
            fork = reply.start_height
            if fork > top[0]:
                raise DaemonError(f"monerod answered from {fork}, above our top {top[0]}")
            stored = await trio.to_thread.run_sync(self.store.query, lambda r: r.hash_at(fork))
            first_hash = await trio.to_thread.run_sync(_first_block_hash, reply)
            if stored is not None and stored != first_hash:
                raise DaemonError(f"monerod's split point {fork} does not match our block there")
            if fork < top[0]:
                log.warning(
                    "reorg: chain forked above height %d (our top was %d); rolling back",
                    fork,
                    top[0],
                )
                await trio.to_thread.run_sync(
                    self.store.transact, lambda w: w.rollback_to(fork + 1)
                )
                self._pool_seen = None
                return True  # reload accounts: their scan heights moved
            first_new = fork + 1
        reply = _first_blocks(reply, first_new - reply.start_height + self.batch_blocks)
        end = reply.start_height + len(reply.blocks)
        if end <= first_new:
            return False
        participants = [a for a in tip if a.record.scan_height < end]
        batch, shares = await self._scan_batch(reply, participants, first_new, end=end)
        new_blocks = [b for b in batch.blocks if b.height >= first_new]
        hashes = [b.hash for b in new_blocks]
        skipped = await trio.to_thread.run_sync(
            self.store.transact, lambda w: w.add_block_batch(first_new, hashes, shares)
        )
        if skipped:
            log.info(
                "%d accounts changed during the scan; they are rescanned next round", len(skipped)
            )
        self._progress(len(new_blocks), new_blocks[-1].height + 1)
        metrics.scanned_blocks(len(new_blocks), "tip")
        return True

    async def _catch_up_pass(self, behind: list[_Account], chain_next: int) -> bool:
        assert self._genesis is not None
        start = min(a.record.scan_height for a in behind)
        reply = await self.daemon.get_blocks([self._genesis], start_height=start)
        reply = _first_blocks(reply, start - reply.start_height + self.batch_blocks)
        end = min(chain_next, reply.start_height + len(reply.blocks))
        if end <= start:
            return False
        participants = [a for a in behind if a.record.scan_height < end]
        batch, shares = await self._scan_batch(reply, participants, start, end=end)
        blocks = [b for b in batch.blocks if start <= b.height < end]
        if not blocks:
            return False

        def verify(reader: Reader) -> bool:
            for block in blocks:
                stored = reader.hash_at(block.height)
                if stored is not None and stored != block.hash:
                    return False
            return True

        if not await trio.to_thread.run_sync(self.store.query, verify):
            log.info(
                "catch-up batch at %d no longer matches the stored chain; waiting for the tip pass",
                start,
            )
            return False
        await trio.to_thread.run_sync(
            self.store.transact, lambda w: w.add_block_batch(start, [], shares)
        )
        self._progress(len(blocks), end)
        metrics.scanned_blocks(len(blocks), "catch_up")
        return True

    async def _scan_batch(
        self, reply: BlocksReply, participants: list[_Account], start: int, *, end: int
    ) -> tuple[ParsedBatch | SpendBatch, dict[int, AccountBatch]]:
        """Parse ``reply`` and scan it for ``participants``; each takes the blocks
        in [its scan_height, end). Parsing and scanning run in the workers;
        each slice's share of the store write is built here as soon as the
        slices before it are in, while the workers scan the rest."""
        self.pool.set_accounts([a.view_key for a in participants])
        builder = AccountBatchBuilder(self.store, self._owned_filter, participants, start, end)
        # A tx at height h is scanned for each participant whose scan starts at or below h.
        starts = sorted(a.record.scan_height for a in participants)

        async def on_slice(part: ParsedBatch | SpendBatch, rows: ReceivedRows) -> None:
            log_skipped(part)
            metrics.scanned_pairs(
                sum(bisect.bisect_right(starts, meta.height) for meta in part.metas), "chain"
            )
            if participants:
                await trio.to_thread.run_sync(builder.add, part, rows)

        batch, _ = await self.pool.parse_and_find(reply, start, end, on_slice)
        return batch, builder.finish()

    async def _pool_pass(self, tip: list[_Account]) -> None:
        hashes = await self.daemon.get_pool_hashes()
        # id(view_key): a changed view key is a new object, and _pool_keys
        # holds the old one, so the id cannot be reused.
        seen = (frozenset(hashes), frozenset((a.account_id, id(a.view_key)) for a in tip))
        if seen == self._pool_seen:
            return
        missing = [h for h in hashes if h not in self._pool_cache]
        if missing:
            for found in await self.daemon.get_transactions(missing, prune=True):
                tx_hash = bytes.fromhex(found.get("tx_hash", ""))
                blob_hex = found.get("pruned_as_hex") or found.get("as_hex") or ""
                try:
                    blob = bytes.fromhex(blob_hex)
                except ValueError:
                    blob = b""
                self._pool_cache[tx_hash] = (
                    pool_tx(blob, tx_hash, int(time.time())) if blob else None
                )
        current = set(hashes)
        for stale in [h for h in self._pool_cache if h not in current]:
            del self._pool_cache[stale]
        while len(self._pool_cache) > MAX_POOL_CACHE:
            self._pool_cache.pop(next(iter(self._pool_cache)))
        kept = [h for h in hashes if self._pool_cache.get(h) is not None]
        txs: list[ScanTx] = []
        metas: list[TxMeta] = []
        for tx_hash in kept:
            entry = self._pool_cache[tx_hash]
            assert entry is not None
            txs.append(entry[0])
            metas.append(entry[1])
        received = await self._pool_received(kept, txs, tip)
        pool_view = await trio.to_thread.run_sync(self._build_pool_view, txs, metas, received, tip)
        await trio.to_thread.run_sync(self.store.transact, lambda w: w.replace_pool(pool_view))
        self._pool_seen = seen

    async def _pool_received(
        self, hashes: Sequence[bytes], txs: Sequence[ScanTx], tip: Sequence[_Account]
    ) -> ReceivedRows:
        """find_received's rows for the pool txs ``txs`` (named by ``hashes``)
        and the ``tip`` accounts, scanning only what _pool_rows lacks."""
        live = {a.account_id for a in tip}
        changed = [a for a in tip if self._pool_keys.get(a.account_id) is not a.view_key]
        unchanged = live - {a.account_id for a in changed}
        for rows in self._pool_rows.values():
            for account_id in [i for i in rows if i not in unchanged]:
                del rows[account_id]  # gone from the tip, or its view key changed
        self._pool_keys = {i: key for i, key in self._pool_keys.items() if i in unchanged}
        current = set(hashes)
        for gone in [h for h in self._pool_rows if h not in current]:
            del self._pool_rows[gone]
        known = [i for i, tx_hash in enumerate(hashes) if tx_hash in self._pool_rows]
        new = [i for i, tx_hash in enumerate(hashes) if tx_hash not in self._pool_rows]
        # The txs kept, for the accounts that are new to them; then the new
        # txs for every tip account. A cancel in between leaves both states
        # consistent: a tx enters _pool_rows, and an account _pool_keys, only
        # once it has been scanned.
        await self._scan_pool_txs([hashes[i] for i in known], [txs[i] for i in known], changed)
        self._pool_keys.update((a.account_id, a.view_key) for a in changed)
        await self._scan_pool_txs([hashes[i] for i in new], [txs[i] for i in new], tip)
        positions = {a.account_id: position for position, a in enumerate(tip)}
        return [
            {positions[i]: found for i, found in self._pool_rows[tx_hash].items()}
            for tx_hash in hashes
        ]

    async def _scan_pool_txs(
        self, hashes: Sequence[bytes], txs: Sequence[ScanTx], accounts: Sequence[_Account]
    ) -> None:
        if not hashes:
            return
        if accounts:
            self.pool.set_accounts([a.view_key for a in accounts])
            rows = await self.pool.find_received(txs)
            metrics.scanned_pairs(len(txs) * len(accounts), "pool")
        else:
            rows = [{} for _ in txs]
        for tx_hash, row in zip(hashes, rows, strict=True):
            found = self._pool_rows.setdefault(tx_hash, {})
            for position, outputs in row.items():
                found[accounts[position].account_id] = outputs

    def _build_pool_view(
        self,
        txs: Sequence[ScanTx],
        metas: Sequence[TxMeta],
        received: ReceivedRows,
        tip: Sequence[_Account],
    ) -> dict[int, AccountPool]:
        positions = {a.account_id: i for i, a in enumerate(tip)}
        outputs: list[list[OutputRecord]] = [[] for _ in tip]
        spends: list[list[SpendRecord]] = [[] for _ in tip]
        with self.store.read() as reader:
            owned = self._owned_filter(reader)
            spend_rows = find_spends(txs, received, KnownInStore(reader, positions, owned))
            account_ids = [a.account_id for a in tip]
            append_records(
                reader, account_ids, metas, received, spend_rows, outputs, spends, {}, pool=True
            )
        return {
            a.account_id: AccountPool(outputs=tuple(outputs[i]), spends=tuple(spends[i]))
            for i, a in enumerate(tip)
            if outputs[i] or spends[i]
        }

    # --- helpers --------------------------------------------------------------

    def _owned_filter(self, reader: Reader) -> OwnedFilter:
        if self._owned is None:
            self._owned = OwnedFilter(reader.owned_ringct_indexes())
        return self._owned

    def _load_accounts(self) -> list[_Account]:
        with self.store.read() as reader:
            records = list(reader.accounts(AccountStatus.ACTIVE))
            self._accounts_version = reader.accounts_version
        accounts: list[_Account] = []
        live = set()
        for account_id, record in records:
            live.add(account_id)
            signature = (
                record.view_secret,
                record.spend_public,
                record.lookahead_major,
                record.lookahead_minor,
                record.subaddress_ranges,
            )
            cached = self._view_keys.get(account_id)
            if cached is None or cached[0] != signature:
                try:
                    view_key = _view_key(record)
                except MoneroFormatError as exc:
                    log.error("account %d cannot be scanned: %s", account_id, exc)
                    continue
                self._view_keys[account_id] = (signature, view_key)
                cached = self._view_keys[account_id]
            accounts.append(_Account(account_id=account_id, record=record, view_key=cached[1]))
        for gone in set(self._view_keys) - live:
            del self._view_keys[gone]
        return accounts

    async def _block_hash_at(self, height: int) -> bytes:
        result = await self.daemon.json_rpc("get_block_header_by_height", {"height": height})
        try:
            return bytes.fromhex(result["block_header"]["hash"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DaemonError(f"monerod sent no hash for block {height}") from exc

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if woken or the accounts changed."""
        with trio.move_on_after(seconds):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_accounts, nursery.cancel_scope)
                await self._wakeup.wait()
                nursery.cancel_scope.cancel()
        self._wakeup = trio.Event()

    async def _watch_accounts(self, done: trio.CancelScope) -> None:
        """Return (ending the wait) once another process changed the accounts
        since they were loaded; the store's generation says when to look."""
        generation = self.store.generation()
        while True:
            await trio.sleep(ACCOUNTS_CHECK_S)
            now = self.store.generation()
            if now == generation:
                continue
            generation = now
            version = await trio.to_thread.run_sync(self.store.query, lambda r: r.accounts_version)
            if version != self._accounts_version:
                done.cancel()
                return

    def _update(self, **changes: Any) -> None:
        """Replace the status with ``changes`` applied (readers see whole values)."""
        self.status = msgspec.structs.replace(self.status, **changes)

    def _set_state(self, state: ScanState, message: str, level: int) -> None:
        if state != self.status.state or message != self.status.last_error:
            if message:
                log.log(level, "scanner %s: %s", state, message)
            elif state != self.status.state:
                log.log(level, "scanner %s", state)
        self._update(state=state, last_error=message)

    def _progress(self, blocks: int, height: int) -> None:
        now = time.monotonic()
        self._update(chain_height=max(self.status.chain_height, height))
        self._progress_blocks += blocks
        elapsed = now - self._progress_at
        if self._progress_at == 0.0:
            self._progress_at = now
            return
        if elapsed >= PROGRESS_EVERY_S:
            self._update(blocks_per_second=self._progress_blocks / elapsed)
            log.info(
                "scanned to height %d of %d (%.1f blocks/s), %d accounts, %d behind",
                height,
                self.status.daemon_height,
                self.status.blocks_per_second,
                self.status.accounts_active,
                self.status.accounts_behind,
            )
            self._progress_at = now
            self._progress_blocks = 0


def _first_blocks(reply: BlocksReply, count: int) -> BlocksReply:
    if len(reply.blocks) <= count:
        return reply
    return msgspec.structs.replace(
        reply, blocks=reply.blocks[:count], output_indices=reply.output_indices[:count]
    )


def _first_block_hash(reply: BlocksReply) -> bytes:
    from lws.monero.block import block_hash

    return block_hash(reply.blocks[0][0])


def _view_key(record: AccountRecord) -> ViewKey:
    ranges: list[tuple[int, int, int]] = list(record.subaddress_ranges)
    if record.lookahead_major and record.lookahead_minor:
        ranges.extend(lookahead_ranges(record.lookahead_major, record.lookahead_minor))
    table = (
        build_subaddress_table(record.view_secret, record.spend_public, ranges) if ranges else None
    )
    return make_view_key(record.view_secret, record.spend_public, table)


__all__ = ["Scanner"]
