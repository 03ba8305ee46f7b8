# Issue 3's reorg proof on a private regtest monerod + monero-wallet-rpc (the
# chain is rewritten with /pop_blocks, so never on the session daemon): a
# running Scanner follows reorgs to a chain of the same length (tip hash
# differs at equal height), to a longer one (deeper than the 11 contiguous
# history ids), and to a shorter one while the pool holds transactions; after
# each, its store equals a fresh scan of the new chain (outputs, spends, scan
# heights, chain hashes), outputs of dropped transactions are gone, and every
# wallet matches monero-wallet-rpc's incoming_transfers.
"""Reorgs against a real monerod, checked against a fresh scan and wallet-rpc."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from lws.daemon import Daemon
from lws.scan.scanner import Scanner
from lws.store import Store
from tests.support.regtest import Monerod, WalletKeys, WalletRpc
from tests.support.scanning import add_accounts, oracle_outputs, scan_to_tip, stored_outputs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ATOMIC = 10**12
#: Small lookahead (covers the subaddresses used here) keeps the scans quick.
LOOKAHEAD = (3, 20)
#: sender mines the funds; w1 and w2 receive (w2 on subaddresses too); miner2
#: mines the replacement blocks, so popped coinbase outputs change owner.
NAMES = ("sender", "w1", "w2", "miner2")
SYNC_TIMEOUT_S = 120


@dataclass
class World:
    monerod: Monerod
    wallet: WalletRpc
    keys: dict[str, WalletKeys]
    addresses: dict[str, str]
    subaddresses: dict[tuple[str, int, int], str] = field(default_factory=dict)

    def transfer(self, destinations: list[tuple[str, int]]) -> str:
        self.wallet.open("sender")
        self.wallet.refresh()
        result = self.wallet.rpc(
            "transfer",
            destinations=[{"address": a, "amount": n} for a, n in destinations],
        )
        return str(result["tx_hash"])

    def top_hash(self) -> bytes:
        header = self.monerod.rpc("get_last_block_header")["block_header"]
        return bytes.fromhex(header["hash"])

    def chain_hashes(self) -> list[bytes]:
        top = self.monerod.height() - 1
        headers = self.monerod.rpc("get_block_headers_range", start_height=0, end_height=top)
        return [bytes.fromhex(h["hash"]) for h in headers["headers"]]

    def pop(self, blocks: int) -> None:
        reply = self.monerod.call("pop_blocks", nblocks=blocks)
        assert reply["status"] == "OK", reply

    def flush_pool(self, txids: list[str] | None = None) -> None:
        self.monerod.rpc("flush_txpool", **({"txids": txids} if txids is not None else {}))

    def block_txs(self, heights: range) -> set[str]:
        found: set[str] = set()
        for height in heights:
            block = self.monerod.rpc("get_block", height=height)
            found.update(block.get("tx_hashes", []))
        return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("reorg")
    with Monerod(root / "monerod") as monerod, WalletRpc(root / "wallet", monerod) as wallet:
        keys = {name: WalletKeys(f"reorg-{name}") for name in NAMES}
        addresses = {name: wallet.create_from_keys(name, keys[name]) for name in NAMES}
        world = World(monerod, wallet, keys, addresses)
        wallet.open("w2")
        wallet.rpc("create_address", account_index=0, count=2)  # (0,1) (0,2)
        wallet.rpc("create_account")  # (1,0)
        for major, minor in ((0, 1), (0, 2), (1, 0)):
            got = wallet.rpc("get_address", account_index=major, address_index=[minor])
            world.subaddresses[("w2", major, minor)] = got["addresses"][0]["address"]
        monerod.mine(120, addresses["sender"])
        yield world


# --- driving the scanner --------------------------------------------------------


async def _synced(world: World, store: Store, scanner: Scanner) -> None:
    """Wait until the store holds exactly monerod's chain and every account is at its tip."""
    with trio.fail_after(SYNC_TIMEOUT_S):
        while True:
            height = await trio.to_thread.run_sync(world.monerod.height)
            top_hash = await trio.to_thread.run_sync(world.top_hash)
            top = store.query(lambda r: r.chain_top())
            heights = store.query(lambda r: {rec.scan_height for _, rec in r.accounts()})
            if (
                top == (height - 1, top_hash)
                and heights == {height}
                and scanner.status.state == "ok"
            ):
                await trio.sleep(0.8)  # a pool pass (poll interval 0.2)
                return
            await trio.sleep(0.2)


class Running:
    """One Scanner on one store, started and stopped (same object) around chain edits."""

    def __init__(self, world: World, store: Store) -> None:
        self.world = world
        self.store = store
        self.daemon = Daemon(world.monerod.url)
        self.scanner = Scanner(store, self.daemon, network="regtest", workers=1, poll_interval=0.2)
        self._cancel: trio.CancelScope | None = None

    async def start(self, nursery: trio.Nursery) -> None:
        # the scanner runs in its own child nursery so that stop() ends only it
        async def host(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as inner:
                    await inner.start(self.scanner.run)
                    task_status.started(scope)

        self._cancel = await nursery.start(host)

    def stop(self) -> None:
        assert self._cancel is not None
        self._cancel.cancel()
        self._cancel = None

    async def synced(self) -> None:
        await _synced(self.world, self.store, self.scanner)


async def _run(world: World, fn: Any, *args: Any) -> Any:
    return await trio.to_thread.run_sync(fn, *args)


# --- what must hold after a reorg -------------------------------------------------


def _records(store: Store, account_id: int) -> dict[str, Any]:
    def read(reader):  # type: ignore[no-untyped-def]
        record = reader.account(account_id)
        return {
            "scan_height": record.scan_height,
            "outputs": sorted(
                reader.outputs(account_id), key=lambda o: (o.tx_index, o.output_index)
            ),
            "spends": sorted(
                reader.spends(account_id),
                key=lambda s: (s.tx_index, s.key_image, s.source_global_index),
            ),
            "pool_outputs": sorted(
                (o.tx_hash, o.output_index, o.amount, o.output_key)
                for o in reader.pool_outputs(account_id)
            ),
            "pool_spends": sorted(
                (s.tx_hash, s.key_image, s.source_global_index)
                for s in reader.pool_spends(account_id)
            ),
        }

    return store.query(read)


async def _check_against_fresh_scan_and_oracle(
    world: World,
    store: Store,
    ids: dict[str, int],
    tmp_path: Path,
    *,
    dropped: set[str],
    oracle: bool = True,
) -> None:
    """``oracle`` False: skip wallet-rpc. wallet2 does not notice a reorg to a
    SHORTER chain (monerod's reply starts at its top, a block wallet2 already
    has) until a block above it arrives; it keeps the popped blocks' outputs."""
    height = await _run(world, world.monerod.height)
    chain = await _run(world, world.chain_hashes)
    assert len(chain) == height
    stored_chain = store.query(lambda r: [r.hash_at(h) for h in range(height + 1)])
    assert stored_chain == [*chain, None], "the stored chain is not monerod's chain"

    fresh = Store.open(tmp_path / f"fresh-{height}-{chain[-1].hex()[:8]}", network="regtest")
    try:
        fresh_ids = add_accounts(fresh, world.keys, lookahead=LOOKAHEAD)
        await scan_to_tip(fresh, world.monerod.url, height, workers=1)
        assert fresh.query(lambda r: [r.hash_at(h) for h in range(height)]) == chain
        for name in NAMES:
            assert _records(store, ids[name]) == _records(fresh, fresh_ids[name]), name
    finally:
        fresh.close()

    in_chain = await _run(world, world.block_txs, range(height))
    for name in NAMES:
        records = store.query(lambda r, i=ids[name]: (r.outputs(i), r.spends(i)))
        for record in (*records[0], *records[1]):
            assert record.tx_hash.hex() not in dropped - in_chain, f"{name}: dropped tx kept"
        if oracle:
            listed = await _run(world, oracle_outputs, world.wallet, name)
            assert stored_outputs(store, ids[name]) == listed, name
    assert store.query(lambda r: r.check()) == []


def _outputs_of(store: Store, account_id: int) -> set[str]:
    return {o.tx_hash.hex() for o in store.query(lambda r: r.outputs(account_id))}


def _spends_of(store: Store, account_id: int) -> set[str]:
    return {s.tx_hash.hex() for s in store.query(lambda r: r.spends(account_id))}


def _pool_outputs_of(store: Store, account_id: int) -> set[str]:
    return {o.tx_hash.hex() for o in store.query(lambda r: r.pool_outputs(account_id))}


# --- the reorgs --------------------------------------------------------------------


async def test_reorg_to_a_chain_of_the_same_length(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Pop 4 blocks holding 3 transfers, mine 4 others: same height, another tip."""
    sub = world.subaddresses
    store = Store.open(tmp_path / "store", network="regtest")
    ids = add_accounts(store, world.keys, lookahead=LOOKAHEAD)
    running = Running(world, store)
    try:
        async with trio.open_nursery() as nursery:
            await running.start(nursery)
            t1 = await _run(world, world.transfer, [(world.addresses["w1"], 3 * ATOMIC)])
            t2 = await _run(world, world.transfer, [(sub[("w2", 0, 1)], 2 * ATOMIC)])
            await _run(world, world.monerod.mine, 1, world.addresses["sender"])
            t3 = await _run(
                world,
                world.transfer,
                [(world.addresses["w1"], ATOMIC // 3), (sub[("w2", 1, 0)], ATOMIC // 5)],
            )
            await _run(world, world.monerod.mine, 3, world.addresses["sender"])
            await running.synced()
            dropped = {t1, t2, t3}
            assert {t1, t3} <= _outputs_of(store, ids["w1"])
            assert {t2, t3} <= _outputs_of(store, ids["w2"])
            assert dropped <= _spends_of(store, ids["sender"])
            before_height = await _run(world, world.monerod.height)
            before_top = await _run(world, world.top_hash)

            # the scanner is paused: it sees only the final chain, equal in length
            running.stop()
            await _run(world, world.pop, 4)
            await _run(world, world.flush_pool)
            await _run(world, world.monerod.mine, 4, world.addresses["miner2"])
            assert await _run(world, world.monerod.height) == before_height
            assert await _run(world, world.top_hash) != before_top
            with caplog.at_level(logging.WARNING, logger="lws.scan.scanner"):
                await running.start(nursery)
                await running.synced()
            running.stop()
        assert any("reorg" in r.getMessage() for r in caplog.records)
        assert not dropped & _outputs_of(store, ids["w1"])
        assert not dropped & _outputs_of(store, ids["w2"])
        assert not dropped & _spends_of(store, ids["sender"])
        await _check_against_fresh_scan_and_oracle(world, store, ids, tmp_path, dropped=dropped)
    finally:
        await running.daemon.aclose()
        store.close()


async def test_reorg_to_a_longer_chain_deeper_than_the_history(
    world: World, tmp_path: Path
) -> None:
    """Pop 14 blocks (past the 11 contiguous ids of the history), mine 17 others,
    while the scanner keeps running."""
    sub = world.subaddresses
    store = Store.open(tmp_path / "store", network="regtest")
    ids = add_accounts(store, world.keys, lookahead=LOOKAHEAD)
    running = Running(world, store)
    try:
        async with trio.open_nursery() as nursery:
            await running.start(nursery)
            t1 = await _run(world, world.transfer, [(sub[("w2", 0, 2)], ATOMIC + 7)])
            await _run(world, world.monerod.mine, 2, world.addresses["sender"])
            t2 = await _run(
                world,
                world.transfer,
                [(world.addresses["w1"], ATOMIC), (world.addresses["w2"], ATOMIC // 2)],
            )
            await _run(world, world.monerod.mine, 12, world.addresses["sender"])
            await running.synced()
            dropped = {t1, t2}
            assert {t1, t2} <= _outputs_of(store, ids["w2"])
            before_height = await _run(world, world.monerod.height)
            miner2_before = _outputs_of(store, ids["miner2"])

            await _run(world, world.pop, 14)
            await _run(world, world.flush_pool)
            await _run(world, world.monerod.mine, 17, world.addresses["miner2"])
            assert await _run(world, world.monerod.height) == before_height + 3
            await running.synced()
            running.stop()
        assert not dropped & _outputs_of(store, ids["w1"])
        assert not dropped & _outputs_of(store, ids["w2"])
        assert not dropped & _spends_of(store, ids["sender"])
        assert len(_outputs_of(store, ids["miner2"]) - miner2_before) == 17  # new coinbases
        await _check_against_fresh_scan_and_oracle(world, store, ids, tmp_path, dropped=dropped)
    finally:
        await running.daemon.aclose()
        store.close()


async def test_reorg_while_the_pool_holds_transactions(world: World, tmp_path: Path) -> None:
    """A mined transfer is popped back into the pool beside one that never left it
    (the chain gets shorter), then the new chain mines them (or leaves one pooled)."""
    sub = world.subaddresses
    store = Store.open(tmp_path / "store", network="regtest")
    ids = add_accounts(store, world.keys, lookahead=LOOKAHEAD)
    running = Running(world, store)
    try:
        async with trio.open_nursery() as nursery:
            await running.start(nursery)
            mined = await _run(world, world.transfer, [(world.addresses["w1"], 2 * ATOMIC)])
            await _run(world, world.monerod.mine, 2, world.addresses["sender"])
            pooled = await _run(world, world.transfer, [(sub[("w2", 0, 1)], ATOMIC // 2)])
            await running.synced()
            assert mined in _outputs_of(store, ids["w1"])
            assert _pool_outputs_of(store, ids["w2"]) == {pooled}

            # pop without flushing: the mined transfer returns to the pool
            await _run(world, world.pop, 2)
            assert set(await _run(world, world.monerod.pool_hashes)) == {mined, pooled}
            await running.synced()
            assert mined not in _outputs_of(store, ids["w1"])
            assert _pool_outputs_of(store, ids["w1"]) == {mined}
            assert _pool_outputs_of(store, ids["w2"]) == {pooled}
            await _check_against_fresh_scan_and_oracle(
                world, store, ids, tmp_path, dropped={mined}, oracle=False
            )

            # the new chain mines what monerod finds ready
            await _run(world, world.monerod.mine, 3, world.addresses["miner2"])
            # The template may leave a tx in the pool: after the pop its newest ring
            # members are younger than the spendable age again (seen: `pooled`).
            left = set(await _run(world, world.monerod.pool_hashes))
            assert left < {mined, pooled}, "the new chain mined neither transfer"
            await running.synced()
            running.stop()
        for name, txid in (("w1", mined), ("w2", pooled)):
            assert (txid in _outputs_of(store, ids[name])) == (txid not in left), name
            assert _pool_outputs_of(store, ids[name]) == {txid} & left, name
        await _check_against_fresh_scan_and_oracle(world, store, ids, tmp_path, dropped=set())
    finally:
        await running.daemon.aclose()
        store.close()
