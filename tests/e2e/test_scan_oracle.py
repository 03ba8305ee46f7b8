# Issue 2's proof: the pure scan function, run over every block of a real
# regtest chain, finds exactly what monero-wallet-rpc (restored from the same
# keys) lists in incoming_transfers, and every key image the wallet really
# spent is among the candidate spends.
"""lws.monero.scan against monero-wallet-rpc as the oracle."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from lws.daemon.blocks_body import decode_get_blocks
from lws.monero import epee
from lws.monero.ownership import make_view_key
from lws.monero.scan import ReceivedOutput, scan_transactions
from lws.monero.subaddress import build_subaddress_table, lookahead_ranges
from lws.monero.tx import KeyInput, parse_transaction
from lws.scan.batch import parse_blocks
from tests.support.chain import fetch_chain, genesis_hash
from tests.support.regtest import Monerod, WalletRpc
from tests.support.scenario import WALLETS, Scenario

pytestmark = pytest.mark.e2e

#: wallet2's default subaddress lookahead (majors x minors) it scans with.
WALLET_LOOKAHEAD = (50, 200)


@pytest.fixture(scope="module")
def scanned(scenario: Scenario, monerod: Monerod) -> dict[str, Any]:
    replies = fetch_chain(monerod)
    batches = [parse_blocks(reply) for reply in replies]
    txs = [tx for batch in batches for tx in batch.txs]
    accounts = []
    for name in WALLETS:
        keys = scenario.keys[name]
        table = build_subaddress_table(
            keys.view_secret, keys.spend_public, lookahead_ranges(*WALLET_LOOKAHEAD)
        )
        accounts.append(make_view_key(keys.view_secret, keys.spend_public, table))
    rows = scan_transactions(txs, accounts, {})
    received: dict[str, list[tuple[bytes, ReceivedOutput]]] = defaultdict(list)
    key_images: dict[str, set[bytes]] = defaultdict(set)
    for item, row in zip(txs, rows):
        for position, result in enumerate(row):
            if result is None:
                continue
            name = WALLETS[position]
            received[name].extend((item.tx_hash, out) for out in result.received)
            key_images[name].update(spend.key_image for spend in result.spends)
    outputs_by_key = {
        out.key: (item.tx_hash, index) for item in txs for index, out in enumerate(item.tx.outputs)
    }
    pool_key_images = {
        txin.key_image
        for found in monerod.call("get_transactions", txs_hashes=monerod.pool_hashes())["txs"]
        for txin in parse_transaction(bytes.fromhex(found["as_hex"])).inputs
        if isinstance(txin, KeyInput)
    }
    return {
        "received": received,
        "key_images": key_images,
        "outputs_by_key": outputs_by_key,
        "pool_key_images": pool_key_images,
    }


def _oracle(wallet_rpc: WalletRpc, name: str) -> list[dict[str, Any]]:
    wallet_rpc.open(name)
    wallet_rpc.refresh()
    return wallet_rpc.incoming_transfers()


@pytest.mark.parametrize("name", WALLETS)
def test_received_outputs_equal_incoming_transfers(
    name: str, scanned: dict[str, Any], wallet_rpc: WalletRpc
) -> None:
    oracle = _oracle(wallet_rpc, name)
    expected = set()
    for transfer in oracle:
        tx_hash, output_index = scanned["outputs_by_key"][bytes.fromhex(transfer["pubkey"])]
        assert tx_hash.hex() == transfer["tx_hash"]
        sub = transfer["subaddr_index"]
        expected.add(
            (
                transfer["tx_hash"],
                output_index,
                transfer["amount"],
                transfer["global_index"],
                (sub["major"], sub["minor"]),
            )
        )
    ours = {
        (tx_hash.hex(), out.output_index, out.amount, out.global_index, out.subaddress)
        for tx_hash, out in scanned["received"][name]
    }
    assert ours == expected
    assert len(scanned["received"][name]) == len(ours), "an output was found twice"
    if name == "dave":
        assert ours == set()
    else:
        assert ours, f"{name} should own outputs in the scenario"


def test_scenario_covers_every_kind_of_receipt(scenario: Scenario, scanned: dict[str, Any]) -> None:
    bob = scanned["received"]["bob"]
    subaddresses = {out.subaddress for _, out in bob}
    assert {(0, 0), (0, 2), (0, 3), (1, 1), (1, 2), (2, 3), (2, 5)} <= subaddresses
    by_tx = {tx_hash.hex(): out for tx_hash, out in bob}
    integrated = next(t for t, what in scenario.txs.items() if what == "alice->bob integrated")
    assert by_tx[integrated].payment_id.hex() == scenario.bob_payment_id
    assert any(out.rct_type == 0 for _, out in bob), "bob mined coinbase outputs"
    multi = next(t for t, what in scenario.txs.items() if "multi" in what)
    multi_outputs = [out for tx_hash, out in bob if tx_hash.hex() == multi]
    assert len(multi_outputs) == 3
    # additional tx keys: outputs of one tx derived by different tx public keys
    assert len({out.tx_pubkey for out in multi_outputs}) == 3


@pytest.mark.parametrize("name", WALLETS)
def test_spent_key_images_are_candidate_spends(
    name: str, scanned: dict[str, Any], wallet_rpc: WalletRpc
) -> None:
    oracle = _oracle(wallet_rpc, name)
    # wallet-rpc marks outputs spent by its own pool transactions spent too;
    # the chain scan cannot see those spends yet.
    spent = {bytes.fromhex(t["key_image"]) for t in oracle if t["spent"]} - scanned[
        "pool_key_images"
    ]
    if name in ("alice", "bob", "carol"):
        assert spent, f"{name} spends in the scenario"
    assert spent <= scanned["key_images"][name]


def test_monerod_bodies_take_the_fast_decoder(scenario: Scenario, monerod: Monerod) -> None:
    """Every get_blocks.bin body of the scenario chain, as monerod writes it,
    is decoded by lws.daemon.blocks_body (not left to the generic decoder), and to
    the same reply as the generic decoder gives."""
    genesis = genesis_hash(monerod)
    start = 0
    bodies = 0
    while start < monerod.height():
        body = monerod.call_bin(
            "/get_blocks.bin",
            epee.dumps(
                {"block_ids": genesis, "start_height": start, "prune": True, "no_miner_tx": False}
            ),
        )
        fast = decode_get_blocks(body)
        assert fast is not None
        generic = epee.loads(body)
        assert fast[1:] == (
            [(e["block"], [t["blob"] for t in e.get("txs", [])]) for e in generic["blocks"]],
            [
                [list(t.get("indices", [])) for t in b.get("indices", [])]
                for b in generic["output_indices"]
            ],
        )
        assert any(txs for _, txs in fast[1])  # the chain has transactions to decode
        bodies += 1
        start = int(generic["start_height"]) + len(generic["blocks"])
    assert bodies >= 1
