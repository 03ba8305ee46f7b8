# Owns the JSON bodies of the operator side as msgspec Structs: the admin
# API's envelope ({"auth", "params"}), each command's params and reply in
# monero-lws's names and shapes (shared/notes/operator-anchor.md, 1.3), plus
# lws's own: delete_accounts, add_account's from_height, rollback and the
# admin key commands (CLI only). `lws admin --json` prints these same
# replies. Must not do business logic, know the store, or decode addresses
# (services do).
"""Requests and replies of the admin API and `lws admin`."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

import msgspec

from lws.monero.address import MAX_ADDRESS_LENGTH

from .fields import U64, AddressText, Hex32, check_u64

#: Addresses one admin call may name. An operator accepting every pending
#: request at once names up to max_pending_requests of them (1,000 by
#: default); ten times that keeps one call's write transaction short (each
#: address is a few LMDB puts) and its body near 1 MiB.
MAX_ADMIN_ADDRESSES = 10_000
#: Bytes one address takes at most in a JSON list: its text, quotes, a comma
#: and a space.
ADDRESS_IN_LIST = MAX_ADDRESS_LENGTH + 4
#: The `auth` field: admin keys are 64 hex digits; anything longer is no key
#: (refused as one, 403), but this bounds what is hashed.
MAX_AUTH_LENGTH = 256
#: validate's fields are checked by the service (monero-lws answers their
#: errors in the reply, not as a 400); a key is 64 hex digits.
MAX_VALIDATE_FIELD = 256
#: An admin key's name: a label for people (list-admin-keys shows it).
MAX_KEY_NAME = 64

RequestType = Literal["create", "import"]
StatusName = Literal["active", "inactive", "hidden"]
AddressList = Annotated[list[AddressText], msgspec.Meta(max_length=MAX_ADMIN_ADDRESSES)]

P = TypeVar("P")


class EmptyParams(msgspec.Struct):
    """list_accounts, list_requests: nothing to say (fields are ignored)."""


class AdminRequest(msgspec.Struct, Generic[P], kw_only=True):
    """Every admin call: ``{"auth": "<admin key>", "params": {...}}``.

    ``auth`` may instead come as ``Authorization: Bearer <key>``.
    """

    auth: Annotated[str, msgspec.Meta(max_length=MAX_AUTH_LENGTH)] | None = None
    params: P


class AdminListRequest(msgspec.Struct, kw_only=True):
    """A call without params (monero-lws reads only ``auth`` there)."""

    auth: Annotated[str, msgspec.Meta(max_length=MAX_AUTH_LENGTH)] | None = None
    params: EmptyParams | None = None


# --- params -------------------------------------------------------------------------


class RequestsParams(msgspec.Struct, kw_only=True):
    """accept_requests, reject_requests."""

    type: RequestType
    addresses: AddressList


class AddAccountParams(msgspec.Struct, kw_only=True):
    address: AddressText
    #: The account's secret view key (64 hex).
    key: Hex32
    #: lws: the height to scan from; absent = the chain tip lws has seen.
    from_height: U64 | None = None

    def __post_init__(self) -> None:
        if self.from_height is not None:
            check_u64("from_height", self.from_height)


class ModifyAccountStatusParams(msgspec.Struct, kw_only=True):
    status: StatusName
    addresses: AddressList


class RescanParams(msgspec.Struct, kw_only=True):
    height: U64
    addresses: AddressList

    def __post_init__(self) -> None:
        check_u64("height", self.height)


class AddressesParams(msgspec.Struct, kw_only=True):
    """delete_accounts (lws)."""

    addresses: AddressList


ValidateField = Annotated[str, msgspec.Meta(max_length=MAX_VALIDATE_FIELD)]


class ValidateParams(msgspec.Struct, kw_only=True):
    spend_public_hex: ValidateField
    view_public_hex: ValidateField
    view_key_hex: ValidateField


class RollbackParams(msgspec.Struct, kw_only=True):
    """rollback (CLI only, as in monero-lws)."""

    height: U64

    def __post_init__(self) -> None:
        check_u64("height", self.height)


class CreateAdminKeyParams(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(max_length=MAX_KEY_NAME)] = ""


class RevokeAdminKeyParams(msgspec.Struct, kw_only=True):
    id: Annotated[int, msgspec.Meta(ge=1, le=2**32 - 1)]


# --- replies ------------------------------------------------------------------------


class _Reply(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Base of replies: a None default means "omit"."""


class UpdatedReply(_Reply):
    """Every command that changes accounts or requests: the addresses it changed."""

    updated: list[str]


class AccountEntry(_Reply):
    address: str
    scan_height: int
    #: monero-lws bumps this on each wallet read; lws does not record reads
    #: (a write per read), so it is the account's creation time.
    access_time: int


class ListAccountsReply(_Reply):
    """Only the statuses that have accounts appear (as in monero-lws)."""

    active: list[AccountEntry] | None = None
    inactive: list[AccountEntry] | None = None
    hidden: list[AccountEntry] | None = None


class Lookahead(_Reply):
    maj_i: int
    min_i: int


class RequestEntry(_Reply):
    address: str
    start_height: int
    lookahead: Lookahead


class ListRequestsReply(_Reply):
    """Only the kinds that have pending requests appear (as in monero-lws)."""

    create: list[RequestEntry] | None = None
    import_: list[RequestEntry] | None = msgspec.field(default=None, name="import")


class ValidateError(_Reply):
    field: str
    details: str


class ValidateReply(_Reply):
    """``{"address": ...}`` or ``{"error": {"field", "details"}}`` (both HTTP 200)."""

    address: str | None = None
    error: ValidateError | None = None


class RollbackReply(_Reply):
    new_height: int


class AdminKeyCreatedReply(_Reply):
    """The only time a key is shown: it is stored as a hash."""

    id: int
    name: str
    key: str


class AdminKeyInfo(_Reply):
    id: int
    name: str
    #: unix seconds
    created: int


class AdminKeysReply(_Reply):
    keys: list[AdminKeyInfo]


class RevokedReply(_Reply):
    revoked: int
