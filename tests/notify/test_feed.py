# Owns the tests of the /feed hub on a real store: the login answers
# (tx_sync with the history and the pool, or blocks without it), blocks as
# the scan moves, mempool for new pool outputs, a warning when the scan
# height goes back, receives_only, a slow client's queue overflowing (it is
# dropped, the others go on), and an account that disappears.
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

from lws.notify.feed import QUEUE_MAX, FeedHub, Subscription, start
from lws.store import AccountBatch, AccountPool, AccountStatus, Store
from tests.support.store_data import add_account, block_hash, make_output, make_spend


def parse(message: str) -> tuple[str, Any]:
    prefix, _, body = message.partition(":")
    return prefix, json.loads(body, object_pairs_hook=dict)


def scan(store: Store, account_id: int, end: int, outputs=(), spends=()) -> None:  # type: ignore[no-untyped-def]
    def write(w):  # type: ignore[no-untyped-def]
        top = w.chain_top()
        first = 0 if top is None else top[0] + 1
        record = w.account(account_id)
        w.add_block_batch(
            first,
            [block_hash(h) for h in range(first, end)],
            {account_id: AccountBatch(record.scan_height, end, tuple(outputs), tuple(spends))},
        )

    store.transact(write)


@asynccontextmanager
async def hub_running(store: Store) -> AsyncIterator[FeedHub]:
    hub = FeedHub(store, poll_seconds=0.02)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        yield hub
        nursery.cancel_scope.cancel()


async def next_message(sub: Subscription) -> tuple[str, Any]:
    with trio.fail_after(5):
        return parse(await sub.receive.receive())


def test_tx_sync_has_the_history_and_the_pool(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    early = make_output(3, 1, 0, global_index=30, rct_type=-1, amount=7_000)
    paid = msgspec.structs.replace(
        make_output(5, 2, 1, global_index=51, subaddress=(1, 2)), payment_id=b"\xab" * 8
    )
    spend = make_spend(8, 1, early)
    scan(store, a, 10, [early, paid], [spend])
    pooled = make_output(None, 0, 0, global_index=0, tag="pool")
    store.transact(lambda w: w.replace_pool({a: AccountPool(outputs=(pooled,))}))
    begin = store.query(lambda r: start(r, a, tx_sync=True))
    prefix, body = parse(begin.message)
    assert prefix == "tx_sync"
    assert list(body) == [
        "scanned_block_height",
        "start_height",
        "blockchain_height",
        "transactions",
    ]
    assert (body["scanned_block_height"], body["start_height"], body["blockchain_height"]) == (
        10,
        0,
        10,
    )
    first, second, third, fourth = body["transactions"]
    assert first == {
        "hash": early.tx_hash.hex(),
        "prefix_hash": early.tx_prefix_hash.hex(),
        "timestamp": early.timestamp,
        "fee": early.fee,
        "unlock_time": 0,
        "height": 3,
        "mixin": 15,
        "receives": [
            {
                "amount": 7_000,
                "public_key": early.output_key.hex(),
                "index": 0,
                "id": {"legacy": {"amount": 7_000, "index": 30}},
                "tx_pub_key": early.tx_pubkey.hex(),
            }
        ],
    }
    assert second["payment_id"] == "ab" * 8
    assert second["receives"][0]["recipient"] == {"maj_i": 1, "min_i": 2}
    assert second["receives"][0]["rct"] == paid.mask.hex()
    assert third == {
        "hash": spend.tx_hash.hex(),
        "prefix_hash": "00" * 32,
        "timestamp": spend.timestamp,
        "fee": spend.fee,
        "unlock_time": 0,
        "height": 8,
        "mixin": 15,
        "spends": [
            {"id": {"legacy": {"amount": 7_000, "index": 30}}, "key_image": spend.key_image.hex()}
        ],
    }
    assert fourth["mempool"] is True and "height" not in fourth
    assert "id" not in fourth["receives"][0]
    assert (begin.scan_height, begin.pool) == (10, {(pooled.tx_hash, 0)})
    quiet = store.query(lambda r: start(r, a, tx_sync=False))
    assert parse(quiet.message) == (
        "blocks",
        {"scan_start": 0, "scan_end": 10, "blockchain_height": 10},
    )


async def test_blocks_mempool_and_reorg_warning(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    scan(store, a, 5)
    async with hub_running(store) as hub:
        sub = hub.subscribe(
            a, store.query(lambda r: start(r, a, tx_sync=True)), receives_only=False
        )
        out = make_output(6, 0, 0, global_index=60)
        scan(store, a, 8, [out])
        prefix, body = await next_message(sub)
        assert prefix == "blocks"
        assert (body["scan_start"], body["scan_end"], body["blockchain_height"]) == (5, 8, 8)
        assert [t["hash"] for t in body["transactions"]] == [out.tx_hash.hex()]
        pooled = make_output(None, 0, 0, tag="pool")
        store.transact(lambda w: w.replace_pool({a: AccountPool(outputs=(pooled,))}))
        prefix, body = await next_message(sub)
        assert prefix == "mempool"
        assert list(body) == [
            "hash", "prefix_hash", "fee", "unlock_time", "mixin", "amount", "public_key",
            "tx_pub_key", "index", "rct",
        ]  # fmt: skip
        store.transact(lambda w: w.rollback_to(6))
        assert await next_message(sub) == (
            "warning",
            {
                "msg": "Blockchain reorganization: roll back to the height given",
                "code": 4,
                "counter": 0,
                "height": 6,
            },
        )
        scan(store, a, 7)
        prefix, body = await next_message(sub)
        assert (prefix, body["scan_start"], body["scan_end"]) == ("blocks", 6, 7)
        assert hub.connections == 1


async def test_a_rewind_between_two_looks_is_still_told(store: Store) -> None:
    """A reorg whose rescan is done before the hub looks again (the scan
    height did not go down between two looks), and an operator's rescan."""
    a = store.transact(lambda w: add_account(w, 1))
    scan(store, a, 8)
    async with hub_running(store) as hub:
        sub = hub.subscribe(
            a, store.query(lambda r: start(r, a, tx_sync=False)), receives_only=False
        )
        # No await between these writes: the hub cannot look in between.
        store.transact(lambda w: w.rollback_to(5))
        scan(store, a, 9)
        prefix, body = await next_message(sub)
        assert (prefix, body["code"], body["height"], body["counter"]) == ("warning", 4, 5, 0)
        prefix, body = await next_message(sub)
        assert (prefix, body["scan_start"], body["scan_end"]) == ("blocks", 5, 9)
        store.transact(lambda w: w.rescan_account(a, 2))
        scan(store, a, 9)
        prefix, body = await next_message(sub)
        assert (prefix, body["height"], body["counter"]) == ("warning", 2, 1)
        assert (await next_message(sub))[1]["scan_start"] == 2
    assert store.query(lambda r: [(acct, h) for _, acct, h in r.rewinds()]) == [
        (2**32 - 1, 5),
        (a, 2),
    ]


async def test_receives_only_skips_empty_blocks_and_warnings(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    scan(store, a, 5)
    async with hub_running(store) as hub:
        sub = hub.subscribe(
            a, store.query(lambda r: start(r, a, tx_sync=False)), receives_only=True
        )
        scan(store, a, 6)
        store.transact(lambda w: w.rollback_to(5))
        out = make_output(7, 0, 0, global_index=70)
        scan(store, a, 9, [out])
        prefix, body = await next_message(sub)
        assert (prefix, body["scan_start"], body["scan_end"]) == ("blocks", 5, 9)


async def test_a_slow_client_is_dropped_and_others_go_on(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    scan(store, a, 1)
    async with hub_running(store) as hub:
        begin = store.query(lambda r: start(r, a, tx_sync=False))
        slow = hub.subscribe(a, begin, receives_only=False)
        fast = hub.subscribe(a, begin, receives_only=False)
        for end in range(2, QUEUE_MAX + 5):
            scan(store, a, end)
            await next_message(fast)  # read; the slow one never does
        with trio.fail_after(5):
            while slow.ended is None:
                await trio.sleep(0.01)
        assert slow.ended is not None
        assert parse(slow.ended) == (
            "error",
            {"msg": "Max queue for outgoing push messages was reached", "code": 8},
        )
        assert hub.connections == 1
        scan(store, a, QUEUE_MAX + 6)
        assert (await next_message(fast))[0] == "blocks"


async def test_a_hidden_account_ends_its_feed(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    async with hub_running(store) as hub:
        sub = hub.subscribe(
            a, store.query(lambda r: start(r, a, tx_sync=False)), receives_only=False
        )
        store.transact(lambda w: w.set_status(a, AccountStatus.HIDDEN))
        with trio.fail_after(5):
            while sub.ended is None:
                await trio.sleep(0.01)
        assert parse(sub.ended) == ("error", {"msg": "Account not found", "code": 1})
