# Owns the tests of the admin API's app served by Hypercorn in process over
# a real store: every command's reply in monero-lws's shape (checked against
# docs/admin-openapi.json too), the admin key (body `auth` or Bearer; 403 for
# missing, malformed, unknown or revoked keys, before params are read), the
# transport refusals (404, 405, 413, 415, 400) with {"Error"} bodies and
# nothing written, 409 for an unknown address, the audit line, and the
# OpenAPI document checked against the route table.
from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lws.api import openapi
from lws.api.admin import create_admin_app
from lws.api.admin_routes import ADDRESSES_BODY, ADMIN_ROUTES
from lws.daemon import Daemon
from lws.scan.status import ScannerStatus
from lws.services import admin
from lws.services.admin import CLI, FORBIDDEN_KEY_TEXT
from lws.services.context import Services
from lws.store import RequestKind, Store
from lws.wire.admin import CreateAdminKeyParams, RevokeAdminKeyParams
from tests.support.regtest import WalletKeys
from tests.support.wallets import wallet_request

from .conftest import Api, make_config, serving
from .schema_check import ADMIN_DOC, ADMIN_DOC_PATH, check_reply

ALICE, BOB, CAROL = WalletKeys("alice"), WalletKeys("bob"), WalletKeys("carol")


class Admin:
    """An admin API client holding a valid key."""

    def __init__(self, api: Api, key: str, svc: Services) -> None:
        self.api = api
        self.key = key
        self.svc = svc
        self.wakes = 0

    async def call(
        self, command: str, params: Any = None, *, auth: str | None = "default", **headers: str
    ) -> tuple[int, Any]:
        body: dict[str, Any] = {}
        if auth is not None:
            body["auth"] = self.key if auth == "default" else auth
        if params is not None:
            body["params"] = params
        status, reply, response = await self.api.post(f"/{command}", body, **headers)
        assert response.headers["Content-Type"] == "application/json" and reply is not None
        if status == 200 or f"/{command}" in ADMIN_DOC["paths"]:
            check_reply(f"/{command}", "POST", status, reply, ADMIN_DOC)
        return status, reply


@pytest.fixture
async def client(store: Store, dead_daemon: Daemon) -> AsyncIterator[Admin]:
    store.transact(lambda w: w.add_block_hashes(0, [n.to_bytes(32, "big") for n in range(30)]))
    wakes = [0]

    def wake() -> None:
        wakes[0] += 1

    config = make_config()
    svc = Services(
        config, store, dead_daemon, lambda: ScannerStatus(daemon_height=30), wake_scanner=wake
    )
    created = await admin.create_admin_key(svc, CreateAdminKeyParams(name="t"), CLI)
    async with serving(create_admin_app(svc), config) as api:
        client = Admin(api, created.key, svc)
        yield client
        client.wakes = wakes[0]


def snapshot(store: Store) -> Any:
    return store.generation(), store.query(
        lambda r: ([(i, a.status, a.scan_height) for i, a in r.accounts()], list(r.requests()))
    )


async def test_every_command_in_monero_lws_shape(client: Admin, store: Store) -> None:
    store.transact(lambda w: w.create_request(wallet_request(ALICE, RequestKind.CREATE, 12)))
    store.transact(lambda w: w.create_request(wallet_request(BOB, RequestKind.CREATE, 13)))
    assert await client.call("list_accounts") == (200, {})
    status, reply = await client.call("list_requests", {})
    assert status == 200 and list(reply) == ["create"]
    assert {e["address"]: e for e in reply["create"]}[ALICE.address()] == {
        "address": ALICE.address(),
        "start_height": 12,
        "lookahead": {"maj_i": 0, "min_i": 0},
    }
    assert await client.call(
        "accept_requests", {"type": "create", "addresses": [ALICE.address()]}
    ) == (200, {"updated": [ALICE.address()]})
    assert await client.call(
        "reject_requests", {"type": "create", "addresses": [BOB.address()]}
    ) == (200, {"updated": [BOB.address()]})
    assert await client.call(
        "add_account", {"address": CAROL.address(), "key": CAROL.view_secret.hex()}
    ) == (200, {"updated": [CAROL.address()]})
    status, reply = await client.call("list_accounts")
    assert status == 200 and list(reply) == ["active"]
    assert {e["address"]: e["scan_height"] for e in reply["active"]} == {
        ALICE.address(): 12,
        CAROL.address(): 30,  # the tip lws has seen
    }
    assert set(reply["active"][0]) == {"address", "scan_height", "access_time"}
    assert await client.call(
        "modify_account_status", {"status": "hidden", "addresses": [CAROL.address()]}
    ) == (200, {"updated": [CAROL.address()]})
    assert await client.call("rescan", {"height": 5, "addresses": [ALICE.address()]}) == (
        200,
        {"updated": [ALICE.address()]},
    )
    status, reply = await client.call("list_accounts")
    assert reply["active"][0]["scan_height"] == 5 and reply["hidden"][0]["address"] == (
        CAROL.address()
    )
    assert await client.call("delete_accounts", {"addresses": [CAROL.address()]}) == (
        200,
        {"updated": [CAROL.address()]},
    )
    assert store.query(lambda r: r.account_id(CAROL.address())) is None
    valid = {
        "spend_public_hex": ALICE.spend_public.hex(),
        "view_public_hex": ALICE.view_public.hex(),
        "view_key_hex": ALICE.view_secret.hex(),
    }
    assert await client.call("validate", valid) == (200, {"address": ALICE.address()})
    assert await client.call("validate", {**valid, "view_key_hex": "00"}) == (
        200,
        {"error": {"field": "view_key_hex", "details": "Expected 64 characters"}},
    )


async def test_admin_keys(client: Admin, store: Store) -> None:
    bearer = {"Authorization": f"Bearer {client.key}"}
    assert (await client.call("list_accounts", auth=None, **bearer))[0] == 200
    assert (await client.call("list_accounts", auth=None, Authorization=f"bearer {client.key}"))[
        0
    ] == 200
    before = snapshot(store)
    unknown = "ab" * 32
    for auth, headers in [
        (None, {}),
        ("", {}),
        (unknown, {}),
        ("zz" * 32, {}),
        (client.key[:-1], {}),
        ("x" * 5000, {}),
        (None, {"Authorization": f"Basic {client.key}"}),
        (None, {"Authorization": f"Bearer {unknown}"}),
    ]:
        # Refused before the params are even looked at.
        for params in ({"addresses": [CAROL.address()]}, {"garbage": True}, None):
            status, reply = await client.call("delete_accounts", params, auth=auth, **headers)
            assert (status, reply) == (403, {"Error": FORBIDDEN_KEY_TEXT}), (auth, headers)
    await admin.revoke_admin_key(client.svc, RevokeAdminKeyParams(id=1), CLI)
    assert await client.call("list_accounts") == (403, {"Error": FORBIDDEN_KEY_TEXT})
    assert snapshot(store)[1] == before[1]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (None, "missing required field `params`"),
        ([], "Expected `object`"),
        ({"type": "make", "addresses": []}, "Invalid request"),
        ({"type": "create"}, "missing required field `addresses`"),
        ({"type": "create", "addresses": "4abc"}, "Expected `array`"),
        ({"type": "create", "addresses": [ALICE.address(), "4notanaddress"]}, "Invalid address"),
        ({"type": "create", "addresses": ["x" * 200]}, "Invalid request"),
        ({"type": "create", "addresses": [ALICE.address()] * 10_001}, "Invalid request"),
    ],
)
async def test_bad_params_are_400_and_write_nothing(
    client: Admin, store: Store, params: Any, reason: str
) -> None:
    store.transact(lambda w: w.create_request(wallet_request(ALICE, RequestKind.CREATE, 12)))
    before = snapshot(store)
    status, reply = await client.call("accept_requests", params)
    assert status == 400 and reason in reply["Error"], reply
    assert snapshot(store) == before


async def test_more_bad_input(client: Admin, store: Store) -> None:
    before = snapshot(store)
    for command, params in [
        ("rescan", {"height": 2**64, "addresses": []}),
        ("rescan", {"height": -1, "addresses": []}),
        ("add_account", {"address": ALICE.address(), "key": "00"}),
        ("add_account", {"address": ALICE.address(), "key": BOB.view_secret.hex()}),
        ("modify_account_status", {"status": "deleted", "addresses": [ALICE.address()]}),
        ("validate", {"spend_public_hex": 1, "view_public_hex": "", "view_key_hex": ""}),
        ("list_accounts", 7),
    ]:
        status, reply = await client.call(command, params)
        assert status == 400 and set(reply) == {"Error"}, (command, reply)
    for body in (b"{", b"[]", b'"auth"', b"\xff\xfe", b"null", b'{"auth": 5}'):
        status, reply, _ = await client.api.post("/list_accounts", body)
        assert status == 400 and set(reply) == {"Error"}, body
    assert snapshot(store) == before


async def test_conflicts_are_409_and_write_nothing(client: Admin, store: Store) -> None:
    await client.call("add_account", {"address": ALICE.address(), "key": ALICE.view_secret.hex()})
    before = snapshot(store)
    both = [ALICE.address(), BOB.address()]
    for command, params, text in [
        ("modify_account_status", {"status": "inactive", "addresses": both}, "No account for"),
        ("delete_accounts", {"addresses": both}, "No account for"),
        ("rescan", {"height": 1, "addresses": both}, "No account for"),
        ("rescan", {"height": 31, "addresses": [ALICE.address()]}, "above the chain"),
        ("accept_requests", {"type": "import", "addresses": [ALICE.address()]}, "No pending"),
        ("reject_requests", {"type": "create", "addresses": [BOB.address()]}, "No pending"),
        ("add_account", {"address": ALICE.address(), "key": ALICE.view_secret.hex()}, "exists"),
    ]:
        status, reply = await client.call(command, params)
        assert status == 409 and text in reply["Error"], (command, reply)
    assert snapshot(store) == before


async def test_transport_refusals(client: Admin) -> None:
    http = client.api.http
    for path in ("/no_such_command", "/rollback", "/"):
        response = await http.post(path, json={"auth": client.key, "params": {}})
        assert response.status_code == 404 and set(response.json()) == {"Error"}, path
    response = await http.get("/list_accounts")
    assert response.status_code == 405 and response.headers["Allow"]
    assert set(response.json()) == {"Error"}
    response = await http.put("/rescan", json={})
    assert response.status_code == 405
    body = json.dumps({"auth": client.key})
    response = await http.post(
        "/list_accounts", content=body, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415 and set(response.json()) == {"Error"}
    response = await http.post(
        "/list_accounts",
        content=b" " * 600,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413 and "accepts 512 bytes" in response.json()["Error"]
    response = await http.post(
        "/delete_accounts",
        content=b" " * (ADDRESSES_BODY + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    response = await http.get("/openapi.json")
    assert response.status_code == 200 and response.json() == ADMIN_DOC


async def test_audit_line(client: Admin, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lws.admin")
    await client.call("add_account", {"address": ALICE.address(), "key": ALICE.view_secret.hex()})
    await client.call("list_accounts")
    await client.call("modify_account_status", {"status": "inactive", "addresses": [BOB.address()]})
    lines = [r.getMessage() for r in caplog.records if r.name == "lws.admin"]
    assert lines == [f"admin: key 1 add_account from 30 {ALICE.address()}"]
    assert ALICE.view_secret.hex() not in caplog.text and client.key not in caplog.text


def test_committed_admin_document_is_current() -> None:
    assert ADMIN_DOC_PATH.read_bytes() == openapi.admin_document_bytes(), (
        "docs/admin-openapi.json is stale: "
        "python -m lws.api.openapi --admin > docs/admin-openapi.json"
    )


def test_every_command_documented_and_vice_versa() -> None:
    assert {(r.path, "post") for r in ADMIN_ROUTES} == {
        (path, method) for path, ops in ADMIN_DOC["paths"].items() for method in ops
    }
    assert ADMIN_DOC["openapi"].startswith("3.1")
