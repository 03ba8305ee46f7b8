# Owns the JSON of the /feed websocket (monero-lws's protocol,
# lws.feed.v0.json, as its code writes it: src/rpc/light_wallet.cpp): the
# client's login and the server's tx_sync, blocks, mempool, warning and
# error messages, each sent as "<prefix>:" + JSON. Optional fields are left
# out as monero-lws leaves them out (empty arrays, zero lookahead, false
# flags, the pool's missing height and ids). Must not compute anything.
"""/feed messages."""

from __future__ import annotations

import enum
from typing import Final

import msgspec

from .fields import AddressText, Hex32

#: The only subprotocol lws speaks (monero-lws also has lws.feed.v0.msgpack).
SUBPROTOCOL: Final = "lws.feed.v0.json"
#: A login message at most (monero-lws reads 2 KiB).
MAX_LOGIN_BYTES: Final = 2 * 1024

LOGIN_PREFIX: Final = "login:"
TX_SYNC_PREFIX: Final = "tx_sync:"  # monero-lws's code: an underscore (its docs say tx-sync)
BLOCKS_PREFIX: Final = "blocks:"
MEMPOOL_PREFIX: Final = "mempool:"
WARNING_PREFIX: Final = "warning:"
ERROR_PREFIX: Final = "error:"


class FeedCode(enum.IntEnum):
    """monero-lws's feed status codes (warning and error messages)."""

    UNSPECIFIED_ERROR = 0
    ACCOUNT_NOT_FOUND = 1
    BAD_ADDRESS = 2
    BAD_VIEW_KEY = 3
    BLOCKCHAIN_REORG = 4
    DAEMON_UNRESPONSIVE = 5
    PARSE_ERROR = 6
    PROTOCOL_ERROR = 7
    QUEUE_ERROR = 8
    SCHEMA_ERROR = 9


class _Message(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Fields in monero-lws's order; a default value is left out."""


class FeedAccount(msgspec.Struct, kw_only=True):
    address: AddressText
    view_key: Hex32


class FeedLogin(msgspec.Struct, kw_only=True):
    account: FeedAccount
    tx_sync: bool = True
    receives_only: bool = False


class LegacyId(_Message, kw_only=True):
    amount: int
    index: int


class OutputRef(_Message, kw_only=True):
    """monero-lws writes every output id in its "legacy" form."""

    legacy: LegacyId


class AddressMeta(msgspec.Struct, kw_only=True, frozen=True):
    maj_i: int
    min_i: int


ZERO_META: Final = AddressMeta(maj_i=0, min_i=0)


class FeedReceive(_Message, kw_only=True):
    amount: int
    public_key: str
    index: int
    id: OutputRef | None = None  # none in the pool
    tx_pub_key: str
    rct: str | None = None  # RingCT outputs: the mask (identity for coinbase)
    recipient: AddressMeta | None = None  # none for (0, 0)


class FeedSpend(_Message, kw_only=True):
    id: OutputRef  # of the spent output
    key_image: str


class FeedTransaction(_Message, kw_only=True):
    hash: str
    prefix_hash: str
    timestamp: int
    fee: int
    unlock_time: int
    height: int | None = None  # none in the pool
    payment_id: str | None = None
    coinbase: bool = False
    mempool: bool = False
    mixin: int
    spends: list[FeedSpend] = []
    receives: list[FeedReceive] = []


class TxSync(_Message, kw_only=True):
    scanned_block_height: int
    start_height: int
    blockchain_height: int
    lookahead_fail: int = 0
    lookahead: AddressMeta = ZERO_META
    transactions: list[FeedTransaction] = []


class Blocks(_Message, kw_only=True):
    scan_start: int
    scan_end: int
    blockchain_height: int
    lookahead_fail: int = 0
    lookahead: AddressMeta = ZERO_META
    transactions: list[FeedTransaction] = []


class Mempool(_Message, kw_only=True):
    hash: str
    prefix_hash: str
    fee: int
    unlock_time: int
    payment_id: str | None = None
    mixin: int
    amount: int
    public_key: str
    tx_pub_key: str
    index: int
    recipient: AddressMeta | None = None
    rct: str | None = None


class Warning(msgspec.Struct, kw_only=True):  # noqa: A001 (monero-lws's name)
    msg: str
    code: int
    counter: int
    height: int


class Error(msgspec.Struct, kw_only=True):
    msg: str
    code: int
