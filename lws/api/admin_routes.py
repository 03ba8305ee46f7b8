# Owns THE table of the admin API's commands: path (monero-lws's command
# names, plus lws's delete_accounts), params and reply types, the service
# that answers, whether it changes something, and each command's body limit
# (with its reason). The admin app, its OpenAPI document and the tests read
# this one table. Must not hold logic: handlers are lws.services.admin.
"""The admin API's commands, in one table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from lws.services import admin
from lws.services.admin import Caller
from lws.services.context import Services
from lws.wire import admin as wa

#: list_accounts, list_requests: only `auth` (64 hex) and an empty `params`
#: (monero-lws: 100 bytes); room for whitespace and a key-less body.
EMPTY_BODY = 512
#: add_account, validate: a few keys and an address (monero-lws: 50 KiB for
#: every other command; lws keeps the small ones small).
SMALL_BODY = 2 * 1024
#: Commands naming addresses: MAX_ADMIN_ADDRESSES of them (an address and its
#: JSON quoting and comma), plus the envelope.
ADDRESSES_BODY = wa.MAX_ADMIN_ADDRESSES * wa.ADDRESS_IN_LIST + 1024

Handler = Callable[[Services, Any, Caller], Awaitable[msgspec.Struct]]


@dataclass(frozen=True)
class AdminRoute:
    path: str
    #: The Struct of ``params`` (None: the command takes none).
    params: type[msgspec.Struct] | None
    response: type[msgspec.Struct]
    handler: Handler
    body_limit: int
    summary: str
    #: Whether it changes the store (and is logged on the audit line).
    changes: bool = True

    @property
    def request(self) -> Any:
        """The body's type: the envelope around ``params``."""
        if self.params is None:
            return wa.AdminListRequest
        return wa.AdminRequest[self.params]  # type: ignore[name-defined]  # a runtime type


async def _list_accounts(svc: Services, params: Any, caller: Caller) -> msgspec.Struct:
    return await admin.list_accounts(svc)


async def _list_requests(svc: Services, params: Any, caller: Caller) -> msgspec.Struct:
    return await admin.list_requests(svc)


async def _validate(svc: Services, params: Any, caller: Caller) -> msgspec.Struct:
    return await admin.validate(svc, params)


#: Served by the admin app itself from the OpenAPI module (not a command).
ADMIN_OPENAPI_PATH = "/openapi.json"

ADMIN_ROUTES: tuple[AdminRoute, ...] = (
    AdminRoute(
        "/accept_requests",
        wa.RequestsParams,
        wa.UpdatedReply,
        admin.accept_requests,
        ADDRESSES_BODY,
        "Accept pending create (the account starts) or import (it rescans) requests",
    ),
    AdminRoute(
        "/add_account",
        wa.AddAccountParams,
        wa.UpdatedReply,
        admin.add_account,
        SMALL_BODY,
        "Add an active account, from the chain tip lws has seen or from_height",
    ),
    AdminRoute(
        "/delete_accounts",
        wa.AddressesParams,
        wa.UpdatedReply,
        admin.delete_accounts,
        ADDRESSES_BODY,
        "Delete accounts and everything stored of them (lws; monero-lws has no deletion)",
    ),
    AdminRoute(
        "/list_accounts",
        None,
        wa.ListAccountsReply,
        _list_accounts,
        EMPTY_BODY,
        "Accounts by status",
        changes=False,
    ),
    AdminRoute(
        "/list_requests",
        None,
        wa.ListRequestsReply,
        _list_requests,
        EMPTY_BODY,
        "Pending create and import requests",
        changes=False,
    ),
    AdminRoute(
        "/modify_account_status",
        wa.ModifyAccountStatusParams,
        wa.UpdatedReply,
        admin.modify_account_status,
        ADDRESSES_BODY,
        "active: scanned and served; inactive: served only; hidden: neither",
    ),
    AdminRoute(
        "/reject_requests",
        wa.RequestsParams,
        wa.UpdatedReply,
        admin.reject_requests,
        ADDRESSES_BODY,
        "Drop pending requests",
    ),
    AdminRoute(
        "/rescan",
        wa.RescanParams,
        wa.UpdatedReply,
        admin.rescan,
        ADDRESSES_BODY,
        "Scan accounts again from a height (never moves an account forward)",
    ),
    AdminRoute(
        "/validate",
        wa.ValidateParams,
        wa.ValidateReply,
        _validate,
        SMALL_BODY,
        "Whether a view key belongs to (spend public, view public): the address, or the problem",
        changes=False,
    ),
)

#: The largest body any command accepts (the app's hard cap).
MAX_ADMIN_BODY = max(route.body_limit for route in ADMIN_ROUTES)
