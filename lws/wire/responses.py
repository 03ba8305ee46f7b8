# Owns the reply bodies of the light-wallet API as msgspec Structs, shaped for
# the real MyMonero clients (shared/notes/interop.md): amounts as strings,
# arrays always present, optional fields omitted (never null). Fields with a
# default of None are the optional ones; every other field is always sent.
# Must not compute anything: services fill them in.
"""Reply bodies of the light-wallet API."""

from __future__ import annotations

import msgspec


class _Reply(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Base of replies: a None default means "omit when unknown"."""


class ErrorBody(_Reply):
    Error: str


class LoginResponse(_Reply):
    new_address: bool
    generated_locally: bool
    start_height: int


class Spend(_Reply):
    """A candidate spend of one of the account's outputs."""

    #: The amount of the source output (not of the spend).
    amount: str
    key_image: str
    #: The tx public key that derives the source output.
    tx_pub_key: str
    out_index: int
    mixin: int


class AddressInfoResponse(_Reply):
    locked_funds: str
    total_received: str
    total_sent: str
    scanned_height: int
    scanned_block_height: int
    start_height: int
    transaction_height: int
    blockchain_height: int
    spent_outputs: list[Spend]
    rates: dict[str, float] | None = None


class Transaction(_Reply):
    id: int
    hash: str
    #: ISO 8601 UTC (``YYYY-MM-DDTHH:MM:SSZ``), mempool transactions included.
    timestamp: str
    total_received: str
    total_sent: str
    fee: str
    unlock_time: int
    mempool: bool
    coinbase: bool
    mixin: int
    spent_outputs: list[Spend]
    #: Omitted for mempool transactions.
    height: int | None = None
    #: 16 or 64 hex digits; omitted when the transaction has none.
    payment_id: str | None = None


class AddressTxsResponse(_Reply):
    total_received: str
    scanned_height: int
    scanned_block_height: int
    start_height: int
    transaction_height: int
    blockchain_height: int
    transactions: list[Transaction]


class Recipient(_Reply):
    maj_i: int
    min_i: int


class UnspentOutput(_Reply, kw_only=True):
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
    #: "coinbase", 64/80/192 hex by RingCT type; omitted for pre-RingCT outputs.
    rct: str | None = None
    #: Declared last on purpose: replies are spliced from each output's
    #: encoding up to this field and the key images of the snapshot
    #: (lws/services/pieces.py).
    spend_key_images: list[str]


class UnspentOutsResponse(_Reply):
    per_byte_fee: int
    fee_mask: int
    amount: str
    outputs: list[UnspentOutput]
    fees: list[int]
    fork_version: int


class RandomOutput(_Reply):
    global_index: str
    public_key: str
    rct: str


class RandomOuts(_Reply):
    amount: str
    outputs: list[RandomOutput]


class RandomOutsResponse(_Reply):
    amount_outs: list[RandomOuts]


class SubmitRawTxResponse(_Reply):
    status: str


class ImportResponse(_Reply):
    import_fee: str
    payment_id: str
    payment_address: str
    status: str
    new_request: bool
    request_fulfilled: bool


class SubaddrRanges(_Reply):
    """A major index and its minor ranges ``[first, last]`` (inclusive)."""

    key: int
    value: list[tuple[int, int]]


class GetSubaddrsResponse(_Reply):
    all_subaddrs: list[SubaddrRanges]


class SubaddrsChangeResponse(_Reply):
    """upsert_subaddrs, provision_subaddrs."""

    new_subaddrs: list[SubaddrRanges]
    #: Sent when the request asked ``get_all``.
    all_subaddrs: list[SubaddrRanges] | None = None


class VersionResponse(_Reply):
    server_type: str
    server_version: str
    api: str
    network: str
    testnet: bool
    blockchain_height: int
    max_subaddresses: int


class DaemonStatusResponse(_Reply):
    #: ok, synchronizing, no_connections or unavailable.
    state: str
    network: str
    height: int
    target_height: int
    outgoing_connections_count: int
    incoming_connections_count: int
