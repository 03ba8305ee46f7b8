# Owns the encoded pieces the account reads splice their replies from, and
# their memos: a candidate spend as the API shows it, one transaction of
# get_address_txs (encoded with its id, for sorting), and one output of
# get_unspent_outs up to its key images (appended per snapshot). Pieces of
# records that did not change are reused from one snapshot to the next: the
# memos are keyed by the decoded records (equal records, equal pieces). Must
# not read the store or know HTTP; the replies are assembled in
# account_data.py.
"""Encoded reply pieces of the account reads, memoized by their records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from lws.store.records import OutputRecord, SpendRecord
from lws.wire.responses import Recipient, Spend, Transaction, UnspentOutput

from .chainview import iso_time
from .memo import Memo
from .rct import FULL_ECDH_TYPES, unspent_rct

_ENCODE = msgspec.json.Encoder().encode

#: How an encoded UnspentOutput ends when its key images are empty: its
#: last field (the wire type declares spend_key_images last for this).
_EMPTY_KEY_IMAGES_TAIL = b'"spend_key_images":[]}'


def spend(record: SpendRecord) -> Spend:
    return Spend(
        amount=str(record.source_amount),
        key_image=record.key_image.hex(),
        tx_pub_key=record.source_tx_pubkey.hex(),
        out_index=record.source_output_index,
        mixin=record.mixin,
    )


class TxParts:
    """What one transaction holds for the account, gathered from records."""

    __slots__ = ("id", "outputs", "spends", "first")

    def __init__(self, tx_id: int, first: OutputRecord | SpendRecord) -> None:
        self.id = tx_id
        self.first = first
        self.outputs: list[OutputRecord] = []
        self.spends: list[SpendRecord] = []


def gather(
    records: Iterable[OutputRecord | SpendRecord], txs: dict[bytes, TxParts], next_id: int
) -> None:
    """Add ``records`` to their transactions in ``txs``; a pool tx new to
    ``txs`` gets the id ``next_id`` + how many txs came before it."""
    for record in records:
        parts = txs.get(record.tx_hash)
        if parts is None:
            tx_id = record.tx_index if record.height is not None else next_id + len(txs)
            parts = txs[record.tx_hash] = TxParts(tx_id, record)
        if isinstance(record, OutputRecord):
            parts.outputs.append(record)
        else:
            parts.spends.append(record)


def transaction(tx_hash: bytes, parts: TxParts) -> Transaction:
    first = parts.first
    outputs, spends = parts.outputs, parts.spends
    coinbase = False
    received = 0
    payment_id = first.payment_id
    for out in outputs:
        received += out.amount
        coinbase = coinbase or out.coinbase
        if not payment_id and out.payment_id:
            payment_id = out.payment_id
    return Transaction(
        id=parts.id,
        hash=tx_hash.hex(),
        timestamp=iso_time(first.timestamp),
        total_received=str(received),
        total_sent=str(sum(s.source_amount for s in spends)) if spends else "0",
        fee=str(first.fee),
        unlock_time=first.unlock_time,
        height=first.height,
        mempool=first.height is None,
        coinbase=coinbase,
        mixin=first.mixin,
        payment_id=payment_id.hex() if payment_id else None,
        spent_outputs=[spend(s) for s in spends],
    )


#: A mined transaction's records, as the memo's key: its hash, its outputs
#: and its candidate spends (in chain order).
MinedTx = tuple[bytes, tuple[OutputRecord, ...], tuple[SpendRecord, ...]]


def _mined_transaction(key: MinedTx) -> tuple[int, bytes]:
    tx_hash, outputs, spends = key
    first: OutputRecord | SpendRecord = outputs[0] if outputs else spends[0]
    parts = TxParts(first.tx_index, first)
    parts.outputs, parts.spends = list(outputs), list(spends)
    return parts.id, _ENCODE(transaction(tx_hash, parts))


def unspent_head(out: OutputRecord, view_secret: bytes) -> bytes:
    """``out``'s get_unspent_outs object up to ``"spend_key_images":``."""
    subaddress = out.subaddress
    encoded = _ENCODE(
        UnspentOutput(
            amount=str(out.amount),
            public_key=out.output_key.hex(),
            index=out.output_index,
            global_index=str(out.global_index),
            tx_id=out.tx_index,
            tx_hash=out.tx_hash.hex(),
            tx_prefix_hash=out.tx_prefix_hash.hex(),
            tx_pub_key=out.tx_pubkey.hex(),
            timestamp=iso_time(out.timestamp),
            height=out.height or 0,
            recipient=Recipient(maj_i=subaddress[0], min_i=subaddress[1]),
            rct=unspent_rct(out, view_secret),
            spend_key_images=[],
        )
    )
    if not encoded.endswith(_EMPTY_KEY_IMAGES_TAIL):
        raise AssertionError("UnspentOutput must declare spend_key_images last")
    return encoded[: -len(b"[]}")]


def _public_unspent_head(out: OutputRecord) -> bytes | None:
    """The head of an output whose ``rct`` does not need the view key; None
    for RingCT types 1-3 (never memoized: their ``rct`` is account-specific)."""
    return None if out.rct_type in FULL_ECDH_TYPES else unspent_head(out, b"")


class ReplyPieces:
    """The piece memos of one Services, shared by its worker threads."""

    def __init__(self) -> None:
        self.transactions: Memo[MinedTx, tuple[int, bytes]] = Memo(_mined_transaction)
        self.public_unspent_heads: Memo[OutputRecord, bytes | None] = Memo(_public_unspent_head)

    def mined_transactions(self, keys: Sequence[MinedTx]) -> list[tuple[int, bytes]]:
        return self.transactions.many(keys)
