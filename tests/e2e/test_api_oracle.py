# Owns the end-to-end proof of the wallet API against the real thing: for
# every scenario wallet, what a MyMonero client reads from a live `lws serve`
# (balance from get_address_info, history from get_address_txs, spendable
# outputs from get_unspent_outs) equals what monero-wallet-rpc restored from
# the same keys says (incoming_transfers, get_transfers, get_balance), with
# monerod's own transactions and outputs as the tie-breaker; and a send
# through submit_raw_tx of a wallet-rpc-built transaction on a private chain.
# Must not change the session's shared chain (the send test has its own
# monerod) nor read lws's store: everything goes through HTTP.
"""The wallet API against monero-wallet-rpc and monerod as the oracle."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LwsProcess
from tests.support.regtest import COINBASE_UNLOCK_BLOCKS, Monerod, WalletKeys, WalletRpc
from tests.support.scenario import WALLETS, Scenario

pytestmark = pytest.mark.e2e

#: What lws-client 1.4.2 sends to get_unspent_outs (interop.md).
UNSPENT_REQUEST = {"amount": "0", "mixin": 15, "use_dust": True, "dust_threshold": "2000000000"}
#: Every subaddress the scenario made for bob, as upsert_subaddrs ranges.
BOB_RANGES = {0: (0, 3), 1: (0, 2), 2: (0, 5)}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")

Visible = Callable[[tuple[int, int]], bool]


def primary_only(index: tuple[int, int]) -> bool:
    """What lws scans for an account that registered no subaddress (lookahead 0)."""
    return index == (0, 0)


def bob_registered(index: tuple[int, int]) -> bool:
    major, minor = index
    return major in BOB_RANGES and BOB_RANGES[major][0] <= minor <= BOB_RANGES[major][1]


def everything(index: tuple[int, int]) -> bool:
    return True


def creds(keys: WalletKeys) -> dict[str, str]:
    return {"address": keys.address(), "view_key": keys.view_secret.hex()}


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def tx_pubkeys(extra: bytes) -> tuple[list[bytes], list[bytes]]:
    """(main tx public keys, additional per-output keys) of a tx_extra."""
    main: list[bytes] = []
    additional: list[bytes] = []
    at = 0
    while at < len(extra):
        tag = extra[at]
        at += 1
        if tag == 0x01:
            main.append(extra[at : at + 32])
            at += 32
        elif tag == 0x04:
            count, at = _varint(extra, at)
            additional = [extra[at + 32 * i : at + 32 * (i + 1)] for i in range(count)]
            at += 32 * count
        elif tag in (0x02, 0xDE):  # nonce (payment ids), mysterious minergate
            size, at = _varint(extra, at)
            at += size
        else:  # padding or unknown: nothing we need follows
            break
    return main, additional


class Chain:
    """monerod's view of transactions and outputs, cached."""

    def __init__(self, daemon: Monerod) -> None:
        self.daemon = daemon
        self._txs: dict[str, dict[str, Any]] = {}

    def txs(self, hashes: list[str]) -> list[dict[str, Any]]:
        missing = sorted({h for h in hashes if h not in self._txs})
        if missing:
            reply = self.daemon.call("get_transactions", txs_hashes=missing, decode_as_json=True)
            for entry in reply["txs"]:
                self._txs[entry["tx_hash"]] = json.loads(entry["as_json"])
            assert not set(missing) - set(self._txs), reply.get("missed_tx")
        return [self._txs[h] for h in hashes]

    def tx(self, tx_hash: str) -> dict[str, Any]:
        return self.txs([tx_hash])[0]

    def key_images(self, tx_hash: str) -> list[str]:
        return [vin["key"]["k_image"] for vin in self.tx(tx_hash)["vin"] if "key" in vin]

    def output_keys(self, tx_hash: str) -> list[str]:
        keys = []
        for vout in self.tx(tx_hash)["vout"]:
            target = vout["target"]
            keys.append(target["tagged_key"]["key"] if "tagged_key" in target else target["key"])
        return keys

    def is_coinbase(self, tx_hash: str) -> bool:
        return "gen" in self.tx(tx_hash)["vin"][0]

    def outs(self, global_indexes: list[int]) -> list[dict[str, Any]]:
        if not global_indexes:
            return []
        reply = self.daemon.call(
            "get_outs", outputs=[{"amount": 0, "index": i} for i in global_indexes], get_txid=True
        )
        return list(reply["outs"])


@dataclass
class Oracle:
    """What monero-wallet-rpc (and monerod) say about one wallet."""

    name: str
    incoming: list[dict[str, Any]]
    transfers: dict[str, list[dict[str, Any]]]
    balance: int
    unlocked_balance: int
    #: (tx public key hex, vout index) -> the key image of that output, for
    #: every tx public key the transaction carries (main and additional).
    image_of_source: dict[tuple[str, int], str] = field(default_factory=dict)
    image_of_key: dict[str, str] = field(default_factory=dict)
    by_image: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def mined_entries(self) -> list[dict[str, Any]]:
        return [*self.transfers.get("in", []), *self.transfers.get("out", [])]

    def pool_in(self) -> list[dict[str, Any]]:
        pending = {e["txid"] for e in self.transfers.get("pending", [])}
        return [e for e in self.transfers.get("pool", []) if e["txid"] not in pending]

    def sub(self, entry: dict[str, Any]) -> tuple[int, int]:
        index = entry["subaddr_index"]
        return (index["major"], index["minor"])

    def spent_by(self, chain: Chain, tx_hash: str) -> list[dict[str, Any]]:
        """The wallet's outputs that ``tx_hash`` really spends (by key image)."""
        return [self.by_image[k] for k in chain.key_images(tx_hash) if k in self.by_image]

    def pending_change(self, chain: Chain, entry: dict[str, Any]) -> int:
        """wallet2 lists an outgoing pool tx as 'pending' with amount = inputs
        - change - fee and counts its change in get_balance; lws sees that
        change as a pool output."""
        inputs = sum(t["amount"] for t in self.spent_by(chain, entry["txid"]))
        return inputs - entry["amount"] - entry["fee"]


def build_oracle(wallet: WalletRpc, chain: Chain, name: str) -> Oracle:
    wallet.open(name)
    wallet.refresh()
    transfers = wallet.rpc(
        "get_transfers",
        **{"in": True, "out": True, "pending": True, "pool": True, "failed": True},
        all_accounts=True,
    )
    assert not transfers.get("failed"), transfers["failed"]
    balance = wallet.rpc("get_balance", all_accounts=True)
    oracle = Oracle(
        name=name,
        incoming=wallet.incoming_transfers(),
        transfers=transfers,
        balance=int(balance["balance"]),
        unlocked_balance=int(balance["unlocked_balance"]),
    )
    chain.txs([t["tx_hash"] for t in oracle.incoming])
    for t in oracle.incoming:
        oracle.image_of_key[t["pubkey"]] = t["key_image"]
        oracle.by_image[t["key_image"]] = t
        tx = chain.tx(t["tx_hash"])
        index = chain.output_keys(t["tx_hash"]).index(t["pubkey"])
        t["vout"] = index
        main, additional = tx_pubkeys(bytes(tx["extra"]))
        for key in [*main, *additional[index : index + 1]]:
            oracle.image_of_source[(key.hex(), index)] = t["key_image"]
        t["tx_pub_keys"] = {k.hex() for k in [*main, *additional[index : index + 1]]}
    return oracle


def real_spends(oracle: Oracle, spent_outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the MyMonero core keeps of ``spent_outputs``: the entries whose
    key image is the one it derives for (tx_pub_key, out_index)."""
    return [
        s
        for s in spent_outputs
        if oracle.image_of_source.get((s["tx_pub_key"], s["out_index"])) == s["key_image"]
    ]


@dataclass
class Expected:
    """What a client of lws must see for one wallet, from the oracle."""

    balance: int
    locked: int
    #: tx hash -> (received, really sent, height or None for the pool)
    txs: dict[str, tuple[int, int, int | None]]
    unspent: dict[str, dict[str, Any]]  # output key -> incoming transfer
    #: Whether every output of the wallet is visible to lws (no subaddress gating).
    complete: bool


def expect(oracle: Oracle, chain: Chain, visible: Visible) -> Expected:
    """The light-wallet view of ``oracle`` when lws scans the ``visible`` subaddresses.

    Balance: a light wallet counts every received output (mined and pool)
    minus every spent one (mined and pool). wallet2's get_balance counts its
    unspent outputs (an output spent by a pool tx is already spent), plus
    incoming pool payments, plus the change of its own pool txs. So, over the
    visible subaddresses: unspent incoming_transfers + 'pool' entries + the
    change of 'pending' entries (change goes to (account, 0)). Over all
    subaddresses that must be wallet2's balance: checked first, so the
    reasoning is checked against wallet2's own arithmetic.
    """

    def shown(entry: dict[str, Any]) -> bool:
        return visible(oracle.sub(entry))

    def balance_over(seen: Visible) -> int:
        total = sum(t["amount"] for t in oracle.incoming if not t["spent"] and seen(oracle.sub(t)))
        total += sum(e["amount"] for e in oracle.pool_in() if seen(oracle.sub(e)))
        for entry in oracle.transfers.get("pending", []):
            if seen((oracle.sub(entry)[0], 0)):
                total += oracle.pending_change(chain, entry)
        return total

    assert balance_over(everything) == oracle.balance, f"{oracle.name}: oracle arithmetic"
    balance = balance_over(visible)
    # wallet2's locked part: its balance minus its unlocked balance (unlocked,
    # unspent mined outputs); lws's locked_funds is the same over visible ones.
    unlocked = sum(
        t["amount"] for t in oracle.incoming if t["unlocked"] and not t["spent"] and shown(t)
    )
    unlocked_all = sum(t["amount"] for t in oracle.incoming if t["unlocked"] and not t["spent"])
    assert unlocked_all == oracle.unlocked_balance, f"{oracle.name}: oracle unlocked arithmetic"

    txs: dict[str, tuple[int, int, int | None]] = {}
    received: dict[str, int] = {}
    heights: dict[str, int | None] = {}
    for t in oracle.incoming:
        if shown(t):
            received[t["tx_hash"]] = received.get(t["tx_hash"], 0) + t["amount"]
        heights[t["tx_hash"]] = t["block_height"]
    for entry in oracle.pool_in():
        if shown(entry):
            received[entry["txid"]] = received.get(entry["txid"], 0) + entry["amount"]
        heights[entry["txid"]] = None
    for entry in oracle.transfers.get("pending", []):
        if visible((oracle.sub(entry)[0], 0)):
            received[entry["txid"]] = received.get(entry["txid"], 0) + oracle.pending_change(
                chain, entry
            )
        heights[entry["txid"]] = None
    for entry in oracle.transfers.get("out", []):
        heights[entry["txid"]] = entry["height"]
    spenders = {
        e["txid"] for e in (*oracle.transfers.get("out", []), *oracle.transfers.get("pending", []))
    }
    sent = {h: sum(t["amount"] for t in oracle.spent_by(chain, h) if shown(t)) for h in spenders}
    for tx_hash in set(received) | set(sent):
        got, gave = received.get(tx_hash, 0), sent.get(tx_hash, 0)
        if got or gave:
            txs[tx_hash] = (got, gave, heights[tx_hash])
    unspent = {
        t["pubkey"]: t for t in oracle.incoming if t["unlocked"] and not t["spent"] and shown(t)
    }
    complete = all(shown(t) for t in oracle.incoming) and all(
        shown(e) for e in oracle.transfers.get("pool", [])
    )
    return Expected(
        balance=balance, locked=balance - unlocked, txs=txs, unspent=unspent, complete=complete
    )


# --- fixtures --------------------------------------------------------------------------


def open_account(
    server: LwsProcess, keys: WalletKeys, *, ranges: dict[int, tuple[int, int]] | None = None
) -> None:
    """Log in (creating the account), register subaddresses, rescan from 0."""
    server.login(keys)
    if ranges:
        reply = server.post(
            "upsert_subaddrs",
            {
                **creds(keys),
                "subaddrs": [{"key": k, "value": [list(v)]} for k, v in ranges.items()],
                "get_all": True,
            },
        )
        assert reply.status_code == 200, reply.text
    reply = server.post("import_wallet_request", {**creds(keys), "from_height": 0})
    assert reply.status_code == 200 and reply.json()["request_fulfilled"] is True, reply.text


def wait_caught_up(server: LwsProcess, keys: WalletKeys, height: int, pool: set[str]) -> None:
    """Scanned to ``height`` and the pool pass has shown every tx of ``pool``."""
    server.wait_scanned(keys, height)
    deadline = time.monotonic() + 60
    while True:
        txs = server.post("get_address_txs", creds(keys)).json()["transactions"]
        if pool <= {t["hash"] for t in txs if t["mempool"]}:
            return
        assert time.monotonic() < deadline, f"pool txs {pool} not shown"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def chain(monerod: Monerod, scenario: Scenario) -> Chain:
    return Chain(monerod)


@pytest.fixture(scope="module")
def oracles(wallet_rpc: WalletRpc, chain: Chain, scenario: Scenario) -> dict[str, Oracle]:
    return {name: build_oracle(wallet_rpc, chain, name) for name in WALLETS}


def pool_of(oracle: Oracle) -> set[str]:
    return {
        e["txid"] for e in (*oracle.transfers.get("pool", []), *oracle.transfers.get("pending", []))
    }


@pytest.fixture(scope="module")
def plain_server(
    lws_server: LwsProcess, monerod: Monerod, oracles: dict[str, Oracle], scenario: Scenario
) -> LwsProcess:
    """The session's lws with the four wallets as a fresh MyMonero client makes
    them: login, no subaddress, rescan from the start."""
    for name in WALLETS:
        open_account(lws_server, scenario.keys[name])
    height = monerod.height()
    for name in WALLETS:
        wait_caught_up(lws_server, scenario.keys[name], height, pool_of(oracles[name]))
    return lws_server


@pytest.fixture(scope="module")
def subaddr_server(
    tmp_path_factory: pytest.TempPathFactory,
    monerod: Monerod,
    oracles: dict[str, Oracle],
    scenario: Scenario,
) -> Iterator[LwsProcess]:
    """A second lws where bob registered all his subaddresses before his rescan."""
    server = LwsProcess(tmp_path_factory.mktemp("lws-subaddrs"), monerod)
    try:
        open_account(server, scenario.keys["bob"], ranges=BOB_RANGES)
        wait_caught_up(server, scenario.keys["bob"], monerod.height(), pool_of(oracles["bob"]))
        yield server
    finally:
        server.stop()


CASES = [(name, "plain", primary_only) for name in WALLETS] + [("bob", "subaddrs", bob_registered)]
IDS = [f"{name}-{variant}" for name, variant, _ in CASES]


@pytest.fixture(params=CASES, ids=IDS)
def case(
    request: pytest.FixtureRequest,
    plain_server: LwsProcess,
    oracles: dict[str, Oracle],
    chain: Chain,
    scenario: Scenario,
) -> tuple[LwsProcess, WalletKeys, Oracle, Expected]:
    name, variant, visible = request.param
    server = plain_server if variant == "plain" else request.getfixturevalue("subaddr_server")
    oracle = oracles[name]
    return server, scenario.keys[name], oracle, expect(oracle, chain, visible)


# --- read-only checks on the session chain --------------------------------------------


def test_expectations_are_not_trivial(oracles: dict[str, Oracle], chain: Chain) -> None:
    """The scenario gives the checks below something to find."""
    bob_plain = expect(oracles["bob"], chain, primary_only)
    bob_all = expect(oracles["bob"], chain, bob_registered)
    assert bob_all.balance == oracles["bob"].balance  # bob registered every subaddress he has
    assert bob_plain.balance < bob_all.balance  # his subaddress funds need registration
    assert len(bob_plain.unspent) < len(bob_all.unspent)
    assert any(h is None for _, _, h in bob_plain.txs.values())  # a pool receipt
    assert any(h is None for _, _, h in expect(oracles["alice"], chain, primary_only).txs.values())
    assert expect(oracles["dave"], chain, primary_only).txs == {}


def test_balance(case: tuple[LwsProcess, WalletKeys, Oracle, Expected]) -> None:
    server, keys, oracle, expected = case
    reply = server.post("get_address_info", creds(keys))
    assert reply.status_code == 200, reply.text
    info = reply.json()
    kept = real_spends(oracle, info["spent_outputs"])
    # the core subtracts each kept entry: one per real spend, never twice
    assert len({s["key_image"] for s in kept}) == len(kept)
    balance = int(info["total_received"]) - sum(int(s["amount"]) for s in kept)
    assert balance == expected.balance
    assert int(info["locked_funds"]) == expected.locked
    for spend in kept:
        source = oracle.by_image[spend["key_image"]]
        assert int(spend["amount"]) == source["amount"]
        assert spend["tx_pub_key"] in source["tx_pub_keys"]
    # candidate spends that are not real are all of outputs the wallet owns
    assert {s["tx_pub_key"] for s in info["spent_outputs"]} <= {
        k for t in oracle.incoming for k in t["tx_pub_keys"]
    }
    assert info["scanned_block_height"] == info["blockchain_height"]


def test_history(case: tuple[LwsProcess, WalletKeys, Oracle, Expected], chain: Chain) -> None:
    server, keys, oracle, expected = case
    reply = server.post("get_address_txs", creds(keys))
    assert reply.status_code == 200, reply.text
    txs = reply.json()["transactions"]
    by_hash = {t["hash"]: t for t in txs}
    assert len(by_hash) == len(txs), "a transaction listed twice"

    seen = {}
    for tx in txs:
        sent = sum(int(s["amount"]) for s in real_spends(oracle, tx["spent_outputs"]))
        if int(tx["total_received"]) or sent:
            seen[tx["hash"]] = (int(tx["total_received"]), sent, tx.get("height"))
    assert seen == expected.txs

    listed = {e["txid"] for kind in oracle.transfers.values() for e in kind}
    assert set(seen) <= listed
    if expected.complete:
        assert set(seen) == listed  # nothing hidden by subaddress gating: the very same list

    # order: ids strictly increasing, chain order, mempool last
    ids = [t["id"] for t in txs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    heights = [t["height"] if not t["mempool"] else 1 << 62 for t in txs]
    assert heights == sorted(heights)

    fees: dict[str, int] = {}
    for entry in (e for kind in oracle.transfers.values() for e in kind):
        fees[entry["txid"]] = entry["fee"]
    for tx_hash, tx in by_hash.items():
        assert ISO.match(tx["timestamp"]), tx
        assert isinstance(tx["spent_outputs"], list)
        if tx["mempool"]:
            assert "height" not in tx
        else:
            assert isinstance(tx["height"], int)
        assert tx["coinbase"] == chain.is_coinbase(tx_hash)
        if tx_hash in fees:
            assert int(tx["fee"]) == fees[tx_hash], tx_hash
    for entry in oracle.mined_entries:
        if entry["txid"] in seen:
            tx = by_hash[entry["txid"]]
            stamp = datetime.fromtimestamp(entry["timestamp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            assert tx["timestamp"] == stamp and tx["height"] == entry["height"]
    # payment ids of received payments (the integrated-address one for bob)
    for entry in oracle.transfers.get("in", []):
        pid = entry["payment_id"].strip("0")
        if entry["txid"] in seen and pid:
            assert by_hash[entry["txid"]]["payment_id"] == entry["payment_id"]


def test_unspent_outs(case: tuple[LwsProcess, WalletKeys, Oracle, Expected], chain: Chain) -> None:
    server, keys, oracle, expected = case
    reply = server.post("get_unspent_outs", {**creds(keys), **UNSPENT_REQUEST})
    assert reply.status_code == 200, reply.text  # dave too: an amount of "0" is covered
    body = reply.json()
    assert body["per_byte_fee"] > 0 and body["fee_mask"] > 0 and body["fork_version"] >= 16
    outputs = body["outputs"]
    assert isinstance(outputs, list)
    for out in outputs:
        assert isinstance(out["spend_key_images"], list)
        assert out["public_key"] in oracle.image_of_key, "not the wallet's output"
    kept = {
        o["public_key"]: o
        for o in outputs
        if oracle.image_of_key[o["public_key"]] not in o["spend_key_images"]
    }
    assert set(kept) == set(expected.unspent)
    # spent ones are listed only with their real key image (so the core drops them)
    for out in outputs:
        transfer = oracle.by_image[oracle.image_of_key[out["public_key"]]]
        assert transfer["unlocked"], "a locked output offered for spending"
        if transfer["spent"]:
            assert transfer["key_image"] in out["spend_key_images"]
    on_chain = chain.outs([int(o["global_index"]) for o in outputs])
    for out, daemon_out in zip(outputs, on_chain, strict=True):
        transfer = oracle.by_image[oracle.image_of_key[out["public_key"]]]
        assert out["amount"] == str(transfer["amount"])
        assert out["global_index"] == str(transfer["global_index"])
        assert out["tx_hash"] == transfer["tx_hash"] == daemon_out["txid"]
        assert out["height"] == transfer["block_height"] == daemon_out["height"]
        assert out["public_key"] == daemon_out["key"]
        assert out["index"] == transfer["vout"]
        assert out["tx_pub_key"] in transfer["tx_pub_keys"]
        assert out["recipient"] == {
            "maj_i": transfer["subaddr_index"]["major"],
            "min_i": transfer["subaddr_index"]["minor"],
        }
        if chain.is_coinbase(out["tx_hash"]):
            assert out["rct"] == "coinbase"
        else:
            assert HEX64.match(out["rct"]) and out["rct"] == daemon_out["mask"]
        assert ISO.match(out["timestamp"])
    assert int(body["amount"]) == sum(int(o["amount"]) for o in outputs)


# --- a send through lws, on a private chain ---------------------------------------------


@pytest.fixture(scope="module")
def private_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Monerod, WalletRpc]]:
    workdir: Path = tmp_path_factory.mktemp("send")
    with Monerod(workdir / "monerod") as daemon, WalletRpc(workdir / "wallet", daemon) as wallet:
        yield daemon, wallet


def test_send_through_lws(private_chain: tuple[Monerod, WalletRpc], tmp_path: Path) -> None:
    """wallet-rpc builds (and does not relay) two transactions spending the
    same output: lws relays the first, refuses the second as a double spend."""
    daemon, wallet = private_chain
    sender, recipient = WalletKeys("send-alice"), WalletKeys("send-dave")
    wallet.create_from_keys("send-dave", recipient)
    wallet.create_from_keys("send-alice", sender)
    # unlocked coinbase funds and enough outputs for rings of 16
    daemon.mine(COINBASE_UNLOCK_BLOCKS + 60, sender.address())
    server = LwsProcess(tmp_path / "lws", daemon)
    try:
        server.login(recipient)
        server.post("import_wallet_request", {**creds(recipient), "from_height": 0})
        server.wait_scanned(recipient, daemon.height())

        wallet.open("send-alice")
        wallet.refresh()
        source = next(t for t in wallet.incoming_transfers() if t["unlocked"] and not t["spent"])

        def sweep(to: str) -> dict[str, Any]:
            return dict(
                wallet.rpc(
                    "sweep_single",
                    address=to,
                    key_image=source["key_image"],
                    do_not_relay=True,
                    get_tx_hex=True,
                )
            )

        paid, conflicting = sweep(recipient.address()), sweep(sender.address())
        tx_hash, tx_hex = paid["tx_hash"], paid["tx_blob"]
        assert tx_hash != conflicting["tx_hash"]
        assert tx_hash not in daemon.pool_hashes()

        reply = server.post("submit_raw_tx", {"tx": tx_hex})
        assert reply.status_code == 200 and reply.json() == {"status": "OK"}, reply.text
        assert tx_hash in daemon.pool_hashes()
        # the recipient's light wallet sees it in the pool: timestamp, no height
        deadline = time.monotonic() + 60
        while True:
            txs = server.post("get_address_txs", creds(recipient)).json()["transactions"]
            pool = [t for t in txs if t["hash"] == tx_hash]
            if pool or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert pool and pool[0]["mempool"] is True and "height" not in pool[0]
        assert ISO.match(pool[0]["timestamp"]) and pool[0]["total_received"] == str(paid["amount"])

        # the other spend of the same output, while the first waits in the pool
        double = server.post("submit_raw_tx", {"tx": conflicting["tx_blob"]})
        assert 400 <= double.status_code < 500, double.text
        assert set(double.json()) == {"Error"} and "double spend" in double.json()["Error"]
        assert conflicting["tx_hash"] not in daemon.pool_hashes()
        # the very same tx again: monerod knows it ("Not relayed"), no 5xx
        again = server.post("submit_raw_tx", {"tx": tx_hex})
        assert again.status_code < 500, again.text

        daemon.mine(1, sender.address())
        assert tx_hash not in daemon.pool_hashes()
        wallet.open("send-dave")
        wallet.refresh()
        got = wallet.rpc("get_transfers", **{"in": True})["in"]
        assert [(t["txid"], t["amount"]) for t in got] == [(tx_hash, paid["amount"])]
        info = server.wait_scanned(recipient, daemon.height())
        assert info["total_received"] == str(paid["amount"])

        # once mined, the conflicting spend is still a clear 4xx
        double = server.post("submit_raw_tx", {"tx": conflicting["tx_blob"]})
        assert 400 <= double.status_code < 500, double.text
        assert set(double.json()) == {"Error"} and "double spend" in double.json()["Error"]

        # garbage is a 4xx too, never a 500
        junk = server.post("submit_raw_tx", {"tx": "00" * 64})
        assert 400 <= junk.status_code < 500 and "Error" in junk.json(), junk.text
    finally:
        server.stop()
