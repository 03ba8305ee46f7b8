# Owns turning one /get_blocks.bin reply into scan inputs: blocks parsed and
# hashed, each transaction parsed once with its chain metadata (height,
# position, fee, mixin, timestamp), hostile transactions skipped one by one
# with a log line. Synchronous and store-free: the scanner task calls it in a
# thread; worker processes run the scan math on its output.
"""Parse a batch of blocks into transactions ready to scan."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TypeVar

import msgspec
from msgspec import Struct

from lws.daemon import BlocksReply
from lws.errors import DaemonError
from lws.monero.block import block_hash, parse_block
from lws.monero.errors import MoneroFormatError
from lws.monero.scan import ScanTx
from lws.monero.tx import GenInput, KeyInput, Transaction, parse_transaction, transaction_hash
from lws.store import tx_index_of

log = logging.getLogger(__name__)


class BlockMeta(Struct, frozen=True, array_like=True, gc=False):
    height: int
    hash: bytes
    prev_hash: bytes
    timestamp: int


class TxMeta(Struct, frozen=True, array_like=True, gc=False):
    """What the store keeps about a transaction an account is part of."""

    height: int
    tx_index: int
    tx_hash: bytes
    prefix_hash: bytes
    timestamp: int
    unlock_time: int
    coinbase: bool
    #: ring size - 1 of the first input (0 for coinbase)
    mixin: int
    fee: int


class ParsedBatch(Struct, frozen=True, array_like=True):
    start_height: int
    blocks: tuple[BlockMeta, ...]
    txs: tuple[ScanTx, ...]
    metas: tuple[TxMeta, ...]
    #: One line per transaction skipped because it does not parse.
    skipped: tuple[str, ...] = ()


class TxInputsView(Struct, frozen=True, array_like=True, gc=False):
    """The leading fields of a :class:`Transaction`'s msgpack form: msgspec
    skips the rest (outputs, RingCT, hashes) without building them."""

    version: int
    unlock_time: int
    inputs: tuple[GenInput | KeyInput, ...]


class ScanTxInputs(Struct, frozen=True, array_like=True, gc=False):
    """A :class:`ScanTx`'s msgpack form, decoded down to its inputs."""

    tx: TxInputsView


class SpendBatch(Struct, frozen=True, array_like=True):
    """A :class:`ParsedBatch`'s msgpack form with its transactions decoded as
    :class:`ScanTxInputs`: all the scanner's main process reads of a batch a
    worker parsed (the received outputs come with their own fields). About
    half the objects to build, and to free after the store write."""

    start_height: int
    blocks: tuple[BlockMeta, ...]
    txs: tuple[ScanTxInputs, ...]
    metas: tuple[TxMeta, ...]
    skipped: tuple[str, ...] = ()


#: A batch parsed here, or one a worker parsed as the main process decodes it.
BatchT = TypeVar("BatchT", "ParsedBatch", SpendBatch)


def tx_fee(tx: Transaction) -> int:
    if tx.is_coinbase:
        return 0
    if tx.rct is not None and tx.rct.type != 0:
        return tx.rct.fee
    inputs = sum(txin.amount for txin in tx.inputs if isinstance(txin, KeyInput))
    outputs = sum(out.amount for out in tx.outputs)
    return max(inputs - outputs, 0)


def tx_mixin(tx: Transaction) -> int:
    for txin in tx.inputs:
        if isinstance(txin, KeyInput):
            return max(len(txin.key_offsets) - 1, 0)
    return 0


def parse_blocks(reply: BlocksReply, *, log_skips: bool = True) -> ParsedBatch:
    """Parse every block of ``reply``; a block that fails to parse is a daemon error.

    A transaction that fails to parse is skipped (listed in ``skipped`` and,
    with ``log_skips``, logged): monerod accepted it, so only a bug of ours
    or a new format can cause that, and one bad transaction must not stop
    the scan of the rest for every account. Worker processes parse with
    ``log_skips=False`` and the scanner logs :func:`log_skipped` itself.
    """
    skipped: list[str] = []
    blocks: list[BlockMeta] = []
    txs: list[ScanTx] = []
    metas: list[TxMeta] = []
    for offset, ((block_blob, tx_blobs), indices) in enumerate(
        zip(reply.blocks, reply.output_indices, strict=True)
    ):
        height = reply.start_height + offset
        try:
            block = parse_block(block_blob)
            block_id = block_hash(block_blob, block)
        except MoneroFormatError as exc:
            raise DaemonError(f"block {height} from monerod does not parse: {exc}") from exc
        if len(block.tx_hashes) != len(tx_blobs) or len(indices) != len(tx_blobs) + 1:
            raise DaemonError(f"block {height}: tx count does not match its tx hashes / indices")
        blocks.append(
            BlockMeta(
                height=height, hash=block_id, prev_hash=block.prev_id, timestamp=block.timestamp
            )
        )
        entries: list[tuple[Transaction | bytes, bytes]] = [(block.miner_tx, b"")]
        entries.extend((blob, tx_hash) for blob, tx_hash in zip(tx_blobs, block.tx_hashes))
        for position, (entry, known_hash) in enumerate(entries):
            try:
                if isinstance(entry, Transaction):
                    tx = entry
                    tx_id = transaction_hash(tx)
                else:
                    tx = parse_transaction(entry)
                    tx_id = known_hash
            except MoneroFormatError as exc:
                skipped.append(f"block {height} tx {position} skipped: {exc}")
                if log_skips:
                    log.warning("%s", skipped[-1])
                continue
            txs.append(ScanTx(tx=tx, tx_hash=tx_id, global_indexes=tuple(indices[position])))
            metas.append(
                TxMeta(
                    height=height,
                    tx_index=tx_index_of(height, position),
                    tx_hash=tx_id,
                    prefix_hash=tx.prefix_hash,
                    timestamp=block.timestamp,
                    unlock_time=tx.unlock_time,
                    coinbase=tx.is_coinbase,
                    mixin=tx_mixin(tx),
                    fee=tx_fee(tx),
                )
            )
    return ParsedBatch(
        start_height=reply.start_height,
        blocks=tuple(blocks),
        txs=tuple(txs),
        metas=tuple(metas),
        skipped=tuple(skipped),
    )


def log_skipped(batch: ParsedBatch | SpendBatch) -> None:
    """Log the transactions a ``log_skips=False`` parse left out."""
    for line in batch.skipped:
        log.warning("%s", line)


def split_reply_guided(
    reply: BlocksReply, workers: int, smallest: float = 1 / 32
) -> list[BlocksReply]:
    """Contiguous slices of shrinking size for ``workers`` that each take the
    next free one: each slice holds 1/(2 workers) of the bytes still left,
    and none less than ``smallest`` of the whole (guided self-scheduling).
    The big first slices keep messages few; the small last ones leave no
    worker idle for long while another finishes."""
    sizes = [len(blob) + sum(len(tx) for tx in txs) for blob, txs in reply.blocks]
    total = sum(sizes) or 1
    floor = total * smallest
    bounds = [0]
    acc = 0
    target = max(total / (2 * max(workers, 1)), floor)
    for i, size in enumerate(sizes):
        acc += size
        if acc >= target and i + 1 < len(sizes):
            bounds.append(i + 1)
            total -= acc
            acc = 0
            target = max(total / (2 * max(workers, 1)), floor)
    bounds.append(len(sizes))
    return _slices(reply, bounds)


def _slices(reply: BlocksReply, bounds: list[int]) -> list[BlocksReply]:
    return [
        BlocksReply(
            start_height=reply.start_height + lo,
            current_height=reply.current_height,
            blocks=reply.blocks[lo:hi],
            output_indices=reply.output_indices[lo:hi],
        )
        for lo, hi in zip(bounds, bounds[1:])
        if hi > lo
    ]


def merge_batches(parts: Sequence[BatchT]) -> BatchT:
    """The batches of consecutive reply slices as one."""
    if len(parts) == 1:
        return parts[0]
    return msgspec.structs.replace(
        parts[0],
        blocks=tuple(block for part in parts for block in part.blocks),
        txs=tuple(tx for part in parts for tx in part.txs),
        metas=tuple(meta for part in parts for meta in part.metas),
        skipped=tuple(line for part in parts for line in part.skipped),
    )


def pool_tx(blob: bytes, tx_hash: bytes, seen_at: int) -> tuple[ScanTx, TxMeta] | None:
    """A pool transaction ready to scan (no global indexes yet), or None if it does not parse.

    Its timestamp is ``seen_at``, when the scanner first saw it in the pool:
    it stays the same on every pool pass, so an unchanged pool view is an
    unchanged store (and cached replies stay valid)."""
    try:
        tx = parse_transaction(blob)
    except MoneroFormatError as exc:
        log.warning("pool tx %s skipped: %s", tx_hash.hex(), exc)
        return None
    meta = TxMeta(
        height=-1,
        tx_index=0,
        tx_hash=tx_hash,
        prefix_hash=tx.prefix_hash,
        timestamp=seen_at,
        unlock_time=tx.unlock_time,
        coinbase=False,
        mixin=tx_mixin(tx),
        fee=tx_fee(tx),
    )
    return ScanTx(tx=tx, tx_hash=tx_hash, global_indexes=()), meta


__all__ = [
    "BlockMeta",
    "ParsedBatch",
    "ScanTxInputs",
    "SpendBatch",
    "TxInputsView",
    "TxMeta",
    "log_skipped",
    "merge_batches",
    "parse_blocks",
    "pool_tx",
    "split_reply_guided",
]
