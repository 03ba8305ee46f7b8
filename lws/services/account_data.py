# Owns the three account reads of the light-wallet API: get_address_info
# (balances and candidate spends), get_address_txs (history in chain order,
# mempool last) and get_unspent_outs (spendable outputs with every key image
# that may spend them, plus monerod's fees). Each builds its reply from one
# store snapshot in a worker thread, encodes it there and keeps it in the
# reply cache for that store generation; a cached reply is returned only
# after the view key matched the account's (constant time). Builds decode
# each stored record once and reuse the encoded pieces (unspent outputs,
# mined transactions) of records seen before, memoized by their stored bytes.
# Replies are Encoded JSON (encoded.py): the same object on every hit, so its
# gzip form is compressed once per cached reply.
# Must not write to the store or know HTTP; authorization is auth.py's.
"""Balances, history and spendable outputs of an account."""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable, Hashable, Iterable
from operator import itemgetter
from typing import Any, Generic, TypeVar, cast

import msgspec
import trio

from lws.errors import ClientError, Forbidden
from lws.store import Reader
from lws.store.records import (
    OUTPUT_DECODER,
    RCT_TYPE_V1,
    SPEND_DECODER,
    AccountRecord,
    OutputRecord,
    SpendRecord,
)
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
from .auth import FORBIDDEN_TEXT, Keys, check_credentials, visible_account
from .chainview import chain_height, is_unlocked, iso_time, time_unlock_at
from .context import Services
from .encoded import Encoded, gzip_allowance
from .fees import FeeInfo
from .rct import FULL_ECDH_TYPES, unspent_rct
from .replycache import CachedReply

_ENCODE = msgspec.json.Encoder().encode
T = TypeVar("T")


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
    #: ``outputs`` and ``spends`` as stored (same order): memo keys.
    output_values: list[bytes] = []
    spend_values: list[bytes] = []


class _Memo(Generic[T]):
    """``fn(raw)`` memoized by the stored bytes ``raw`` (immutable content);
    past ``size`` entries it starts over. Shared by worker threads: dict
    reads and writes are atomic, a lost entry is only recomputed."""

    def __init__(self, fn: Callable[[bytes], T], size: int) -> None:
        self._fn = fn
        self._size = size
        self._values: dict[bytes, T] = {}

    def many(self, raws: list[bytes]) -> list[T]:
        get = self._values.get
        found = [get(raw) for raw in raws]
        if None in found:
            found = [self(raw) if value is None else value for raw, value in zip(raws, found)]
        return cast(list[T], found)

    def __call__(self, raw: bytes) -> T:
        value = self._values.get(raw)
        if value is None:
            value = self._fn(raw)
            if len(self._values) >= self._size:
                self._values.clear()
            self._values[raw] = value
        return value


#: Stored records memoized by their bytes, so a snapshot decodes only what
#: earlier ones did not: ~1 KB an entry with its key, so the output, spend and
#: output-head memos stay under ~50 MB each. Wallets with more records in all
#: than this still work, each build decoding again.
RECORD_MEMO_SIZE = 50_000
_output_record = _Memo(OUTPUT_DECODER.decode, RECORD_MEMO_SIZE)
_spend_record = _Memo(SPEND_DECODER.decode, RECORD_MEMO_SIZE)


def _view(reader: Reader, keys: Keys) -> AccountView:
    account_id, record = visible_account(reader, keys)
    output_values = reader.output_values(account_id)
    spend_values = reader.spend_values(account_id)
    return AccountView(
        account=record,
        blockchain_height=chain_height(reader),
        outputs=_output_record.many(output_values),
        spends=_spend_record.many(spend_values),
        pool_outputs=reader.pool_outputs(account_id),
        pool_spends=reader.pool_spends(account_id),
        generation=reader.generation,
        output_values=output_values,
        spend_values=spend_values,
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
    snapshot (in a worker thread, encoding included) and cached."""
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
        total_sent=str(sum(spend.source_amount for spend in spends)),
        spent_outputs=[_spend(spend) for spend in spends],
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


class _TxParts:
    """What one transaction holds for the account, gathered from records."""

    __slots__ = ("id", "outputs", "spends", "first")

    def __init__(self, tx_id: int, first: OutputRecord | SpendRecord) -> None:
        self.id = tx_id
        self.first = first
        self.outputs: list[OutputRecord] = []
        self.spends: list[SpendRecord] = []


def _gather_outputs(
    records: Iterable[OutputRecord], txs: dict[bytes, _TxParts], next_id: int
) -> None:
    for record in records:
        parts = txs.get(record.tx_hash)
        if parts is None:
            tx_id = record.tx_index if record.height is not None else next_id + len(txs)
            parts = txs[record.tx_hash] = _TxParts(tx_id, record)
        parts.outputs.append(record)


def _gather_spends(
    records: Iterable[SpendRecord], txs: dict[bytes, _TxParts], next_id: int
) -> None:
    for record in records:
        parts = txs.get(record.tx_hash)
        if parts is None:
            tx_id = record.tx_index if record.height is not None else next_id + len(txs)
            parts = txs[record.tx_hash] = _TxParts(tx_id, record)
        parts.spends.append(record)


def _transaction(tx_hash: bytes, parts: _TxParts) -> Transaction:
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
        total_sent=str(sum(spend.source_amount for spend in spends)) if spends else "0",
        fee=str(first.fee),
        unlock_time=first.unlock_time,
        height=first.height,
        mempool=first.height is None,
        coinbase=coinbase,
        mixin=first.mixin,
        payment_id=payment_id.hex() if payment_id else None,
        spent_outputs=[_spend(spend) for spend in spends],
    )


#: Mined transactions memoized by the stored bytes of their records: the
#: encoded Transaction (its id first, for sorting).
TX_MEMO_SIZE = 50_000
_tx_memo: dict[tuple[tuple[bytes, ...], tuple[bytes, ...]], tuple[int, bytes]] = {}


def _mined_transactions(view: AccountView) -> tuple[list[tuple[int, bytes]], set[bytes]]:
    """(id, encoded Transaction) of each mined tx, and their hashes."""
    groups: dict[bytes, tuple[list[bytes], list[bytes]]] = {}
    for raw, out in zip(view.output_values, view.outputs, strict=True):
        group = groups.get(out.tx_hash)
        if group is None:
            group = groups[out.tx_hash] = ([], [])
        group[0].append(raw)
    for raw, spend in zip(view.spend_values, view.spends, strict=True):
        group = groups.get(spend.tx_hash)
        if group is None:
            group = groups[spend.tx_hash] = ([], [])
        group[1].append(raw)
    encoded: list[tuple[int, bytes]] = []
    for tx_hash, (output_values, spend_values) in groups.items():
        key = (tuple(output_values), tuple(spend_values))
        found = _tx_memo.get(key)
        if found is None:
            outputs = _output_record.many(output_values)
            spends = _spend_record.many(spend_values)
            first: OutputRecord | SpendRecord = outputs[0] if outputs else spends[0]
            parts = _TxParts(first.tx_index, first)
            parts.outputs, parts.spends = outputs, spends
            found = (parts.id, _ENCODE(_transaction(tx_hash, parts)))
            if len(_tx_memo) >= TX_MEMO_SIZE:
                _tx_memo.clear()
            _tx_memo[key] = found
        encoded.append(found)
    return encoded, set(groups)


def _address_txs(view: AccountView) -> CachedReply:
    transactions, mined = _mined_transactions(view)
    # Pool transactions come after every mined one: ids above the next block's.
    pool_base = tx_index_of(max(view.blockchain_height, view.account.scan_height) + 1, 0)
    pool: dict[bytes, _TxParts] = {}
    pool_records: list[OutputRecord | SpendRecord] = sorted(
        (*view.pool_outputs, *view.pool_spends), key=lambda r: (r.timestamp, r.tx_hash)
    )
    for record in pool_records:
        if record.tx_hash not in mined:
            if isinstance(record, OutputRecord):
                _gather_outputs((record,), pool, pool_base)
            else:
                _gather_spends((record,), pool, pool_base)
    transactions += [(p.id, _ENCODE(_transaction(h, p))) for h, p in pool.items()]
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
        lambda reader, keys, now: _address_txs(_view(reader, keys)),
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


class _UnspentHead(msgspec.Struct, omit_defaults=True, kw_only=True):
    """UnspentOutput without spend_key_images (appended per snapshot)."""

    amount: str
    public_key: str
    index: int
    global_index: str
    tx_id: int
    tx_hash: str
    tx_prefix_hash: str
    tx_pub_key: str
    timestamp: str
    height: int
    recipient: Recipient
    rct: str | None = None


#: Each stored output's reply object up to ``"spend_key_images":``, by the
#: output's stored bytes (None for RingCT types 1-3: their ``rct`` depends on
#: the account's view key, so it is never memoized).
_KEY_IMAGES_FIELD = b',"spend_key_images":'


def _unspent_head(out: OutputRecord, view_secret: bytes) -> bytes:
    subaddress = out.subaddress
    head = _ENCODE(
        _UnspentHead(
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
        )
    )
    return head[:-1] + _KEY_IMAGES_FIELD


def _public_head(raw: bytes) -> bytes | None:
    out = _output_record(raw)
    return None if out.rct_type in FULL_ECDH_TYPES else _unspent_head(out, b"")


_head_memo = _Memo(_public_head, RECORD_MEMO_SIZE)


def _unspent_outs(reader: Reader, keys: Keys, now: float, use_dust: bool, dust: int) -> CachedReply:
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
    raws = reader.output_values(account_id)
    for out, head in zip(_output_record.many(raws), _head_memo.many(raws), strict=True):
        if not is_unlocked(out, height, now):
            valid_until = min(valid_until, time_unlock_at(out))
            continue
        if not subaddress_aware and out.subaddress != (0, 0):
            continue
        # Dust is a pre-RingCT notion: RingCT amounts are hidden, never dust.
        if out.rct_type == RCT_TYPE_V1 and not use_dust and out.amount < dust:
            continue
        total += out.amount
        parts.append(head if head is not None else _unspent_head(out, view_secret))
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
        lambda reader, keys, now: _unspent_outs(reader, keys, now, req.use_dust, dust),
    )
    unspent: _Unspent = entry.extra
    if unspent.total < wanted:
        raise ClientError(f"Unspent outputs total {unspent.total}, less than the amount {wanted}")
    return unspent.reply(await svc.fees.get())
