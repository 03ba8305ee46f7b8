# Owns the on-disk layout of the store: FORMAT_VERSION, the table names, every
# key layout and fixed-width index value, and the store's limits. Pure byte
# packing: must not import lmdb, open files, or know any record's fields.
"""The LMDB layout, in one place.

Every integer in a key is big-endian and fixed-width, so keys sort as bytes
in numeric order and a range of keys is a prefix or a ``set_range`` scan.
Values of the record tables are msgpack arrays of the Structs in
:mod:`lws.store.records`; values of the index tables are fixed-width bytes.

Tables (LMDB named databases)::

    meta            name (ascii)                           -> see META_* below
    accounts        u32 account_id                         -> AccountRecord
    addresses       address (ascii)                        -> u32 account_id
    requests        u8 kind | address (ascii)              -> RequestRecord
    outputs         u32 account | u64 tx_index | u16 vout  -> OutputRecord
    spends          u32 account | u64 tx_index | 32 key_image | u64 source gi
                                                           -> SpendRecord
    global_index    u64 index_amount | u64 global_index | u32 account
                                                           -> u64 tx_index | u16 vout
    blocks          u64 height                             -> 32-byte block hash
    pool_outputs    u32 account | 32 tx_hash | u16 vout    -> OutputRecord
    pool_spends     u32 account | 32 tx_hash | 32 key_image | u64 source gi
                                                           -> SpendRecord
    hooks           u32 account | u8 hook type | 16 event_id -> HookRecord
    trackers        u32 account | u64 tx_index | u16 vout | 16 event_id
                                                           -> TrackerRecord
    deliveries      u64 seq                                -> DeliveryRecord
    requeued        u64 seq                                -> b"" (empty)
    rewinds         u64 seq                                -> u32 account | u64 height
    admin_keys      u32 key_id                             -> AdminKeyRecord

``tx_index`` numbers a mined transaction in chain order:
``height << TX_POSITION_BITS | position in block`` (the miner tx is position
0). It is the sort key of outputs and spends, so an account's history is one
key-range scan in chain order, and "everything at or above height h" starts
at ``tx_index_of(h, 0)``.

Webhooks (lws.notify delivers them): ``hooks`` holds the registrations,
keyed like monero-lws's ``webhooks_by_account_id`` (``new-account`` hooks
belong to no account: ``NO_ACCOUNT``), so an account's hooks of one type
are one prefix. ``trackers`` follows each (tx-confirmation hook, mined
output) pair until its confirmations are all recorded and the output is
below the reorg window; a rollback that drops the output turns its tracker
into a ``tx-reorg`` event. ``deliveries`` is the outbox: one record per
event for one hook, numbered by ``seq`` in the order the events were
written (per hook order = seq order); it keeps delivered and failed records
until they are pruned. ``requeued`` names the records an operator has sent
back to pending (the delivery engine takes them from there). A delivery's
public id is ``META_OUTBOX_EPOCH | u64 seq`` (16 bytes, 32 hex): random per
store, so two stores never hand a receiver the same id.

``rewinds`` logs every time scan heights went back (a reorg's or an
operator's rollback: account NO_ACCOUNT, i.e. all; a rescan: one account),
so a /feed hub that looks now and then still tells its clients to roll
back, even when the rescan has already passed the height it had reported.
It keeps the last MAX_REWINDS entries.

``index_amount`` is the amount namespace of the global index: 0 for every
RingCT-era output (tx version 2, coinbase included), the cleartext amount for
a pre-RingCT (version 1) output.

A spend key ends with the source output's global index because one input's
ring may hold several outputs of the same account: each is a candidate spend
with the same key image, and the client keeps the one whose key image it can
derive.
"""

from __future__ import annotations

import struct
from typing import Final

#: Bumped on any change that an older lws could misread. Appending a field
#: with a default at the END of a record Struct does not need a bump (msgpack
#: arrays decode with the defaults filled in); anything else does, with a
#: migration registered in :mod:`lws.store.migrations`.
#: Format 1 gained the admin_keys table and the META_NEXT_ADMIN_KEY_ID and
#: META_ACCOUNTS_VERSION keys without a bump: an older lws never opens that
#: table or reads those keys, so it cannot misread them (a read-write open
#: creates the table in a store that lacks it).
#: Format 2 added the webhook tables (hooks, trackers, deliveries, requeued,
#: rewinds) and the outbox's meta keys, with a migration (migrations.py).
FORMAT_VERSION: Final = 2

# -- table names -------------------------------------------------------------
T_META: Final = b"meta"
T_ACCOUNTS: Final = b"accounts"
T_ADDRESSES: Final = b"addresses"
T_REQUESTS: Final = b"requests"
T_OUTPUTS: Final = b"outputs"
T_SPENDS: Final = b"spends"
T_GLOBAL_INDEX: Final = b"global_index"
T_BLOCKS: Final = b"blocks"
T_POOL_OUTPUTS: Final = b"pool_outputs"
T_POOL_SPENDS: Final = b"pool_spends"
T_HOOKS: Final = b"hooks"
T_TRACKERS: Final = b"trackers"
T_DELIVERIES: Final = b"deliveries"
T_REQUEUED: Final = b"requeued"
T_REWINDS: Final = b"rewinds"
T_ADMIN_KEYS: Final = b"admin_keys"

TABLES: Final = (
    T_META,
    T_ACCOUNTS,
    T_ADDRESSES,
    T_REQUESTS,
    T_OUTPUTS,
    T_SPENDS,
    T_GLOBAL_INDEX,
    T_BLOCKS,
    T_POOL_OUTPUTS,
    T_POOL_SPENDS,
    T_HOOKS,
    T_TRACKERS,
    T_DELIVERIES,
    T_REQUEUED,
    T_REWINDS,
    T_ADMIN_KEYS,
)

# -- meta keys ---------------------------------------------------------------
#: u32: the FORMAT_VERSION the data is written in.
META_FORMAT_VERSION: Final = b"format_version"
#: ascii: the Monero network the store scans (mainnet, stagenet, testnet, regtest...).
META_NETWORK: Final = b"network"
#: u64: unix seconds when the store was created.
META_CREATED: Final = b"created"
#: u32: the id the next account gets. Ids are never reused, even after deletion.
META_NEXT_ACCOUNT_ID: Final = b"next_account_id"
#: 8 random bytes: the first half of every delivery id of this store.
META_OUTBOX_EPOCH: Final = b"outbox_epoch"
#: u64: the seq the next delivery gets (seqs are never reused).
META_NEXT_DELIVERY: Final = b"next_delivery"
#: u64: events not recorded because the outbox was at its limit (a metric).
META_DROPPED_EVENTS: Final = b"dropped_events"
#: u64: the outbox's limit, set by `lws serve` from its configuration so that
#: every process writing events (API workers, `lws admin`) keeps the same one.
META_OUTBOX_LIMIT: Final = b"outbox_limit"
#: u32: the id the next admin key gets. Ids are never reused (audit log lines
#: name keys by id), even after a key is revoked. Absent: 1.
META_NEXT_ADMIN_KEY_ID: Final = b"next_admin_key_id"
#: u64: bumped by every write that changes which accounts the scanner scans
#: or from where (add, status, rescan, delete, subaddresses, rollback), never
#: by the scanner's own batch writes. The scanner compares it with the value
#: it loaded its accounts at, so a change made by another process (`lws
#: admin`) wakes it. Absent: 0.
META_ACCOUNTS_VERSION: Final = b"accounts_version"

# -- limits --------------------------------------------------------------------
#: Named databases the environment may hold: the tables above plus room for
#: migrations that add tables before dropping old ones.
MAX_DBS: Final = 32
#: Reader slots in the lock file, shared by every process that opens the
#: store. Each open read transaction takes one: API worker threads, the
#: scanner, admin CLI runs. LMDB's default (126) is tight for a busy server;
#: a slot is 64 bytes of lock file.
MAX_READERS: Final = 1024
#: First map size of a new store. The map grows by doubling on demand, so
#: this only sets how soon the first growth happens.
INITIAL_MAP_SIZE: Final = 64 << 20
#: The map never grows past this: 1 TiB of address space. Far above any
#: plausible light-wallet server; it stops a runaway writer filling the disk.
MAX_MAP_SIZE: Final = 1 << 40
#: How long a map growth waits for this process's open readers to finish
#: (LMDB forbids resizing under an open transaction of the same process).
#: Readers are short; a reader held longer than this is a bug.
GROW_WAIT_SECONDS: Final = 30.0
#: Addresses are 95 (standard, subaddress) or 106 (integrated) base58
#: characters; the cap keeps every address key far below LMDB's 511-byte key
#: limit and rejects garbage early.
MAX_ADDRESS_LENGTH: Final = 128
#: Bits of tx_index that hold the position of a transaction in its block.
#: 65,536 transactions per block is far beyond any block monero's weight
#: limit allows today (a minimal tx is ~1.5 kB; 65,536 of them is ~100 MB).
TX_POSITION_BITS: Final = 16
MAX_TX_POSITION: Final = (1 << TX_POSITION_BITS) - 1
#: Admin keys kept at most: a handful per operator or script is the use;
#: the key check walks them all (constant time each), so the cap bounds it.
MAX_ADMIN_KEYS: Final = 256
#: An admin key's name (a label for people, shown by list-admin-keys).
MAX_ADMIN_KEY_NAME: Final = 64
#: Heights fit in the 48 bits tx_index leaves them.
MAX_HEIGHT: Final = (1 << (64 - TX_POSITION_BITS)) - 1
MAX_ACCOUNT_ID: Final = (1 << 32) - 2
#: The account id of hooks that belong to no account (new-account hooks);
#: monero-lws's account_id::invalid, which its webhook_list shows as "user".
NO_ACCOUNT: Final = (1 << 32) - 1
MAX_U64: Final = (1 << 64) - 1
MAX_U16: Final = (1 << 16) - 1
#: Sizes of the fixed-width byte fields.
HASH_SIZE: Final = 32
KEY_SIZE: Final = 32
#: A hook's event id (monero-lws: a random UUID) and a delivery id.
EVENT_ID_SIZE: Final = 16
DELIVERY_ID_SIZE: Final = 16
#: A hook's payment id filter: monero-lws compares the 8-byte short id.
SHORT_PAYMENT_ID_SIZE: Final = 8
#: Registered webhooks at most (all types): each tx-confirmation hook is read
#: for every batch that moves its account, and deleting one walks the outbox.
MAX_HOOKS: Final = 100_000
#: Outbox records (pending, delivered and failed) kept when `lws serve` has
#: not set a limit: ~100 MB of records of ~1 KB. Past it new events are
#: dropped and counted (META_DROPPED_EVENTS), never waited for: the scanner
#: must not stop because a receiver is down.
DEFAULT_OUTBOX_LIMIT: Final = 100_000
#: A hook asks for at most this many confirmations (~33 hours of blocks):
#: its tracker of each output lives that long.
MAX_CONFIRMATIONS: Final = 1_000
#: Rewinds kept: a hub more than this many rewinds behind (it looks every
#: fraction of a second) tells its clients to roll back to genesis.
MAX_REWINDS: Final = 10_000
#: A tracker stays at least this many blocks after its output's block, so a
#: reorg that drops the output is told to the hook (tx-reorg); monero's
#: deepest reorgs on mainnet were far shallower.
REORG_WINDOW_BLOCKS: Final = 100

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_OUTPUT = struct.Struct(">IQH")
_GINDEX = struct.Struct(">QQI")
_OUTPUT_REF = struct.Struct(">QH")
_ACCOUNT_TX = struct.Struct(">IQ")
_HOOK = struct.Struct(">IB")
_TRACKER = struct.Struct(">IQH")

#: Key lengths, for code that slices keys apart.
ACCOUNT_PREFIX_SIZE: Final = _U32.size
GINDEX_PREFIX_SIZE: Final = _U64.size * 2


def tx_index_of(height: int, position: int) -> int:
    """The chain-order number of the transaction at ``position`` in block ``height``."""
    if not 0 <= height <= MAX_HEIGHT:
        raise ValueError(f"height out of range: {height}")
    if not 0 <= position <= MAX_TX_POSITION:
        raise ValueError(f"tx position out of range: {position}")
    return (height << TX_POSITION_BITS) | position


def height_of_tx_index(tx_index: int) -> int:
    return tx_index >> TX_POSITION_BITS


def position_of_tx_index(tx_index: int) -> int:
    """The position in its block of the transaction numbered ``tx_index``."""
    return tx_index & MAX_TX_POSITION


def u32(value: int) -> bytes:
    return _U32.pack(value)


def read_u32(data: bytes) -> int:
    value: int = _U32.unpack(data)[0]
    return value


def u64(value: int) -> bytes:
    return _U64.pack(value)


def read_u64(data: bytes) -> int:
    value: int = _U64.unpack(data)[0]
    return value


def account_key(account_id: int) -> bytes:
    return _U32.pack(account_id)


def address_key(address: str) -> bytes:
    return address.encode("ascii")


def request_key(kind: int, address: str) -> bytes:
    return _U8.pack(kind) + address.encode("ascii")


def request_prefix(kind: int) -> bytes:
    return _U8.pack(kind)


def output_key(account_id: int, tx_index: int, output_index: int) -> bytes:
    return _OUTPUT.pack(account_id, tx_index, output_index)


def account_from_height(account_id: int, height: int) -> bytes:
    """Start of an account's outputs or spends at or above ``height``."""
    return _ACCOUNT_TX.pack(account_id, tx_index_of(height, 0))


def spend_key(account_id: int, tx_index: int, key_image: bytes, source_global_index: int) -> bytes:
    return _ACCOUNT_TX.pack(account_id, tx_index) + key_image + _U64.pack(source_global_index)


def gindex_key(index_amount: int, global_index: int, account_id: int) -> bytes:
    return _GINDEX.pack(index_amount, global_index, account_id)


def gindex_prefix(index_amount: int, global_index: int) -> bytes:
    return _GINDEX.pack(index_amount, global_index, 0)[:GINDEX_PREFIX_SIZE]


def split_gindex_key(key: bytes) -> tuple[int, int, int]:
    index_amount, global_index, account_id = _GINDEX.unpack(key)
    return int(index_amount), int(global_index), int(account_id)


def output_ref(tx_index: int, output_index: int) -> bytes:
    """Value of a global_index entry: where the output sits in ``outputs``."""
    return _OUTPUT_REF.pack(tx_index, output_index)


def read_output_ref(data: bytes) -> tuple[int, int]:
    tx_index, output_index = _OUTPUT_REF.unpack(data)
    return int(tx_index), int(output_index)


def admin_key_key(key_id: int) -> bytes:
    return _U32.pack(key_id)


def block_key(height: int) -> bytes:
    return _U64.pack(height)


def pool_output_key(account_id: int, tx_hash: bytes, output_index: int) -> bytes:
    return _U32.pack(account_id) + tx_hash + _U16.pack(output_index)


def pool_spend_key(
    account_id: int, tx_hash: bytes, key_image: bytes, source_global_index: int
) -> bytes:
    return _U32.pack(account_id) + tx_hash + key_image + _U64.pack(source_global_index)


def hook_key(account_id: int, hook_type: int, event_id: bytes) -> bytes:
    return _HOOK.pack(account_id, hook_type) + event_id


def hook_prefix(account_id: int, hook_type: int | None = None) -> bytes:
    """Start of an account's hooks (of one type, if given)."""
    if hook_type is None:
        return _U32.pack(account_id)
    return _HOOK.pack(account_id, hook_type)


def split_hook_key(key: bytes) -> tuple[int, int, bytes]:
    account_id, hook_type = _HOOK.unpack(key[: _HOOK.size])
    return int(account_id), int(hook_type), key[_HOOK.size :]


#: Length of a hook key.
HOOK_KEY_SIZE: Final = _HOOK.size + EVENT_ID_SIZE


def tracker_key(account_id: int, tx_index: int, output_index: int, event_id: bytes) -> bytes:
    return _TRACKER.pack(account_id, tx_index, output_index) + event_id


def split_tracker_key(key: bytes) -> tuple[int, int, int, bytes]:
    account_id, tx_index, output_index = _TRACKER.unpack(key[: _TRACKER.size])
    return int(account_id), int(tx_index), int(output_index), key[_TRACKER.size :]


_REWIND = struct.Struct(">IQ")


def rewind_value(account_id: int, height: int) -> bytes:
    return _REWIND.pack(account_id, height)


def read_rewind(value: bytes) -> tuple[int, int]:
    account_id, height = _REWIND.unpack(value)
    return int(account_id), int(height)


def delivery_key(seq: int) -> bytes:
    return _U64.pack(seq)


def delivery_id(epoch: bytes, seq: int) -> bytes:
    """The public id of delivery ``seq`` of the store whose epoch is ``epoch``."""
    return epoch + _U64.pack(seq)


def seq_of_delivery_id(epoch: bytes, delivery: bytes) -> int | None:
    """The seq named by a delivery id of this store; None if it is another store's."""
    if len(delivery) != DELIVERY_ID_SIZE or delivery[: len(epoch)] != epoch:
        return None
    return read_u64(delivery[len(epoch) :])
