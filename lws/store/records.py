# Owns the storage records (frozen msgspec Structs, msgpack arrays in LMDB
# values), the small value types the store API takes and returns, and their
# codec. Must not import lmdb or lws.wire: storage records are not wire types.
"""What the store keeps, as typed values.

Records are msgpack arrays (``array_like=True``): a field may be appended at
the END with a default without a format bump. Amounts are ints, hashes and
keys raw bytes; nothing here is JSON or hex.

Records that hold a secret (``view_secret``) hide it from ``repr``.
"""

from __future__ import annotations

import enum
from typing import ClassVar, Final

import msgspec


class _Record(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Base of every stored or exchanged value: immutable, compact, acyclic."""


class AccountStatus(enum.IntEnum):
    ACTIVE = 0  # scanned and served
    INACTIVE = 1  # served, not scanned
    HIDDEN = 2  # neither


class RequestKind(enum.IntEnum):
    CREATE = 0
    IMPORT = 1


#: AccountRecord.flags / RequestRecord.flags bit: the wallet was generated
#: by the client that asked for it (login's ``generated_locally``).
FLAG_GENERATED_LOCALLY: Final = 1

#: The commitment mask of outputs whose amount is public (coinbase, v1): the
#: scalar 1, little-endian.
IDENTITY_MASK: Final = b"\x01" + b"\x00" * 31

#: OutputRecord.rct_type of a pre-RingCT (version 1) output.
RCT_TYPE_V1: Final = -1


class AccountRecord(_Record, frozen=True):
    address: str  # primary address text
    view_secret: bytes  # 32
    spend_public: bytes  # 32
    view_public: bytes  # 32
    status: AccountStatus
    start_height: int
    #: The next block to scan = blocks scanned so far from genesis' numbering;
    #: every output and spend of the account is below it.
    scan_height: int
    created: int  # unix seconds
    flags: int = 0  # FLAG_* bits
    lookahead_major: int = 0
    lookahead_minor: int = 0
    #: Registered subaddresses (upsert/provision): (major, minor_first,
    #: minor_last), both minors INCLUSIVE as in the API's ``[[1, 10]]``;
    #: sorted, merged, never overlapping within a major.
    subaddress_ranges: tuple[tuple[int, int, int], ...] = ()
    #: Height at which the lookahead could not grow (the cap); 0 = never.
    lookahead_fail: int = 0

    def __repr__(self) -> str:
        return (
            f"AccountRecord(address={self.address!r}, status={self.status.name}, "
            f"start_height={self.start_height}, scan_height={self.scan_height}, "
            f"flags={self.flags}, view_secret=<hidden>)"
        )

    @property
    def subaddress_count(self) -> int:
        """How many subaddresses the ranges register."""
        return sum(last - first + 1 for _, first, last in self.subaddress_ranges)


class RequestRecord(_Record, frozen=True):
    kind: RequestKind
    address: str
    view_secret: bytes  # 32
    spend_public: bytes  # 32
    view_public: bytes  # 32
    #: CREATE: the height the account starts at; IMPORT: from_height.
    start_height: int
    created: int  # unix seconds
    flags: int = 0

    def __repr__(self) -> str:
        return (
            f"RequestRecord(kind={self.kind.name}, address={self.address!r}, "
            f"start_height={self.start_height}, view_secret=<hidden>)"
        )


class OutputRecord(_Record, frozen=True):
    """One output received by an account.

    Mined outputs have ``height`` set; pool outputs have ``height`` None and
    ``global_index`` 0 (they have none yet) and are kept apart.
    """

    height: int | None
    #: Chain order of the creating tx (schema.tx_index_of); for pool records a
    #: number the scanner picks, unused by the store.
    tx_index: int
    tx_hash: bytes  # 32
    tx_prefix_hash: bytes  # 32
    output_index: int  # vout index in the tx
    global_index: int
    amount: int
    #: Commitment mask; IDENTITY_MASK for coinbase and v1 outputs.
    mask: bytes
    rct_type: int  # RCT_TYPE_V1 (-1) for version 1; 0 (RCTTypeNull) for v2 coinbase
    commitment: bytes  # 32; b"" for v1
    ecdh_amount: bytes  # 8 for rct types 4-6; b"" otherwise
    output_key: bytes  # 32
    tx_pubkey: bytes  # 32: the key that derived this output (additional key if that matched)
    subaddress: tuple[int, int]  # (major, minor) that received it
    unlock_time: int
    timestamp: int  # block timestamp (pool: first seen)
    coinbase: bool
    mixin: int  # ring size - 1 of the creating tx; 0 for coinbase
    payment_id: bytes  # b"", 8 (decrypted) or 32 bytes
    fee: int  # of the creating tx

    @property
    def index_amount(self) -> int:
        """The amount namespace of ``global_index``: 0 for RingCT-era outputs."""
        return self.amount if self.rct_type == RCT_TYPE_V1 else 0


class SpendRecord(_Record, frozen=True):
    """A candidate spend: an input whose ring holds one of the account's outputs.

    Whether the account really spent it is for the client to decide (it
    compares ``key_image`` with the one it derives for the source output).
    """

    key_image: bytes  # 32
    height: int | None  # None in the pool
    tx_index: int
    tx_hash: bytes  # 32
    timestamp: int
    unlock_time: int
    mixin: int
    fee: int
    payment_id: bytes
    #: The source output, as stored in the outputs table of the same account.
    source_tx_index: int
    source_output_index: int
    source_global_index: int
    source_amount: int
    source_tx_pubkey: bytes  # 32


class Owner(_Record, frozen=True):
    """An account's output at a global index (answer of ``owners_of``)."""

    account_id: int
    tx_index: int
    output_index: int


class AccountBatch(_Record, frozen=True):
    """One account's share of a scanned batch (never stored as such).

    ``from_height`` is the scan_height the scanner started this account at;
    if the stored scan_height differs (an admin rescanned or a rollback ran
    meanwhile) the account's share is skipped, not applied to the wrong base.
    Every output and spend must lie in ``[from_height, scan_height)``.
    """

    from_height: int
    scan_height: int
    outputs: tuple[OutputRecord, ...] = ()
    spends: tuple[SpendRecord, ...] = ()


class AccountPool(_Record, frozen=True):
    """One account's outputs and spends in the mempool (never stored as such)."""

    outputs: tuple[OutputRecord, ...] = ()
    spends: tuple[SpendRecord, ...] = ()


class AdminKeyRecord(_Record, frozen=True):
    """An admin API key, as stored: its SHA-256, never the key itself.

    Keys are 32 random bytes (256 bits), so a plain hash is enough: no
    guessing can find a preimage, and a stolen store gives no usable key.
    """

    name: str
    key_hash: bytes  # 32: sha256 of the key's 32 bytes
    created: int  # unix seconds

    def __repr__(self) -> str:
        return f"AdminKeyRecord(name={self.name!r}, created={self.created}, key_hash=<hidden>)"


class StoreMeta(_Record, frozen=True):
    format_version: int
    network: str
    created: int
    next_account_id: int


# -- webhooks ------------------------------------------------------------------


class HookType(enum.IntEnum):
    """monero-lws's webhook_type values (its DB values, kept)."""

    TX_CONFIRMATION = 0
    NEW_ACCOUNT = 1
    TX_SPEND = 2


class HookRecord(_Record, frozen=True):
    """A registered webhook. Immutable: registrations are added and deleted."""

    type: HookType
    #: schema.NO_ACCOUNT for new-account hooks.
    account_id: int
    event_id: bytes  # 16
    url: str
    token: str
    #: tx-confirmation filter on an output's 8-byte (short) payment id, as
    #: monero-lws compares it: 8 zero bytes match outputs without one; None
    #: matches every output ("any", which monero-lws documents but lacks).
    payment_id: bytes | None
    #: Confirmations to report (each block's count up to it; 0 reports the
    #: pool and the first block, as monero-lws).
    confirmations: int
    #: The HMAC-SHA256 key of the X-Lws-Signature header (its text, UTF-8).
    secret: str
    created: int  # unix seconds

    def __repr__(self) -> str:
        return (
            f"HookRecord(type={self.type.name}, account_id={self.account_id}, "
            f"event_id={self.event_id.hex()}, url={self.url!r}, secret=<hidden>)"
        )

    def matches(self, payment_id: bytes) -> bool:
        """Whether an output with ``payment_id`` (b"", 8 or 32 bytes) fires this hook."""
        return self.payment_id is None or self.payment_id == short_payment_id(payment_id)


def short_payment_id(payment_id: bytes) -> bytes:
    """The 8 bytes monero-lws compares with a hook's filter: the short id, the
    first 8 bytes of a long one (its union's view), zeros for none."""
    return (payment_id + bytes(8))[:8]


class TrackerRecord(_Record, frozen=True):
    """A tx-confirmation hook's progress on one mined output."""

    height: int  # of the output's block
    requested: int  # the hook's confirmations
    sent: int  # highest confirmation count recorded in the outbox


class ConfirmationEvent(_Record, frozen=True, tag=0):
    """tx-confirmation: ``output`` has ``confirmations`` (0: in the pool)."""

    #: The event's name in bodies and headers (not stored).
    name: ClassVar[str] = "tx-confirmation"
    output: OutputRecord
    confirmations: int


class NewAccountEvent(_Record, frozen=True, tag=1):
    name: ClassVar[str] = "new-account"
    address: str


class SpendEvent(_Record, frozen=True, tag=2):
    """tx-spend: a candidate spend of one of the account's outputs."""

    name: ClassVar[str] = "tx-spend"
    spend: SpendRecord
    #: Of the source output: its global index's amount namespace (0 for
    #: RingCT), its tx's ring size - 1, its subaddress.
    source_index_amount: int
    source_mixin: int
    sender: tuple[int, int]


class ReorgEvent(_Record, frozen=True, tag=3):
    """tx-reorg (lws's own): a reorg dropped ``output``, which a
    tx-confirmation event had been recorded for; it was at ``output.height``."""

    name: ClassVar[str] = "tx-reorg"
    output: OutputRecord


Event = ConfirmationEvent | NewAccountEvent | SpendEvent | ReorgEvent


class DeliveryState(enum.IntEnum):
    PENDING = 0
    DELIVERED = 1
    FAILED = 2


class DeliveryRecord(_Record, frozen=True):
    """One event for one hook in the outbox, and how its delivery went."""

    hook: bytes  # the hook's key in the hooks table
    event: Event
    created: int  # unix seconds
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    #: Unix seconds before which the next attempt must not start.
    next_attempt: float = 0.0
    updated: int = 0  # unix seconds of the last change
    last_status: int = 0  # HTTP status of the last attempt; 0: none
    last_error: str = ""
    #: Times an operator sent it back to pending.
    redeliveries: int = 0


class OutboxInfo(_Record, frozen=True):
    """The outbox at a glance (metrics)."""

    entries: int  # records held: pending, delivered and failed
    limit: int
    next_seq: int
    #: Events not recorded because the outbox was full, since the store began.
    dropped_events: int
    hooks: int


class DeliveryHead(_Record, frozen=True):
    """The first field of a DeliveryRecord: decodes without the event."""

    hook: bytes


# -- codec -------------------------------------------------------------------
_ENCODER: Final = msgspec.msgpack.Encoder()
ACCOUNT_DECODER: Final = msgspec.msgpack.Decoder(AccountRecord)
REQUEST_DECODER: Final = msgspec.msgpack.Decoder(RequestRecord)
OUTPUT_DECODER: Final = msgspec.msgpack.Decoder(OutputRecord)
SPEND_DECODER: Final = msgspec.msgpack.Decoder(SpendRecord)
HOOK_DECODER: Final = msgspec.msgpack.Decoder(HookRecord)
TRACKER_DECODER: Final = msgspec.msgpack.Decoder(TrackerRecord)
DELIVERY_DECODER: Final = msgspec.msgpack.Decoder(DeliveryRecord)
DELIVERY_HEAD_DECODER: Final = msgspec.msgpack.Decoder(DeliveryHead)
ADMIN_KEY_DECODER: Final = msgspec.msgpack.Decoder(AdminKeyRecord)


def encode(record: _Record) -> bytes:
    return _ENCODER.encode(record)


class StoreUsage(msgspec.Struct, frozen=True):
    """How full the store is (Store.usage; metrics and the console show it)."""

    #: Size of the data file on disk.
    file_bytes: int
    #: Pages in use up to the highest one ever used (LMDB reuses freed pages below it).
    used_bytes: int
    #: The current map size (grows by doubling, up to max_map_bytes).
    map_bytes: int
    max_map_bytes: int
    #: Reader slots in use by every process of the store, and in all.
    readers: int
    max_readers: int
