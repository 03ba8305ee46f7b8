# Issue 18's proof of `lws serve --scan-cluster` against the real things: a
# real regtest monerod, a real Dask LocalCluster (scheduler + 2 worker
# processes on loopback, in their own process group). A worker killed in the
# middle of the scanner's batch: its slice runs elsewhere and the store
# equals a clean scan with the local pool. The scheduler stopped dead under
# a running `lws serve`: the scanner logs one line, backs off, the API keeps
# answering from the store, and the scan resumes when the scheduler is back
# on the same port. (The regtest oracle tests run through the cluster too:
# test_scanner_oracle.py.)
"""The scanner on a Dask cluster: worker and scheduler faults."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import trio

from lws.monero.address import Network, make_address
from lws.monero.ed25519 import base_mul, scalar_reduce
from lws.monero.hashing import keccak256
from lws.store import AccountStatus, Store
from tests.conftest import LwsProcess
from tests.support.regtest import Monerod
from tests.support.scanning import add_accounts, scan_to_tip, stored_outputs
from tests.support.scenario import Scenario

distributed = pytest.importorskip("distributed")

from lws.scan.cluster import ClusterPool  # noqa: E402
from tests.support.dask_cluster import DaskCluster  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Accounts that own nothing, added to make a batch last seconds (the kill
#: must land in the middle of one): each costs a derivation per tx key.
BUSY_ACCOUNTS = 4000


def add_busy_accounts(store: Store, count: int) -> None:
    def write(writer):  # type: ignore[no-untyped-def]
        for i in range(count):
            secret = scalar_reduce(keccak256(b"cluster-busy %d" % i))
            spend = base_mul(scalar_reduce(keccak256(b"cluster-busy-spend %d" % i)))
            view = base_mul(secret)
            writer.add_account(
                make_address(Network.MAINNET, spend, view),
                view_secret=secret,
                spend_public=spend,
                view_public=view,
                start_height=0,
                created=0,
                status=AccountStatus.ACTIVE,
            )

    store.transact(write)


def snapshot(store: Store, ids: dict[str, int]) -> dict[str, Any]:
    """Everything the scan wrote for the scenario's accounts."""
    return {
        name: (
            stored_outputs(store, account_id),
            sorted(
                (s.key_image, s.tx_hash, s.source_global_index)
                for s in store.query(lambda r, i=account_id: r.spends(i))
            ),
            store.query(lambda r, i=account_id: r.account(i)).scan_height,
        )
        for name, account_id in ids.items()
    }


async def test_a_worker_killed_mid_batch_leaves_the_store_of_a_clean_scan(
    tmp_path: Path, scenario: Scenario, monerod: Monerod
) -> None:
    height = monerod.height()
    clean = Store.open(tmp_path / "clean", network="regtest")
    clean_ids = add_accounts(clean, scenario.keys)
    add_busy_accounts(clean, BUSY_ACCOUNTS)
    await scan_to_tip(clean, monerod.url, height, workers=2)

    store = Store.open(tmp_path / "store", network="regtest")
    ids = add_accounts(store, scenario.keys)
    add_busy_accounts(store, BUSY_ACCOUNTS)
    killed: list[int] = []
    with DaskCluster(workers=2) as cluster:
        pool = ClusterPool(cluster.address, connect_timeout=5)
        await trio.to_thread.run_sync(pool.start)
        pids = cluster.worker_pids()

        def busy_worker() -> str | None:
            with distributed.Client(cluster.address, timeout=10, set_as_default=False) as client:
                for worker, tasks in client.processing().items():
                    if tasks:
                        return str(worker)
            return None

        async def kill_one_when_busy() -> None:
            with trio.fail_after(120):
                while (worker := await trio.to_thread.run_sync(busy_worker)) is None:
                    await trio.sleep(0.05)
            await trio.sleep(0.3)
            os.kill(pids[worker], signal.SIGKILL)
            killed.append(pids[worker])

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(kill_one_when_busy)
                scanner = await scan_to_tip(store, monerod.url, height, pool=pool)
        finally:
            await trio.to_thread.run_sync(pool.close)
    assert killed
    # The slice ran again on the other worker: no failed batch at all.
    assert scanner.status.state == "ok" and scanner.status.last_error == ""
    assert snapshot(store, ids) == snapshot(clean, clean_ids)
    assert all(snapshot(store, ids)[name][0] for name in ("alice", "bob"))
    assert store.query(lambda r: r.check()) == []
    store.close()
    clean.close()


def _log_lines(lws: LwsProcess, state: str) -> list[str]:
    return [
        line
        for line in lws.log_path.read_text().splitlines()
        if f"lws.scan.scanner: scanner {state}" in line
    ]


async def test_lws_serve_waits_out_a_lost_scheduler(
    tmp_path: Path, scenario: Scenario, monerod: Monerod
) -> None:
    height = monerod.height()
    keys = scenario.keys
    with DaskCluster(workers=2) as cluster:
        lws = await trio.to_thread.run_sync(
            lambda: LwsProcess(tmp_path / "lws", monerod, "--scan-cluster", cluster.address)
        )
        try:

            def api(method: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
                body = (
                    {}
                    if name is None
                    else {"address": keys[name].address(), "view_key": keys[name].view_secret.hex()}
                )
                reply = lws.post(method, {**body, **extra})
                assert reply.status_code == 200, (method, reply.status_code, reply.text)
                return dict(reply.json())

            await trio.to_thread.run_sync(lws.login, keys["alice"])
            imported = await trio.to_thread.run_sync(
                lambda: api("import_wallet_request", "alice", from_height=0)
            )
            assert imported["request_fulfilled"] is True
            alice = await trio.to_thread.run_sync(lws.wait_scanned, keys["alice"], height)
            assert int(alice["total_received"]) > 0

            # --- the scheduler and its workers die ----------------------------
            await trio.to_thread.run_sync(cluster.stop)
            await trio.to_thread.run_sync(lws.login, keys["bob"])
            imported = await trio.to_thread.run_sync(
                lambda: api("import_wallet_request", "bob", from_height=0)
            )
            assert imported["request_fulfilled"] is True
            with trio.fail_after(60):
                while not _log_lines(lws, "cluster_unavailable"):
                    await trio.sleep(0.3)
            await trio.sleep(5)  # a few retries, backing off
            assert len(_log_lines(lws, "cluster_unavailable")) == 1
            # The API answers from the store meanwhile.
            assert api("get_version")["blockchain_height"] >= height - 1
            assert api("get_address_info", "alice")["total_received"] == alice["total_received"]
            assert api("get_address_info", "bob")["scanned_block_height"] < height

            # --- back on the same port ------------------------------------------
            await trio.to_thread.run_sync(cluster.start)
            bob = await trio.to_thread.run_sync(lws.wait_scanned, keys["bob"], height, 150)
            assert int(bob["total_received"]) > 0
            assert len(_log_lines(lws, "cluster_unavailable")) == 1
            lines = lws.log_path.read_text().splitlines()
            down = [i for i, line in enumerate(lines) if "scanner cluster_unavailable" in line]
            back = [line for line in lines[down[0] :] if "lws.scan.scanner: scanner " in line]
            assert len(back) == 2 and "scanner ok" in back[1], back  # one line each way
            assert "Traceback" not in lws.log_path.read_text()
        finally:
            await trio.to_thread.run_sync(lws.stop)
    # What lws stored through the cluster is what the scanner stores locally
    # (accounts made by login watch their main address: no lookahead).
    served = Store.open(tmp_path / "lws" / "data" / "store", network="regtest")
    local = Store.open(tmp_path / "local", network="regtest")
    ids = add_accounts(local, {name: keys[name] for name in ("alice", "bob")}, lookahead=(0, 0))
    await scan_to_tip(local, monerod.url, height, workers=2)
    for name in ("alice", "bob"):
        served_id = served.query(lambda r, n=name: r.account_id(keys[n].address()))
        assert served_id is not None
        assert stored_outputs(served, served_id) == stored_outputs(local, ids[name]), name
    served.close()
    local.close()
