# Issue 3's proof on real chain data that hostile transactions cannot stop or
# fool a scan: the session scenario's /get_blocks.bin replies with tx blobs
# mutated (the blocks and their tx_hashes untouched): torsioned main and
# additional tx keys, garbage extra, an amount that does not open its
# commitment, an undecodable tx key, blobs that do not parse. The scan step
# and the whole Scanner (its daemon client returning the mutated replies of
# the real monerod) find exactly what monero-wallet-rpc lists, minus what the
# mutation takes away, and never raise. Mutation helpers: tests/test_scanwork.py.
"""Hostile transactions in real regtest blocks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from lws.daemon import BlocksReply, Daemon
from lws.monero.block import parse_block
from lws.monero.extra import parse_extra
from lws.monero.ownership import ViewKey, make_view_key
from lws.monero.scan import find_received, find_spends
from lws.monero.subaddress import build_subaddress_table, lookahead_ranges
from lws.monero.tx import parse_transaction
from lws.scan.batch import parse_blocks
from lws.scan.scanner import Scanner
from lws.store import Store
from tests.support.chain import fetch_chain
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
from tests.support.regtest import Monerod, WalletRpc
from tests.support.scanning import LOOKAHEAD, add_accounts, oracle_outputs, stored_outputs
from tests.support.scenario import WALLETS, Scenario

pytestmark = pytest.mark.e2e

#: (tx hash, pubkey, amount, global index, subaddress), as oracle_outputs gives them
Row = tuple[str, str, int, int, tuple[int, int]]
Mutation = Callable[[bytes], bytes]


def mutate_replies(
    replies: Sequence[BlocksReply], mutations: dict[str, Mutation]
) -> list[BlocksReply]:
    """``replies`` with the blob of each tx named in ``mutations`` (by txid) mutated."""
    out = []
    for reply in replies:
        blocks = list(reply.blocks)
        for offset, (block_blob, tx_blobs) in enumerate(blocks):
            hashes = [h.hex() for h in parse_block(block_blob).tx_hashes]
            if any(h in mutations for h in hashes):
                blobs = [
                    mutations[h](blob) if h in mutations else blob
                    for h, blob in zip(hashes, tx_blobs, strict=True)
                ]
                blocks[offset] = (block_blob, blobs)
        out.append(msgspec.structs.replace(reply, blocks=blocks))
    return out


def scan(replies: Sequence[BlocksReply], accounts: Sequence[ViewKey]) -> dict[str, Any]:
    """find_received + find_spends over the whole chain: per wallet, rows and key images."""
    batches = [parse_blocks(reply) for reply in replies]
    txs = [tx for batch in batches for tx in batch.txs]
    received = find_received(txs, accounts)
    spends = find_spends(txs, received, {})
    rows: dict[str, set[Row]] = {name: set() for name in WALLETS}
    tx_pubkeys: dict[Row, bytes] = {}
    key_images: dict[str, set[tuple[str, bytes]]] = {name: set() for name in WALLETS}
    for item, row, spend_row in zip(txs, received, spends, strict=True):
        for position, outputs in row.items():
            for out in outputs:
                entry = (
                    item.tx_hash.hex(),
                    out.output_key.hex(),
                    out.amount,
                    out.global_index,
                    out.subaddress,
                )
                rows[WALLETS[position]].add(entry)
                tx_pubkeys[entry] = out.tx_pubkey
        for position, candidates in spend_row.items():
            key_images[WALLETS[position]].update(
                (item.tx_hash.hex(), c.key_image) for c in candidates
            )
    return {"rows": rows, "tx_pubkeys": tx_pubkeys, "key_images": key_images}


@pytest.fixture(scope="module")
def chain(scenario: Scenario, monerod: Monerod, wallet_rpc: WalletRpc) -> dict[str, Any]:
    replies = fetch_chain(monerod)
    accounts = []
    for name in WALLETS:
        keys = scenario.keys[name]
        table = build_subaddress_table(
            keys.view_secret, keys.spend_public, lookahead_ranges(*LOOKAHEAD)
        )
        accounts.append(make_view_key(keys.view_secret, keys.spend_public, table))
    baseline = scan(replies, accounts)
    oracle = {name: oracle_outputs(wallet_rpc, name) for name in WALLETS}
    assert baseline["rows"] == oracle  # the untouched chain is exactly wallet-rpc's
    txid = {what: h for h, what in scenario.txs.items()}
    blobs = {}
    for reply in replies:
        for block_blob, tx_blobs in reply.blocks:
            for h, blob in zip(parse_block(block_blob).tx_hashes, tx_blobs, strict=True):
                blobs[h.hex()] = blob
    return {
        "replies": replies,
        "accounts": accounts,
        "baseline": baseline,
        "oracle": oracle,
        "txid": txid,
        "blobs": blobs,
    }


def _without_tx(
    rows: dict[str, set[Row]], txid: str, keep: Callable[[Row], bool] = lambda r: False
) -> dict[str, set[Row]]:
    return {name: {r for r in found if r[0] != txid or keep(r)} for name, found in rows.items()}


def _check(
    chain: dict[str, Any], mutations: dict[str, Mutation], expected: dict[str, set[Row]]
) -> dict[str, Any]:
    got = scan(mutate_replies(chain["replies"], mutations), chain["accounts"])
    assert got["rows"] == expected
    # Candidate spends of untouched transactions: never new ones; the same ones
    # unless the wallet lost outputs (a lost output's later spends go with it).
    for name in WALLETS:
        before = {k for k in chain["baseline"]["key_images"][name] if k[0] not in mutations}
        after = {k for k in got["key_images"][name] if k[0] not in mutations}
        assert after <= before, name
        if expected[name] == chain["baseline"]["rows"][name]:
            assert after == before, name
    return got


def test_torsioned_main_tx_key_still_finds_every_output(chain: dict[str, Any]) -> None:
    txid = chain["txid"]["alice->bob primary"]
    got = _check(chain, {txid: torsion_mutation}, chain["baseline"]["rows"])
    blob = chain["blobs"][txid]
    original = parse_extra(parse_transaction(blob).extra).tx_pubkeys[0]
    hit = [row for name in ("alice", "bob") for row in got["rows"][name] if row[0] == txid]
    assert {r[4] for r in hit} == {(0, 0)} and len(hit) == 2  # bob's payment + alice's change
    assert {got["tx_pubkeys"][r] for r in hit} == {torsioned(original)}


def test_torsioned_additional_tx_key_still_finds_its_output(chain: dict[str, Any]) -> None:
    txid = chain["txid"]["alice->bob,bob(0,3),bob(1,2),carol multi"]
    blob = chain["blobs"][txid]
    tx = parse_transaction(blob)
    additional = parse_extra(tx.extra).additional_pubkeys
    assert len(additional) == len(tx.outputs)

    def mutate(b: bytes) -> bytes:
        return replace_once(b, b"".join(additional), b"".join(torsioned(k) for k in additional))

    got = _check(chain, {txid: mutate}, chain["baseline"]["rows"])
    bob_sub = [r for r in got["rows"]["bob"] if r[0] == txid and r[4] != (0, 0)]
    assert len(bob_sub) == 2
    assert all(got["tx_pubkeys"][r] in {torsioned(k) for k in additional} for r in bob_sub)


def test_small_order_and_undecodable_tx_keys_lose_only_that_tx(chain: dict[str, Any]) -> None:
    primary = chain["txid"]["alice->bob primary"]
    sub02 = chain["txid"]["alice->bob (0,2)"]
    mutations = {
        primary: lambda b: with_main_pubkey(b, parse_transaction(b), TORSION_8),
        sub02: lambda b: with_main_pubkey(b, parse_transaction(b), UNDECODABLE_KEY),
    }
    expected = _without_tx(_without_tx(chain["baseline"]["rows"], primary), sub02)
    assert expected != chain["baseline"]["rows"]
    _check(chain, mutations, expected)


def test_garbage_extra(chain: dict[str, Any]) -> None:
    primary = chain["txid"]["alice->bob primary"]
    sub25 = chain["txid"]["alice->bob (2,5)"]
    mutations = {
        # garbage after the key: wallet2 keeps the fields read before it
        primary: lambda b: with_extra(
            b, parse_transaction(b), parse_transaction(b).extra + b"\x02\xff\xde\xad"
        ),
        # garbage instead of everything: no key, nothing found there
        sub25: lambda b: with_extra(b, parse_transaction(b), bytes(range(7, 77))),
    }
    _check(chain, mutations, _without_tx(chain["baseline"]["rows"], sub25))


def test_amount_that_does_not_open_its_commitment(chain: dict[str, Any]) -> None:
    txid = chain["txid"]["alice->bob primary"]
    baseline = chain["baseline"]["rows"]
    (bob_row,) = [r for r in baseline["bob"] if r[0] == txid]
    tx = parse_transaction(chain["blobs"][txid])
    index = [o.key.hex() for o in tx.outputs].index(bob_row[1])
    mutations = {txid: lambda b: with_flipped_amount(b, parse_transaction(b), index, 3)}
    expected = dict(baseline, bob=baseline["bob"] - {bob_row})
    got = _check(chain, mutations, expected)
    assert [r for r in got["rows"]["alice"] if r[0] == txid]  # alice's change still credited


def test_unparseable_blobs_are_skipped_with_a_log_line(
    chain: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    to_carol = chain["txid"]["bob->carol"]
    sub11 = chain["txid"]["alice->bob (1,1)"]
    mutations = {to_carol: lambda b: b[: len(b) // 3], sub11: lambda b: b"\x02" + b"\xff" * 40}
    expected = _without_tx(_without_tx(chain["baseline"]["rows"], to_carol), sub11)
    with caplog.at_level(logging.WARNING, logger="lws.scan.batch"):
        _check(chain, mutations, expected)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 2, skipped


class MutatingDaemon(Daemon):
    """The real monerod client; get_blocks replies get the test's mutations applied."""

    def __init__(self, url: str, mutations: dict[str, Mutation]) -> None:
        super().__init__(url)
        self.mutations = mutations

    async def get_blocks(self, block_ids: Sequence[bytes], start_height: int = 0) -> BlocksReply:
        reply = await super().get_blocks(block_ids, start_height)
        return mutate_replies([reply], self.mutations)[0]


async def test_scanner_on_a_hostile_chain(
    chain: dict[str, Any],
    scenario: Scenario,
    monerod: Monerod,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The whole Scanner, on the real daemon's replies with every kind of mutation."""
    t = chain["txid"]
    baseline = chain["baseline"]["rows"]
    primary, sub02, to_carol = t["alice->bob primary"], t["alice->bob (0,2)"], t["bob->carol"]
    multi = t["alice->bob,bob(0,3),bob(1,2),carol multi"]
    (bob_row,) = [r for r in baseline["bob"] if r[0] == primary]
    index = [o.key.hex() for o in parse_transaction(chain["blobs"][primary]).outputs].index(
        bob_row[1]
    )
    mutations: dict[str, Mutation] = {
        primary: lambda b: with_flipped_amount(torsion_mutation(b), parse_transaction(b), index),
        sub02: lambda b: with_main_pubkey(b, parse_transaction(b), UNDECODABLE_KEY),
        to_carol: lambda b: b[:-50],
        multi: lambda b: with_extra(b, parse_transaction(b), parse_transaction(b).extra + b"\xff"),
    }
    expected = _without_tx(_without_tx(baseline, sub02), to_carol)
    expected["bob"] = expected["bob"] - {bob_row}

    store = Store.open(tmp_path / "store", network="regtest")
    ids = add_accounts(store, scenario.keys)
    daemon = MutatingDaemon(monerod.url, mutations)
    scanner = Scanner(store, daemon, network="regtest", workers=1, poll_interval=0.2)
    height = monerod.height()
    caplog.set_level(logging.WARNING, logger="lws.scan.batch")
    try:
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:
                await nursery.start(scanner.run)
                while True:
                    heights = store.query(lambda r: {rec.scan_height for _, rec in r.accounts()})
                    if heights == {height} and scanner.status.state == "ok":
                        break
                    assert scanner.status.state in ("starting", "ok"), scanner.status
                    await trio.sleep(0.2)
                nursery.cancel_scope.cancel()
        for name in WALLETS:
            assert stored_outputs(store, ids[name]) == expected[name], name
        assert any(
            "skipped" in r.getMessage() for r in caplog.records if r.name == "lws.scan.batch"
        )
        assert store.query(lambda r: r.check()) == []
    finally:
        await daemon.aclose()
        store.close()
