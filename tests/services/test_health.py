# Owns the tests of lws/services/health.py against a real regtest monerod and
# a real store and scanner: readiness with each reason (scanner not started,
# monerod unreachable, another network, the store's chain behind, a closed
# store) and ready once the scanner is at the tip; the state snapshot
# (accounts by status, pending requests, store usage) and the scrape built
# from it.
"""Readiness and the server's state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

from lws.config import Config
from lws.daemon import Daemon
from lws.scan import Scanner
from lws.services import health
from lws.services.context import Services
from lws.store import AccountStatus, RequestKind, Store
from tests.api.conftest import add_account
from tests.support.regtest import Monerod, WalletKeys, free_port
from tests.support.wallets import wallet_request
from tests.test_metrics import value

pytestmark = pytest.mark.e2e


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "store", network="regtest") as opened:
        yield opened


@pytest.fixture
async def daemon(monerod: Monerod) -> AsyncIterator[Daemon]:
    client = Daemon(monerod.url, timeout=10)
    yield client
    await client.aclose()


def services(
    store: Store, daemon: Daemon, scanner: Scanner | None = None, **config: object
) -> Services:
    return Services(
        Config(network="regtest", **config),  # type: ignore[arg-type]
        store,
        daemon,
        (lambda: scanner.status) if scanner is not None else None,
    )


async def test_not_ready_until_the_scanner_reaches_the_tip(
    store: Store, daemon: Daemon, monerod: Monerod
) -> None:
    scanner = Scanner(store, daemon, network="regtest", workers=1, poll_interval=0.2)
    svc = services(store, daemon, scanner)
    before = await health.readiness(svc)
    assert not before.ready
    assert "the scanner has not finished its first round" in before.reasons
    assert before.daemon_height == monerod.height()
    async with trio.open_nursery() as nursery:
        await nursery.start(scanner.run)
        with trio.fail_after(60):
            while not (reply := await health.readiness(svc)).ready:
                await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    assert reply.reasons == []
    assert reply.scanner_state == "ok"
    assert reply.lag_blocks <= 1
    assert reply.scan_height >= reply.daemon_height - 1


async def test_reasons_when_monerod_is_down_or_another_network(store: Store) -> None:
    dead = Daemon(f"http://127.0.0.1:{free_port()}", timeout=2)
    try:
        reply = await health.readiness(services(store, dead))
    finally:
        await dead.aclose()
    assert not reply.ready
    assert any(r.startswith("monerod is not answering") for r in reply.reasons)
    assert reply.daemon_height == 0 and reply.lag_blocks == 0


async def test_wrong_network_is_a_reason(tmp_path: Path, daemon: Daemon) -> None:
    with Store.open(tmp_path / "mainnet", network="mainnet") as mainnet_store:
        svc = Services(Config(network="mainnet"), mainnet_store, daemon)
        reply = await health.readiness(svc)
    assert any("fakechain" in r and "mainnet" in r for r in reply.reasons)


async def test_a_store_far_below_monerod_is_not_ready(
    store: Store, daemon: Daemon, monerod: Monerod
) -> None:
    # An empty store holds no block: it trails monerod by its whole height.
    if monerod.height() <= 10:
        monerod.mine(11, WalletKeys("health-miner").address())
    reply = await health.readiness(services(store, daemon, ready_max_lag_blocks=10))
    assert reply.lag_blocks == monerod.height()
    assert f"the scanner is {monerod.height()} blocks behind monerod (ready within 10)" in (
        reply.reasons
    )


async def test_a_closed_store_is_a_reason(tmp_path: Path, daemon: Daemon) -> None:
    closed = Store.open(tmp_path / "closed", network="regtest")
    closed.close()
    reply = await health.readiness(services(closed, daemon))
    assert any(r.startswith("the store cannot be read") for r in reply.reasons)


async def test_state_and_scrape(store: Store, daemon: Daemon) -> None:
    alice, bob, carol = WalletKeys("health-a"), WalletKeys("health-b"), WalletKeys("health-c")
    add_account(store, alice)
    add_account(store, bob, status=AccountStatus.INACTIVE)
    store.transact(lambda w: w.create_request(wallet_request(carol, RequestKind.IMPORT, 0)))
    svc = services(store, daemon)
    state = await health.server_state(svc)
    assert state.accounts == {"active": 1, "inactive": 1, "hidden": 0}
    assert state.requests == {"create": 0, "import": 1}
    assert 0 < state.usage.used_bytes <= state.usage.map_bytes <= state.usage.max_map_bytes
    assert state.usage.readers >= 1
    body, _ = await health.scrape(svc)
    assert value(body, "lws_accounts", status="inactive") == 1
    assert value(body, "lws_requests_pending", type="import") == 1
    assert value(body, "lws_store_map_bytes") == state.usage.map_bytes
    text = body.decode()
    for keys in (alice, bob, carol):
        assert keys.address() not in text
        assert keys.view_secret.hex() not in text
