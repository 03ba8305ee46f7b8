# Owns the store tests' shared data (records named by their place, accounts,
# synthetic batches, snapshot checks) and the child-process bodies of the
# multi-process tests, importable by a spawned interpreter. Must not import
# lmdb: tests go through lws.store only.
"""Builders and process bodies for tests/store."""

from __future__ import annotations

import hashlib
import multiprocessing.queues
import multiprocessing.synchronize
from pathlib import Path

from lws.store import IDENTITY_MASK, AccountBatch, OutputRecord, SpendRecord, Store, Writer
from tests.support.records import output_record, spend_record

NETWORK = "regtest"
#: Outputs per account per block in the process tests' synthetic chain.
OUTPUTS_PER_BLOCK = 1
#: Blocks per batch in the process tests.
BATCH_BLOCKS = 5
#: Accounts in the process tests.
PROCESS_ACCOUNTS = 3


def h32(*parts: object) -> bytes:
    """A deterministic 32-byte value named by ``parts``."""
    return hashlib.sha256(repr(parts).encode()).digest()


def block_hash(height: int, fork: int = 0) -> bytes:
    return h32("block", height, fork)


def address(n: int) -> str:
    return f"4Addr{n:090d}"


def add_account(w: Writer, n: int, start_height: int = 0, created: int = 1_700_000_000) -> int:
    return w.add_account(
        address(n),
        view_secret=h32("view", n),
        spend_public=h32("spend_pub", n),
        view_public=h32("view_pub", n),
        start_height=start_height,
        created=created,
    )


def make_output(
    height: int | None,
    position: int = 0,
    vout: int = 0,
    *,
    global_index: int = 0,
    amount: int = 1_000,
    rct_type: int = 6,
    subaddress: tuple[int, int] = (0, 0),
    tag: object = 0,
) -> OutputRecord:
    """An output whose hashes and keys are named by its place and ``tag``."""
    v1 = rct_type == -1
    return output_record(
        height=height,
        position=position,
        tx_hash=h32("tx", height, position, tag),
        tx_prefix_hash=h32("prefix", height, position, tag),
        output_index=vout,
        global_index=global_index,
        amount=amount,
        mask=IDENTITY_MASK if v1 else h32("mask", height, vout, tag),
        rct_type=rct_type,
        commitment=b"" if v1 else h32("commit", height, vout, tag),
        ecdh_amount=b"" if v1 else b"\x07" * 8,
        output_key=h32("okey", height, position, vout, tag),
        tx_pubkey=h32("txpub", height, position, tag),
        subaddress=subaddress,
    )


def make_spend(
    height: int | None, position: int, source: OutputRecord, *, tag: object = 0
) -> SpendRecord:
    """A spend of ``source`` whose key image and tx hash are named by them."""
    return spend_record(
        source,
        key_image=h32("ki", source.tx_hash, source.output_index),
        height=height,
        position=position,
        tx_hash=h32("spendtx", height, position, tag),
    )


def synthetic_batch(w: Writer, start: int, blocks: int) -> None:
    """Blocks ``start .. start + blocks - 1`` of the process tests' chain: each
    account gets OUTPUTS_PER_BLOCK outputs per block and, from the second
    block on, spends the output of the block before."""
    batches = {}
    for account_id, record in w.accounts():
        outputs = []
        spends = []
        for height in range(start, start + blocks):
            gi = height * PROCESS_ACCOUNTS + account_id
            out = make_output(height, account_id, 0, global_index=gi, tag=account_id)
            outputs.append(out)
            if height > 0:
                prev = make_output(
                    height - 1,
                    account_id,
                    0,
                    global_index=(height - 1) * PROCESS_ACCOUNTS + account_id,
                    tag=account_id,
                )
                spends.append(make_spend(height, PROCESS_ACCOUNTS + account_id, prev))
        batches[account_id] = AccountBatch(
            from_height=record.scan_height,
            scan_height=start + blocks,
            outputs=tuple(outputs),
            spends=tuple(spends),
        )
    w.add_block_batch(start, [block_hash(h) for h in range(start, start + blocks)], batches)


def snapshot_problems(store: Store) -> tuple[int, list[str]]:
    """Check the process tests' invariants on one snapshot; return the chain
    length and the problems found."""
    problems: list[str] = []
    with store.read() as r:
        top = r.chain_top()
        length = 0 if top is None else top[0] + 1
        for account_id, record in r.accounts():
            if record.scan_height != length:
                problems.append(f"account {account_id}: scan {record.scan_height} != {length}")
            outputs = r.outputs(account_id)
            spends = r.spends(account_id)
            if len(outputs) != length * OUTPUTS_PER_BLOCK:
                problems.append(f"account {account_id}: {len(outputs)} outputs for {length}")
            if len(spends) != max(0, length - 1):
                problems.append(f"account {account_id}: {len(spends)} spends for {length}")
        problems.extend(r.check())
    return length, problems


def create_process_store(path: Path, map_size: int) -> None:
    with Store.open(path, network=NETWORK, map_size=map_size) as store:
        store.transact(lambda w: [add_account(w, n) for n in range(PROCESS_ACCOUNTS)])


def writer_forever(path: str, map_size: int, ready: multiprocessing.queues.Queue[int]) -> None:
    """Child body of the crash test: write batches until killed."""
    with Store.open(path, network=NETWORK, map_size=map_size) as store:
        start = 0
        ready.put(start)
        while True:
            store.transact(lambda w, start=start: synthetic_batch(w, start, BATCH_BLOCKS))
            start += BATCH_BLOCKS


def reader_loop(
    path: str,
    map_size: int,
    reading: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    results: multiprocessing.queues.Queue[tuple[int, int, int, list[str]]],
) -> None:
    """Child body of the concurrent-read test: check snapshots until told to
    stop; report how many distinct chain lengths it saw, the longest, its
    final map size and the problems."""
    lengths: set[int] = set()
    problems: list[str] = []
    with Store.open(path, network=NETWORK, readonly=True, map_size=map_size) as store:
        reading.set()
        while not stop.is_set() and len(problems) < 10:
            length, found = snapshot_problems(store)
            problems.extend(found)
            lengths.add(length)
        length, found = snapshot_problems(store)
        problems.extend(found)
        lengths.add(length)
        final_size = store.map_size
    results.put((len(lengths), max(lengths), final_size, problems))
