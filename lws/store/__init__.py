# Owns the public face of the store package: what the rest of lws may import.
# Must not add logic; the only package that imports lmdb is this one, and no
# lmdb name is re-exported.
"""lws's storage: accounts, outputs, spends, chain, requests, webhooks and
their outbox in one LMDB.

Typical use::

    store = Store.open(path, network="mainnet")
    with store.read() as r:
        found = r.account_by_address(address)
    skipped = store.transact(lambda w: w.add_block_batch(start, hashes, batches))

From trio, run each call in a worker thread
(``await trio.to_thread.run_sync(store.transact, fn)``).
"""

from .errors import (
    AccountExists,
    ChainMismatch,
    DeliveryPending,
    FormatError,
    InvalidRecord,
    StoreError,
    StoreOpenError,
    UnknownAccount,
    UnknownDelivery,
    UnknownRequest,
    WrongNetwork,
)
from .migrations import MIGRATIONS, Migration
from .ratelimit import RateTable
from .reader import Reader
from .records import (
    FLAG_GENERATED_LOCALLY,
    IDENTITY_MASK,
    RCT_TYPE_V1,
    AccountBatch,
    AccountPool,
    AccountRecord,
    AccountStatus,
    ConfirmationEvent,
    DeliveryRecord,
    DeliveryState,
    Event,
    HookRecord,
    HookType,
    NewAccountEvent,
    OutboxInfo,
    OutputRecord,
    Owner,
    ReorgEvent,
    RequestKind,
    RequestRecord,
    SpendEvent,
    SpendRecord,
    StoreMeta,
    StoreUsage,
    TrackerRecord,
)
from .schema import FORMAT_VERSION, NO_ACCOUNT, tx_index_of
from .store import Store
from .writer import Writer

__all__ = [
    "FLAG_GENERATED_LOCALLY",
    "FORMAT_VERSION",
    "NO_ACCOUNT",
    "ConfirmationEvent",
    "DeliveryPending",
    "DeliveryRecord",
    "DeliveryState",
    "Event",
    "HookRecord",
    "HookType",
    "NewAccountEvent",
    "OutboxInfo",
    "ReorgEvent",
    "SpendEvent",
    "TrackerRecord",
    "UnknownDelivery",
    "IDENTITY_MASK",
    "MIGRATIONS",
    "RCT_TYPE_V1",
    "AccountBatch",
    "AccountExists",
    "AccountPool",
    "AccountRecord",
    "AccountStatus",
    "ChainMismatch",
    "RateTable",
    "FormatError",
    "InvalidRecord",
    "Migration",
    "OutputRecord",
    "Owner",
    "Reader",
    "RequestKind",
    "RequestRecord",
    "SpendRecord",
    "Store",
    "StoreError",
    "StoreMeta",
    "StoreOpenError",
    "StoreUsage",
    "UnknownAccount",
    "UnknownRequest",
    "WrongNetwork",
    "Writer",
    "tx_index_of",
]
