# Owns THE table of the wallet API's routes: path, HTTP methods, request and
# reply types, the service that answers, and each route's body limit (with
# its reason). The app, the OpenAPI document and the tests all read this one
# table. Must not hold logic: handlers are services.
"""The wallet API's routes, in one table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from lws.services import account_data, accounts, network, subaddresses
from lws.services.context import Services
from lws.wire import requests as rq
from lws.wire import responses as rs

#: Most methods carry an address, a view key and a few small fields: 2 KiB is
#: ten times what a real client sends (monero-lws uses the same limit).
SMALL_BODY = 2 * 1024
#: upsert_subaddrs carries lists of ranges (monero-lws: 10 KiB).
SUBADDRS_BODY = 10 * 1024
#: submit_raw_tx carries a whole transaction as hex; monerod's own limits keep
#: real ones far smaller (monero-lws: 512 KiB).
TX_BODY = 512 * 1024
#: GET-able methods (get_version, daemon_status) ignore any body beyond this.
EMPTY_BODY = 2 * 1024

POST = frozenset({"POST"})
GET_OR_POST = frozenset({"GET", "POST"})
GET = frozenset({"GET"})

Handler = Callable[[Services, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    path: str
    methods: frozenset[str]
    request: type[msgspec.Struct]
    response: type[msgspec.Struct] | None
    handler: Handler
    body_limit: int
    summary: str
    #: Whether the method needs an account's address and view key (403 possible).
    account: bool = False
    #: Whether the method has a per-client rate budget (config.rate_limit a
    #: minute): it creates state or costs monerod work. login only when it
    #: would create an account (the app decides).
    rate_limited: bool = False


async def _no_handler(svc: Services, req: Any) -> Any:  # the document route is served by the app
    raise NotImplementedError


#: Served by the app itself from the OpenAPI module (not a service).
OPENAPI_PATH = "/openapi.json"

ROUTES: tuple[Route, ...] = (
    Route(
        "/login",
        POST,
        rq.LoginRequest,
        rs.LoginResponse,
        accounts.login,
        SMALL_BODY,
        "Check for an account, or ask for one to be created",
        account=True,
        rate_limited=True,
    ),
    Route(
        "/get_address_info",
        POST,
        rq.AccountRequest,
        rs.AddressInfoResponse,
        account_data.get_address_info,
        SMALL_BODY,
        "Balances and candidate spends of an account",
        account=True,
    ),
    Route(
        "/get_address_txs",
        POST,
        rq.AccountRequest,
        rs.AddressTxsResponse,
        account_data.get_address_txs,
        SMALL_BODY,
        "Transaction history of an account, chain order, mempool last",
        account=True,
    ),
    Route(
        "/get_unspent_outs",
        POST,
        rq.UnspentOutsRequest,
        rs.UnspentOutsResponse,
        account_data.get_unspent_outs,
        SMALL_BODY,
        "Spendable outputs of an account, with fees",
        account=True,
    ),
    Route(
        "/get_random_outs",
        POST,
        rq.RandomOutsRequest,
        rs.RandomOutsResponse,
        network.get_random_outs,
        SMALL_BODY,
        "Decoy outputs for rings, one entry per requested amount",
        rate_limited=True,
    ),
    Route(
        "/submit_raw_tx",
        POST,
        rq.SubmitRawTxRequest,
        rs.SubmitRawTxResponse,
        network.submit_raw_tx,
        TX_BODY,
        "Relay a signed transaction through monerod",
        rate_limited=True,
    ),
    Route(
        "/import_wallet_request",
        POST,
        rq.ImportRequest,
        rs.ImportResponse,
        accounts.import_wallet_request,
        SMALL_BODY,
        "Ask for a rescan of an account from a height",
        account=True,
        rate_limited=True,
    ),
    Route(
        "/import_request",
        POST,
        rq.ImportRequest,
        rs.ImportResponse,
        accounts.import_wallet_request,
        SMALL_BODY,
        "Same as /import_wallet_request (the published API's name)",
        account=True,
        rate_limited=True,
    ),
    Route(
        "/get_subaddrs",
        POST,
        rq.AccountRequest,
        rs.GetSubaddrsResponse,
        subaddresses.get_subaddrs,
        SMALL_BODY,
        "Registered subaddress ranges of an account",
        account=True,
    ),
    Route(
        "/upsert_subaddrs",
        POST,
        rq.UpsertSubaddrsRequest,
        rs.SubaddrsChangeResponse,
        subaddresses.upsert_subaddrs,
        SUBADDRS_BODY,
        "Register subaddress ranges for scanning",
        account=True,
    ),
    Route(
        "/provision_subaddrs",
        POST,
        rq.ProvisionSubaddrsRequest,
        rs.SubaddrsChangeResponse,
        subaddresses.provision_subaddrs,
        SMALL_BODY,
        "Register n_maj x n_min subaddresses from (maj_i, min_i)",
        account=True,
        rate_limited=True,
    ),
    Route(
        "/get_version",
        GET_OR_POST,
        rq.EmptyRequest,
        rs.VersionResponse,
        network.get_version,
        EMPTY_BODY,
        "Server and API version, network, limits",
    ),
    Route(
        "/daemon_status",
        GET_OR_POST,
        rq.EmptyRequest,
        rs.DaemonStatusResponse,
        network.daemon_status,
        EMPTY_BODY,
        "State of the monerod lws relies on",
    ),
    Route(
        OPENAPI_PATH,
        GET,
        rq.EmptyRequest,
        None,
        _no_handler,
        EMPTY_BODY,
        "This API's OpenAPI 3.1 document",
    ),
)

#: The largest body any route accepts (the framework's own hard cap).
MAX_BODY = max(route.body_limit for route in ROUTES)
