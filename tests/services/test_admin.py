# Owns the tests of the operator services (lws/services/admin.py) on a real
# store: the approval queue, accounts (add, status, rescan, delete),
# rollback, validate against monero-lws's checks, admin keys (shown once,
# stored hashed, refused once revoked), bad input refused before anything is
# written, the audit line, and where a new account starts (the chain tip
# lws has seen; 503 before it has heard from monerod).
from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from lws.config import Config
from lws.daemon import Daemon
from lws.errors import ClientError, Conflict, Forbidden, Unavailable
from lws.monero.address import Network, make_address
from lws.scan.status import ScannerStatus
from lws.services import accounts, admin
from lws.services.admin import CLI, Caller
from lws.services.context import Services
from lws.store import AccountBatch, AccountStatus, RequestKind, Store
from lws.wire.admin import (
    AddAccountParams,
    AddressesParams,
    CreateAdminKeyParams,
    ModifyAccountStatusParams,
    RequestsParams,
    RescanParams,
    RevokeAdminKeyParams,
    RollbackParams,
    ValidateParams,
)
from lws.wire.requests import LoginRequest
from tests.support.records import output_record
from tests.support.regtest import WalletKeys, free_port
from tests.support.wallets import add_wallet, wallet_request

ALICE, BOB, CAROL = WalletKeys("alice"), WalletKeys("bob"), WalletKeys("carol")
KEY = Caller("key 1")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "store", network="regtest") as opened:
        yield opened


@pytest.fixture
async def daemon() -> AsyncIterator[Daemon]:
    client = Daemon(f"http://127.0.0.1:{free_port()}", timeout=1)  # never called
    yield client
    await client.aclose()


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
def svc(store: Store, daemon: Daemon, wakes: Wakes) -> Services:
    return Services(Config(network="regtest"), store, daemon, wake_scanner=wakes)


def chain(store: Store, blocks: int) -> None:
    store.transact(lambda w: w.add_block_hashes(0, [n.to_bytes(32, "big") for n in range(blocks)]))


def add(store: Store, keys: WalletKeys, start: int = 0) -> int:
    return store.transact(lambda w: add_wallet(w, keys, start_height=start, created=123))


def snapshot(store: Store) -> Any:
    """Everything an admin command may change, to prove a refusal wrote nothing."""

    def read(r: Any) -> Any:
        return (
            [(i, rec.status, rec.scan_height, rec.start_height) for i, rec in r.accounts()],
            [(q.kind, q.address) for q in r.requests()],
            r.chain_top(),
            r.accounts_version,
        )

    return store.query(read), store.generation()


async def test_the_approval_queue(svc: Services, store: Store, wakes: Wakes) -> None:
    store.transact(lambda w: w.create_request(wallet_request(ALICE, RequestKind.CREATE, 7)))
    store.transact(lambda w: w.create_request(wallet_request(BOB, RequestKind.CREATE, 8)))
    listed = await admin.list_requests(svc)
    assert listed.import_ is None
    assert [(e.address, e.start_height) for e in listed.create or []] == sorted(
        [(ALICE.address(), 7), (BOB.address(), 8)]
    )
    names = [ALICE.address(), ALICE.address()]  # named twice: accepted once
    reply = await admin.accept_requests(svc, RequestsParams(type="create", addresses=names), KEY)
    assert reply.updated == [ALICE.address()] and wakes.count == 1
    found = store.query(lambda r: r.account_by_address(ALICE.address()))
    assert found is not None and found[1].start_height == 7
    assert found[1].status == AccountStatus.ACTIVE
    reply = await admin.reject_requests(
        svc, RequestsParams(type="create", addresses=[BOB.address()]), KEY
    )
    assert reply.updated == [BOB.address()]
    assert (await admin.list_requests(svc)).create is None
    # An import request of the new account, accepted: a rescan from its height.
    store.transact(lambda w: w.create_request(wallet_request(ALICE, RequestKind.IMPORT, 2)))
    listed = await admin.list_requests(svc)
    assert [e.address for e in listed.import_ or []] == [ALICE.address()]
    await admin.accept_requests(
        svc, RequestsParams(type="import", addresses=[ALICE.address()]), KEY
    )
    found = store.query(lambda r: r.account_by_address(ALICE.address()))
    assert found is not None and (found[1].start_height, found[1].scan_height) == (2, 2)
    assert await admin.accept_requests(svc, RequestsParams(type="create", addresses=[]), KEY) == (
        admin.UpdatedReply(updated=[])
    )


async def test_refusals_write_nothing(svc: Services, store: Store, wakes: Wakes) -> None:
    chain(store, 10)
    add(store, ALICE)
    store.transact(lambda w: w.create_request(wallet_request(BOB, RequestKind.CREATE, 3)))
    before = snapshot(store)
    stagenet = make_address(Network.STAGENET, CAROL.spend_public, CAROL.view_public)
    sub = make_address(Network.MAINNET, CAROL.spend_public, CAROL.view_public, subaddress=True)
    bad_addresses = [[BOB.address(), "4notanaddress"], [BOB.address(), stagenet], [sub]]
    for addresses in bad_addresses:
        for call in (
            admin.accept_requests(svc, RequestsParams(type="create", addresses=addresses), KEY),
            admin.reject_requests(svc, RequestsParams(type="create", addresses=addresses), KEY),
            admin.modify_account_status(
                svc, ModifyAccountStatusParams(status="hidden", addresses=addresses), KEY
            ),
            admin.rescan(svc, RescanParams(height=1, addresses=addresses), KEY),
            admin.delete_accounts(svc, AddressesParams(addresses=addresses), KEY),
        ):
            with pytest.raises(ClientError, match="Invalid address"):
                await call
    # Known first, unknown second: the whole call is refused, nothing written.
    both = [ALICE.address(), CAROL.address()]
    conflicts = (
        (
            admin.accept_requests(
                svc, RequestsParams(type="create", addresses=[BOB.address(), CAROL.address()]), KEY
            ),
            "No pending create request",
        ),
        (
            admin.accept_requests(
                svc, RequestsParams(type="import", addresses=[BOB.address()]), KEY
            ),
            "No pending import",
        ),
        (
            admin.accept_requests(
                svc, RequestsParams(type="create", addresses=[ALICE.address()]), KEY
            ),
            "No pending create",
        ),
        (
            admin.reject_requests(
                svc, RequestsParams(type="create", addresses=[BOB.address(), ALICE.address()]), KEY
            ),
            "No pending create",
        ),
        (
            admin.modify_account_status(
                svc, ModifyAccountStatusParams(status="hidden", addresses=both), KEY
            ),
            "No account for",
        ),
        (admin.rescan(svc, RescanParams(height=1, addresses=both), KEY), "No account for"),
        (
            admin.rescan(svc, RescanParams(height=11, addresses=[ALICE.address()]), KEY),
            "above the chain",
        ),
        (admin.delete_accounts(svc, AddressesParams(addresses=both), KEY), "No account for"),
        (admin.rollback(svc, RollbackParams(height=11), KEY), "above the chain"),
        (
            admin.add_account(
                svc, AddAccountParams(address=ALICE.address(), key=ALICE.view_secret.hex()), KEY
            ),
            "exists already",
        ),
        (admin.revoke_admin_key(svc, RevokeAdminKeyParams(id=5), KEY), "No admin key 5"),
    )
    for call, text in conflicts:
        with pytest.raises(Conflict, match=text):
            await call
    with pytest.raises(ClientError, match="does not match"):
        await admin.add_account(
            svc, AddAccountParams(address=CAROL.address(), key=ALICE.view_secret.hex()), KEY
        )
    assert snapshot(store) == before and wakes.count == 0


async def test_add_account_starts_at_the_tip_lws_has_seen(
    store: Store, daemon: Daemon, svc: Services
) -> None:
    params = AddAccountParams(address=ALICE.address(), key=ALICE.view_secret.hex())
    with pytest.raises(Conflict, match="give a height"):  # the CLI on an empty store
        await admin.add_account(svc, params, CLI)
    status = [ScannerStatus()]
    running = Services(Config(network="regtest"), store, daemon, lambda: status[0])
    with pytest.raises(Unavailable, match="not heard from monerod"):
        await admin.add_account(running, params, KEY)
    with pytest.raises(Unavailable, match="not heard from monerod"):
        await accounts.login(
            running,
            LoginRequest(
                address=BOB.address(), view_key=BOB.view_secret.hex(), create_account=True
            ),
        )
    assert store.query(lambda r: (r.count_accounts(), r.count_requests())) == (0, 0)
    status[0] = ScannerStatus(daemon_height=40)
    chain(store, 30)  # the scanner is behind monerod: the tip seen is monerod's
    store.transact(lambda w: w.create_request(wallet_request(ALICE, RequestKind.CREATE, 3)))
    await admin.add_account(running, params, KEY)
    reply = await accounts.login(
        running,
        LoginRequest(address=BOB.address(), view_key=BOB.view_secret.hex(), create_account=True),
    )
    assert reply.start_height == 40
    with store.read() as r:
        found = r.account_by_address(ALICE.address())
        assert found is not None and (found[1].start_height, found[1].scan_height) == (40, 40)
        assert r.request(RequestKind.CREATE, ALICE.address()) is None  # fulfilled
        pending = r.request(RequestKind.CREATE, BOB.address())
        assert pending is not None and pending.start_height == 40
    # An existing account's login never waits for monerod.
    status[0] = ScannerStatus()
    await accounts.login(
        running, LoginRequest(address=ALICE.address(), view_key=ALICE.view_secret.hex())
    )
    from_height = AddAccountParams(
        address=CAROL.address(), key=CAROL.view_secret.hex(), from_height=5
    )
    await admin.add_account(running, from_height, KEY)
    found = store.query(lambda r: r.account_by_address(CAROL.address()))
    assert found is not None and found[1].start_height == 5


async def test_status_rescan_delete_rollback(svc: Services, store: Store, wakes: Wakes) -> None:
    alice, bob = add(store, ALICE), add(store, BOB)
    outs = tuple(
        output_record(height=h, position=0, global_index=h, amount=1000 + h) for h in (2, 6)
    )
    store.transact(
        lambda w: w.add_block_batch(
            0, [n.to_bytes(32, "big") for n in range(10)], {alice: AccountBatch(0, 10, outs)}
        )
    )
    store.transact(lambda w: w.add_block_batch(0, [], {bob: AccountBatch(0, 10)}))
    await admin.modify_account_status(
        svc, ModifyAccountStatusParams(status="inactive", addresses=[BOB.address()]), KEY
    )
    listed = await admin.list_accounts(svc)
    assert [(e.address, e.scan_height, e.access_time) for e in listed.active or []] == [
        (ALICE.address(), 10, 123)
    ]
    assert [e.address for e in listed.inactive or []] == [BOB.address()]
    assert listed.hidden is None
    await admin.rescan(svc, RescanParams(height=4, addresses=[ALICE.address()]), KEY)
    with store.read() as r:
        record = r.account(alice)
        assert record is not None and record.scan_height == 4
        assert [o.height for o in r.outputs(alice)] == [2]
    await admin.rollback(svc, RollbackParams(height=3), CLI)
    with store.read() as r:
        assert r.chain_top() == (2, (2).to_bytes(32, "big"))
        assert [rec.scan_height for _, rec in r.accounts()] == [3, 3]
    await admin.delete_accounts(svc, AddressesParams(addresses=[ALICE.address()]), KEY)
    with store.read() as r:
        assert r.account(alice) is None and r.outputs(alice) == []
        assert r.check() == []
    assert wakes.count == 4
    listed = await admin.list_accounts(svc)
    assert listed.active is None and [e.address for e in listed.inactive or []] == [BOB.address()]


def validate(**fields: str) -> ValidateParams:
    base = {
        "spend_public_hex": ALICE.spend_public.hex(),
        "view_public_hex": ALICE.view_public.hex(),
        "view_key_hex": ALICE.view_secret.hex(),
    }
    return ValidateParams(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "field", "details"),
    [
        ({"view_public_hex": ALICE.spend_public.hex()}, "spend_public_hex", "should not be equal"),
        ({"spend_public_hex": "ab"}, "spend_public_hex", "Expected 64 characters"),
        ({"view_public_hex": "zz" * 32}, "view_public_hex", "Invalid hex"),
        ({"view_key_hex": "0" * 63}, "view_key_hex", "Expected 64 characters"),
        ({"spend_public_hex": "ff" * 32}, "spend_public_hex", "Invalid public key format"),
        ({"view_key_hex": BOB.view_secret.hex()}, "view_key_hex", "do not match"),
        ({"view_key_hex": "ff" * 32}, "view_key_hex", "do not match"),
    ],
)
async def test_validate_errors(
    svc: Services, fields: dict[str, str], field: str, details: str
) -> None:
    reply = await admin.validate(svc, validate(**fields))
    assert reply.address is None and reply.error is not None
    assert reply.error.field == field and details in reply.error.details


async def test_validate_ok(svc: Services) -> None:
    assert (await admin.validate(svc, validate())).address == ALICE.address()


async def test_admin_keys(svc: Services, store: Store) -> None:
    created = await admin.create_admin_key(svc, CreateAdminKeyParams(name="ops"), CLI)
    other = await admin.create_admin_key(svc, CreateAdminKeyParams(), CLI)
    assert (created.id, other.id, created.name) == (1, 2, "ops")
    assert len(created.key) == 64 and created.key != other.key
    # Only the hash is stored: the key's bytes are nowhere in the store's file.
    data = (store.path / "data.mdb").read_bytes()
    assert bytes.fromhex(created.key) not in data and created.key.encode() not in data
    assert hashlib.sha256(bytes.fromhex(created.key)).digest() in data
    listed = await admin.list_admin_keys(svc)
    assert [(k.id, k.name) for k in listed.keys] == [(1, "ops"), (2, "")]
    assert created.key not in repr(listed)
    assert await admin.authenticate(svc, created.key) == Caller("key 1")
    assert await admin.authenticate(svc, created.key.upper()) == Caller("key 1")
    assert await admin.authenticate(svc, other.key) == Caller("key 2")
    await admin.revoke_admin_key(svc, RevokeAdminKeyParams(id=1), CLI)
    for bad in (None, "", created.key, "zz" * 32, other.key[:-2], other.key + "00", "0" * 64):
        with pytest.raises(Forbidden):
            await admin.authenticate(svc, bad)
    with pytest.raises(ClientError, match="printable"):
        await admin.create_admin_key(svc, CreateAdminKeyParams(name="a\x1b[2Jb"), CLI)


async def test_audit_lines(svc: Services, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.transact(lambda w: w.create_request(wallet_request(ALICE, RequestKind.CREATE, 1)))
    caplog.set_level(logging.INFO, logger="lws.admin")
    await admin.list_requests(svc)
    await admin.list_accounts(svc)
    assert caplog.records == []  # reads are not logged
    await admin.accept_requests(
        svc, RequestsParams(type="create", addresses=[ALICE.address()]), KEY
    )
    await admin.add_account(
        svc,
        AddAccountParams(address=BOB.address(), key=BOB.view_secret.hex(), from_height=0),
        KEY,
    )
    created = await admin.create_admin_key(svc, CreateAdminKeyParams(name="n"), CLI)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"admin: key 1 accept_requests create {ALICE.address()}",
        f"admin: key 1 add_account from 0 {BOB.address()}",
        "admin: cli create_admin_key id 1 'n'",
    ]
    text = "\n".join(lines)
    for secret in (ALICE.view_secret.hex(), BOB.view_secret.hex(), created.key):
        assert secret not in text


def test_audit_line_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lws.admin")
    admin._audit(KEY, "delete_accounts", "", [f"A{n}" for n in range(120)])
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.endswith("A49 (+70 more)") and "A50" not in line
