# Owns the light-wallet API's authorization: address text -> keys (400 for a
# bad address or one of another network), the view-key check against the
# address (constant time, before any lookup), and account visibility (403 for
# unknown, hidden or pending accounts). Must not write anything, and never
# puts a view key in an error or a log.
"""Who is asking: address + view key -> the account, or a refusal."""

from __future__ import annotations

import hmac

import msgspec

from lws.errors import ClientError, Forbidden
from lws.monero.address import Address, AddressKind, Network, decode_address
from lws.monero.errors import MoneroFormatError
from lws.monero.subaddress import check_view_key
from lws.store import Reader
from lws.store.records import AccountRecord, AccountStatus

#: The one refusal text for every 403, so it tells nothing about why.
FORBIDDEN_TEXT = "Account not found, not approved yet, or the view key does not match"


class Keys(msgspec.Struct, frozen=True):
    """A checked (address, view key) pair."""

    address: str
    address_keys: Address
    view_secret: bytes


def check_credentials(address: str, view_key: str, network: Network) -> Keys:
    """Decode ``address`` and check ``view_key`` against it (no store access).

    A malformed address, one of another network, a subaddress or an
    integrated address is a 400 (accounts are primary addresses); a key that
    does not match is a 403.
    """
    try:
        decoded = decode_address(address, network)
    except MoneroFormatError as exc:
        raise ClientError(f"Invalid address: {exc}") from None
    if decoded.kind is not AddressKind.STANDARD:
        raise ClientError(f"Invalid address: a {decoded.kind.value} address cannot be an account")
    view_secret = bytes.fromhex(view_key)  # the wire type matched 64 hex digits
    if not check_view_key(decoded, view_secret):
        raise Forbidden(FORBIDDEN_TEXT)
    return Keys(address=address, address_keys=decoded, view_secret=view_secret)


def visible_account(reader: Reader, keys: Keys) -> tuple[int, AccountRecord]:
    """The served (active or inactive) account of ``keys``; 403 otherwise."""
    found = reader.account_by_address(keys.address)
    if found is None:
        raise Forbidden(FORBIDDEN_TEXT)
    account_id, record = found
    check_access(record, keys)
    return account_id, record


def check_access(record: AccountRecord, keys: Keys) -> None:
    """THE access rule of the wallet API: 403 if the account is hidden or
    ``keys``' view key is not the account's (compared in constant time)."""
    if record.status == AccountStatus.HIDDEN or not hmac.compare_digest(
        record.view_secret, keys.view_secret
    ):
        raise Forbidden(FORBIDDEN_TEXT)
