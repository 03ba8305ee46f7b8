# Owns the three account reads of the light-wallet API: get_address_info
# (balances and candidate spends), get_address_txs (history in chain order,
# mempool last) and get_unspent_outs (spendable outputs with every key image
# that may spend them, plus monerod's fees). Each builds its reply from one
# store snapshot in a worker thread, encodes it there and keeps it in the
# reply cache for that store generation; a cached reply is returned only
# after the view key matched the account's (constant time). Builds reuse the
# encoded pieces (pieces.py: unspent outputs, mined transactions) of records
# seen before. Replies are Encoded JSON (encoded.py): the same object on
# every hit, so its gzip form is compressed once per cached reply.
# Must not write to the store or know HTTP; authorization is auth.py's.
"""Balances, history and spendable outputs of an account."""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable, Hashable
from operator import itemgetter
from typing import Any, cast

import msgspec
import trio

from lws.errors import ClientError, Forbidden
from lws.store import Reader
from lws.store.records import RCT_TYPE_V1, AccountRecord, OutputRecord, SpendRecord
from lws.store.schema import tx_index_of
from lws.wire.fields import u64_of
from lws.wire.requests import AccountRequest, UnspentOutsRequest
from lws.wire.responses import (
    AddressInfoResponse,
    AddressTxsResponse,
    Transaction,
    UnspentOutput,
    UnspentOutsResponse,
)

from . import pieces, storeio
from .auth import FORBIDDEN_TEXT, Keys, check_credentials, visible_account
from .chainview import chain_height, is_unlocked, time_unlock_at
from .context import Services
from .encoded import Encoded, gzip_allowance
from .fees import FeeInfo
from .pieces import MinedTx, TxParts, gather, transaction, unspent_head
from .replycache import CachedReply

_ENCODE = msgspec.json.Encoder().encode


class AccountView(msgspec.Struct, frozen=True):
    """One snapshot of everything an account reply needs."""

    account: AccountRecord
    blockchain_height: int
    outputs: list[OutputRecord]
    spends: list[SpendRecord]
    pool_outputs: list[OutputRecord]
    pool_spends: list[SpendRecord]
    #: Store generation of the snapshot (Reader.generation).
    generation: int = 0


def _view(reader: Reader, keys: Keys) -> AccountView:
    account_id, record = visible_account(reader, keys)
    return AccountView(
        account=record,
        blockchain_height=chain_height(reader),
        outputs=reader.outputs(account_id),
        spends=reader.spends(account_id),
        pool_outputs=reader.pool_outputs(account_id),
        pool_spends=reader.pool_spends(account_id),
        generation=reader.generation,
    )


# --- the cache path ------------------------------------------------------------


def _cached(svc: Services, key: Hashable, view_key: str, now: float) -> CachedReply | None:
    """The valid cached reply for ``key``, once ``view_key`` matched its
    account's (constant time); Forbidden if it does not match."""
    entry = svc.replies.get(key, svc.store.generation(), now)
    if entry is None:
        return None
    if not hmac.compare_digest(entry.view_secret, bytes.fromhex(view_key)):
        raise Forbidden(FORBIDDEN_TEXT)
    return entry


async def cached_reply(
    svc: Services,
    key: Hashable,
    address: str,
    view_key: str,
    build: Callable[[Reader, Keys, float], CachedReply],
) -> CachedReply:
    """The cached reply for ``key``, or one built by ``build`` from a new
    snapshot (in a worker thread, encoding included) and cached; either way
    the account's access is noted (its view key was checked)."""
    entry = await _cached_or_built(svc, key, address, view_key, build)
    svc.access.note(address)
    return entry


async def _cached_or_built(
    svc: Services,
    key: Hashable,
    address: str,
    view_key: str,
    build: Callable[[Reader, Keys, float], CachedReply],
) -> CachedReply:
    now = time.time()
    entry = _cached(svc, key, view_key, now)
    if entry is not None:
        return entry
    keys = check_credentials(address, view_key, svc.address_network)
    # One build per key at a time: requests that miss together (after a
    # write) wait for the first one's reply instead of each reading it.
    while (building := svc.building.get(key)) is not None:
        await building.wait()
        entry = _cached(svc, key, view_key, time.time())
        if entry is not None:
            return entry
    done = svc.building[key] = trio.Event()
    try:
        entry = await storeio.read(svc.store, lambda reader: build(reader, keys, now))
        svc.replies.put(key, entry)
    finally:
        del svc.building[key]
        done.set()
    return entry


# --- shared pieces -----------------------------------------------------------------


def _all_spends(view: AccountView) -> list[SpendRecord]:
    """Mined then pool candidate spends, each (key image, source) once."""
    if not view.pool_spends:
        return view.spends  # mined spends are unique by their table key
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


def _entry(view: AccountView, body: bytes, **more: Any) -> CachedReply:
    """A cache entry whose ``extra`` is the Encoded reply served on every hit."""
    return CachedReply(
        generation=view.generation,
        view_secret=view.account.view_secret,
        body=body,
        extra=Encoded(body),
        size=len(body) + gzip_allowance(len(body)),
        **more,
    )


# --- get_address_info ------------------------------------------------------------------


def _address_info(view: AccountView, now: float) -> CachedReply:
    height = view.blockchain_height
    received = locked = 0
    valid_until = math.inf
    for outputs in (view.outputs, view.pool_outputs):
        for out in outputs:
            received += out.amount
            if not is_unlocked(out, height, now):
                locked += out.amount
                valid_until = min(valid_until, time_unlock_at(out))
    spends = _all_spends(view)
    reply = AddressInfoResponse(
        locked_funds=str(locked),
        total_received=str(received),
        total_sent=str(sum(s.source_amount for s in spends)),
        spent_outputs=[pieces.spend(s) for s in spends],
        **_heights(view),
    )
    return _entry(view, _ENCODE(reply), valid_until=valid_until)


async def get_address_info(svc: Services, req: AccountRequest) -> Encoded:
    """AddressInfoResponse, encoded."""
    entry = await cached_reply(
        svc,
        ("info", req.address),
        req.address,
        req.view_key,
        lambda reader, keys, now: _address_info(_view(reader, keys), now),
    )
    encoded: Encoded = entry.extra
    return encoded


# --- get_address_txs -----------------------------------------------------------------------


def _mined_transactions(
    svc: Services, view: AccountView
) -> tuple[list[tuple[int, bytes]], set[bytes]]:
    """(id, encoded Transaction) of each mined tx, and their hashes."""
    groups: dict[bytes, tuple[list[OutputRecord], list[SpendRecord]]] = {}
    for out in view.outputs:
        group = groups.get(out.tx_hash)
        if group is None:
            group = groups[out.tx_hash] = ([], [])
        group[0].append(out)
    for record in view.spends:
        group = groups.get(record.tx_hash)
        if group is None:
            group = groups[record.tx_hash] = ([], [])
        group[1].append(record)
    keys: list[MinedTx] = [
        (tx_hash, tuple(outputs), tuple(spends)) for tx_hash, (outputs, spends) in groups.items()
    ]
    return svc.pieces.mined_transactions(keys), set(groups)


def _address_txs(svc: Services, view: AccountView) -> CachedReply:
    transactions, mined = _mined_transactions(svc, view)
    # Pool transactions come after every mined one: ids above the next block's.
    pool_base = tx_index_of(max(view.blockchain_height, view.account.scan_height) + 1, 0)
    pool: dict[bytes, TxParts] = {}
    pool_records: list[OutputRecord | SpendRecord] = sorted(
        (*view.pool_outputs, *view.pool_spends), key=lambda r: (r.timestamp, r.tx_hash)
    )
    gather((r for r in pool_records if r.tx_hash not in mined), pool, pool_base)
    transactions += [(p.id, _ENCODE(transaction(h, p))) for h, p in pool.items()]
    transactions.sort(key=itemgetter(0))
    encoded = b"[" + b",".join([tx for _, tx in transactions]) + b"]"
    received = sum(out.amount for out in (*view.outputs, *view.pool_outputs))
    reply = AddressTxsResponse(
        total_received=str(received),
        # encoded per transaction (memoized); msgspec splices Raw as is
        transactions=cast(list[Transaction], msgspec.Raw(encoded)),
        **_heights(view),
    )
    return _entry(view, _ENCODE(reply))


async def get_address_txs(svc: Services, req: AccountRequest) -> Encoded:
    """AddressTxsResponse, encoded."""
    entry = await cached_reply(
        svc,
        ("txs", req.address),
        req.address,
        req.view_key,
        lambda reader, keys, now: _address_txs(svc, _view(reader, keys)),
    )
    encoded: Encoded = entry.extra
    return encoded


# --- get_unspent_outs ---------------------------------------------------------------------


class _Unspent:
    """get_unspent_outs' store part, and the reply last assembled with fees."""

    __slots__ = ("total", "outputs_json", "fee_info", "encoded")

    def __init__(self, total: int, outputs_json: bytes) -> None:
        self.total = total
        self.outputs_json = outputs_json
        self.fee_info: FeeInfo | None = None
        self.encoded = Encoded(b"")

    def reply(self, fee_info: FeeInfo) -> Encoded:
        if fee_info is not self.fee_info:
            estimate = fee_info.estimate
            body = _ENCODE(
                UnspentOutsResponse(
                    per_byte_fee=estimate.fee,
                    fee_mask=estimate.quantization_mask,
                    amount=str(self.total),
                    # encoded once per snapshot; msgspec splices Raw as is
                    outputs=cast(list[UnspentOutput], msgspec.Raw(self.outputs_json)),
                    fees=list(estimate.fees),
                    fork_version=fee_info.fork.version,
                )
            )
            self.encoded = Encoded(body)
            self.fee_info = fee_info
        return self.encoded


def _unspent_outs(
    svc: Services, reader: Reader, keys: Keys, now: float, use_dust: bool, dust: int
) -> CachedReply:
    account_id, account = visible_account(reader, keys)
    height = chain_height(reader)
    spends = reader.spends(account_id)
    pool_spends = reader.pool_spends(account_id)
    all_spends = _all_spends(
        AccountView(account, height, [], spends, [], pool_spends, reader.generation)
    )
    images: dict[tuple[int, int], list[str]] = {}
    for spend in all_spends:
        key = (spend.source_tx_index, spend.source_output_index)
        images.setdefault(key, []).append(spend.key_image.hex())
    key_images = {key: _ENCODE(hexes) + b"}" for key, hexes in images.items()}
    no_images = b"[]}"
    # Only clients that registered subaddresses can spend subaddress outputs:
    # the MyMonero core derives primary-address key images for everything else.
    subaddress_aware = bool(account.subaddress_ranges)
    view_secret = account.view_secret
    valid_until = math.inf
    parts: list[bytes] = []
    total = 0
    public_head = svc.pieces.public_unspent_heads
    for out in reader.outputs(account_id):
        if not is_unlocked(out, height, now):
            valid_until = min(valid_until, time_unlock_at(out))
            continue
        if not subaddress_aware and out.subaddress != (0, 0):
            continue
        # Dust is a pre-RingCT notion: RingCT amounts are hidden, never dust.
        if out.rct_type == RCT_TYPE_V1 and not use_dust and out.amount < dust:
            continue
        total += out.amount
        head = public_head(out)
        parts.append(head if head is not None else unspent_head(out, view_secret))
        parts.append(key_images.get((out.tx_index, out.output_index), no_images))
        parts.append(b",")
    if parts:
        parts[-1] = b"]"
        outputs_json = b"[" + b"".join(parts)
    else:
        outputs_json = b"[]"
    return CachedReply(
        generation=reader.generation,
        view_secret=view_secret,
        body=b"",
        valid_until=valid_until,
        extra=_Unspent(total, outputs_json),
        # the outputs, the reply assembled from them and its gzip form
        size=2 * len(outputs_json) + gzip_allowance(len(outputs_json)) + 512,
    )


async def get_unspent_outs(svc: Services, req: UnspentOutsRequest) -> Encoded:
    """UnspentOutsResponse, encoded."""
    wanted = u64_of("amount", req.amount)
    dust = 0 if req.use_dust else u64_of("dust_threshold", req.dust_threshold)
    entry = await cached_reply(
        svc,
        ("unspent", req.address, req.use_dust, dust),
        req.address,
        req.view_key,
        lambda reader, keys, now: _unspent_outs(svc, reader, keys, now, req.use_dust, dust),
    )
    unspent: _Unspent = entry.extra
    if unspent.total < wanted:
        raise ClientError(f"Unspent outputs total {unspent.total}, less than the amount {wanted}")
    return unspent.reply(await svc.fees.get())
