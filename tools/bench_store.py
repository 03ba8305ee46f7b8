#!/usr/bin/env python3
# Developer benchmark (never imported by lws/): what one lws store costs
# beside the scan math, for docs/scaling.md: bytes on disk per account and
# per found output, and how many batches per second the single writer
# commits (a tip batch: one block, every account's scan height moved, as
# mainnet's tip gives every ~2 minutes; a catch-up batch: 1,000 blocks).
"""Store size per account and per output, and the single writer's batches per second.

Run from the project root: ``python3 -m tools.bench_store``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lmdb

from lws.monero.address import Network, make_address
from lws.monero.ed25519 import base_mul
from lws.store import AccountBatch, OutputRecord, Store, Writer, tx_index_of

#: Outputs added to one account for the bytes-per-output figure.
OUTPUTS = 20_000
#: Batches timed per figure (the median is printed).
REPEATS = 15


def allocated(path: Path) -> int:
    """Bytes of the pages LMDB has used so far in the store at ``path`` (its
    file is preallocated or sparse, so the file size says nothing)."""
    env = lmdb.open(str(path), readonly=True, lock=False, max_dbs=64)
    try:
        return (int(env.info()["last_pgno"]) + 1) * int(env.stat()["psize"])
    finally:
        env.close()


def key(i: int, salt: int) -> bytes:
    return base_mul(((i + 1) * 7919 + salt * 104729).to_bytes(32, "little"))


def add_accounts(store: Store, count: int) -> list[int]:
    ids: list[int] = []

    def write(writer: Writer) -> None:
        for i in range(count):
            spend, view = key(i, 1), key(i, 2)
            ids.append(
                writer.add_account(
                    make_address(Network.MAINNET, spend, view),
                    view_secret=(i + 3).to_bytes(32, "little"),
                    spend_public=spend,
                    view_public=view,
                    start_height=0,
                    created=int(time.time()),
                )
            )

    store.transact(write)
    return ids


def output(i: int, height: int) -> OutputRecord:
    return OutputRecord(
        height=height,
        tx_index=tx_index_of(height, i % 1000 // 2),
        tx_hash=os.urandom(32),
        tx_prefix_hash=os.urandom(32),
        output_index=i % 2,
        global_index=90_000_000 + i,
        amount=123_456_789_012,
        mask=os.urandom(32),
        rct_type=6,
        commitment=os.urandom(32),
        ecdh_amount=os.urandom(8),
        output_key=os.urandom(32),
        tx_pubkey=os.urandom(32),
        subaddress=(0, 0),
        unlock_time=0,
        timestamp=1_700_000_000,
        coinbase=False,
        mixin=15,
        payment_id=b"",
        fee=30_000_000,
    )


def time_batches(store: Store, ids: list[int], blocks: int) -> float:
    """Median seconds of one add_block_batch of ``blocks`` blocks for every account."""
    times: list[float] = []
    for _ in range(REPEATS):
        top = store.query(lambda r: r.chain_top())
        start = 0 if top is None else top[0] + 1
        shares = {i: AccountBatch(from_height=start, scan_height=start + blocks) for i in ids}
        hashes = [os.urandom(32) for _ in range(blocks)]
        began = time.perf_counter()
        store.transact(lambda w, b=start, h=hashes, a=shares: w.add_block_batch(b, h, a))
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--accounts", default="100,1000,10000", help="account counts (default %(default)s)"
    )
    args = parser.parse_args()
    counts = [int(part) for part in args.accounts.split(",") if part]
    with tempfile.TemporaryDirectory(prefix="lws-bench-store-") as tmp:
        for count in counts:
            path = Path(tmp) / f"store-{count}"
            with Store.open(path, network="mainnet"):
                pass
            empty = allocated(path)
            with Store.open(path, network="mainnet") as store:
                ids = add_accounts(store, count)
            per_account = (allocated(path) - empty) / count
            with Store.open(path, network="mainnet") as store:
                tip = time_batches(store, ids, 1)
                catch_up = time_batches(store, ids, 1000)
            print(f"{count} accounts: {per_account:.0f} bytes per account in the store")
            print(
                f"{count} accounts: tip batch (1 block) {tip * 1e3:.2f} ms"
                f" = {1 / tip:.0f} batches/s; catch-up batch (1,000 blocks) {catch_up * 1e3:.2f} ms"
            )
            print(f"writer_us_per_account_per_batch_{count}: {tip / count * 1e6:.2f}")
        path = Path(tmp) / "outputs"
        with Store.open(path, network="mainnet") as store:
            [account] = add_accounts(store, 1)
        before = allocated(path)
        with Store.open(path, network="mainnet") as store:
            height = 0
            for first in range(0, OUTPUTS, 1000):
                outs = tuple(output(i, height) for i in range(first, first + 1000))
                share = {account: AccountBatch(height, height + 1, outputs=outs)}
                store.transact(
                    lambda w, h=height, s=share: w.add_block_batch(h, [os.urandom(32)], s)
                )
                height += 1
        per_output = (allocated(path) - before) / OUTPUTS
        print(f"bytes_per_output: {per_output:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
