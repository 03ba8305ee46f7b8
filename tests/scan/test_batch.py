# Owns the unit-level proof that hostile chain data cannot stop or fool a
# scan: real regtest blocks and pruned tx blobs (tests/monero/data) made into
# a /get_blocks.bin reply, outputs re-targeted to known test keys, then
# mutated (torsioned / invalid tx keys, garbage extra, a forged amount, a blob
# that does not parse). Checks parse_blocks, find_received / find_spends /
# scan_transactions and the scanner's per-batch path (Scanner._scan_batch +
# the store write). The blob mutations are tests/support/hostile.py's. No
# daemon: the daemon object given to the Scanner is never called.
"""Hostile transactions in a batch: parse_blocks and the scan step."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import trio

from lws.daemon import BlocksReply, Daemon
from lws.errors import DaemonError, ScanWorkerError
from lws.monero.amounts import commit, commitment_mask
from lws.monero.derivation import (
    derivation_to_scalar,
    derive_public_key,
    derive_view_tag,
    generate_key_derivation,
)
from lws.monero.ed25519 import (
    base_mul,
    scalar_reduce,
)
from lws.monero.extra import parse_extra
from lws.monero.hashing import keccak256
from lws.monero.ownership import ViewKey, make_view_key
from lws.monero.scan import ReceivedOutput, ScanTx, find_received, find_spends, scan_transactions
from lws.monero.tx import parse_transaction
from lws.scan import pool as scanpool
from lws.scan.batch import (
    ParsedBatch,
    SpendBatch,
    merge_batches,
    parse_blocks,
    split_reply_guided,
)
from lws.scan.pool import ScanPool
from lws.scan.scanner import Scanner
from lws.store import AccountStatus, Store
from lws.store.schema import position_of_tx_index
from tests.support.hostile import (
    TORSION_8,
    UNDECODABLE_KEY,
    replace_once,
    torsion_mutation,
    torsioned,
    with_extra,
    with_flipped_amount,
    with_main_pubkey,
)
from tests.support.regtest import WalletKeys
from tests.support.wallets import add_wallet

DATA = Path(__file__).resolve().parents[1] / "monero" / "data"


def replace_tx_blob(
    reply: BlocksReply, height: int, tx_position: int, mutate: Callable[[bytes], bytes]
) -> BlocksReply:
    """``reply`` with the blob of tx ``tx_position`` (0 = first non-miner tx) of
    block ``height`` mutated; the block and its tx_hashes are left as they were."""
    offset = height - reply.start_height
    blocks = list(reply.blocks)
    block_blob, tx_blobs = blocks[offset]
    tx_blobs = list(tx_blobs)
    tx_blobs[tx_position] = mutate(tx_blobs[tx_position])
    blocks[offset] = (block_blob, tx_blobs)
    return msgspec.structs.replace(reply, blocks=blocks)


def pay_to(
    blob: bytes, tx_secret: bytes, payees: dict[int, tuple[WalletKeys, int]]
) -> tuple[bytes, bytes]:
    """Re-target outputs of a real pruned RingCT blob: output i pays ``payees[i]``
    (keys, amount) from a new tx key ``R = tx_secret G`` (main address), with
    matching view tag, encrypted amount and commitment. Returns (blob, R)."""
    tx = parse_transaction(blob)
    assert tx.rct is not None and tx.rct.type in (4, 5, 6)
    assert not parse_extra(tx.extra).additional_pubkeys
    tx_pubkey = base_mul(scalar_reduce(tx_secret))
    blob = with_main_pubkey(blob, tx, tx_pubkey)
    for index, (keys, amount) in payees.items():
        derivation = generate_key_derivation(tx_pubkey, keys.view_secret)
        assert derivation is not None
        scalar = derivation_to_scalar(derivation, index)
        output_key = derive_public_key(derivation, index, keys.spend_public)
        assert output_key is not None
        old = tx.outputs[index]
        assert old.view_tag is not None
        blob = replace_once(
            blob,
            old.key + bytes([old.view_tag]),
            output_key + bytes([derive_view_tag(derivation, index)]),
        )
        pad = int.from_bytes(keccak256(b"amount" + scalar)[:8], "little")
        blob = replace_once(blob, tx.rct.ecdh[index].amount, (amount ^ pad).to_bytes(8, "little"))
        blob = replace_once(blob, tx.rct.out_pk[index], commit(amount, commitment_mask(scalar)))
    return blob, tx_pubkey


# --- a reply built from recorded regtest data ---------------------------------

#: Recorded blocks whose every tx blob is recorded too: 161 (1 tx), 162 (2 txs).
FIRST_HEIGHT = 161

ALICE = WalletKeys("hostile-alice")
BOB = WalletKeys("hostile-bob")
CAROL = WalletKeys("hostile-carol")
NAMES = ("alice", "bob", "carol")
KEYS = {"alice": ALICE, "bob": BOB, "carol": CAROL}


def _recorded_reply() -> BlocksReply:
    blocks = json.loads((DATA / "block_regtest.json").read_text())["blocks"]
    txs = {
        t["hash"]: bytes.fromhex(t["pruned"])
        for t in json.loads((DATA / "tx_regtest.json").read_text())["txs"]
    }
    chosen = [b for b in blocks if b["height"] in (FIRST_HEIGHT, FIRST_HEIGHT + 1)]
    chosen.sort(key=lambda b: b["height"])
    reply_blocks: list[tuple[bytes, list[bytes]]] = []
    indices: list[list[list[int]]] = []
    next_index = 1000
    for block in chosen:
        blobs = [txs[h] for h in block["tx_hashes"]]
        reply_blocks.append((bytes.fromhex(block["blob"]), blobs))
        per_tx = []
        for blob in [None, *blobs]:
            n_out = 1 if blob is None else len(parse_transaction(blob).outputs)
            per_tx.append(list(range(next_index, next_index + n_out)))
            next_index += n_out
        indices.append(per_tx)
    return BlocksReply(
        start_height=FIRST_HEIGHT,
        current_height=FIRST_HEIGHT + 2,
        blocks=reply_blocks,
        output_indices=indices,
    )


@pytest.fixture(scope="module")
def base_reply() -> BlocksReply:
    """Blocks 161-162 with every non-miner output re-targeted to alice, bob or carol.

    161 tx 0: out 0 -> alice (5), out 1 -> bob (6)
    162 tx 0: out 0 -> bob (7), out 1 -> carol (8)
    162 tx 1: out 0 -> carol (9), out 1 -> alice (10)
    """
    reply = _recorded_reply()
    plan = {
        (161, 0): {0: (ALICE, 5), 1: (BOB, 6)},
        (162, 0): {0: (BOB, 7), 1: (CAROL, 8)},
        (162, 1): {0: (CAROL, 9), 1: (ALICE, 10)},
    }
    for (height, position), payees in plan.items():
        secret = keccak256(f"tx-secret {height} {position}".encode())
        reply = replace_tx_blob(
            reply, height, position, lambda blob, s=secret, p=payees: pay_to(blob, s, p)[0]
        )
    return reply


def _repeated(reply: BlocksReply, times: int) -> BlocksReply:
    """``reply``'s blocks ``times`` over: a longer batch to cut into slices."""
    return msgspec.structs.replace(
        reply,
        blocks=list(reply.blocks) * times,
        output_indices=list(reply.output_indices) * times,
    )


@pytest.fixture(scope="module")
def accounts() -> list[ViewKey]:
    return [make_view_key(KEYS[n].view_secret, KEYS[n].spend_public) for n in NAMES]


#: (height, tx position in block with miner tx = 0, output index) -> (owner, amount)
EXPECTED = {
    (161, 1, 0): ("alice", 5),
    (161, 1, 1): ("bob", 6),
    (162, 1, 0): ("bob", 7),
    (162, 1, 1): ("carol", 8),
    (162, 2, 0): ("carol", 9),
    (162, 2, 1): ("alice", 10),
}


def found(
    batch: ParsedBatch, accounts: list[ViewKey]
) -> dict[tuple[int, int, int], tuple[str, int, ReceivedOutput]]:
    """Scan ``batch``; (height, position, output) -> (owner, amount, output)."""
    rows = scan_transactions(batch.txs, accounts, {})
    result = {}
    for meta, row in zip(batch.metas, rows, strict=True):
        for position, scan in enumerate(row):
            if scan is None:
                continue
            for out in scan.received:
                key = (meta.height, position_of_tx_index(meta.tx_index), out.output_index)
                assert key not in result, "an output was found twice"
                result[key] = (NAMES[position], out.amount, out)
    return result


def summary(
    got: dict[tuple[int, int, int], tuple[str, int, ReceivedOutput]],
) -> dict[tuple[int, int, int], tuple[str, int]]:
    return {key: (owner, amount) for key, (owner, amount, _) in got.items()}


def test_unmutated_batch_finds_every_payee(
    base_reply: BlocksReply, accounts: list[ViewKey]
) -> None:
    batch = parse_blocks(base_reply)
    assert [b.height for b in batch.blocks] == [161, 162]
    # tx ids come from the block, not from hashing the (pruned, edited) blob
    recorded = json.loads((DATA / "block_regtest.json").read_text())["blocks"]
    block_txids = {
        bytes.fromhex(h) for b in recorded if b["height"] in (161, 162) for h in b["tx_hashes"]
    }
    assert {m.tx_hash for m in batch.metas if not m.coinbase} == block_txids
    got = found(batch, accounts)
    assert summary(got) == EXPECTED
    for _, _, out in got.values():
        assert out.global_index >= 1000 and out.subaddress == (0, 0)


def test_torsioned_tx_pubkey_still_finds_outputs(
    base_reply: BlocksReply, accounts: list[ViewKey]
) -> None:
    """R' = R + T (T of order 8): 8aR' = 8aR, so wallet2 finds the same outputs."""
    original = parse_extra(parse_blocks(base_reply).txs[1].tx.extra).tx_pubkeys[0]
    reply = replace_tx_blob(base_reply, 161, 0, torsion_mutation)
    got = found(parse_blocks(reply), accounts)
    assert summary(got) == EXPECTED
    for key in ((161, 1, 0), (161, 1, 1)):
        assert got[key][2].tx_pubkey == torsioned(original)


def test_small_order_tx_pubkey_finds_nothing_there(
    base_reply: BlocksReply, accounts: list[ViewKey]
) -> None:
    """R = T alone: the derivation is the identity; nothing owned, nothing raised."""
    reply = replace_tx_blob(
        base_reply, 162, 0, lambda b: with_main_pubkey(b, parse_transaction(b), TORSION_8)
    )
    got = found(parse_blocks(reply), accounts)
    assert summary(got) == {k: v for k, v in EXPECTED.items() if k[:2] != (162, 1)}


def test_undecodable_tx_pubkey_finds_nothing_there(
    base_reply: BlocksReply, accounts: list[ViewKey]
) -> None:
    reply = replace_tx_blob(
        base_reply, 162, 1, lambda b: with_main_pubkey(b, parse_transaction(b), UNDECODABLE_KEY)
    )
    got = found(parse_blocks(reply), accounts)
    assert summary(got) == {k: v for k, v in EXPECTED.items() if k[:2] != (162, 2)}


@pytest.mark.parametrize(
    "garbage, still_found",
    [
        # wallet2 keeps the fields read before the bad one: the key still works
        (b"\x02\xff\x01", True),  # nonce longer than what is left
        (b"\x04\x09" + bytes(32), True),  # 9 additional keys announced, 1 present
        (b"\x00\x00\x07", True),  # padding that is not all zeros
        (b"\x77" * 40, True),  # an unknown tag
    ],
)
def test_garbage_after_tx_pubkey_keeps_it(
    base_reply: BlocksReply, accounts: list[ViewKey], garbage: bytes, still_found: bool
) -> None:
    def mutate(blob: bytes) -> bytes:
        tx = parse_transaction(blob)
        return with_extra(blob, tx, tx.extra + garbage)

    reply = replace_tx_blob(base_reply, 161, 0, mutate)
    batch = parse_blocks(reply)
    assert not parse_extra(batch.txs[1].tx.extra).complete
    assert summary(found(batch, accounts)) == EXPECTED


@pytest.mark.parametrize(
    "extra",
    [b"", b"\xff" * 33, b"\x01" + bytes(31), bytes(range(256)), b"\x04\xff\xff\xff\xff\x0f"],
)
def test_garbage_extra_without_a_key(
    base_reply: BlocksReply, accounts: list[ViewKey], extra: bytes
) -> None:
    reply = replace_tx_blob(
        base_reply, 162, 0, lambda b: with_extra(b, parse_transaction(b), extra)
    )
    got = found(parse_blocks(reply), accounts)
    assert summary(got) == {k: v for k, v in EXPECTED.items() if k[:2] != (162, 1)}


@pytest.mark.parametrize("bit", [0, 17, 63])
def test_amount_that_does_not_open_its_commitment_is_not_credited(
    base_reply: BlocksReply, accounts: list[ViewKey], bit: int
) -> None:
    reply = replace_tx_blob(
        base_reply, 162, 1, lambda b: with_flipped_amount(b, parse_transaction(b), 1, bit)
    )
    got = found(parse_blocks(reply), accounts)
    # alice's output 1 is gone; carol's output 0 of the same tx is intact
    assert summary(got) == {k: v for k, v in EXPECTED.items() if k != (162, 2, 1)}


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b[:-1], id="one-byte-short"),
        pytest.param(lambda b: b[:-40], id="cut-in-commitments"),
        pytest.param(lambda b: b[:3] + b"\xff" * 12 + b[15:], id="huge-counts"),
        pytest.param(lambda b: b"\x09" + b[1:], id="bad-version"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: bytes(len(b)), id="zeros"),
    ],
)
def test_unparseable_tx_is_skipped_with_a_log_line(
    base_reply: BlocksReply,
    accounts: list[ViewKey],
    caplog: pytest.LogCaptureFixture,
    mutate: Callable[[bytes], bytes],
) -> None:
    reply = replace_tx_blob(base_reply, 162, 0, mutate)
    with caplog.at_level(logging.WARNING, logger="lws.scan.batch"):
        batch = parse_blocks(reply)
    skips = [r for r in caplog.records if r.name == "lws.scan.batch" and "skipped" in r.message]
    assert len(skips) == 1
    assert skips[0].getMessage().startswith("block 162 tx 1 skipped")
    assert len(batch.txs) == 4  # 2 miner txs + 3 - 1 transfers
    assert {position_of_tx_index(m.tx_index) for m in batch.metas if m.height == 162} == {0, 2}
    got = found(batch, accounts)
    assert summary(got) == {k: v for k, v in EXPECTED.items() if k[:2] != (162, 1)}


def test_trailing_bytes_are_the_prunable_part(
    base_reply: BlocksReply, accounts: list[ViewKey]
) -> None:
    """Bytes after the RingCT base belong to the (unread) prunable part: still scanned."""
    reply = replace_tx_blob(base_reply, 162, 0, lambda b: b + b"\x00\xff")
    assert summary(found(parse_blocks(reply), accounts)) == EXPECTED


def test_block_with_missing_tx_blob_is_a_daemon_error(base_reply: BlocksReply) -> None:
    blocks = list(base_reply.blocks)
    blocks[1] = (blocks[1][0], blocks[1][1][:1])
    with pytest.raises(DaemonError):
        parse_blocks(msgspec.structs.replace(base_reply, blocks=blocks))


def test_every_mutation_at_once(
    base_reply: BlocksReply, accounts: list[ViewKey], caplog: pytest.LogCaptureFixture
) -> None:
    """All hostile kinds in one batch, spends included: the honest parts stay exact."""
    reply = replace_tx_blob(
        base_reply, 161, 0, lambda b: with_flipped_amount(b, parse_transaction(b), 0)
    )
    reply = replace_tx_blob(reply, 162, 0, lambda b: b[:100])
    reply = replace_tx_blob(
        reply, 162, 1, lambda b: with_main_pubkey(b, parse_transaction(b), UNDECODABLE_KEY)
    )
    with caplog.at_level(logging.WARNING):
        batch = parse_blocks(reply)
    assert any("block 162 tx 1 skipped" in r.getMessage() for r in caplog.records)
    got = found(batch, accounts)
    assert summary(got) == {(161, 1, 1): ("bob", 6)}
    received = find_received(batch.txs, accounts)
    spends = find_spends(batch.txs, received, {})
    assert len(spends) == len(batch.txs)


def test_pure_scan_on_raw_hostile_txs_never_raises(accounts: list[ViewKey]) -> None:
    """scan_transactions on directly built ScanTx values with broken keys, tags, outputs."""
    reply = _recorded_reply()
    tx = parse_blocks(reply).txs[1]
    variants = []
    for pubkeys in ((), (TORSION_8,), (UNDECODABLE_KEY,), (b"\x01" * 5,), (bytes(32),)):
        extra = b"".join(b"\x01" + k for k in pubkeys if len(k) == 32)
        variants.append(msgspec.structs.replace(tx.tx, extra=extra))
    bad_outputs = tuple(msgspec.structs.replace(out, key=UNDECODABLE_KEY) for out in tx.tx.outputs)
    variants.append(msgspec.structs.replace(tx.tx, outputs=bad_outputs))
    assert tx.tx.rct is not None
    variants.append(msgspec.structs.replace(tx.tx, rct=msgspec.structs.replace(tx.tx.rct, ecdh=())))
    items = [ScanTx(tx=v, tx_hash=tx.tx_hash, global_indexes=(1, 2)) for v in variants]
    items.append(ScanTx(tx=tx.tx, tx_hash=tx.tx_hash, global_indexes=()))
    rows = scan_transactions(items, accounts, {(0, 1): [0], (0, 5): [1, 2]})
    assert len(rows) == len(items)


# --- the scanner's per-batch path on a hostile batch --------------------------


@pytest.mark.parametrize("workers", [1, 2], ids=["in-thread", "worker-processes"])
async def test_scanner_batch_path_on_hostile_batch(
    tmp_path: Path, base_reply: BlocksReply, caplog: pytest.LogCaptureFixture, workers: int
) -> None:
    """Scanner._scan_batch + the store write, as the tip pass does them; with
    worker processes the reply is parsed in slices there and the skips are
    logged by the scanner."""
    reply = replace_tx_blob(base_reply, 161, 0, torsion_mutation)
    reply = replace_tx_blob(reply, 162, 0, lambda b: b[:-3])
    reply = replace_tx_blob(
        reply, 162, 1, lambda b: with_flipped_amount(b, parse_transaction(b), 0, 5)
    )
    store = Store.open(tmp_path / "store", network="regtest")
    try:
        ids = store.transact(
            lambda w: {
                name: add_wallet(
                    w,
                    keys,
                    start_height=FIRST_HEIGHT,
                    created=int(time.time()),
                    status=AccountStatus.ACTIVE,
                )
                for name, keys in KEYS.items()
            }
        )
        daemon = Daemon("http://127.0.0.1:9")  # never called
        scanner = Scanner(store, daemon, network="regtest", workers=workers)
        await trio.to_thread.run_sync(scanner.pool.start)
        try:
            participants = scanner._load_accounts()
            assert len(participants) == 3
            end = FIRST_HEIGHT + 2
            with caplog.at_level(logging.WARNING):
                batch, shares = await scanner._scan_batch(
                    reply, participants, FIRST_HEIGHT, end=end
                )
            assert any(
                "block 162 tx 1 skipped" in r.getMessage()
                for r in caplog.records
                if r.name == "lws.scan.batch"
            )
            assert [b.height for b in batch.blocks] == [FIRST_HEIGHT, FIRST_HEIGHT + 1]
            hashes = [b.hash for b in batch.blocks]
            skipped = store.transact(lambda w: w.add_block_batch(FIRST_HEIGHT, hashes, shares))
            assert not skipped
        finally:
            await daemon.aclose()
            scanner.pool.close()
        stored = {
            name: {
                (o.height, position_of_tx_index(o.tx_index), o.output_index, o.amount)
                for o in store.query(lambda r, i=ids[name]: r.outputs(i))
            }
            for name in NAMES
        }
        assert stored == {
            "alice": {(161, 1, 0, 5), (162, 2, 1, 10)},  # torsioned R: still found
            "bob": {(161, 1, 1, 6)},  # (162,1,0) was in the unparseable tx
            "carol": set(),  # (162,1,1) unparseable too, (162,2,0) has a forged amount
        }
        heights = store.query(lambda r: {rec.scan_height for _, rec in r.accounts()})
        assert heights == {end}
        assert store.query(lambda r: r.check()) == []
    finally:
        store.close()


async def test_worker_reports_a_block_that_does_not_parse(base_reply: BlocksReply) -> None:
    """A block blob cut short in a worker's slice is monerod's error, raised here."""
    blocks = list(base_reply.blocks)
    blob, txs = blocks[-1]
    blocks[-1] = (blob[:20], txs)
    reply = msgspec.structs.replace(base_reply, blocks=blocks)
    pool = ScanPool(2)
    await trio.to_thread.run_sync(pool.start)
    try:
        with pytest.raises(DaemonError, match="does not parse"):
            await pool.parse_and_find(reply, 0, 10**9)
        batch, rows = await pool.parse_and_find(base_reply, 0, 10**9)  # still serving
        assert len(rows) == len(batch.txs) > 0
    finally:
        pool.close()


@pytest.mark.parametrize("workers", [1, 2], ids=["in-thread", "worker-processes"])
async def test_a_long_scan_is_abandoned_at_once_on_cancel(
    base_reply: BlocksReply, accounts: list[ViewKey], workers: int
) -> None:
    """Shutdown does not wait for a batch: cancelling a scan that needs many
    seconds returns at once, and the pool answers the next call correctly."""
    txs = list(parse_blocks(base_reply).txs)
    # Distinct view keys: every (tx, account) pair costs a full derivation.
    many = [
        make_view_key(scalar_reduce(keccak256(b"busy %d" % i)), ALICE.spend_public)
        for i in range(40_000)
    ]
    pool = ScanPool(workers)
    await trio.to_thread.run_sync(pool.start)
    try:
        pool.set_accounts(many)
        started = time.monotonic()
        with trio.move_on_after(0.5):
            await pool.find_received(txs)
            pytest.fail("the scan finished within 0.5 s: make it bigger")
        assert time.monotonic() - started < 3.0
        pool.set_accounts(accounts)
        small = txs[: len(base_reply.blocks) * 4]
        assert await pool.find_received(small) == find_received(small, accounts)
    finally:
        pool.close()


async def test_a_dead_worker_is_reported_and_replaced(
    base_reply: BlocksReply, accounts: list[ViewKey]
) -> None:
    """A worker killed from outside (out of memory, an operator's kill) makes
    the call fail with ScanWorkerError; the next call restarts the workers."""
    txs = list(parse_blocks(base_reply).txs)
    pool = ScanPool(2)
    await trio.to_thread.run_sync(pool.start)
    try:
        pool.set_accounts(accounts)
        pool._procs[0].kill()
        pool._procs[0].join()
        with pytest.raises(ScanWorkerError, match="died"):
            await pool.find_received(txs)
        assert await pool.find_received(txs) == find_received(txs, accounts)
        _, rows = await pool.parse_and_find(base_reply, 0, 10**9)
        assert rows == find_received(list(parse_blocks(base_reply).txs), accounts)
    finally:
        pool.close()


async def test_a_single_pool_tx_is_scanned_in_a_worker(
    base_reply: BlocksReply, accounts: list[ViewKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool pass often has one new tx; scanned for many accounts in the
    scanner's process it would hold the GIL its API needs, so it goes to a
    worker process like any other scan, with the same rows."""
    txs = list(parse_blocks(base_reply).txs)
    pool = ScanPool(2)
    await trio.to_thread.run_sync(pool.start)
    try:
        pool.set_accounts(accounts)
        expected = [find_received([tx], accounts) for tx in txs[:3]]

        def not_here(*args: object) -> None:
            raise AssertionError("scanned in the scanner's own process")

        monkeypatch.setattr(scanpool, "scan_inline", not_here)
        assert [await pool.find_received([tx]) for tx in txs[:3]] == expected
    finally:
        pool.close()


async def test_workers_take_slices_as_they_get_free(
    base_reply: BlocksReply, accounts: list[ViewKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch goes out in shrinking slices, each taken by the next free
    worker: a worker slowed down takes fewer, and the batch comes back whole
    and in chain order, equal to an in-process scan."""
    repeats = 10  # 20 blocks: more than the ~10 slices of 2 workers
    reply = _repeated(base_reply, repeats)
    pool = ScanPool(2)
    await trio.to_thread.run_sync(pool.start)
    taken: list[int] = []
    exchange = pool._exchange

    def slow_first_worker(worker: int, message: tuple[object, ...], decoder: object) -> object:
        if message[0] == "parse_scan":
            taken.append(worker)
            if worker == 0:
                time.sleep(0.3)  # as if another process held its core
        return exchange(worker, message, decoder)  # type: ignore[arg-type]

    monkeypatch.setattr(pool, "_exchange", slow_first_worker)
    try:
        pool.set_accounts(accounts)
        batch, rows = await pool.parse_and_find(reply, 0, 10**9)
    finally:
        pool.close()
    assert len(taken) == len(split_reply_guided(reply, 2)) >= 5
    assert taken.count(0) <= 2 < taken.count(1)
    expected_batch, expected_rows = scanpool.parse_and_scan_inline(reply, accounts, 0, 10**9)
    assert batch == msgspec.msgpack.decode(msgspec.msgpack.encode(expected_batch), type=SpendBatch)
    assert [item.tx.inputs for item in batch.txs] == [item.tx.inputs for item in expected_batch.txs]
    assert rows == expected_rows
    _, base_rows = scanpool.parse_and_scan_inline(base_reply, accounts, 0, 10**9)
    found_once = sum(len(outputs) for row in base_rows for outputs in row.values())
    assert found_once == 6  # the six re-targeted outputs (see base_reply)
    assert sum(len(outputs) for row in rows for outputs in row.values()) == 6 * repeats


def test_a_workers_batch_decodes_to_its_inputs_and_metadata(base_reply: BlocksReply) -> None:
    """The scanner's process decodes a worker's ParsedBatch as a SpendBatch:
    blocks, metas, skips and every input (offsets, key images) are kept; the
    rest of each transaction is skipped, and merging slices works the same."""
    reply = replace_tx_blob(base_reply, 162, 0, lambda b: b[:-3])  # one skipped tx
    full = parse_blocks(reply, log_skips=False)
    light = msgspec.msgpack.decode(msgspec.msgpack.encode(full), type=SpendBatch)
    assert light.start_height == full.start_height
    assert light.blocks == full.blocks and light.metas == full.metas
    assert light.skipped == full.skipped and len(light.skipped) == 1
    assert [(t.tx.version, t.tx.unlock_time, t.tx.inputs) for t in light.txs] == [
        (t.tx.version, t.tx.unlock_time, t.tx.inputs) for t in full.txs
    ]
    assert any(
        t.tx.inputs and len(t.tx.inputs[0].key_offsets) > 1
        for t in full.txs  # type: ignore[union-attr]
        if not t.tx.is_coinbase
    )
    parts = split_reply_guided(reply, 2)
    assert len(parts) >= 2
    halves = [parse_blocks(part, log_skips=False) for part in parts]
    merged = merge_batches(
        [msgspec.msgpack.decode(msgspec.msgpack.encode(h), type=SpendBatch) for h in halves]
    )
    assert merged == light
    assert merge_batches(halves) == full


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_guided_slices_shrink_and_cover_the_reply_in_order(
    base_reply: BlocksReply, workers: int
) -> None:
    repeats = 200  # 400 blocks
    reply = _repeated(base_reply, repeats)
    slices = split_reply_guided(reply, workers)
    assert [b for s in slices for b in s.blocks] == reply.blocks
    assert [i for s in slices for i in s.output_indices] == reply.output_indices
    assert [s.start_height for s in slices] == list(
        itertools.accumulate([reply.start_height] + [len(s.blocks) for s in slices[:-1]])
    )

    def size(part: BlocksReply) -> int:
        return sum(len(blob) + sum(map(len, txs)) for blob, txs in part.blocks)

    total = size(reply)
    shares = [size(s) / total for s in slices]
    assert abs(shares[0] - 1 / (2 * workers)) < 0.02  # the first: 1/(2 workers) of the work
    assert shares[-1] < 0.06  # the last ones are small
    assert all(b <= a + 0.04 for a, b in zip(shares, shares[1:]))  # shrinking (to a block)
    assert len(slices) <= 2 * workers * 4 + 4  # few messages: ~2w ln(32)


async def test_a_failing_slice_handler_stops_the_batch_and_is_raised_as_itself(
    base_reply: BlocksReply, accounts: list[ViewKey]
) -> None:
    """The scanner's per-slice handler failing (a store error, say) ends the
    batch with that very exception, not an exception group the scanner
    would not recognise, and the pool scans the next batch correctly."""
    repeats = 10  # 20 blocks: more than the ~10 slices of 2 workers
    reply = _repeated(base_reply, repeats)
    pool = ScanPool(2)
    await trio.to_thread.run_sync(pool.start)
    handled: list[int] = []

    async def failing(part: object, rows: object) -> None:
        handled.append(len(handled))
        if len(handled) == 2:
            raise OSError("disk full")

    try:
        pool.set_accounts(accounts)
        with pytest.raises(OSError, match="disk full"):
            await pool.parse_and_find(reply, 0, 10**9, failing)
        assert handled == [0, 1]
        _, rows = await pool.parse_and_find(reply, 0, 10**9)
        assert rows == scanpool.parse_and_scan_inline(reply, accounts, 0, 10**9)[1]
    finally:
        pool.close()


def test_scan_chunks_are_bounded_by_key_pairs(
    base_reply: BlocksReply, accounts: list[ViewKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    """find_received's work is cut by (tx key, account) pairs, main and
    additional keys counted, not by transactions; the rows are the same as
    one unbounded call's."""
    txs = list(parse_blocks(base_reply).txs) * 30
    keys = [
        len(e.tx_pubkeys) + min(len(e.additional_pubkeys), len(item.tx.outputs))
        for item in txs
        for e in [parse_extra(item.tx.extra)]
    ]
    monkeypatch.setattr(scanpool, "MAX_KEY_PAIRS_PER_CALL", 12 * len(accounts))
    chunks = scanpool._chunks(txs, len(accounts))
    assert [item for chunk in chunks for item in chunk] == txs
    sizes = [len(chunk) for chunk in chunks]
    weights = [sum(keys[sum(sizes[:i]) : sum(sizes[: i + 1])]) for i in range(len(sizes))]
    assert len(chunks) > 1 and all(w <= 12 for w in weights)
    assert scanpool.scan_inline(txs, accounts) == find_received(txs, accounts)
    monkeypatch.setattr(scanpool, "MAX_KEY_PAIRS_PER_CALL", 10**9)
    assert scanpool._chunks(txs, len(accounts)) == [txs]  # all fits: no counting
