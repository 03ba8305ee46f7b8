# Issue 3's proof against the real thing: the scanner task, run against a real
# regtest monerod, leaves in the store for every account exactly what
# monero-wallet-rpc lists, candidate spends that include every real spend,
# and the scenario's pool transaction as pool outputs; every test runs with
# the local worker pool and through a real Dask cluster (--scan-cluster).
"""The scanner and store against monero-wallet-rpc as the oracle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from lws.daemon import Daemon
from lws.scan.scanner import Scanner
from lws.store import Store
from tests.support.regtest import Monerod, WalletRpc
from tests.support.scanning import add_accounts, oracle_outputs, scan_to_tip, stored_outputs
from tests.support.scenario import WALLETS, Scenario

pytestmark = pytest.mark.e2e


async def test_scanner_matches_wallet_rpc(
    tmp_path: Path, scenario: Scenario, monerod: Monerod, wallet_rpc: WalletRpc, scan_pool: Any
) -> None:
    store = Store.open(tmp_path / "store", network="regtest")
    ids = add_accounts(store, scenario.keys)
    height = monerod.height()
    await scan_to_tip(store, monerod.url, height, workers=2, pool=scan_pool)

    pool_hashes = set(monerod.pool_hashes())
    assert set(scenario.pool_txs) <= pool_hashes
    pool_key_images = set()
    for name in WALLETS:
        assert stored_outputs(store, ids[name]) == oracle_outputs(wallet_rpc, name), name
        wallet_rpc.open(name)
        spent = {
            bytes.fromhex(t["key_image"]) for t in wallet_rpc.incoming_transfers() if t["spent"]
        }
        candidates = {s.key_image for s in store.query(lambda r, i=ids[name]: r.spends(i))}
        pool_candidates = {
            s.key_image for s in store.query(lambda r, i=ids[name]: r.pool_spends(i))
        }
        pool_key_images |= pool_candidates
        assert spent <= candidates | pool_candidates, name
    # The scenario's last transfer is still in the pool: bob and carol see it as pool outputs.
    for name in ("bob", "carol"):
        pool = store.query(lambda r, i=ids[name]: r.pool_outputs(i))
        assert {o.tx_hash.hex() for o in pool} == set(scenario.pool_txs), name
        assert all(o.height is None for o in pool)
    assert store.query(lambda r: r.pool_outputs(ids["dave"])) == []
    # alice's pool spend shows as pool candidate spends
    assert store.query(lambda r: r.pool_spends(ids["alice"]))
    assert store.query(lambda r: r.check()) == []
    store.close()


async def test_pool_spends_appear_after_an_import_rejoins_the_tip(
    tmp_path: Path, scenario: Scenario, monerod: Monerod, scan_pool: Any
) -> None:
    """An account created at the tip knows none of its old outputs, so the
    pool pass finds no pool spend of them. After an import from height 0 it
    catches up and rejoins the tip with the pool unchanged: the next pool pass
    must rebuild (a memo of "same pool, same tip accounts" kept the spends out)."""
    store = Store.open(tmp_path / "store", network="regtest")
    height = monerod.height()
    alice = scenario.keys["alice"]
    alice_id = add_accounts(store, {"alice": alice}, start_height=height)["alice"]
    daemon = Daemon(monerod.url)
    scanner = Scanner(
        store, daemon, network="regtest", workers=1, poll_interval=0.2, pool=scan_pool
    )

    async def at_tip_after_a_pool_pass() -> None:
        while True:
            record = store.query(lambda r: r.account(alice_id))
            if record.scan_height >= height and scanner.status.state == "ok":
                await trio.sleep(1.0)  # several polls: the pool pass has run
                return
            await trio.sleep(0.2)

    try:
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:
                await nursery.start(scanner.run)
                await at_tip_after_a_pool_pass()
                assert store.query(lambda r: r.outputs(alice_id)) == []
                assert store.query(lambda r: r.pool_spends(alice_id)) == []
                store.transact(lambda w: w.rescan_account(alice_id, 0))
                scanner.wake()
                await at_tip_after_a_pool_pass()
                nursery.cancel_scope.cancel()
    finally:
        await daemon.aclose()
    assert store.query(lambda r: r.outputs(alice_id))
    assert store.query(lambda r: r.pool_spends(alice_id)), "alice's pool spend is missing"
    store.close()


async def test_a_pool_pass_that_changes_nothing_writes_nothing(
    tmp_path: Path, scenario: Scenario, monerod: Monerod, scan_pool: Any
) -> None:
    """Pool churn that concerns no account must not change the store: every
    cached API reply is valid only for the store generation it was read at.
    bob has an output in the scenario's pool tx; a second pool pass (forced
    by an account joining at the tip, seconds later) finds the same view
    and must leave the generation, and bob's pool output, as they were."""
    store = Store.open(tmp_path / "store", network="regtest")
    height = monerod.height()
    bob_id = add_accounts(store, {"bob": scenario.keys["bob"]})["bob"]
    daemon = Daemon(monerod.url)
    scanner = Scanner(
        store, daemon, network="regtest", workers=1, poll_interval=0.2, pool=scan_pool
    )

    async def settled() -> None:
        while True:
            heights = store.query(lambda r: [rec.scan_height for _, rec in r.accounts()])
            if min(heights) >= height and scanner.status.state == "ok":
                await trio.sleep(1.5)  # several polls: the pool pass has run
                return
            await trio.sleep(0.2)

    try:
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:
                await nursery.start(scanner.run)
                await settled()
                first = store.query(lambda r: r.pool_outputs(bob_id))
                assert {o.tx_hash.hex() for o in first} == set(scenario.pool_txs)
                add_accounts(store, {"dave": scenario.keys["dave"]}, start_height=height)
                joined = store.generation()
                scanner.wake()
                await settled()
                assert store.generation() == joined
                assert store.query(lambda r: r.pool_outputs(bob_id)) == first
                nursery.cancel_scope.cancel()
    finally:
        await daemon.aclose()
        store.close()


async def test_pool_passes_scan_only_new_txs_and_new_accounts(
    tmp_path: Path, scenario: Scenario, monerod: Monerod, scan_pool: Any
) -> None:
    """The pool is scanned again on every change of monerod's pool; what each
    tx pays to each account is kept, so a pass scans only what it has not
    seen: an account joining the tip is scanned against the txs kept, the
    accounts already there are not scanned again, and the joining account
    still finds its pool outputs (carol is paid by the scenario's pool tx)."""
    store = Store.open(tmp_path / "store", network="regtest")
    height = monerod.height()
    bob_id = add_accounts(store, {"bob": scenario.keys["bob"]})["bob"]
    daemon = Daemon(monerod.url)
    scanner = Scanner(
        store, daemon, network="regtest", workers=1, poll_interval=0.2, pool=scan_pool
    )
    pool_scans: list[tuple[int, int]] = []  # (txs, accounts) of each pool find_received
    find_received = scanner.pool.find_received

    async def counting_find_received(txs):  # type: ignore[no-untyped-def]
        pool_scans.append((len(txs), len(scanner.pool.accounts)))
        return await find_received(txs)

    scanner.pool.find_received = counting_find_received  # type: ignore[method-assign]

    async def settled() -> None:
        while True:
            heights = store.query(lambda r: [rec.scan_height for _, rec in r.accounts()])
            if min(heights) >= height and scanner.status.state == "ok":
                await trio.sleep(1.5)  # several polls: the pool pass has run
                return
            await trio.sleep(0.2)

    pool_size = len(monerod.pool_hashes())
    try:
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:
                await nursery.start(scanner.run)
                await settled()
                assert pool_scans == [(pool_size, 1)]  # bob, once
                bob_pool = store.query(lambda r: r.pool_outputs(bob_id))
                assert {o.tx_hash.hex() for o in bob_pool} == set(scenario.pool_txs)
                carol_id = add_accounts(
                    store, {"carol": scenario.keys["carol"]}, start_height=height
                )["carol"]
                scanner.wake()
                await settled()
                assert pool_scans == [(pool_size, 1), (pool_size, 1)]  # then carol alone
                carol_pool = store.query(lambda r: r.pool_outputs(carol_id))
                assert {o.tx_hash.hex() for o in carol_pool} == set(scenario.pool_txs)
                assert store.query(lambda r: r.pool_outputs(bob_id)) == bob_pool
                nursery.cancel_scope.cancel()
    finally:
        await daemon.aclose()
        store.close()
