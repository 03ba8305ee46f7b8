# Owns what an operator can do, for every front end (the admin REST API,
# `lws admin`, the console): the approval queue (list, accept, reject),
# accounts (list, add, change status, rescan, delete), the chain (rollback),
# key validation, admin keys (create: shown once, stored as a hash; list;
# revoke; the check of a presented key), and the audit line of every call
# that changes something. Each command checks every address before it
# writes (400 for a malformed one or one of another network), does all its
# writes in ONE write transaction (409 and nothing written if any address is
# unknown or in the wrong state), then wakes the scanner. Returns wire
# Structs (lws/wire/admin.py). Must not know HTTP or argv, and never logs or
# returns a view key, nor an admin key except once, to its creator.
"""Operator commands: the approval queue, accounts, admin keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

import trio

from lws.errors import ClientError, Conflict, Forbidden
from lws.monero.address import AddressKind, decode_address, make_address
from lws.monero.ed25519 import check_key, is_reduced_scalar
from lws.monero.errors import MoneroFormatError
from lws.monero.subaddress import check_view_key
from lws.store import (
    AccountExists,
    AccountStatus,
    Reader,
    RequestKind,
    StoreError,
    Writer,
)
from lws.store.records import AccountRecord
from lws.wire.admin import (
    AccountEntry,
    AddAccountParams,
    AddressesParams,
    AdminKeyCreatedReply,
    AdminKeyInfo,
    AdminKeysReply,
    CreateAdminKeyParams,
    ListAccountsReply,
    ListRequestsReply,
    Lookahead,
    ModifyAccountStatusParams,
    RequestEntry,
    RequestsParams,
    RescanParams,
    RevokeAdminKeyParams,
    RevokedReply,
    RollbackParams,
    RollbackReply,
    UpdatedReply,
    ValidateError,
    ValidateParams,
    ValidateReply,
)

from . import storeio
from .access import last_access
from .accounts import new_account_height
from .chainview import chain_height
from .context import Services

log = logging.getLogger("lws.admin")

T = TypeVar("T")

#: Bytes of an admin key (shown as 64 hex digits, like monero-lws's).
ADMIN_KEY_BYTES: Final = 32
#: Addresses named in full on an audit line; past this the line says how many
#: more (an accept of 10,000 requests stays one readable line).
MAX_AUDIT_ADDRESSES: Final = 50

FORBIDDEN_KEY_TEXT = "Missing, unknown or revoked admin key"

STATUS_BY_NAME: Final = {
    "active": AccountStatus.ACTIVE,
    "inactive": AccountStatus.INACTIVE,
    "hidden": AccountStatus.HIDDEN,
}
KIND_BY_NAME: Final = {"create": RequestKind.CREATE, "import": RequestKind.IMPORT}


@dataclass(frozen=True)
class Caller:
    """Who asks, for the audit line: ``key 3`` (admin API), ``cli``, ``console``."""

    label: str


CLI: Final = Caller("cli")


# --- helpers ----------------------------------------------------------------------------


def _audit(caller: Caller, command: str, detail: str, addresses: Iterable[str] = ()) -> None:
    """THE audit line of a call that changed something (never a key)."""
    named = list(addresses)
    shown = " ".join(named[:MAX_AUDIT_ADDRESSES])
    if len(named) > MAX_AUDIT_ADDRESSES:
        shown += f" (+{len(named) - MAX_AUDIT_ADDRESSES} more)"
    parts = [f"admin: {caller.label} {command}", detail, shown]
    log.info(" ".join(part for part in parts if part))


def _unique(addresses: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(addresses))


def check_addresses(svc: Services, addresses: Iterable[str]) -> list[str]:
    """The addresses once each, in order; 400 for the first that is not a
    primary address of this server's network (before anything is written)."""
    unique = _unique(addresses)
    for address in unique:
        try:
            decoded = decode_address(address, svc.address_network)
        except MoneroFormatError as exc:
            raise ClientError(f"Invalid address {address[:110]!r}: {exc}") from None
        if decoded.kind is not AddressKind.STANDARD:
            raise ClientError(
                f"Invalid address {address}: a {decoded.kind.value} address cannot be an account"
            )
    return unique


async def _checked(svc: Services, addresses: Iterable[str]) -> list[str]:
    """check_addresses off the event loop (~0.2 ms an address: 10,000 would
    hold the server's loop for 2 s)."""
    return await trio.to_thread.run_sync(check_addresses, svc, list(addresses))


def _need_account(writer: Reader, address: str) -> tuple[int, AccountRecord]:
    found = writer.account_by_address(address)
    if found is None:
        raise Conflict(f"No account for {address}")
    return found


async def _write(svc: Services, fn: Callable[[Writer], T]) -> T:
    """``fn`` in one write transaction; store refusals become LwsErrors with
    their own status (a store fault stays a 500)."""
    return await storeio.write(svc.store, fn)


# --- the approval queue -------------------------------------------------------------------


def _entry(address: str, start_height: int) -> RequestEntry:
    return RequestEntry(
        address=address, start_height=start_height, lookahead=Lookahead(maj_i=0, min_i=0)
    )


async def list_requests(svc: Services) -> ListRequestsReply:
    def read(reader: Reader) -> ListRequestsReply:
        by_kind: dict[RequestKind, list[RequestEntry]] = {}
        for request in reader.requests():
            by_kind.setdefault(request.kind, []).append(
                _entry(request.address, request.start_height)
            )
        return ListRequestsReply(
            create=by_kind.get(RequestKind.CREATE), import_=by_kind.get(RequestKind.IMPORT)
        )

    return await storeio.read(svc.store, read)


async def accept_requests(svc: Services, params: RequestsParams, caller: Caller) -> UpdatedReply:
    """Carry out pending requests: CREATE adds the account (active, from the
    height its login saw), IMPORT rescans it from the asked height."""
    addresses = await _checked(svc, params.addresses)
    kind = KIND_BY_NAME[params.type]

    def write(writer: Writer) -> None:
        for address in addresses:
            if writer.request(kind, address) is None:
                raise Conflict(f"No pending {params.type} request for {address}")
            if kind is RequestKind.CREATE and writer.account_id(address) is not None:
                raise Conflict(f"An account for {address} exists already")
            if kind is RequestKind.IMPORT and writer.account_id(address) is None:
                raise Conflict(f"No account for {address} (accept its create request first)")
            writer.accept_request(kind, address)

    if addresses:
        await _write(svc, write)
        svc.wake()
        _audit(caller, "accept_requests", params.type, addresses)
    return UpdatedReply(updated=addresses)


async def reject_requests(svc: Services, params: RequestsParams, caller: Caller) -> UpdatedReply:
    addresses = await _checked(svc, params.addresses)
    kind = KIND_BY_NAME[params.type]

    def write(writer: Writer) -> None:
        for address in addresses:
            if not writer.reject_request(kind, address):
                raise Conflict(f"No pending {params.type} request for {address}")

    if addresses:
        await _write(svc, write)
        _audit(caller, "reject_requests", params.type, addresses)
    return UpdatedReply(updated=addresses)


# --- accounts ------------------------------------------------------------------------------


async def list_accounts(svc: Services) -> ListAccountsReply:
    """Accounts by status, monero-lws's shape; ``access_time`` is the last
    time the account used the wallet API (its creation until it has)."""
    records = await storeio.read(svc.store, lambda reader: [r for _, r in reader.accounts()])
    accessed = await last_access(svc.config.data_path, (r.address for r in records))
    by_status: dict[AccountStatus, list[AccountEntry]] = {}
    for record in records:
        by_status.setdefault(record.status, []).append(
            AccountEntry(
                address=record.address,
                scan_height=record.scan_height,
                access_time=max(accessed.get(record.address, 0), record.created),
            )
        )
    return ListAccountsReply(
        active=by_status.get(AccountStatus.ACTIVE),
        inactive=by_status.get(AccountStatus.INACTIVE),
        hidden=by_status.get(AccountStatus.HIDDEN),
    )


async def add_account(svc: Services, params: AddAccountParams, caller: Caller) -> UpdatedReply:
    """An active account for ``address`` from ``from_height`` (default: the
    chain tip lws has seen; 503 while a running server has not heard from
    monerod, 409 from the CLI while the store holds no chain yet). A pending
    create request for it is fulfilled by this."""
    (address,) = await _checked(svc, [params.address])
    decoded = decode_address(address, svc.address_network)
    view_secret = bytes.fromhex(params.key)
    if not check_view_key(decoded, view_secret):
        raise ClientError(f"The view key does not match {address}")

    def write(writer: Writer) -> int:
        if params.from_height is not None:
            start = params.from_height
        else:
            start = new_account_height(svc, writer)
            if start == 0:
                raise Conflict(
                    "lws has no chain yet, so it cannot tell where the account starts: "
                    "give a height to scan from"
                )
        try:
            writer.add_account(
                address,
                view_secret=view_secret,
                spend_public=decoded.spend_public,
                view_public=decoded.view_public,
                start_height=start,
                created=int(time.time()),
                status=AccountStatus.ACTIVE,
            )
        except AccountExists:
            raise Conflict(f"An account for {address} exists already") from None
        writer.reject_request(RequestKind.CREATE, address)
        return start

    start = await _write(svc, write)
    svc.wake()
    _audit(caller, "add_account", f"from {start}", [address])
    return UpdatedReply(updated=[address])


async def modify_account_status(
    svc: Services, params: ModifyAccountStatusParams, caller: Caller
) -> UpdatedReply:
    """active (scanned, served), inactive (served, not scanned), hidden
    (neither): in effect at once (the scanner's next round, the next reply)."""
    addresses = await _checked(svc, params.addresses)
    status = STATUS_BY_NAME[params.status]

    def write(writer: Writer) -> None:
        for address in addresses:
            account_id, _ = _need_account(writer, address)
            writer.set_status(account_id, status)

    if addresses:
        await _write(svc, write)
        svc.wake()
        _audit(caller, "modify_account_status", params.status, addresses)
    return UpdatedReply(updated=addresses)


async def rescan(svc: Services, params: RescanParams, caller: Caller) -> UpdatedReply:
    """Scan the accounts again from ``height`` (monero-lws's rescan: an
    account is never moved forward; 409 above the chain lws holds)."""
    addresses = await _checked(svc, params.addresses)

    def write(writer: Writer) -> None:
        top = chain_height(writer)
        if params.height > top:
            raise Conflict(f"Height {params.height} is above the chain lws holds ({top} blocks)")
        for address in addresses:
            account_id, _ = _need_account(writer, address)
            writer.rescan_from(account_id, params.height)

    if addresses:
        await _write(svc, write)
        svc.wake()
        _audit(caller, "rescan", f"from {params.height}", addresses)
    return UpdatedReply(updated=addresses)


async def delete_accounts(svc: Services, params: AddressesParams, caller: Caller) -> UpdatedReply:
    """Remove the accounts and everything the store holds of them (view
    keys, outputs, spends, requests, subaddresses) in one transaction; a
    wallet that logs in afterwards starts as a new account. Its last access
    time (kept beside the store) goes too."""
    addresses = await _checked(svc, params.addresses)

    def write(writer: Writer) -> None:
        for address in addresses:
            account_id, _ = _need_account(writer, address)
            writer.delete_account(account_id)

    if addresses:
        await _write(svc, write)
        await svc.access.forget(addresses)
        svc.wake()
        _audit(caller, "delete_accounts", "", addresses)
    return UpdatedReply(updated=addresses)


async def rollback(svc: Services, params: RollbackParams, caller: Caller) -> RollbackReply:
    """Forget the chain from ``height`` up (and every account's outputs and
    spends there); the scanner fetches it again from monerod."""

    def write(writer: Writer) -> None:
        top = chain_height(writer)
        if params.height > top:
            raise Conflict(f"Height {params.height} is above the chain lws holds ({top} blocks)")
        # The chain itself did not change: webhooks get no tx-reorg, and the
        # rescan does not repeat the confirmations they were sent.
        writer.rollback_to(params.height, reorg=False)

    await _write(svc, write)
    svc.wake()
    _audit(caller, "rollback", f"to {params.height}")
    return RollbackReply(new_height=params.height)


# --- validate ------------------------------------------------------------------------------


def _hex_key(value: str, field: str) -> bytes | ValidateError:
    if len(value) != 64:
        return ValidateError(field=field, details="Expected 64 characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        return ValidateError(field=field, details="Invalid hex")


async def validate(svc: Services, params: ValidateParams) -> ValidateReply:
    """monero-lws's validate, check for check: the address of (spend
    public, view public) if the view key belongs to it; the first problem
    otherwise, in the reply (not as an HTTP error)."""
    if params.spend_public_hex == params.view_public_hex:
        return ValidateReply(
            error=ValidateError(
                field="spend_public_hex",
                details="spend_public_hex and view_public_hex should not be equal",
            )
        )
    keys: list[bytes] = []
    for field, value in (
        ("spend_public_hex", params.spend_public_hex),
        ("view_public_hex", params.view_public_hex),
        ("view_key_hex", params.view_key_hex),
    ):
        key = _hex_key(value, field)
        if isinstance(key, ValidateError):
            return ValidateReply(error=key)
        keys.append(key)
    spend_public, view_public, view_secret = keys
    for field, key in (("spend_public_hex", spend_public), ("view_public_hex", view_public)):
        if not check_key(key):
            return ValidateReply(
                error=ValidateError(field=field, details="Invalid public key format")
            )
    address = make_address(svc.address_network, spend_public, view_public)
    decoded = decode_address(address, svc.address_network)
    if not is_reduced_scalar(view_secret) or not check_view_key(decoded, view_secret):
        return ValidateReply(
            error=ValidateError(
                field="view_key_hex", details="view_key and view_public do not match"
            )
        )
    return ValidateReply(address=address)


# --- admin keys ----------------------------------------------------------------------------


def _hash_key(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


async def create_admin_key(
    svc: Services, params: CreateAdminKeyParams, caller: Caller
) -> AdminKeyCreatedReply:
    """A new admin key: returned once here, kept only as its SHA-256."""
    if not params.name.isprintable():
        raise ClientError("An admin key's name must be printable text")
    key = secrets.token_bytes(ADMIN_KEY_BYTES)

    def write(writer: Writer) -> int:
        try:
            return writer.add_admin_key(params.name, _hash_key(key), int(time.time()))
        except StoreError as exc:
            raise Conflict(str(exc)) from None

    key_id = await _write(svc, write)
    _audit(caller, "create_admin_key", f"id {key_id} {params.name!r}")
    return AdminKeyCreatedReply(id=key_id, name=params.name, key=key.hex())


async def list_admin_keys(svc: Services) -> AdminKeysReply:
    keys = await storeio.read(svc.store, lambda reader: reader.admin_keys())
    return AdminKeysReply(
        keys=[AdminKeyInfo(id=i, name=k.name, created=k.created) for i, k in keys]
    )


async def revoke_admin_key(
    svc: Services, params: RevokeAdminKeyParams, caller: Caller
) -> RevokedReply:
    """From now on the key is refused (403), by running servers too."""
    if not await _write(svc, lambda writer: writer.revoke_admin_key(params.id)):
        raise Conflict(f"No admin key {params.id}")
    _audit(caller, "revoke_admin_key", f"id {params.id}")
    return RevokedReply(revoked=params.id)


def _find_key(reader: Reader, presented: bytes) -> int | None:
    """The id of the live key whose hash is ``presented``'s; every stored
    hash is compared (constant time each), so timing tells nothing."""
    digest = _hash_key(presented)
    found: int | None = None
    for key_id, record in reader.admin_keys():
        if hmac.compare_digest(record.key_hash, digest):
            found = key_id
    return found


async def authenticate(svc: Services, auth: str | None) -> Caller:
    """The caller of an admin API request presenting ``auth``; 403 for a
    missing, malformed, unknown or revoked key (one text for all)."""
    return Caller(f"key {await authenticate_key_id(svc, auth)}")


async def authenticate_key_id(svc: Services, auth: str | None) -> int:
    """The id of the live admin key ``auth`` (the console keeps it in its
    session); 403 as ``authenticate``."""
    if auth is None or len(auth) != 2 * ADMIN_KEY_BYTES:
        raise Forbidden(FORBIDDEN_KEY_TEXT)
    try:
        presented = bytes.fromhex(auth)
    except ValueError:
        raise Forbidden(FORBIDDEN_KEY_TEXT) from None
    key_id = await storeio.read(svc.store, lambda reader: _find_key(reader, presented))
    if key_id is None:
        raise Forbidden(FORBIDDEN_KEY_TEXT)
    return key_id
