# Owns the story the end-to-end tests replay on a real regtest chain: which
# wallets exist, what they send to whom, and what is left in the pool. Uses
# only tests.support.regtest (real monerod + monero-wallet-rpc); must not import lws's
# scanner, store or API, so the chain it builds is independent of them.
"""A regtest chain with every kind of receipt and spend a wallet meets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support.regtest import (
    COINBASE_UNLOCK_BLOCKS,
    SPENDABLE_AGE_BLOCKS,
    Monerod,
    WalletKeys,
    WalletRpc,
)

ATOMIC = 10**12  # one XMR in atomic units

#: The wallets of the story. "dave" never receives anything.
WALLETS = ("alice", "bob", "carol", "dave")


@dataclass
class Scenario:
    keys: dict[str, WalletKeys]
    addresses: dict[str, str]
    #: txid -> what it was, for readable failures
    txs: dict[str, str] = field(default_factory=dict)
    #: txids left in the pool at the end of the story
    pool_txs: list[str] = field(default_factory=list)
    #: bob's subaddresses (major, minor) -> address, created through wallet-rpc
    bob_subaddresses: dict[tuple[int, int], str] = field(default_factory=dict)
    bob_integrated: str = ""
    bob_payment_id: str = ""


def _transfer(
    wallet: WalletRpc, name: str, destinations: list[tuple[str, int]], **extra: Any
) -> str:
    wallet.open(name)
    wallet.refresh()
    result = wallet.rpc(
        "transfer",
        destinations=[{"address": a, "amount": amount} for a, amount in destinations],
        **extra,
    )
    return str(result["tx_hash"])


def build_scenario(daemon: Monerod, wallet: WalletRpc, *, leave_in_pool: bool = True) -> Scenario:
    """Build the story on a fresh chain; returns what happened."""
    keys = {name: WalletKeys(name) for name in WALLETS}
    addresses = {name: wallet.create_from_keys(name, keys[name]) for name in WALLETS}
    story = Scenario(keys=keys, addresses=addresses)

    # Coinbase: alice mines the funds, bob mines two blocks himself.
    daemon.mine(5, addresses["alice"])
    daemon.mine(2, addresses["bob"])
    # enough unlocked coinbase outputs for rings of 16 (wallet2 needs ~110 blocks)
    daemon.mine(COINBASE_UNLOCK_BLOCKS + 60, addresses["alice"])

    # Bob's subaddresses, created the way a wallet user would.
    wallet.open("bob")
    wallet.rpc("create_address", account_index=0, count=3)  # (0,1) (0,2) (0,3)
    wallet.rpc("create_account")  # (1,0)
    wallet.rpc("create_address", account_index=1, count=2)  # (1,1) (1,2)
    wallet.rpc("create_account")  # (2,0)
    wallet.rpc("create_address", account_index=2, count=5)  # (2,1) .. (2,5)
    for major, minors in ((0, range(1, 4)), (1, range(0, 3)), (2, range(0, 6))):
        for minor in minors:
            got = wallet.rpc("get_address_index", address=_subaddress(wallet, major, minor))
            assert (got["index"]["major"], got["index"]["minor"]) == (major, minor)
            story.bob_subaddresses[(major, minor)] = _subaddress(wallet, major, minor)
    integrated = wallet.rpc("make_integrated_address", payment_id="")
    story.bob_integrated = integrated["integrated_address"]
    story.bob_payment_id = integrated["payment_id"]

    sub = story.bob_subaddresses
    story.txs[_transfer(wallet, "alice", [(addresses["bob"], 3 * ATOMIC)])] = "alice->bob primary"
    story.txs[_transfer(wallet, "alice", [(sub[(0, 2)], 2 * ATOMIC)])] = "alice->bob (0,2)"
    story.txs[_transfer(wallet, "alice", [(sub[(2, 5)], ATOMIC + 7)])] = "alice->bob (2,5)"
    story.txs[_transfer(wallet, "alice", [(story.bob_integrated, 4 * ATOMIC)])] = (
        "alice->bob integrated"
    )
    multi = [
        (addresses["bob"], ATOMIC // 2),
        (sub[(0, 3)], ATOMIC // 3),
        (sub[(1, 2)], ATOMIC // 5),
        (addresses["carol"], 2 * ATOMIC),
    ]
    story.txs[_transfer(wallet, "alice", multi)] = "alice->bob,bob(0,3),bob(1,2),carol multi"
    daemon.mine(1, addresses["alice"])
    story.txs[_transfer(wallet, "alice", [(sub[(1, 1)], ATOMIC * 3 // 2)])] = "alice->bob (1,1)"
    daemon.mine(SPENDABLE_AGE_BLOCKS + 1, addresses["alice"])

    # Bob spends (his key images must show up as candidate spends), carol sweeps to bob.
    story.txs[_transfer(wallet, "bob", [(addresses["carol"], ATOMIC + ATOMIC // 10)])] = (
        "bob->carol"
    )
    wallet.open("carol")
    wallet.refresh()
    sweep = wallet.rpc("sweep_all", address=addresses["bob"], account_index=0)
    for txid in sweep["tx_hash_list"]:
        story.txs[txid] = "carol sweep_all->bob"
    daemon.mine(SPENDABLE_AGE_BLOCKS + 1, addresses["alice"])
    story.txs[_transfer(wallet, "bob", [(sub[(2, 3)], ATOMIC // 4)])] = "bob->bob (2,3) self"
    daemon.mine(1, addresses["alice"])

    if leave_in_pool:
        txid = _transfer(
            wallet, "alice", [(addresses["bob"], ATOMIC // 7), (addresses["carol"], 5)]
        )
        story.txs[txid] = "alice->bob,carol (pool)"
        story.pool_txs.append(txid)
    for name in WALLETS:
        wallet.open(name)
        wallet.refresh()
    return story


def _subaddress(wallet: WalletRpc, major: int, minor: int) -> str:
    result = wallet.rpc("get_address", account_index=major, address_index=[minor])
    return str(result["addresses"][0]["address"])
