# Owns the three account reads of the light-wallet API: get_address_info
# (balances and candidate spends), get_address_txs (history in chain order,
# mempool last) and get_unspent_outs (spendable outputs with every key image
# that may spend them, plus monerod's fees). Must not write to the store or
# know HTTP; authorization is auth.py's.
"""Balances, history and spendable outputs of an account."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import msgspec
import trio

from lws.daemon import FeeEstimate, HardForkInfo
from lws.errors import ClientError
from lws.store import Reader
from lws.store.records import RCT_TYPE_V1, AccountRecord, OutputRecord, SpendRecord
from lws.store.schema import tx_index_of
from lws.wire.fields import u64_of
from lws.wire.requests import AccountRequest, UnspentOutsRequest
from lws.wire.responses import (
    AddressInfoResponse,
    AddressTxsResponse,
    Recipient,
    Spend,
    Transaction,
    UnspentOutput,
    UnspentOutsResponse,
)

from . import storeio
from .auth import Keys, check_credentials, visible_account
from .chainview import chain_height, is_unlocked, iso_time
from .context import Services
from .rct import unspent_rct


class AccountView(msgspec.Struct, frozen=True):
    """One snapshot of everything an account reply needs."""

    account: AccountRecord
    blockchain_height: int
    outputs: list[OutputRecord]
    spends: list[SpendRecord]
    pool_outputs: list[OutputRecord]
    pool_spends: list[SpendRecord]


def _view(reader: Reader, keys: Keys) -> AccountView:
    account_id, record = visible_account(reader, keys)
    return AccountView(
        account=record,
        blockchain_height=chain_height(reader),
        outputs=reader.outputs(account_id),
        spends=reader.spends(account_id),
        pool_outputs=reader.pool_outputs(account_id),
        pool_spends=reader.pool_spends(account_id),
    )


async def load_view(svc: Services, address: str, view_key: str) -> AccountView:
    keys = check_credentials(address, view_key, svc.address_network)
    return await storeio.read(svc.store, lambda reader: _view(reader, keys))


def _spend(spend: SpendRecord) -> Spend:
    return Spend(
        amount=str(spend.source_amount),
        key_image=spend.key_image.hex(),
        tx_pub_key=spend.source_tx_pubkey.hex(),
        out_index=spend.source_output_index,
        mixin=spend.mixin,
    )


def _all_spends(view: AccountView) -> list[SpendRecord]:
    """Mined then pool candidate spends, each (key image, source) once."""
    seen: set[tuple[bytes, int]] = set()
    spends: list[SpendRecord] = []
    for spend in (*view.spends, *view.pool_spends):
        key = (spend.key_image, spend.source_global_index)
        if key not in seen:
            seen.add(key)
            spends.append(spend)
    return spends


def _heights(view: AccountView) -> dict[str, Any]:
    # Counts of blocks, like monerod's get_height: equal to blockchain_height when caught up.
    scanned = view.account.scan_height
    return {
        "scanned_height": scanned,
        "scanned_block_height": scanned,
        "start_height": view.account.start_height,
        "transaction_height": view.blockchain_height,
        "blockchain_height": view.blockchain_height,
    }


async def get_address_info(svc: Services, req: AccountRequest) -> AddressInfoResponse:
    view = await load_view(svc, req.address, req.view_key)
    now = time.time()
    received = locked = 0
    for out in (*view.outputs, *view.pool_outputs):
        received += out.amount
        if not is_unlocked(out, view.blockchain_height, now):
            locked += out.amount
    spends = _all_spends(view)
    return AddressInfoResponse(
        locked_funds=str(locked),
        total_received=str(received),
        total_sent=str(sum(spend.source_amount for spend in spends)),
        spent_outputs=[_spend(spend) for spend in spends],
        **_heights(view),
    )


class _TxParts:
    """What one transaction holds for the account, gathered from records."""

    __slots__ = ("id", "outputs", "spends", "first")

    def __init__(self, tx_id: int, first: OutputRecord | SpendRecord) -> None:
        self.id = tx_id
        self.first = first
        self.outputs: list[OutputRecord] = []
        self.spends: list[SpendRecord] = []


def _gather(
    records: Iterable[OutputRecord | SpendRecord], txs: dict[bytes, _TxParts], next_id: int
) -> None:
    for record in records:
        parts = txs.get(record.tx_hash)
        if parts is None:
            tx_id = record.tx_index if record.height is not None else next_id + len(txs)
            parts = txs[record.tx_hash] = _TxParts(tx_id, record)
        if isinstance(record, OutputRecord):
            parts.outputs.append(record)
        else:
            parts.spends.append(record)


def _transaction(tx_hash: bytes, parts: _TxParts) -> Transaction:
    first = parts.first
    outputs, spends = parts.outputs, parts.spends
    coinbase = any(out.coinbase for out in outputs)
    payment_id = first.payment_id or next((o.payment_id for o in outputs if o.payment_id), b"")
    return Transaction(
        id=parts.id,
        hash=tx_hash.hex(),
        timestamp=iso_time(first.timestamp),
        total_received=str(sum(out.amount for out in outputs)),
        total_sent=str(sum(spend.source_amount for spend in spends)),
        fee=str(first.fee),
        unlock_time=first.unlock_time,
        height=first.height,
        mempool=first.height is None,
        coinbase=coinbase,
        mixin=first.mixin,
        payment_id=payment_id.hex() if payment_id else None,
        spent_outputs=[_spend(spend) for spend in spends],
    )


async def get_address_txs(svc: Services, req: AccountRequest) -> AddressTxsResponse:
    view = await load_view(svc, req.address, req.view_key)
    mined: dict[bytes, _TxParts] = {}
    _gather(view.outputs, mined, 0)
    _gather(view.spends, mined, 0)
    # Pool transactions come after every mined one: ids above the next block's.
    pool_base = tx_index_of(max(view.blockchain_height, view.account.scan_height) + 1, 0)
    pool: dict[bytes, _TxParts] = {}
    pool_records: list[OutputRecord | SpendRecord] = sorted(
        (*view.pool_outputs, *view.pool_spends), key=lambda r: (r.timestamp, r.tx_hash)
    )
    for record in pool_records:
        if record.tx_hash not in mined:
            _gather((record,), pool, pool_base)
    transactions = [_transaction(h, p) for h, p in (*mined.items(), *pool.items())]
    transactions.sort(key=lambda tx: tx.id)
    received = sum(out.amount for out in (*view.outputs, *view.pool_outputs))
    return AddressTxsResponse(
        total_received=str(received), transactions=transactions, **_heights(view)
    )


async def _fees(svc: Services) -> tuple[FeeEstimate, HardForkInfo]:
    results: dict[str, FeeEstimate | HardForkInfo] = {}

    async def fee() -> None:
        results["fee"] = await svc.daemon.get_fee_estimate()

    async def fork() -> None:
        results["fork"] = await svc.daemon.hard_fork_info()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fee)
        nursery.start_soon(fork)
    fee_estimate, fork_info = results["fee"], results["fork"]
    assert isinstance(fee_estimate, FeeEstimate) and isinstance(fork_info, HardForkInfo)
    return fee_estimate, fork_info


async def get_unspent_outs(svc: Services, req: UnspentOutsRequest) -> UnspentOutsResponse:
    view = await load_view(svc, req.address, req.view_key)
    wanted = u64_of("amount", req.amount)
    dust = u64_of("dust_threshold", req.dust_threshold)
    # Only clients that registered subaddresses can spend subaddress outputs:
    # the MyMonero core derives primary-address key images for everything else.
    subaddress_aware = bool(view.account.subaddress_ranges)
    key_images: dict[tuple[int, int], list[str]] = {}
    for spend in _all_spends(view):
        key = (spend.source_tx_index, spend.source_output_index)
        key_images.setdefault(key, []).append(spend.key_image.hex())
    now = time.time()
    outputs: list[UnspentOutput] = []
    total = 0
    for out in view.outputs:
        if not is_unlocked(out, view.blockchain_height, now):
            continue
        if out.subaddress != (0, 0) and not subaddress_aware:
            continue
        # Dust is a pre-RingCT notion: RingCT amounts are hidden, never dust.
        if out.rct_type == RCT_TYPE_V1 and not req.use_dust and out.amount < dust:
            continue
        total += out.amount
        outputs.append(
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
                spend_key_images=key_images.get((out.tx_index, out.output_index), []),
                recipient=Recipient(maj_i=out.subaddress[0], min_i=out.subaddress[1]),
                rct=unspent_rct(out, view.account.view_secret),
            )
        )
    if total < wanted:
        raise ClientError(f"Unspent outputs total {total}, less than the amount {wanted}")
    fee_estimate, fork_info = await _fees(svc)
    return UnspentOutsResponse(
        per_byte_fee=fee_estimate.fee,
        fee_mask=fee_estimate.quantization_mask,
        amount=str(total),
        outputs=outputs,
        fees=list(fee_estimate.fees),
        fork_version=fork_info.version,
    )
