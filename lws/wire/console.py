# Owns what the console's account search returns, as msgspec Structs (the
# console renders them; they are not sent as JSON). Must not compute
# anything: lws/services/console.py fills them in.
"""Values of the operator console."""

from __future__ import annotations

import msgspec


class AccountRow(msgspec.Struct, frozen=True, kw_only=True):
    address: str
    #: active, inactive or hidden.
    status: str
    scan_height: int
    #: Unix seconds when the account was created.
    created: int
    #: Unix seconds of its last use of the wallet API (None: not since the
    #: access table began, or never).
    last_access: int | None = None


class AccountSearch(msgspec.Struct, frozen=True, kw_only=True):
    #: Accounts that match (rows holds at most the search's limit of them).
    total: int
    rows: list[AccountRow]


class HookRow(msgspec.Struct, frozen=True, kw_only=True):
    """One registered webhook as the console lists it."""

    #: tx-confirmation, tx-spend or new-account.
    type: str
    #: The account's address ("" for new-account hooks, or an account gone).
    address: str
    url: str
    payment_id: str
    confirmations: int
    event_id: str
