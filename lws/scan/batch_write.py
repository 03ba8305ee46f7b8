# Owns turning what the workers found into what the store writes: per
# account, its received outputs as records and the candidate spends of the
# outputs it owned before or received earlier in the batch (ring members
# looked up in the store behind the "maybe owned" filter); for a mined batch
# each account's part of the batch write (AccountBatch), slice by slice, and
# for the pool each account's pool records (append_records, shared by both).
# Reads the store, never writes it; must not talk to monerod or the workers.
"""Each account's part of a scanned batch's store write."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from lws.monero.scan import CandidateSpend, FoundOutputs, ReceivedOutput, ReceivedRows, find_spends
from lws.scan.batch import ParsedBatch, SpendBatch, TxMeta
from lws.scan.owned_filter import OwnedFilter
from lws.store import AccountBatch, AccountRecord, OutputRecord, Reader, SpendRecord, Store


class Participant(Protocol):
    """An account taking part in a batch: its id and stored record."""

    @property
    def account_id(self) -> int: ...

    @property
    def record(self) -> AccountRecord: ...


class KnownInStore:
    """Owners (positions among the batch's accounts) of ring members, read from
    the store where ``owned`` (a superset of the store's outputs) says maybe."""

    def __init__(self, reader: Reader, positions: Mapping[int, int], owned: OwnedFilter) -> None:
        self._reader = reader
        self._positions = positions
        self._maybe_owned = owned.maybe_owned

    def owners_among(self, amount: int, members: Sequence[int], /) -> Mapping[int, Sequence[int]]:
        found: dict[int, Sequence[int]] = {}
        for member in self._maybe_owned(amount, members):
            owners = [
                self._positions[owner.account_id]
                for owner in self._reader.owners_of(amount, member)
                if owner.account_id in self._positions
            ]
            if owners:
                found[member] = owners
        return found


class AccountBatchBuilder:
    """One batch's share of the store write per account, built slice by
    slice in chain order: received outputs as records, and the candidate
    spends of outputs stored before or received earlier in the batch."""

    def __init__(
        self,
        store: Store,
        owned_filter: Callable[[Reader], OwnedFilter],
        participants: Sequence[Participant],
        start: int,
        end: int,
    ) -> None:
        self._store = store
        self._owned_filter = owned_filter
        self._participants = participants
        self._start = start
        self._end = end
        self._positions = {a.account_id: i for i, a in enumerate(participants)}
        self._account_ids = [a.account_id for a in participants]
        self._outputs: list[list[OutputRecord]] = [[] for _ in participants]
        self._spends: list[list[SpendRecord]] = [[] for _ in participants]
        #: (position, index amount, global index) -> record, for this batch's outputs.
        self._batch_outputs: dict[tuple[int, int, int], OutputRecord] = {}
        self._found: FoundOutputs = {}

    def add(self, part: ParsedBatch | SpendBatch, rows: ReceivedRows) -> None:
        """The next slice (blocking: call it in a thread). ``rows`` are the
        received rows of its transactions of heights in [start, end)."""
        participants = self._participants
        keep = [i for i, meta in enumerate(part.metas) if self._start <= meta.height < self._end]
        txs = [part.txs[i] for i in keep]
        metas = [part.metas[i] for i in keep]
        # Drop what lies below each account's own scan height.
        for row, meta in zip(rows, metas, strict=True):
            for position in [p for p in row if meta.height < participants[p].record.scan_height]:
                del row[position]
        with self._store.read() as reader:
            known = KnownInStore(reader, self._positions, self._owned_filter(reader))
            spend_rows = find_spends(txs, rows, known, self._found)
            for meta, spend_row in zip(metas, spend_rows, strict=True):
                for position in [
                    p for p in spend_row if meta.height < participants[p].record.scan_height
                ]:
                    del spend_row[position]
            append_records(
                reader,
                self._account_ids,
                metas,
                rows,
                spend_rows,
                self._outputs,
                self._spends,
                self._batch_outputs,
                pool=False,
            )

    def finish(self) -> dict[int, AccountBatch]:
        """The shares of the accounts the batch moves; the batch's outputs
        join the "maybe owned" filter (before the write stores them)."""
        if self._batch_outputs:
            with self._store.read() as reader:
                owned = self._owned_filter(reader)
            for record in self._batch_outputs.values():
                owned.add(record.index_amount, record.global_index)
        return {
            a.account_id: AccountBatch(
                from_height=a.record.scan_height,
                scan_height=max(a.record.scan_height, self._end),
                outputs=tuple(self._outputs[i]),
                spends=tuple(self._spends[i]),
            )
            for i, a in enumerate(self._participants)
            if a.record.scan_height < self._end
        }


def append_records(
    reader: Reader,
    account_ids: Sequence[int],
    metas: Sequence[TxMeta],
    rows: ReceivedRows,
    spend_rows: Sequence[Mapping[int, Sequence[CandidateSpend]]],
    outputs: list[list[OutputRecord]],
    spends: list[list[SpendRecord]],
    batch_outputs: dict[tuple[int, int, int], OutputRecord],
    *,
    pool: bool,
) -> None:
    """THE record building of a scan, mined or pool: the received ``rows``
    and candidate ``spend_rows`` of the txs ``metas`` (positions index
    ``account_ids``) appended to each account's ``outputs`` and ``spends``.
    A spend's source is an output of this batch (``batch_outputs``, keyed by
    position, index amount and global index; mined batches fill it) or one
    already stored; a mined spend must come after its source in chain order.
    Pool records have no height, and a pool output has no global index yet,
    so it is never the source of a spend."""
    for meta, row, spend_row in zip(metas, rows, spend_rows, strict=True):
        for position, found in row.items():
            for out in found:
                record = output_record(meta, out, pool=pool)
                outputs[position].append(record)
                if not pool:
                    batch_outputs[(position, record.index_amount, record.global_index)] = record
        for position, candidates in spend_row.items():
            account_id = account_ids[position]
            for spend in candidates:
                for member in spend.owned_members:
                    source = batch_outputs.get((position, spend.amount, member))
                    if source is None:
                        source = stored_output(reader, account_id, spend.amount, member)
                    if source is not None and (pool or source.tx_index < meta.tx_index):
                        spends[position].append(spend_record(meta, spend, source, pool=pool))


def output_record(meta: TxMeta, out: ReceivedOutput, *, pool: bool = False) -> OutputRecord:
    return OutputRecord(
        height=None if pool else meta.height,
        tx_index=meta.tx_index,
        tx_hash=meta.tx_hash,
        tx_prefix_hash=meta.prefix_hash,
        output_index=out.output_index,
        global_index=max(out.global_index, 0),
        amount=out.amount,
        mask=out.mask,
        rct_type=out.rct_type,
        commitment=out.commitment,
        ecdh_amount=out.ecdh_amount,
        output_key=out.output_key,
        tx_pubkey=out.tx_pubkey,
        subaddress=out.subaddress,
        unlock_time=meta.unlock_time,
        timestamp=meta.timestamp,
        coinbase=meta.coinbase,
        mixin=meta.mixin,
        payment_id=out.payment_id,
        fee=meta.fee,
    )


def stored_output(
    reader: Reader, account_id: int, amount: int, global_index: int
) -> OutputRecord | None:
    for owner in reader.owners_of(amount, global_index):
        if owner.account_id == account_id:
            return reader.output(account_id, owner.tx_index, owner.output_index)
    return None


def spend_record(
    meta: TxMeta, spend: CandidateSpend, source: OutputRecord, *, pool: bool
) -> SpendRecord:
    return SpendRecord(
        key_image=spend.key_image,
        height=None if pool else meta.height,
        tx_index=meta.tx_index,
        tx_hash=meta.tx_hash,
        timestamp=meta.timestamp,
        unlock_time=meta.unlock_time,
        mixin=meta.mixin,
        fee=meta.fee,
        payment_id=b"",
        source_tx_index=source.tx_index,
        source_output_index=source.output_index,
        source_global_index=source.global_index,
        source_amount=source.amount,
        source_tx_pubkey=source.tx_pubkey,
    )


__all__ = [
    "KnownInStore",
    "append_records",
    "Participant",
    "AccountBatchBuilder",
    "output_record",
    "spend_record",
    "stored_output",
]
