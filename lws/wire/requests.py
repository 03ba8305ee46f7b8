# Owns the request bodies of the light-wallet API as msgspec Structs: what a
# client may send, with bounds. Unknown fields (app_name, api_key...) are
# ignored, as the clients send them. Must not do business logic, know the
# store, or decode addresses (services do).
"""Request bodies of the light-wallet API."""

from __future__ import annotations

from typing import Annotated

import msgspec

from .fields import U32, U64, AddressText, Hex32, U64String, check_u64, u64_of

#: Amounts one get_random_outs may ask for: one per ring of one transaction;
#: monerod refuses transactions past ~150 inputs (weight limit), so this is
#: generous while bounding the work (and get_outs calls) of one request.
MAX_RANDOM_OUTS_AMOUNTS = 256
#: Major indexes one upsert_subaddrs may name (the 10 KiB body bounds it too).
MAX_SUBADDR_MAJORS = 256
#: Minor ranges per major in one upsert_subaddrs.
MAX_SUBADDR_RANGES = 256
#: A raw transaction as hex: the 512 KiB body limit of submit_raw_tx, minus
#: the JSON around it. monerod's own tx size limit is far below this.
MAX_TX_HEX_CHARS = 512 * 1024 - 64


class Credentials(msgspec.Struct, kw_only=True):
    """``address`` + ``view_key``: every account method carries both."""

    address: AddressText
    view_key: Hex32


class LoginRequest(Credentials, kw_only=True):
    create_account: bool = False
    generated_locally: bool = False


class AccountRequest(Credentials, kw_only=True):
    """get_address_info, get_address_txs, get_subaddrs."""


class UnspentOutsRequest(Credentials, kw_only=True):
    amount: U64String
    mixin: U32 = 0
    use_dust: bool = False
    dust_threshold: U64String = "0"

    def __post_init__(self) -> None:
        u64_of("amount", self.amount)
        u64_of("dust_threshold", self.dust_threshold)


class RandomOutsRequest(msgspec.Struct, kw_only=True):
    amounts: Annotated[list[U64String], msgspec.Meta(max_length=MAX_RANDOM_OUTS_AMOUNTS)]
    #: The published API says uint64-string; lws-client sends a number: take both.
    count: U32 | U64String

    def __post_init__(self) -> None:
        for amount in self.amounts:
            u64_of("amounts", amount)
        if isinstance(self.count, str):
            u64_of("count", self.count)

    @property
    def count_value(self) -> int:
        return int(self.count)


class SubmitRawTxRequest(msgspec.Struct, kw_only=True):
    tx: Annotated[str, msgspec.Meta(pattern=r"^([0-9a-fA-F]{2})+$", max_length=MAX_TX_HEX_CHARS)]


class ImportRequest(Credentials, kw_only=True):
    from_height: U64 = 0

    def __post_init__(self) -> None:
        check_u64("from_height", self.from_height)


#: ``[first_minor, last_minor]``, both inclusive.
MinorRange = tuple[U32, U32]


class SubaddrEntry(msgspec.Struct, kw_only=True):
    """One major index and its minor ranges: ``{"key": 1, "value": [[0, 9]]}``."""

    key: U32
    value: Annotated[list[MinorRange], msgspec.Meta(max_length=MAX_SUBADDR_RANGES)]

    def __post_init__(self) -> None:
        for first, last in self.value:
            if first > last:
                raise ValueError("a subaddress range ends before it starts")


class UpsertSubaddrsRequest(Credentials, kw_only=True):
    subaddrs: Annotated[list[SubaddrEntry], msgspec.Meta(max_length=MAX_SUBADDR_MAJORS)]
    get_all: bool = True


class ProvisionSubaddrsRequest(Credentials, kw_only=True):
    maj_i: U32 = 0
    min_i: U32 = 0
    n_maj: U32 = 0
    n_min: U32 = 0
    get_all: bool = True


class EmptyRequest(msgspec.Struct):
    """get_version, daemon_status: a body, if any, is ignored beyond being JSON."""
