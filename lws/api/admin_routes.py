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

from lws.services import admin, webhooks
from lws.services.admin import Caller
from lws.services.context import Services
from lws.wire import admin as wa
from lws.wire import webhooks as wh

#: list_accounts, list_requests: only `auth` (64 hex) and an empty `params`
#: (monero-lws: 100 bytes); room for whitespace and a key-less body.
EMPTY_BODY = 512
#: add_account, validate: a few keys and an address (monero-lws: 50 KiB for
#: every other command; lws keeps the small ones small).
SMALL_BODY = 2 * 1024
#: Commands naming addresses: MAX_ADMIN_ADDRESSES of them (an address and its
#: JSON quoting and comma), plus the envelope.
ADDRESSES_BODY = wa.MAX_ADMIN_ADDRESSES * wa.ADDRESS_IN_LIST + 1024

#: webhook_add, webhook_redeliver, webhook_deliveries: a URL and a token at
#: their longest (wire/webhooks.py), or an id, plus the envelope.
WEBHOOK_BODY = wh.MAX_URL_LENGTH + wh.MAX_TOKEN_LENGTH + 2 * 1024
#: webhook_delete_uuid: MAX_WEBHOOK_EVENT_IDS ids of 32 hex (with quotes and
#: a comma), plus the envelope.
EVENT_IDS_BODY = wh.MAX_WEBHOOK_EVENT_IDS * 35 + 1024
#: webhook_delete: MAX_WEBHOOK_ADDRESSES addresses, as ADDRESSES_BODY.
WEBHOOK_ADDRESSES_BODY = wh.MAX_WEBHOOK_ADDRESSES * wa.ADDRESS_IN_LIST + 1024

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


async def _webhook_list(svc: Services, params: Any, caller: Caller) -> msgspec.Struct:
    return await webhooks.webhook_list(svc)


async def _webhook_deliveries(svc: Services, params: Any, caller: Caller) -> msgspec.Struct:
    return await webhooks.webhook_deliveries(svc, params)


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
    AdminRoute(
        "/webhook_add",
        wh.WebhookAddParams,
        wh.WebhookAddReply,
        webhooks.webhook_add,
        WEBHOOK_BODY,
        "Register a webhook (tx-confirmation, tx-spend, new-account); the reply's secret "
        "signs its deliveries and is shown only here",
    ),
    AdminRoute(
        "/webhook_delete",
        wh.WebhookDeleteParams,
        wh.EmptyReply,
        webhooks.webhook_delete,
        WEBHOOK_ADDRESSES_BODY,
        "Delete every webhook of these accounts (all types), with their pending deliveries",
    ),
    AdminRoute(
        "/webhook_delete_uuid",
        wh.WebhookDeleteUuidParams,
        wh.EmptyReply,
        webhooks.webhook_delete_uuid,
        EVENT_IDS_BODY,
        "Delete webhooks by event_id (any type), with their pending deliveries",
    ),
    AdminRoute(
        "/webhook_list",
        None,
        wh.WebhookListReply,
        _webhook_list,
        EMPTY_BODY,
        "Registered webhooks by account and type (never their secrets)",
        changes=False,
    ),
    AdminRoute(
        "/webhook_deliveries",
        wh.WebhookDeliveriesParams,
        wh.WebhookDeliveriesReply,
        _webhook_deliveries,
        WEBHOOK_BODY,
        "The newest deliveries (or only the failed ones) and the outbox's counts (lws)",
        changes=False,
    ),
    AdminRoute(
        "/webhook_redeliver",
        wh.WebhookRedeliverParams,
        wh.DeliveryInfo,
        webhooks.webhook_redeliver,
        WEBHOOK_BODY,
        "Send a failed (or delivered) delivery again, under the same delivery id (lws)",
    ),
)

#: The largest body any command accepts (the app's hard cap).
MAX_ADMIN_BODY = max(route.body_limit for route in ADMIN_ROUTES)
