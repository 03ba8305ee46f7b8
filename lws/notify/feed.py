# Owns the /feed hub of one API process: the messages of monero-lws's feed
# protocol built from stored records (tx_sync at login, blocks as an
# account's scan moves, mempool for pool outputs it receives, a warning when
# its scan height goes back: a reorg or a rollback), and their fan-out to
# subscribed connections through bounded queues. It watches the store (the
# scanner may run in another process), so it never slows the scanner, and a
# connection whose queue is full is dropped, never waited for. Must not
# speak websocket (lws/api does) or check credentials (services/auth does).
"""The /feed hub: store changes -> feed messages per subscribed account."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import msgspec
import trio

from lws.store import (
    NO_ACCOUNT,
    RCT_TYPE_V1,
    AccountRecord,
    AccountStatus,
    OutputRecord,
    Reader,
    SpendRecord,
    Store,
)
from lws.wire.feed import (
    BLOCKS_PREFIX,
    ERROR_PREFIX,
    MEMPOOL_PREFIX,
    TX_SYNC_PREFIX,
    WARNING_PREFIX,
    ZERO_META,
    AddressMeta,
    Blocks,
    Error,
    FeedCode,
    FeedReceive,
    FeedSpend,
    FeedTransaction,
    LegacyId,
    Mempool,
    OutputRef,
    TxSync,
    Warning,
)

log = logging.getLogger(__name__)

#: Messages queued for one connection at most (monero-lws's queue_max): a
#: client that reads slower than its account changes is dropped (error code
#: 8), and neither the hub nor other clients wait for it.
QUEUE_MAX: Final = 100
#: How often the hub looks for store changes (the scanner's pool passes and
#: batches land at most this late on the feed).
POLL_SECONDS: Final = 0.25
#: The prefix hash monero-lws sends for a transaction it only saw spend.
ZERO_HASH: Final = "00" * 32
REORG_TEXT: Final = "Blockchain reorganization: roll back to the height given"
QUEUE_TEXT: Final = "Max queue for outgoing push messages was reached"
GONE_TEXT: Final = "Account not found"

_ENCODE = msgspec.json.Encoder().encode


def text(prefix: str, body: msgspec.Struct) -> str:
    """A feed message: its prefix, then the JSON body."""
    return prefix + _ENCODE(body).decode()


def error_text(code: FeedCode, message: str) -> str:
    return text(ERROR_PREFIX, Error(msg=message, code=int(code)))


def _meta(pair: tuple[int, int]) -> AddressMeta | None:
    return None if pair == (0, 0) else AddressMeta(maj_i=pair[0], min_i=pair[1])


def _lookahead(record: AccountRecord) -> AddressMeta:
    if (record.lookahead_major, record.lookahead_minor) == (0, 0):
        return ZERO_META
    return AddressMeta(maj_i=record.lookahead_major, min_i=record.lookahead_minor)


def _ref(index_amount: int, global_index: int) -> OutputRef:
    return OutputRef(legacy=LegacyId(amount=index_amount, index=global_index))


def _rct(out: OutputRecord) -> str | None:
    # RingCT outputs carry their mask (monero-lws: the identity for coinbase).
    return out.mask.hex() if out.rct_type != RCT_TYPE_V1 else None


def receive(out: OutputRecord) -> FeedReceive:
    return FeedReceive(
        amount=out.amount,
        public_key=out.output_key.hex(),
        index=out.output_index,
        id=_ref(out.index_amount, out.global_index) if out.height is not None else None,
        tx_pub_key=out.tx_pubkey.hex(),
        rct=_rct(out),
        recipient=_meta(out.subaddress),
    )


def transactions(
    outputs: Iterable[OutputRecord],
    spends: Iterable[SpendRecord],
    sources: dict[tuple[int, int], int],
) -> list[FeedTransaction]:
    """monero-lws's transactions of a history: outputs and candidate spends
    merged per transaction in chain order, pool transactions last.
    ``sources``: (tx_index, vout) -> index amount of the account's outputs
    (a spend's id is its source output's)."""
    by_tx: dict[bytes, FeedTransaction] = {}
    order: list[tuple[int, int, bytes]] = []
    for out in outputs:
        tx = by_tx.get(out.tx_hash)
        if tx is None:
            tx = by_tx[out.tx_hash] = FeedTransaction(
                hash=out.tx_hash.hex(),
                prefix_hash=out.tx_prefix_hash.hex(),
                timestamp=out.timestamp,
                fee=out.fee,
                unlock_time=out.unlock_time,
                height=out.height,
                payment_id=out.payment_id.hex() if out.payment_id else None,
                coinbase=out.coinbase,
                mempool=out.height is None,
                mixin=out.mixin,
                spends=[],
                receives=[],
            )
            order.append((out.height is None, out.tx_index, out.tx_hash))
        tx.receives.append(receive(out))
    for spend in spends:
        tx = by_tx.get(spend.tx_hash)
        if tx is None:
            # A transaction that only spends: what its inputs say (monero-lws
            # leaves the prefix hash it does not know at zero).
            tx = by_tx[spend.tx_hash] = FeedTransaction(
                hash=spend.tx_hash.hex(),
                prefix_hash=ZERO_HASH,
                timestamp=spend.timestamp,
                fee=spend.fee,
                unlock_time=spend.unlock_time,
                height=spend.height,
                mempool=spend.height is None,
                mixin=spend.mixin,
                spends=[],
                receives=[],
            )
            order.append((spend.height is None, spend.tx_index, spend.tx_hash))
        index_amount = sources.get((spend.source_tx_index, spend.source_output_index), 0)
        tx.spends.append(
            FeedSpend(
                id=_ref(index_amount, spend.source_global_index), key_image=spend.key_image.hex()
            )
        )
    return [by_tx[tx_hash] for _, _, tx_hash in sorted(order)]


def mempool(out: OutputRecord) -> Mempool:
    return Mempool(
        hash=out.tx_hash.hex(),
        prefix_hash=out.tx_prefix_hash.hex(),
        fee=out.fee,
        unlock_time=out.unlock_time,
        payment_id=out.payment_id.hex() if out.payment_id else None,
        mixin=out.mixin,
        amount=out.amount,
        public_key=out.output_key.hex(),
        tx_pub_key=out.tx_pubkey.hex(),
        index=out.output_index,
        recipient=_meta(out.subaddress),
        rct=_rct(out),
    )


def chain_height(reader: Reader) -> int:
    top = reader.chain_top()
    return 0 if top is None else top[0] + 1


@dataclass(frozen=True)
class Start:
    """What a login answers, and where its subscription starts."""

    message: str
    scan_height: int
    pool: frozenset[tuple[bytes, int]]
    #: The store's last rewind in the login's snapshot (later ones concern it).
    rewind: int = 0


def start(reader: Reader, account_id: int, *, tx_sync: bool) -> Start:
    """The login's answer from one snapshot: ``tx_sync:`` with the whole
    history (pool included), or with ``tx_sync`` false a ``blocks:`` with
    none, as monero-lws answers."""
    record = reader.account(account_id)
    assert record is not None
    pool = reader.pool_outputs(account_id)
    seen = frozenset((out.tx_hash, out.output_index) for out in pool)
    height = chain_height(reader)
    rewind = reader.last_rewind()
    if not tx_sync:
        body: msgspec.Struct = Blocks(
            scan_start=record.start_height,
            scan_end=record.scan_height,
            blockchain_height=height,
            lookahead_fail=record.lookahead_fail,
            lookahead=_lookahead(record),
        )
        return Start(text(BLOCKS_PREFIX, body), record.scan_height, seen, rewind)
    outputs = reader.outputs(account_id)
    spends = [*reader.spends(account_id), *reader.pool_spends(account_id)]
    sources = {(out.tx_index, out.output_index): out.index_amount for out in outputs}
    body = TxSync(
        scanned_block_height=record.scan_height,
        start_height=record.start_height,
        blockchain_height=height,
        lookahead_fail=record.lookahead_fail,
        lookahead=_lookahead(record),
        transactions=transactions([*outputs, *pool], spends, sources),
    )
    return Start(text(TX_SYNC_PREFIX, body), record.scan_height, seen, rewind)


@dataclass
class Subscription:
    """One connection's place in its account's feed."""

    account_id: int
    receives_only: bool
    scan_height: int
    pool: frozenset[tuple[bytes, int]]
    send: trio.MemorySendChannel[str]
    receive: trio.MemoryReceiveChannel[str]
    #: The last store rewind this connection has been told about (or predates).
    rewind: int = 0
    warnings: int = 0
    #: Why the hub ended it: None while it runs, else an error message to send.
    ended: str | None = None
    #: Set once it is unsubscribed (ended by the hub, or gone).
    done: trio.Event = field(default_factory=trio.Event)


@dataclass
class _Snapshot:
    record: AccountRecord | None
    chain_height: int
    outputs: list[OutputRecord] = field(default_factory=list)
    spends: list[SpendRecord] = field(default_factory=list)
    pool: list[OutputRecord] = field(default_factory=list)
    sources: dict[tuple[int, int], int] = field(default_factory=dict)
    #: (seq, account or NO_ACCOUNT, height) of rewinds the subscriptions may not know.
    rewinds: list[tuple[int, int, int]] = field(default_factory=list)


class FeedHub:
    """Start with ``nursery.start(hub.run)``; connections ``subscribe``."""

    def __init__(self, store: Store, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self._subs: dict[int, list[Subscription]] = {}
        self._generation: int | None = -1
        self._dirty = trio.Event()

    @property
    def connections(self) -> int:
        return sum(len(subs) for subs in self._subs.values())

    def subscribe(self, account_id: int, begin: Start, *, receives_only: bool) -> Subscription:
        send, receive = trio.open_memory_channel[str](QUEUE_MAX)
        sub = Subscription(
            account_id, receives_only, begin.scan_height, begin.pool, send, receive, begin.rewind
        )
        self._subs.setdefault(account_id, []).append(sub)
        self._dirty.set()  # a change may have landed since its snapshot
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.account_id, [])
        if sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[sub.account_id]
        sub.send.close()
        sub.done.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            with trio.move_on_after(self.poll_seconds):
                await self._dirty.wait()
            dirty, self._dirty = self._dirty.is_set(), trio.Event()
            generation = self.store.generation()
            if not self._subs or (
                not dirty and generation is not None and generation == self._generation
            ):
                continue
            self._generation = generation
            wanted = {
                account_id: (min(s.scan_height for s in subs), min(s.rewind for s in subs))
                for account_id, subs in self._subs.items()
            }
            snapshots = await trio.to_thread.run_sync(
                self.store.query, functools.partial(_read, wanted=wanted)
            )
            for account_id, snapshot in snapshots.items():
                for sub in list(self._subs.get(account_id, [])):
                    self._update(sub, snapshot)

    def _update(self, sub: Subscription, snap: _Snapshot) -> None:
        record = snap.record
        if record is None or record.status == AccountStatus.HIDDEN:
            self._end(sub, error_text(FeedCode.ACCOUNT_NOT_FOUND, GONE_TEXT))
            return
        messages: list[str] = []
        # Heights went back since the last look (a reorg, a rollback or a
        # rescan), maybe already scanned past again: the client rolls back
        # to the lowest, then gets those blocks again.
        back = [
            height
            for seq, account_id, height in snap.rewinds
            if seq > sub.rewind and account_id in (sub.account_id, NO_ACCOUNT)
        ]
        if snap.rewinds:
            sub.rewind = max(sub.rewind, snap.rewinds[-1][0])
        floor = min([record.scan_height, *back])
        if floor < sub.scan_height:
            if not sub.receives_only:
                warning = Warning(
                    msg=REORG_TEXT,
                    code=int(FeedCode.BLOCKCHAIN_REORG),
                    counter=sub.warnings,
                    height=floor,
                )
                sub.warnings += 1
                messages.append(text(WARNING_PREFIX, warning))
            sub.scan_height = floor
        if record.scan_height > sub.scan_height:
            lo, hi = sub.scan_height, record.scan_height
            outs = [o for o in snap.outputs if o.height is not None and lo <= o.height < hi]
            spends = (
                []
                if sub.receives_only
                else [s for s in snap.spends if s.height is not None and lo <= s.height < hi]
            )
            if outs or not sub.receives_only:
                blocks = Blocks(
                    scan_start=lo,
                    scan_end=hi,
                    blockchain_height=snap.chain_height,
                    lookahead_fail=record.lookahead_fail,
                    lookahead=_lookahead(record),
                    transactions=transactions(outs, spends, snap.sources),
                )
                messages.append(text(BLOCKS_PREFIX, blocks))
            sub.scan_height = hi
        pool = frozenset((out.tx_hash, out.output_index) for out in snap.pool)
        for out in snap.pool:
            if (out.tx_hash, out.output_index) not in sub.pool:
                messages.append(text(MEMPOOL_PREFIX, mempool(out)))
        sub.pool = pool
        for message in messages:
            try:
                sub.send.send_nowait(message)
            except trio.WouldBlock:
                log.info("feed: a client of account %d reads too slowly; dropped", sub.account_id)
                self._end(sub, error_text(FeedCode.QUEUE_ERROR, QUEUE_TEXT))
                return
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self.unsubscribe(sub)
                return

    def _end(self, sub: Subscription, message: str) -> None:
        sub.ended = message
        self.unsubscribe(sub)


def _read(reader: Reader, *, wanted: dict[int, tuple[int, int]]) -> dict[int, _Snapshot]:
    """Per account: its record, and what the subscriptions may need from
    ``wanted``'s (lowest reported scan height, oldest rewind seen) on."""
    height = chain_height(reader)
    oldest = min((rewind for _, rewind in wanted.values()), default=0)
    rewinds = reader.rewinds(after=oldest)
    found: dict[int, _Snapshot] = {}
    for account_id, (from_height, seen) in wanted.items():
        record = reader.account(account_id)
        mine = [
            entry for entry in rewinds if entry[0] > seen and entry[1] in (account_id, NO_ACCOUNT)
        ]
        snap = found[account_id] = _Snapshot(record, height, rewinds=mine)
        if record is None:
            continue
        lowest = min([from_height, *(h for _, _, h in mine)])
        if record.scan_height > lowest:
            snap.outputs = reader.outputs(account_id, lowest)
            snap.spends = reader.spends(account_id, lowest)
            # The sources of new spends may be older outputs.
            if snap.spends:
                snap.sources = {
                    (o.tx_index, o.output_index): o.index_amount for o in reader.outputs(account_id)
                }
        snap.pool = reader.pool_outputs(account_id)
    return found


__all__ = ["QUEUE_MAX", "FeedHub", "Start", "Subscription", "error_text", "start", "text"]
