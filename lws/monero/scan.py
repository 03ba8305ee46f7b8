# Owns the one pure scan step: given parsed transactions with their output
# global indexes and a set of accounts, say what each account received and
# which key images may spend its outputs. Builds on ownership (view tags,
# derivations), amounts (ECDH, commitments) and extra (tx keys, payment ids).
# Must not do I/O, keep state between calls, or know about storage.
"""Find every account's received outputs and candidate spends in transactions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Protocol

from msgspec import Struct

from .amounts import decode_amount, decrypt_payment_id, zero_commit
from .derivation import generate_key_derivation
from .extra import TxExtra, parse_extra
from .ownership import OwnedOutput, TxKeys, ViewKey, find_owned_outputs
from .tx import GenInput, KeyInput, Transaction

#: The commitment mask of an output whose amount is public (coinbase, v1): the scalar 1.
IDENTITY_MASK = (1).to_bytes(32, "little")

#: Ring signatures of types 1-3 carry a 32-byte mask and amount; 4-6 an 8-byte amount.
COMPACT_ECDH_TYPES = frozenset({4, 5, 6})


class ScanTx(Struct, frozen=True, array_like=True):
    """One transaction to scan, with what the daemon tells about it."""

    tx: Transaction
    tx_hash: bytes
    #: The global index of each output, in output order (amount 0 space for
    #: RingCT); empty for a pool transaction, whose outputs have none yet.
    global_indexes: tuple[int, ...]


class ReceivedOutput(Struct, frozen=True, array_like=True, gc=False):
    output_index: int
    global_index: int
    amount: int
    #: The commitment mask (IDENTITY_MASK where the amount is public).
    mask: bytes
    subaddress: tuple[int, int]
    #: The tx public key that derives this output (main or additional).
    tx_pubkey: bytes
    output_key: bytes
    #: -1 for a v1 transaction, else the RingCT type (0 for a v2 coinbase).
    rct_type: int
    #: The output's commitment (outPk), or the zero-mask commitment for public amounts.
    commitment: bytes
    #: The encrypted amount as in the transaction (8 bytes for types 4-6, else b"").
    ecdh_amount: bytes
    #: b"" (none), 8 bytes (decrypted short id) or 32 bytes.
    payment_id: bytes


class CandidateSpend(Struct, frozen=True, gc=False):
    """A key image whose ring includes one or more of the account's outputs."""

    input_index: int
    key_image: bytes
    #: The amount index space of the ring (0 for RingCT).
    amount: int
    #: Absolute global indexes of the ring members, in ring order.
    ring: tuple[int, ...]
    #: The ring members that are the account's own outputs.
    owned_members: tuple[int, ...]


class TxScan(Struct, frozen=True, gc=False):
    received: tuple[ReceivedOutput, ...]
    spends: tuple[CandidateSpend, ...]


class TxInputs(Protocol):
    """What candidate-spend search reads of a transaction."""

    @property
    def version(self) -> int: ...

    @property
    def inputs(self) -> tuple[GenInput | KeyInput, ...]: ...


class HasTxInputs(Protocol):
    """A :class:`ScanTx`, or a lighter value with the same ``tx.inputs``."""

    @property
    def tx(self) -> TxInputs: ...


class KnownOutputs(Protocol):
    """The outputs the accounts owned before a batch, asked one ring at a time."""

    def owners_among(self, amount: int, members: Sequence[int], /) -> Mapping[int, Sequence[int]]:
        """``member -> positions`` (in the accounts sequence) owning it, for
        the members of one ring (global indexes in ``amount``'s space) that
        some account owns, in ring order; empty for nearly every ring."""
        ...


class KnownMapping:
    """:class:`KnownOutputs` over a ``(amount, global index) -> positions`` mapping."""

    __slots__ = ("_get",)

    def __init__(self, mapping: Mapping[tuple[int, int], Sequence[int]]) -> None:
        self._get = mapping.get

    def owners_among(self, amount: int, members: Sequence[int], /) -> Mapping[int, Sequence[int]]:
        found: dict[int, Sequence[int]] = {}
        for member in members:
            owners = self._get((amount, member))
            if owners:
                found[member] = owners
        return found


def _as_known(known: KnownOutputs | Mapping[tuple[int, int], Sequence[int]]) -> KnownOutputs:
    return KnownMapping(known) if isinstance(known, Mapping) else known


def tx_keys(tx: Transaction, extra: TxExtra | None = None) -> TxKeys:
    """What ownership needs from a transaction."""
    extra = extra if extra is not None else parse_extra(tx.extra)
    return TxKeys(
        tx_pubkeys=extra.tx_pubkeys,
        additional_pubkeys=extra.additional_pubkeys,
        outputs=tuple((out.key, out.view_tag) for out in tx.outputs),
    )


#: Outputs received in a batch so far: amount space -> global index -> positions.
FoundOutputs = dict[int, dict[int, list[int]]]

#: Per transaction, the accounts (by position) that received something in it.
ReceivedRows = list[dict[int, tuple[ReceivedOutput, ...]]]


def find_received(txs: Sequence[ScanTx], accounts: Sequence[ViewKey]) -> ReceivedRows:
    """The outputs each account received: ``[tx] -> {account position: outputs}``.

    This is the CPU-heavy half of a scan (one derivation per tx key and
    account); it needs nothing but the transactions and the view keys, so it
    can run in worker processes over slices of a batch.
    """
    extras = [parse_extra(item.tx.extra) for item in txs]
    owned = find_owned_outputs(
        [tx_keys(item.tx, extra) for item, extra in zip(txs, extras)], accounts
    )
    rows: ReceivedRows = []
    for item, extra, owned_by_account in zip(txs, extras, owned):
        row: dict[int, tuple[ReceivedOutput, ...]] = {}
        for position, owned_outputs in enumerate(owned_by_account):
            if owned_outputs:
                outputs = _received_outputs(item, extra, accounts[position], owned_outputs)
                if outputs:
                    row[position] = outputs
        rows.append(row)
    return rows


def find_spends(
    txs: Sequence[HasTxInputs],
    received: Sequence[Mapping[int, tuple[ReceivedOutput, ...]]],
    known_outputs: KnownOutputs | Mapping[tuple[int, int], Sequence[int]],
    found_before: FoundOutputs | None = None,
) -> list[dict[int, tuple[CandidateSpend, ...]]]:
    """Candidate spends per tx: ``[tx] -> {account position: spends}``.

    ``known_outputs`` names the outputs owned before ``txs`` (a
    :class:`KnownOutputs`, or a mapping ``(amount, global index) ->
    positions``); the outputs in ``received`` (as returned by
    :func:`find_received` for the same txs) count as known for the spends of
    later transactions. ``found_before``, when given, holds the outputs
    received in earlier slices of the same batch and is updated in place
    with those of ``txs``, so slices can be searched one after another.
    """
    known = _as_known(known_outputs)
    found_here = found_before if found_before is not None else {}
    spends: list[dict[int, tuple[CandidateSpend, ...]]] = []
    for item, row in zip(txs, received):
        by_account = _candidate_spends(item.tx, known, found_here)
        spends.append({position: tuple(found) for position, found in by_account.items()})
        for position, outputs in row.items():
            for output in outputs:
                amount_space, global_index = _amount_key(item.tx, output)
                found_here.setdefault(amount_space, {}).setdefault(global_index, []).append(
                    position
                )
    return spends


def scan_transactions(
    txs: Sequence[ScanTx],
    accounts: Sequence[ViewKey],
    known_outputs: KnownOutputs | Mapping[tuple[int, int], Sequence[int]],
) -> list[list[TxScan | None]]:
    """Scan ``txs`` in chain order for every account; result is ``[tx][account]``.

    ``known_outputs`` names the outputs the accounts owned before these
    transactions; outputs found in earlier transactions of ``txs`` count as
    known for the spends of later ones. ``None`` where the account has
    nothing in that transaction. Never raises on hostile chain data: a
    transaction whose keys or amounts are invalid yields what monero's
    wallet would find in it (usually nothing).
    """
    received = find_received(txs, accounts)
    spends = find_spends(txs, received, known_outputs)
    results: list[list[TxScan | None]] = []
    for row, spends_by_account in zip(received, spends):
        results.append(
            [
                TxScan(received=row.get(position, ()), spends=spends_by_account.get(position, ()))
                if position in row or position in spends_by_account
                else None
                for position in range(len(accounts))
            ]
        )
    return results


def _amount_key(tx: TxInputs, output: ReceivedOutput) -> tuple[int, int]:
    # RingCT outputs (v2, coinbase included) are indexed in the amount-0 space.
    amount_space = 0 if tx.version >= 2 else output.amount
    return (amount_space, output.global_index)


def _candidate_spends(
    tx: TxInputs,
    known: KnownOutputs,
    found_here: Mapping[int, Mapping[int, Sequence[int]]],
) -> dict[int, list[CandidateSpend]]:
    by_account: dict[int, list[CandidateSpend]] = {}
    owners_among = known.owners_among
    for input_index, txin in enumerate(tx.inputs):
        if not isinstance(txin, KeyInput):
            continue
        amount = txin.amount
        ring = tuple(accumulate(txin.key_offsets))
        known_owners = owners_among(amount, ring)
        here = found_here.get(amount)
        if here is not None and here.keys().isdisjoint(ring):
            here = None
        if not known_owners and here is None:
            continue  # nearly every ring: decoys nobody here owns
        owners: dict[int, list[int]] = {}
        if here is None:  # known_owners lists its members in ring order
            for member, positions in known_owners.items():
                for position in positions:
                    owners.setdefault(position, []).append(member)
        else:
            for member in ring:
                for position in (*known_owners.get(member, ()), *here.get(member, ())):
                    owners.setdefault(position, []).append(member)
        for position, members in owners.items():
            by_account.setdefault(position, []).append(
                CandidateSpend(
                    input_index=input_index,
                    key_image=txin.key_image,
                    amount=amount,
                    ring=ring,
                    owned_members=tuple(dict.fromkeys(members)),
                )
            )
    return by_account


def _received_outputs(
    item: ScanTx,
    extra: TxExtra,
    account: ViewKey,
    owned: Sequence[OwnedOutput],
) -> tuple[ReceivedOutput, ...]:
    if not owned:
        return ()
    tx = item.tx
    payment_id = _payment_id(extra, account)
    received: list[ReceivedOutput] = []
    for match in owned:
        index = match.output_index
        # A pool transaction has no global indexes yet: -1 until it is mined.
        global_index = item.global_indexes[index] if index < len(item.global_indexes) else -1
        out = tx.outputs[index]
        rct = tx.rct
        if rct is None or rct.type == 0:
            amount = out.amount
            mask = IDENTITY_MASK
            commitment = zero_commit(amount) if rct is not None else b""
            ecdh_amount = b""
            rct_type = -1 if rct is None else 0
        else:
            if index >= len(rct.ecdh) or index >= len(rct.out_pk):
                continue
            ecdh = rct.ecdh[index]
            opened = decode_amount(
                rct.type, ecdh.mask, ecdh.amount, match.scalar, rct.out_pk[index]
            )
            if opened is None:
                continue  # the amount does not open its commitment: never credit it
            amount, mask = opened
            commitment = rct.out_pk[index]
            ecdh_amount = ecdh.amount if rct.type in COMPACT_ECDH_TYPES else b""
            rct_type = rct.type
        received.append(
            ReceivedOutput(
                output_index=index,
                global_index=global_index,
                amount=amount,
                mask=mask,
                subaddress=match.subaddress,
                tx_pubkey=match.tx_pubkey,
                output_key=match.output_key,
                rct_type=rct_type,
                commitment=commitment,
                ecdh_amount=ecdh_amount,
                payment_id=payment_id,
            )
        )
    return tuple(received)


def _payment_id(extra: TxExtra, account: ViewKey) -> bytes:
    if extra.payment_id is not None:
        return extra.payment_id
    if extra.encrypted_payment_id is None or not extra.tx_pubkeys:
        return b""
    # wallet2 decrypts with the derivation of the first (main) tx public key.
    derivation = generate_key_derivation(extra.tx_pubkeys[0], account.view_secret)
    if derivation is None:
        return b""
    decrypted = decrypt_payment_id(extra.encrypted_payment_id, derivation)
    return decrypted if any(decrypted) else b""
