# Owns the tests of the last access notes (lws/services/access.py) on a real
# store: the wallet API's calls that check a view key note the account, a
# flush writes only accounts that exist, list_accounts and the console's
# search show the time, a deleted account's notes do not come back, and the
# task flushes once more when it stops.
from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

from lws.config import Config
from lws.daemon import Daemon
from lws.errors import Forbidden
from lws.services import account_data, accounts, admin, console
from lws.services.access import last_access
from lws.services.admin import Caller
from lws.services.context import Services
from lws.store import Store
from lws.wire.admin import AddressesParams
from lws.wire.requests import AccountRequest, LoginRequest
from tests.support.regtest import WalletKeys, free_port
from tests.support.wallets import add_wallet

ALICE, BOB, CAROL = WalletKeys("alice"), WalletKeys("bob"), WalletKeys("carol")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "store", network="regtest") as opened:
        opened.transact(lambda w: w.add_block_hashes(0, [n.to_bytes(32, "big") for n in range(5)]))
        for keys in (ALICE, BOB):
            opened.transact(lambda w, k=keys: add_wallet(w, k, start_height=0, created=100))
        yield opened


@pytest.fixture
async def svc(tmp_path: Path, store: Store) -> AsyncIterator[Services]:
    daemon = Daemon(f"http://127.0.0.1:{free_port()}", timeout=1)  # never called
    yield Services(Config(network="regtest", data_dir=str(tmp_path)), store, daemon)
    await daemon.aclose()


def creds(keys: WalletKeys) -> dict[str, str]:
    return {"address": keys.address(), "view_key": keys.view_secret.hex()}


async def test_calls_that_prove_the_view_key_are_noted_and_flushed(
    svc: Services, tmp_path: Path
) -> None:
    before = int(time.time())
    await accounts.login(svc, LoginRequest(**creds(ALICE), create_account=False))
    await account_data.get_address_info(svc, AccountRequest(**creds(BOB)))
    await account_data.get_address_info(svc, AccountRequest(**creds(BOB)))  # a cached reply
    with pytest.raises(Forbidden):  # a wrong view key is no access
        await account_data.get_address_info(
            svc, AccountRequest(address=CAROL.address(), view_key=ALICE.view_secret.hex())
        )
    assert await last_access(tmp_path, [ALICE.address()]) == {}  # not before the flush
    assert await svc.access.flush(svc.store) == 2
    seen = await last_access(tmp_path, [ALICE.address(), BOB.address(), CAROL.address()])
    assert set(seen) == {ALICE.address(), BOB.address()}
    assert all(before <= when <= time.time() for when in seen.values())

    listed = await admin.list_accounts(svc)
    assert listed.active is not None
    assert {entry.address: entry.access_time for entry in listed.active} == seen
    found = await console.search_accounts(svc, "", None)
    assert {row.address: row.last_access for row in found.rows} == seen


async def test_accounts_that_do_not_exist_are_not_written(svc: Services, tmp_path: Path) -> None:
    svc.access.note(CAROL.address())  # no such account
    svc.access.note(ALICE.address())
    await admin.delete_accounts(svc, AddressesParams(addresses=[ALICE.address()]), Caller("t"))
    svc.access.note(ALICE.address())  # a request that was under way during the deletion
    assert await svc.access.flush(svc.store) == 0
    assert await last_access(tmp_path, [ALICE.address(), CAROL.address()]) == {}
    listed = await admin.list_accounts(svc)
    assert listed.active is not None
    assert [e.access_time for e in listed.active] == [100]  # BOB: never used: its creation


async def test_a_deletion_drops_the_time_already_written(svc: Services, tmp_path: Path) -> None:
    await account_data.get_address_info(svc, AccountRequest(**creds(BOB)))
    await svc.access.flush(svc.store)
    assert BOB.address() in await last_access(tmp_path, [BOB.address()])
    await admin.delete_accounts(svc, AddressesParams(addresses=[BOB.address()]), Caller("t"))
    assert await last_access(tmp_path, [BOB.address()]) == {}


async def test_the_task_flushes_when_it_stops(svc: Services, tmp_path: Path) -> None:
    svc.access.interval = 3600  # only the final flush can write
    async with trio.open_nursery() as nursery:
        await nursery.start(svc.access.run, svc.store)
        await account_data.get_address_info(svc, AccountRequest(**creds(ALICE)))
        nursery.cancel_scope.cancel()
    assert ALICE.address() in await last_access(tmp_path, [ALICE.address()])
