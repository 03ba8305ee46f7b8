# Owns the app-level transport tests of the wallet API: every status the
# strict API layer promises (404, 405, 413, 415, 400, 403, 503 with
# Retry-After), CORS for configured origins, and that none of it is ever a
# 500. Drives the real Quart app on a real loopback AppServer with a real store
# (the transport's own hostile cases are in test_http.py).
"""Strict transport of the wallet API."""

from __future__ import annotations

import json

import pytest
import trio

from lws.api.routes import ROUTES, SMALL_BODY, SUBADDRS_BODY, TX_BODY
from lws.monero.address import Network, make_address
from lws.store import AccountStatus, RequestKind, Store
from tests.support.regtest import WalletKeys
from tests.support.wallets import wallet_request

from .conftest import Api, add_account, creds

ALICE = WalletKeys("alice")
BOB = WalletKeys("bob")


async def test_unknown_method_is_404(client: Api) -> None:
    status, body, _ = await client.post("/no_such_method", {})
    assert (status, set(body)) == (404, {"Error"})


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_other_http_methods_are_405(client: Api, method: str) -> None:
    response = await client.http.request(method, "/get_address_info")
    assert response.status_code == 405
    assert response.json().keys() == {"Error"}
    assert "POST" in response.headers["Allow"]


async def test_get_allowed_only_where_documented(client: Api) -> None:
    for path in ("/get_version", "/daemon_status", "/openapi.json"):
        assert (await client.http.get(path)).status_code == 200
    for route in ROUTES:
        if "GET" not in route.methods:
            assert (await client.http.get(route.path)).status_code == 405


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
async def test_wrong_content_type_is_415(client: Api, content_type: str) -> None:
    status, body, _ = await client.post("/login", creds(ALICE), **{"Content-Type": content_type})
    assert status == 415 and "Error" in body


async def test_missing_content_type_is_415(client: Api) -> None:
    response = await client.http.post("/login", content=json.dumps(creds(ALICE)))
    assert response.status_code == 415


async def test_charset_parameter_is_accepted(client: Api, store: Store) -> None:
    add_account(store, ALICE)
    status, body, _ = await client.post(
        "/login", creds(ALICE), **{"Content-Type": "application/json;charset=utf-8"}
    )
    assert status == 200 and body["new_address"] is False


BAD_BODIES = [
    b"{",
    b"not json",
    b"[]",
    b'{"address": 5, "view_key": "00"}',
    b"{}",
    b'{"address": "\x804x", "view_key": "00"}',  # a string that is not UTF-8
    b"\xff\xfe{}",
]


@pytest.mark.parametrize("raw", BAD_BODIES)
async def test_malformed_or_ill_typed_is_400(client: Api, raw: bytes) -> None:
    status, body, _ = await client.post("/get_address_info", raw)
    assert status == 400 and body["Error"]


async def test_missing_field_is_400(client: Api) -> None:
    status, body, _ = await client.post("/get_address_info", {"address": ALICE.address()})
    assert status == 400 and "view_key" in body["Error"]


@pytest.mark.parametrize(
    "extra",
    [
        {"amount": "18446744073709551616"},  # uint64 string past 2**64 - 1
        {"amount": "-1"},
        {"amount": 5},  # a number where a uint64 string is required
        {"amount": "0", "mixin": 4294967296},  # past uint32
        {"amount": "0", "mixin": -1},
        {"amount": "0", "use_dust": "yes"},
        {"amount": "0", "dust_threshold": "99999999999999999999"},
    ],
)
async def test_numbers_past_their_width_are_400(client: Api, extra: dict) -> None:
    status, _, _ = await client.post("/get_unspent_outs", {**creds(ALICE), **extra})
    assert status == 400


async def test_uint64_number_past_width_is_400(client: Api) -> None:
    status, body, _ = await client.post(
        "/import_wallet_request", {**creds(ALICE), "from_height": 2**64}
    )
    assert status == 400 and "uint64" in body["Error"]


async def test_random_outs_count_past_width_is_400(client: Api) -> None:
    status, _, _ = await client.post("/get_random_outs", {"amounts": ["0"], "count": 2**32})
    assert status == 400
    status, _, _ = await client.post(
        "/get_random_outs", {"amounts": ["18446744073709551616"], "count": 16}
    )
    assert status == 400


@pytest.mark.parametrize(
    "address",
    [
        "",
        "4" * 95,
        "not an address",
        ALICE.address()[:-1] + ("a" if ALICE.address()[-1] != "a" else "b"),  # checksum
    ],
)
async def test_bad_address_is_400(client: Api, address: str) -> None:
    status, _, _ = await client.post(
        "/get_address_info", {"address": address, "view_key": ALICE.view_secret.hex()}
    )
    assert status == 400


async def test_address_of_another_network_is_400(client: Api) -> None:
    testnet = make_address(Network.TESTNET, ALICE.spend_public, ALICE.view_public)
    status, body, _ = await client.post(
        "/login", {"address": testnet, "view_key": ALICE.view_secret.hex()}
    )
    assert status == 400 and "testnet" in body["Error"]


async def test_view_key_mismatch_is_403(client: Api, store: Store) -> None:
    add_account(store, ALICE)
    wrong = {"address": ALICE.address(), "view_key": BOB.view_secret.hex()}
    for path in ("/login", "/get_address_info", "/get_address_txs", "/get_subaddrs"):
        status, body, _ = await client.post(path, wrong)
        assert status == 403, path
        assert BOB.view_secret.hex() not in body["Error"]
        assert ALICE.view_secret.hex() not in body["Error"]


async def test_unknown_hidden_and_pending_accounts_are_403(client: Api, store: Store) -> None:
    status, _, _ = await client.post("/get_address_info", creds(ALICE))
    assert status == 403  # unknown
    add_account(store, ALICE, status=AccountStatus.HIDDEN)
    status, _, _ = await client.post("/get_address_info", creds(ALICE))
    assert status == 403  # hidden
    store.transact(lambda w: w.create_request(wallet_request(BOB, RequestKind.CREATE, 0)))
    for path in ("/login", "/get_address_info", "/get_unspent_outs"):
        status, _, _ = await client.post(path, {**creds(BOB), "amount": "0"})
        assert status == 403, path  # pending


@pytest.mark.parametrize(
    "path, limit",
    [("/login", SMALL_BODY), ("/upsert_subaddrs", SUBADDRS_BODY), ("/submit_raw_tx", TX_BODY)],
)
async def test_body_past_the_route_limit_is_413(client: Api, path: str, limit: int) -> None:
    padded = json.dumps({**creds(ALICE), "pad": "x" * limit})
    status, body, _ = await client.post(path, padded)
    assert status == 413 and body["Error"]


async def test_body_within_a_larger_route_limit_is_read(client: Api) -> None:
    # 4 KiB is past the 2 KiB of most methods but within upsert_subaddrs' 10 KiB.
    padded = json.dumps({**creds(ALICE), "subaddrs": [], "pad": "x" * 4096})
    status, _, _ = await client.post("/upsert_subaddrs", padded)
    assert status == 403  # read and decoded; the account is unknown


async def test_daemon_unreachable_is_503(client: Api, store: Store) -> None:
    add_account(store, ALICE)
    status, body, response = await client.post("/get_unspent_outs", {**creds(ALICE), "amount": "0"})
    assert status == 503 and body["Error"]
    assert response.headers["Retry-After"]
    status, _, _ = await client.post("/get_random_outs", {"amounts": ["0"], "count": 16})
    assert status == 503
    status, _, _ = await client.post("/submit_raw_tx", {"tx": "00"})
    assert status == 503


async def test_daemon_status_reports_unavailable_daemon(client: Api) -> None:
    response = await client.http.get("/daemon_status")
    assert response.status_code == 200
    assert response.json()["state"] == "unavailable"


async def test_overload_is_503_with_retry_after(client: Api, store: Store) -> None:
    add_account(store, ALICE)
    limiter: trio.CapacityLimiter = client.server.app.limiter
    borrowers = [object() for _ in range(int(limiter.total_tokens))]
    for borrower in borrowers:
        limiter.acquire_on_behalf_of_nowait(borrower)
    try:
        status, body, response = await client.post("/get_address_info", creds(ALICE))
        assert status == 503 and body["Error"]
        assert int(response.headers["Retry-After"]) > 0
    finally:
        for borrower in borrowers:
            limiter.release_on_behalf_of(borrower)
    status, _, _ = await client.post("/get_address_info", creds(ALICE))
    assert status == 200


async def test_cors_for_configured_origin(client: Api, store: Store) -> None:
    add_account(store, ALICE)
    preflight = await client.http.options(
        "/get_address_info",
        headers={
            "Origin": "https://wallet.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://wallet.example"
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()
    _, _, response = await client.post(
        "/get_address_info", creds(ALICE), Origin="https://wallet.example"
    )
    assert response.headers["Access-Control-Allow-Origin"] == "https://wallet.example"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    # Errors carry the headers too, so a browser can read {"Error": ...}.
    _, _, response = await client.post("/get_address_info", b"{", Origin="https://wallet.example")
    assert response.headers["Access-Control-Allow-Origin"] == "https://wallet.example"


async def test_no_cors_for_other_origins(client: Api, store: Store) -> None:
    add_account(store, ALICE)
    _, _, response = await client.post(
        "/get_address_info", creds(ALICE), Origin="https://evil.example"
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = await client.http.options(
        "/get_address_info",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_unknown_fields_are_ignored(client: Api, store: Store) -> None:
    add_account(store, ALICE)
    status, _, _ = await client.post(
        "/get_address_info", {**creds(ALICE), "app_name": "x", "api_key": "y"}
    )
    assert status == 200


async def test_no_request_is_a_500(client: Api, store: Store) -> None:
    """A sweep of odd bodies over every route: 4xx/503, never 5xx bugs."""
    add_account(store, ALICE)
    bodies: list[bytes] = [
        b"",
        b"null",
        b"1",
        b'"x"',
        b"{}",
        json.dumps(creds(ALICE)).encode(),
        json.dumps({**creds(ALICE), "amount": "0", "amounts": [], "count": 0, "tx": ""}).encode(),
        b'{"address": null, "view_key": null}',
        b"\xff\xfe",
    ]
    for route in ROUTES:
        for raw in bodies:
            status, body, _ = await client.post(route.path, raw)
            assert status < 500 or status in (502, 503), (route.path, raw, status, body)
            assert "Error" in body or status == 200
