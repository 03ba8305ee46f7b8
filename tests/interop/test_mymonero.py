# Owns issue 4 section 4's proof: the real MyMonero npm clients (driven by
# tests/interop/client.mjs) log in to a real `lws serve`, show the balance
# monero-wallet-rpc shows, and send funds that monero-wallet-rpc receives.
# State-changing tests run on a chain of their own (own monerod, wallet-rpc
# and lws) so the session's scenario chain stays as other tests expect it.
# Must not import lws's store, scanner or API: lws is seen only over HTTP.
"""Interop: MyMonero lws-client + monero-client against lws on regtest."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LwsProcess
from tests.support.regtest import (
    COINBASE_UNLOCK_BLOCKS,
    SPENDABLE_AGE_BLOCKS,
    Monerod,
    WalletKeys,
    WalletRpc,
)
from tests.support.scenario import Scenario

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
DRIVER = HERE / "client.mjs"
#: One driver run loads the wasm core (~0.5 s) and makes a handful of calls.
DRIVER_TIMEOUT_S = 120
ATOMIC = 10**12

#: Wallets the MyMonero client uses (each an lws account), and their roles.
FUNDER = "funder"  # mines the chain's coinbase outputs, funds the others
PAYER = "payer"  # one ordinary output, for the plain send
SWEEPER = "sweeper"  # three outputs, swept at once
TWICE = "twice"  # two outputs, spent one after the other before a block
MINER = "miner"  # only ever receives coinbase outputs
CLIENT_WALLETS = (FUNDER, PAYER, SWEEPER, TWICE, MINER)
#: The user's other wallet, seen only through monero-wallet-rpc: every send
#: pays it, and its incoming_transfers are matched by transaction hash.
RECIPIENT = "recipient"
#: Restored in monero-wallet-rpc as oracles. Each open_wallet costs a slow
#: hash (seconds on a busy 2-core machine), so only the wallets whose balance
#: the tests compare with the oracle are restored there.
ORACLE_WALLETS = (FUNDER, MINER, TWICE, RECIPIENT)

#: What the funder sends each client wallet: one transaction, one output per amount.
FUNDING = {
    PAYER: [40 * ATOMIC],
    SWEEPER: [3 * ATOMIC, 2 * ATOMIC, 3 * ATOMIC // 2],
    TWICE: [4 * ATOMIC, 4 * ATOMIC],
}
#: Blocks mined to the miner first: its only funds are these coinbase outputs.
MINER_BLOCKS = 2
#: Blocks mined to the funder: 60 unlocked coinbase outputs to spend and to
#: serve as decoys (rings of 16) once the unlock window has passed.
FUNDER_BLOCKS = COINBASE_UNLOCK_BLOCKS + 60


def _need_node() -> None:
    if shutil.which("node") is None:
        pytest.skip("node not found: the interop tests need Node.js 20")
    if not (HERE / "node_modules" / "@mymonero" / "mymonero-monero-client").is_dir():
        pytest.skip("npm packages missing: run tools/install.sh (npm ci in tests/interop)")


def run_client(url: str, keys: WalletKeys, cmd: str, **extra: Any) -> dict[str, Any]:
    """Run the MyMonero driver once; fails the test with the client's own error."""
    request = {
        "cmd": cmd,
        "url": url,
        "address": keys.address(),
        "view_key": keys.view_secret.hex(),
        "spend_key": keys.spend_secret.hex(),
        "nettype": "MAINNET",  # the core's name for the prefix regtest uses
        **extra,
    }
    done = subprocess.run(
        ["node", str(DRIVER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT_S,
        cwd=HERE,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        pytest.fail(f"driver exited {done.returncode}: {done.stderr[-3000:]}")
    reply: dict[str, Any] = json.loads(lines[-1])
    if not reply["ok"]:
        trace = json.dumps(reply.get("trace", []), indent=1)[-6000:]
        pytest.fail(f"MyMonero client failed at {reply['stage']}: {reply['error']}\n{trace}")
    return reply


def wallet_balance(wallets: WalletRpc, name: str) -> tuple[int, int]:
    """(balance, unlocked_balance) of the primary account, as monero-wallet-rpc has it."""
    wallets.open(name)
    wallets.refresh()
    got = wallets.rpc("get_balance", account_index=0)
    return int(got["balance"]), int(got["unlocked_balance"])


def received(wallets: WalletRpc, tx_hash: str) -> list[int]:
    """Amounts of the recipient's outputs from one transaction, as wallet-rpc lists them."""
    wallets.open(RECIPIENT)
    wallets.refresh()
    return sorted(int(t["amount"]) for t in wallets.incoming_transfers() if t["tx_hash"] == tx_hash)


@dataclass
class Chain:
    daemon: Monerod
    wallets: WalletRpc
    lws: LwsProcess
    keys: dict[str, WalletKeys]

    def address(self, name: str) -> str:
        return self.keys[name].address()

    def client(self, name: str, cmd: str = "wallet", **extra: Any) -> dict[str, Any]:
        return run_client(self.lws.url, self.keys[name], cmd, **extra)

    def send(
        self, name: str, payments: list[tuple[str, int]], *, sweep: bool = False, priority: int = 1
    ) -> dict[str, Any]:
        """Send with the MyMonero client; the transaction must reach monerod's pool."""
        reply = self.client(
            name,
            "send",
            destinations=[{"address": self.address(to), "amount": str(n)} for to, n in payments],
            sweep=sweep,
            priority=priority,
        )
        assert reply["submitted"] == {"status": "OK"}
        assert reply["tx_hash"] in self.daemon.pool_hashes()
        self.wait_pending(name, reply["tx_hash"])
        return reply

    def wait_pending(self, name: str, tx_hash: str, timeout: float = 30) -> None:
        """Wait until lws lists the sent tx as pending, as a wallet app shows it.

        lws learns of pool transactions on its pool poll (--poll-interval), not
        from submit_raw_tx itself.
        """
        keys = self.keys[name]
        body = {"address": keys.address(), "view_key": keys.view_secret.hex()}
        deadline = time.monotonic() + timeout
        while True:
            txs = self.lws.post("get_address_txs", body).json().get("transactions", [])
            if any(tx["hash"] == tx_hash for tx in txs):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"lws did not list pool tx {tx_hash}")
            time.sleep(0.1)

    def mine(self, blocks: int) -> None:
        """Mine to the funder; wait until lws has scanned every client wallet."""
        self.daemon.mine(blocks, self.address(FUNDER))
        height = self.daemon.height()
        for name in CLIENT_WALLETS:
            self.lws.wait_scanned(self.keys[name], height, timeout=120)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """A small regtest chain of our own, with lws and the client wallets on it."""
    _need_node()
    root = tmp_path_factory.mktemp("interop")
    with Monerod(root / "monerod") as daemon, WalletRpc(root / "wallet-rpc", daemon) as wallets:
        server = LwsProcess(root / "lws", daemon)
        try:
            keys = {name: WalletKeys(f"interop-{name}") for name in CLIENT_WALLETS + (RECIPIENT,)}
            built = Chain(daemon, wallets, server, keys)
            # New wallets: the client creates each account before any funds arrive.
            for name in CLIENT_WALLETS:
                assert built.client(name)["login"]["isNewAddress"] is True
            daemon.mine(MINER_BLOCKS, built.address(MINER))
            built.mine(FUNDER_BLOCKS)
            for name in ORACLE_WALLETS:
                wallets.create_from_keys(name, keys[name])
            # The funder pays through monero-wallet-rpc: the MyMonero core cannot
            # pay for more than two outputs at priority 1 (see the xfail below).
            wallets.open(FUNDER)
            wallets.refresh()
            wallets.rpc(
                "transfer",
                destinations=[
                    {"address": built.address(name), "amount": amount}
                    for name, amounts in FUNDING.items()
                    for amount in amounts
                ],
            )
            built.mine(SPENDABLE_AGE_BLOCKS + 1)
            yield built
        finally:
            server.stop()


def _assert_same_balance(chain: Chain, name: str) -> dict[str, Any]:
    seen = chain.client(name)
    balance, unlocked = wallet_balance(chain.wallets, name)
    assert int(seen["balance"]) == balance, seen
    assert int(seen["history_balance"]) == balance, seen["transactions"]
    assert int(seen["unlocked"]) == unlocked, seen
    return seen


def test_history_and_balance_match_wallet_rpc(chain: Chain) -> None:
    """Coinbase receipts and a spend with change: the client shows wallet-rpc's numbers."""
    seen = _assert_same_balance(chain, FUNDER)
    transfers = chain.wallets.rpc("get_transfers", **{"in": True, "out": True, "pool": True})
    expected = {t["txid"]: int(t["amount"]) for t in transfers.get("in", [])}
    for t in transfers.get("out", []):
        expected[t["txid"]] = -(int(t["amount"]) + int(t["fee"]))
    shown = {tx["hash"]: int(tx["amount"]) for tx in seen["transactions"]}
    assert shown == expected
    coinbase = [tx for tx in seen["transactions"] if tx["coinbase"]]
    assert len(coinbase) == FUNDER_BLOCKS + SPENDABLE_AGE_BLOCKS + 1
    # the funding tx's rings hold other coinbase outputs of ours: lws lists them
    # as candidate spends and the client drops them by key image
    assert seen["spent_outputs_ignored"] > 0

    miner = _assert_same_balance(chain, MINER)
    assert len(miner["transactions"]) == MINER_BLOCKS
    assert all(tx["coinbase"] for tx in miner["transactions"])

    # what the funding transaction gave each wallet, as its client shows it
    for name, amounts in FUNDING.items():
        got = chain.client(name)
        assert int(got["balance"]) == sum(amounts)
        assert sorted(int(out["amount"]) for out in got["spendable"]) == sorted(amounts)


def test_gzip_replies_as_a_browser_asks_for_them(chain: Chain) -> None:
    """With Accept-Encoding: gzip (what a browser adds to the client's requests) the
    account reads come gzipped and the client shows exactly what it shows without."""
    plain = chain.client(FUNDER)
    zipped = chain.client(FUNDER, accept_encoding="gzip, deflate, br")
    assert set(plain["encodings"].values()) == {"identity"}  # axios 0.21 asks for none
    for path in ("/get_address_txs", "/get_unspent_outs"):  # long replies
        assert zipped["encodings"][path] == "gzip", zipped["encodings"]
    for key in ("balance", "history_balance", "unlocked", "transactions", "spendable"):
        assert zipped[key] == plain[key], key


def test_send(chain: Chain) -> None:
    before = chain.client(PAYER)
    amount = 1_234_567_891_234
    sent = chain.send(PAYER, [(RECIPIENT, amount)])
    assert int(sent["final_total_wo_fee"]) == amount
    fee = int(sent["used_fee"])
    assert 0 < fee < ATOMIC // 100

    # right away (mempool): the sender's client shows the outgoing transaction
    pending = chain.client(PAYER)
    mine = [tx for tx in pending["transactions"] if tx["hash"] == sent["tx_hash"]]
    assert mine and mine[0]["mempool"] and int(mine[0]["amount"]) == -(amount + fee)
    assert int(pending["balance"]) == int(before["balance"]) - amount - fee

    chain.mine(SPENDABLE_AGE_BLOCKS)
    assert received(chain.wallets, sent["tx_hash"]) == [amount]
    after = chain.client(PAYER)
    assert int(after["balance"]) == int(before["balance"]) - amount - fee
    assert int(after["spendable_total"]) == int(after["balance"])  # the change, unlocked


def test_send_to_two_destinations(chain: Chain) -> None:
    """Two payments in one transaction, at priority 2 (see the xfail below for 1)."""
    before = chain.client(PAYER)
    amounts = [ATOMIC // 3, ATOMIC // 7]
    sent = chain.send(PAYER, [(RECIPIENT, n) for n in amounts], priority=2)
    assert int(sent["final_total_wo_fee"]) == sum(amounts)

    chain.mine(SPENDABLE_AGE_BLOCKS)
    assert received(chain.wallets, sent["tx_hash"]) == sorted(amounts)
    after = chain.client(PAYER)
    assert int(after["balance"]) == int(before["balance"]) - sum(amounts) - int(sent["used_fee"])


@pytest.mark.xfail(
    strict=True,
    reason="monero-client 3.0.0 prices a 3-output tx like a 2-output one (same fee for 1, "
    "2 or 3 destinations), below monerod's minimum once the Bulletproof+ weight "
    "clawback applies: monerod answers 'fee too low'. A client bug, not lws's.",
)
def test_send_to_two_destinations_at_priority_1(chain: Chain) -> None:
    chain.send(PAYER, [(RECIPIENT, ATOMIC // 3), (RECIPIENT, ATOMIC // 7)], priority=1)


def test_sweep(chain: Chain) -> None:
    before = chain.client(SWEEPER)
    assert len(before["spendable"]) == len(FUNDING[SWEEPER])
    sent = chain.send(SWEEPER, [(RECIPIENT, 0)], sweep=True)
    swept = int(sent["final_total_wo_fee"])
    assert swept + int(sent["used_fee"]) == sum(FUNDING[SWEEPER])

    chain.mine(SPENDABLE_AGE_BLOCKS)
    assert received(chain.wallets, sent["tx_hash"]) == [swept]
    after = chain.client(SWEEPER)
    assert int(after["balance"]) == 0 and after["spendable"] == []


def test_spend_coinbase_outputs(chain: Chain) -> None:
    before = chain.client(MINER)
    assert before["spendable"] and all(out["coinbase"] for out in before["spendable"])
    amount = 5 * ATOMIC
    sent = chain.send(MINER, [(RECIPIENT, amount)])

    chain.mine(SPENDABLE_AGE_BLOCKS)
    assert received(chain.wallets, sent["tx_hash"]) == [amount]
    after = _assert_same_balance(chain, MINER)
    assert int(after["balance"]) == int(before["balance"]) - amount - int(sent["used_fee"])


def test_second_send_before_a_block(chain: Chain) -> None:
    """The pool's key images keep the client off the output it has just spent."""
    before = chain.client(TWICE)
    assert len(before["spendable"]) == 2
    amount = 3 * ATOMIC
    first = chain.send(TWICE, [(RECIPIENT, amount)])

    between = chain.client(TWICE)
    assert len(between["spendable"]) == 1, between["spendable"]
    assert between["spendable"][0]["key_image"] in {out["key_image"] for out in before["spendable"]}
    second = chain.send(TWICE, [(RECIPIENT, amount)])
    assert second["tx_hash"] != first["tx_hash"]
    assert {first["tx_hash"], second["tx_hash"]} <= set(chain.daemon.pool_hashes())

    chain.mine(SPENDABLE_AGE_BLOCKS)
    assert received(chain.wallets, first["tx_hash"]) == [amount]
    assert received(chain.wallets, second["tx_hash"]) == [amount]
    after = _assert_same_balance(chain, TWICE)
    fees = int(first["used_fee"]) + int(second["used_fee"])
    assert int(after["balance"]) == sum(FUNDING[TWICE]) - 2 * amount - fees


@pytest.mark.parametrize("name", ["alice", "carol"])
def test_scenario_wallet_restored(
    name: str, lws_server: LwsProcess, scenario: Scenario, wallet_rpc: WalletRpc, monerod: Monerod
) -> None:
    """A restored wallet on the shared chain: import from 0, then wallet-rpc's balance.

    alice: coinbase, spends with change, and an outgoing tx left in the pool;
    carol: received at her primary address, swept everything, and has an
    incoming payment in the pool.
    """
    _need_node()
    keys = scenario.keys[name]
    first = run_client(lws_server.url, keys, "wallet", **{"import": True})
    assert first["imported"]["request_fulfilled"] is True
    lws_server.wait_scanned(keys, monerod.height())
    seen = run_client(lws_server.url, keys, "wallet")
    balance, unlocked = wallet_balance(wallet_rpc, name)
    assert int(seen["balance"]) == balance
    assert int(seen["history_balance"]) == balance
    assert int(seen["unlocked"]) == unlocked
