# Owns the scanner-side helpers of the e2e tests and the crash proof: adding
# accounts to a store as an operator would, running the real scanner task
# until every account reaches a height, and the (tx, key, amount, global
# index, subaddress) sets that compare a store with monero-wallet-rpc.
# Must not assert anything itself beyond "an output was stored twice".
"""Scan a store to the tip and compare it with monero-wallet-rpc."""

from __future__ import annotations

import time

import trio

from lws.daemon import Daemon
from lws.scan.pool import ScanWorkers
from lws.scan.scanner import Scanner
from lws.store import AccountStatus, Store
from tests.support.regtest import WalletKeys, WalletRpc
from tests.support.wallets import add_wallet

#: wallet2's default lookahead, given to each account so it sees the same subaddresses.
LOOKAHEAD = (50, 200)


def add_accounts(
    store: Store,
    keys: dict[str, WalletKeys],
    *,
    lookahead: tuple[int, int] = LOOKAHEAD,
    start_height: int = 0,
) -> dict[str, int]:
    def write(writer):  # type: ignore[no-untyped-def]
        return {
            name: add_wallet(
                writer,
                key,
                start_height=start_height,
                created=int(time.time()),
                status=AccountStatus.ACTIVE,
                lookahead_major=lookahead[0],
                lookahead_minor=lookahead[1],
            )
            for name, key in keys.items()
        }

    return store.transact(write)


async def scan_to_tip(
    store: Store,
    daemon_url: str,
    target_height: int,
    *,
    workers: int = 1,
    pool: ScanWorkers | None = None,
) -> Scanner:
    """Run the scanner until every account reaches ``target_height`` (with
    ``pool``, a Dask cluster say, instead of ``workers`` local processes)."""
    daemon = Daemon(daemon_url)
    scanner = Scanner(
        store, daemon, network="regtest", workers=workers, poll_interval=0.2, pool=pool
    )
    try:
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:
                await nursery.start(scanner.run)
                while True:
                    accounts = store.query(lambda r: [rec.scan_height for _, rec in r.accounts()])
                    if accounts and min(accounts) >= target_height and scanner.status.state == "ok":
                        await trio.sleep(0.5)  # let one pool pass run
                        break
                    await trio.sleep(0.2)
                nursery.cancel_scope.cancel()
    finally:
        await daemon.aclose()
    return scanner


def oracle_outputs(
    wallet_rpc: WalletRpc, name: str
) -> set[tuple[str, str, int, int, tuple[int, int]]]:
    wallet_rpc.open(name)
    wallet_rpc.refresh()
    return {
        (
            t["tx_hash"],
            t["pubkey"],
            t["amount"],
            t["global_index"],
            (t["subaddr_index"]["major"], t["subaddr_index"]["minor"]),
        )
        for t in wallet_rpc.incoming_transfers()
    }


def stored_outputs(
    store: Store, account_id: int
) -> set[tuple[str, str, int, int, tuple[int, int]]]:
    outputs = store.query(lambda r: r.outputs(account_id))
    found = {
        (o.tx_hash.hex(), o.output_key.hex(), o.amount, o.global_index, tuple(o.subaddress))
        for o in outputs
    }
    assert len(found) == len(outputs), "an output was stored twice"
    return found
