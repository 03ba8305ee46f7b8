# Owns the end-to-end proof of webhooks (issue 16 §5) on a private regtest
# monerod (the reorg rewrites its chain) with monero-wallet-rpc as the oracle
# and a real receiver on loopback: `lws serve` sends the 0-confirmation event
# and each confirmation up to the hook's count, with monero-lws's bodies and
# valid signatures; "any" and an exact payment id on an integrated-address
# payment; a spend's tx-spend; a new account's new-account; a reorg's
# tx-reorg followed by fresh confirmations. And /feed (trio-websocket):
# tx_sync, then a payment's mempool and blocks messages.
"""Webhooks end to end: lws serve, monerod, wallet-rpc and a receiver."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
from trio_websocket import open_websocket_url

from lws.wire.feed import SUBPROTOCOL
from tests.conftest import LwsProcess
from tests.support.receiver import Received, Receiver
from tests.support.regtest import SPENDABLE_AGE_BLOCKS, Monerod, WalletKeys, WalletRpc
from tests.support.webhooks import HookAdmin, check_order_and_signatures, login

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ATOMIC = 10**12
NAMES = ("sender", "merchant", "other")
PAYMENT_ID = "1122334455667788"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
WAIT_S = 60.0


@dataclass
class World:
    monerod: Monerod
    wallet: WalletRpc
    keys: dict[str, WalletKeys]
    addresses: dict[str, str]
    receiver: Receiver
    lws: LwsProcess
    admin: HookAdmin
    #: hook name -> webhook_add's reply (event_id, secret...)
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def transfer(self, wallet: str, destinations: list[tuple[str, int]]) -> str:
        self.wallet.open(wallet)
        self.wallet.refresh()
        result = self.wallet.rpc(
            "transfer", destinations=[{"address": a, "amount": n} for a, n in destinations]
        )
        return str(result["tx_hash"])

    def mine(self, blocks: int) -> None:
        self.monerod.mine(blocks, self.addresses["sender"])

    def posts(self, hook: str) -> list[Received]:
        event_id = self.hooks[hook]["event_id"]
        return [got for got in self.receiver.snapshot() if got.json["event_id"] == event_id]

    def wait(self, hook: str, count: int, where: Any = None) -> list[Received]:
        event_id = self.hooks[hook]["event_id"]
        return self.receiver.wait_for(
            count,
            WAIT_S,
            lambda got: got.json["event_id"] == event_id and (where is None or where(got)),
        )

    def secrets(self) -> dict[str, str]:
        return {reply["event_id"]: reply["secret"] for reply in self.hooks.values()}

    def incoming(self, name: str, tx_hash: str) -> list[dict[str, Any]]:
        self.wallet.open(name)
        self.wallet.refresh()
        return [t for t in self.wallet.incoming_transfers() if t["tx_hash"] == tx_hash]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("webhooks")
    with (
        Monerod(root / "monerod") as monerod,
        WalletRpc(root / "wallet", monerod) as wallet,
        Receiver() as receiver,
    ):
        keys = {name: WalletKeys(f"hooks-{name}") for name in NAMES}
        addresses = {name: wallet.create_from_keys(name, keys[name]) for name in NAMES}
        monerod.mine(120, addresses["sender"])
        lws = LwsProcess(
            root / "lws",
            monerod,
            "--webhook-retry-delays",
            "0.3,0.6,1",
            "--webhook-timeout",
            "3",
        )
        admin = HookAdmin(root / "lws" / "data")
        try:
            yield World(monerod, wallet, keys, addresses, receiver, lws, admin)
        finally:
            lws.stop()
            admin.close()


def block_timestamp(world: World, height: int) -> int:
    header = world.monerod.rpc("get_block_header_by_height", height=height)["block_header"]
    return int(header["timestamp"])


def test_new_account_hook_fires_on_account_creation(world: World) -> None:
    world.hooks["new"] = world.admin.add(type="new-account", url=world.receiver.url("/new"))
    login(world.lws, world.keys["merchant"])
    [got] = world.wait("new", 1)
    assert got.json == {
        "event_id": world.hooks["new"]["event_id"],
        "token": "",
        "address": world.addresses["merchant"],
    }
    assert list(got.json) == ["event_id", "token", "address"]
    assert got.path == "/new"


def test_payment_pool_then_each_confirmation(world: World) -> None:
    merchant = world.addresses["merchant"]
    world.hooks["conf3"] = world.admin.add(
        type="tx-confirmation", url=world.receiver.url("/c3"), address=merchant,
        token="tok-3", confirmations=3,
    )  # fmt: skip
    world.hooks["any"] = world.admin.add(
        type="tx-confirmation", url=world.receiver.url("/any"), address=merchant, payment_id="any"
    )
    world.hooks["exact"] = world.admin.add(
        type="tx-confirmation", url=world.receiver.url("/pid"), address=merchant,
        payment_id=PAYMENT_ID,
    )  # fmt: skip
    world.hooks["spend"] = world.admin.add(
        type="tx-spend", url=world.receiver.url("/spend"), address=merchant, token="sp"
    )
    listed = world.admin.list()["webhooks"]
    assert [g["key"]["type"] for g in listed] == ["tx-confirmation", "tx-spend", "new-account"]

    tx = world.transfer("sender", [(merchant, 2 * ATOMIC)])
    [pool] = world.wait("conf3", 1)
    assert pool.json["confirmations"] == 0
    assert "id" not in pool.json["tx_info"] and "block" not in pool.json["tx_info"]
    assert pool.json["tx_info"]["tx_hash"] == tx
    world.wait("any", 1)

    height = world.monerod.height()  # the block mined next holds tx
    world.mine(3)
    posts = world.wait("conf3", 4)
    assert [p.json["confirmations"] for p in posts] == [0, 1, 2, 3]
    assert [p.json["confirmations"] for p in world.wait("any", 2)] == [0, 1]
    [oracle] = world.incoming("merchant", tx)
    details = world.wallet.rpc("get_transfer_by_txid", txid=tx)["transfer"]
    body = posts[1].json
    assert list(body) == ["event", "payment_id", "token", "confirmations", "event_id", "tx_info"]
    assert (body["event"], body["payment_id"], body["token"]) == (
        "tx-confirmation",
        "0000000000000000",
        "tok-3",
    )
    info = body["tx_info"]
    assert list(info) == [
        "id", "block", "index", "amount", "timestamp", "tx_hash", "tx_prefix_hash",
        "tx_public", "rct_mask", "unlock_time", "mixin_count", "coinbase", "fee",
        "recipient", "pub",
    ]  # fmt: skip
    assert info["id"] == {"high": 0, "low": oracle["global_index"]}
    assert info["block"] == oracle["block_height"] == height
    assert info["amount"] == oracle["amount"] == 2 * ATOMIC
    assert info["pub"] == oracle["pubkey"]
    assert info["recipient"] == {
        "maj_i": oracle["subaddr_index"]["major"],
        "min_i": oracle["subaddr_index"]["minor"],
    }
    assert info["timestamp"] == block_timestamp(world, height)
    assert info["fee"] == details["fee"]
    assert (info["unlock_time"], info["mixin_count"], info["coinbase"]) == (0, 15, False)
    assert all(HEX64.match(info[k]) for k in ("tx_prefix_hash", "tx_public", "rct_mask"))
    # Each confirmation is its own delivery with its own id; the body differs
    # only by the count.
    assert len({p.delivery for p in posts}) == 4
    assert world.posts("exact") == []
    check_order_and_signatures(world.receiver.snapshot(), world.secrets())


def test_integrated_payment_fires_any_and_its_payment_id(world: World) -> None:
    world.wallet.open("merchant")
    integrated = world.wallet.rpc("make_integrated_address", payment_id=PAYMENT_ID)[
        "integrated_address"
    ]
    before = {name: len(world.posts(name)) for name in ("conf3", "any", "exact")}
    tx = world.transfer("sender", [(integrated, ATOMIC)])
    world.wait("exact", 1)  # the pool's event, before the block
    world.wait("any", before["any"] + 1)
    world.mine(1)
    exact = world.wait("exact", 2)
    assert [p.json["confirmations"] for p in exact] == [0, 1]
    assert all(p.json["tx_info"]["tx_hash"] == tx for p in exact)
    assert exact[1].json["payment_id"] == PAYMENT_ID
    assert exact[1].json["tx_info"]["payment_id"] == PAYMENT_ID
    mined_any = world.wait("any", before["any"] + 2)[before["any"] :]
    assert [p.json["payment_id"] for p in mined_any] == [PAYMENT_ID, PAYMENT_ID]
    # The hook for payments without a payment id does not fire.
    assert not [p for p in world.posts("conf3") if p.json["tx_info"]["tx_hash"] == tx]
    check_order_and_signatures(world.receiver.snapshot(), world.secrets())


def test_spend_fires_tx_spend(world: World) -> None:
    world.mine(SPENDABLE_AGE_BLOCKS)
    world.wallet.open("merchant")
    world.wallet.refresh()
    owned = {t["key_image"]: t for t in world.wallet.incoming_transfers() if not t.get("spent")}
    tx = world.transfer("merchant", [(world.addresses["other"], ATOMIC // 2)])
    world.mine(1)
    world.wait("spend", 1, lambda got: got.json["tx_info"]["input"]["tx_hash"] == tx)
    world.wallet.refresh()
    spent = {t["key_image"] for t in world.wallet.incoming_transfers() if t.get("spent")}
    real = [
        p.json
        for p in world.posts("spend")
        if p.json["tx_info"]["input"]["tx_hash"] == tx
        and p.json["tx_info"]["input"]["image"] in spent
    ]
    assert real, "no tx-spend for the key image the wallet spent"
    body = real[0]
    assert list(body) == ["event", "token", "event_id", "tx_info"]
    assert (body["event"], body["token"]) == ("tx-spend", "sp")
    source_out = owned[body["tx_info"]["input"]["image"]]
    spend_input = body["tx_info"]["input"]
    assert list(spend_input) == [
        "height", "tx_hash", "image", "source", "timestamp", "unlock_time", "mixin_count",
        "sender",
    ]  # fmt: skip
    assert spend_input["source"] == {"high": 0, "low": source_out["global_index"]}
    assert spend_input["height"] == world.monerod.height() - 1
    assert body["tx_info"]["source"]["amount"] == source_out["amount"]
    assert body["tx_info"]["source"]["id"] == spend_input["source"]
    check_order_and_signatures(world.receiver.snapshot(), world.secrets())


def test_feed_pushes_the_pool_and_the_block(world: World) -> None:
    """/feed on lws serve: tx_sync with the merchant's history (equal to
    wallet-rpc's), then a payment's mempool message and its block."""
    merchant = world.keys["merchant"]
    url = world.lws.url.replace("http://", "ws://") + "/feed"
    login = "login:" + json.dumps(
        {"account": {"address": merchant.address(), "view_key": merchant.view_secret.hex()}}
    )

    def parse(message: str | bytes) -> tuple[str, Any]:
        assert isinstance(message, str)
        prefix, _, body = message.partition(":")
        return prefix, json.loads(body)

    async def follow() -> tuple[Any, list[tuple[str, Any]], str]:
        async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as ws:
            await ws.send_message(login)
            with trio.fail_after(WAIT_S):
                prefix, sync = parse(await ws.get_message())
                assert prefix == "tx_sync"
                tx = await trio.to_thread.run_sync(
                    world.transfer, "sender", [(merchant.address(), ATOMIC // 7)]
                )
                pushed = [parse(await ws.get_message())]
                assert pushed[0][0] == "mempool", pushed
                await trio.to_thread.run_sync(world.mine, 1)
                while pushed[-1][0] != "blocks" or not pushed[-1][1].get("transactions"):
                    pushed.append(parse(await ws.get_message()))
        return sync, pushed, tx

    sync, pushed, tx = trio.run(follow)
    world.wallet.open("merchant")
    world.wallet.refresh()
    owned = {
        (t["tx_hash"], t["global_index"], t["amount"]) for t in world.wallet.incoming_transfers()
    }
    synced = {
        (t["hash"], r["id"]["legacy"]["index"], r["amount"])
        for t in sync["transactions"]
        for r in t.get("receives", [])
        if "id" in r
    }
    assert synced == {o for o in owned if o[0] != tx}
    prefix, pool = pushed[0]
    assert (pool["hash"], pool["amount"]) == (tx, ATOMIC // 7)
    blocks = pushed[-1][1]
    [mined] = [t for t in blocks["transactions"] if t["hash"] == tx]
    [receive] = mined["receives"]
    [oracle] = [o for o in owned if o[0] == tx]
    assert (receive["id"]["legacy"]["index"], receive["amount"]) == oracle[1:]
    assert blocks["scan_end"] == blocks["blockchain_height"] == world.monerod.height()


def test_reorg_sends_tx_reorg_then_fresh_confirmations(world: World) -> None:
    merchant = world.addresses["merchant"]
    tx = world.transfer("sender", [(merchant, 3 * ATOMIC)])
    old_height = world.monerod.height()
    world.mine(2)

    def stream() -> list[tuple[str, int | None, int | None]]:
        """(event, confirmations, block) of conf3's deliveries about tx, first arrivals."""
        seen: set[str] = set()
        found = []
        for got in world.posts("conf3"):
            body = got.json
            if body["tx_info"]["tx_hash"] == tx and got.delivery not in seen:
                seen.add(got.delivery)
                found.append(
                    (body["event"], body.get("confirmations"), body["tx_info"].get("block"))
                )
        return found

    def until(last: tuple[str, int]) -> list[tuple[str, int | None, int | None]]:
        deadline = time.monotonic() + WAIT_S
        while not (stream() and stream()[-1][:2] == last):
            assert time.monotonic() < deadline, stream()
            time.sleep(0.1)
        return stream()

    # (A pool pass may or may not see tx before the block: the 0 is optional.)
    mined = [e for e in until(("tx-confirmation", 2)) if e[1] != 0]
    assert mined == [("tx-confirmation", 1, old_height), ("tx-confirmation", 2, old_height)]
    world.monerod.call("pop_blocks", nblocks=2)  # tx goes back to the pool
    world.monerod.mine(4, world.addresses["other"])  # a longer chain that mines it again
    events = until(("tx-confirmation", 3))
    reorg = events.index(("tx-reorg", None, old_height))
    assert [e for e in events[:reorg] if e[1] != 0] == mined
    after = [e for e in events[reorg + 1 :] if e[1] != 0]  # the pool may be seen again
    assert [c for _, c, _ in after] == [1, 2, 3]
    [reorg_post] = [p for p in world.posts("conf3") if p.json["event"] == "tx-reorg"]
    body = reorg_post.json
    assert list(body) == ["event", "payment_id", "token", "event_id", "height", "tx_info"]
    assert body["height"] == old_height and body["tx_info"]["tx_hash"] == tx
    check_order_and_signatures(world.receiver.snapshot(), world.secrets())
    # Every delivery is recorded as delivered in the outbox.
    outbox = world.admin.deliveries()["outbox"]
    assert outbox["pending"] == outbox["failed"] == 0 and outbox["dropped_events"] == 0
