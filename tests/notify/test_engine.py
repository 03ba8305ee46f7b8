# Owns the tests of the delivery engine against real receivers on loopback
# and a real store: headers and signatures, order per hook, retries with the
# same delivery id, failure then redelivery, a hanging host that delays no
# other host, a restart that picks pending deliveries up, the results
# written to the outbox, pruning, and the log of a full outbox.
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from lws.notify import DeliveryEngine, DeliverySettings
from lws.store import (
    AccountBatch,
    DeliveryState,
    HookRecord,
    HookType,
    Store,
)
from tests.support.receiver import Received, Receiver, always, signature_ok
from tests.support.store_data import add_account, block_hash, make_output

FAST = DeliverySettings(
    timeout=0.5, retry_delays=(0.05, 0.1, 0.1), keep_seconds=3600, poll_seconds=0.05
)


def add_hook(store: Store, account_id: int, url: str, n: int, confirmations: int = 5) -> bytes:
    return store.transact(
        lambda w: w.add_hook(
            HookRecord(
                type=HookType.TX_CONFIRMATION,
                account_id=account_id,
                event_id=bytes([n]) * 16,
                url=url,
                token=f"t{n}",
                payment_id=bytes(8),
                confirmations=confirmations,
                secret=f"secret-{n}",
                created=1,
            )
        )
    )


def scan(store: Store, account_ids: list[int], end: int, outputs_at: dict[int, int]) -> None:
    """A batch moving the accounts to ``end``; ``outputs_at``: account -> output height."""

    def write(w):  # type: ignore[no-untyped-def]
        top = w.chain_top()
        first = 0 if top is None else top[0] + 1
        shares = {}
        for account_id in account_ids:
            record = w.account(account_id)
            outs = ()
            height = outputs_at.get(account_id)
            if height is not None and record.scan_height <= height < end:
                outs = (make_output(height, account_id, global_index=height * 10 + account_id),)
            shares[account_id] = AccountBatch(record.scan_height, end, outs)
        w.add_block_batch(first, [block_hash(h) for h in range(first, end)], shares)

    store.transact(write)


@asynccontextmanager
async def running(store: Store, settings: DeliverySettings = FAST) -> AsyncIterator[DeliveryEngine]:
    engine = DeliveryEngine(store, settings)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        yield engine
        nursery.cancel_scope.cancel()


async def wait_for(
    receiver: Receiver, count: int, timeout: float = 20.0, where=None
) -> list[Received]:  # type: ignore[no-untyped-def]
    return await trio.to_thread.run_sync(lambda: receiver.wait_for(count, timeout, where))


async def settled(store: Store, timeout: float = 10.0) -> dict[int, DeliveryState]:
    """Wait until no record is pending; return every record's state."""
    with trio.fail_after(timeout):
        while True:
            states = store.query(lambda r: {seq: rec.state for seq, rec in r.deliveries()})
            if DeliveryState.PENDING not in states.values():
                return states
            await trio.sleep(0.05)


async def test_delivers_in_order_with_headers_and_signatures(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    with Receiver() as receiver:
        add_hook(store, a, receiver.url("/a"), 1, confirmations=3)
        async with running(store):
            scan(store, [a], 10, {a: 8})  # levels 1, 2
            scan(store, [a], 11, {})  # level 3
            got = await wait_for(receiver, 3)
            states = await settled(store)
    assert [g.json["confirmations"] for g in got] == [1, 2, 3]
    assert all(signature_ok("secret-1", g) for g in got)
    epoch = store.query(lambda r: r.outbox_epoch)
    assert [g.delivery for g in got] == [(epoch + i.to_bytes(8, "big")).hex() for i in (1, 2, 3)]
    first = got[0].headers
    assert first["content-type"] == "application/json"
    assert (first["x-lws-event"], first["x-lws-attempt"]) == ("tx-confirmation", "1")
    assert got[0].path == "/a"
    assert set(states.values()) == {DeliveryState.DELIVERED}
    records = store.query(lambda r: [rec for _, rec in r.deliveries()])
    assert [(r.attempts, r.last_status) for r in records] == [(1, 200)] * 3


async def test_retries_keep_the_delivery_id_and_the_order(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    tries: dict[str, int] = {}

    def flaky(got: Received) -> tuple[int, float]:
        tries[got.delivery] = tries.get(got.delivery, 0) + 1
        return (500 if tries[got.delivery] <= 2 else 204), 0.0

    with Receiver(flaky) as receiver:
        add_hook(store, a, receiver.url(), 1, confirmations=4)
        async with running(store):
            scan(store, [a], 10, {a: 6})
            await settled(store)
        got = receiver.snapshot()
    ids = [g.delivery for g in got]
    assert len(ids) == 12 and len(set(ids)) == 4
    # Each delivery is tried until it succeeds before the next one starts.
    assert ids == [i for i in dict.fromkeys(ids) for _ in range(3)]
    assert [g.json["confirmations"] for g in got[::3]] == [1, 2, 3, 4]
    assert [g.headers["x-lws-attempt"] for g in got[:3]] == ["1", "2", "3"]
    bodies = {g.delivery: g.body for g in got}
    assert all(g.body == bodies[g.delivery] for g in got)  # same bytes on every retry


async def test_failed_after_the_last_retry_then_redelivered(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    with Receiver(always(503)) as receiver:
        add_hook(store, a, receiver.url(), 1, confirmations=1)
        async with running(store):
            scan(store, [a], 10, {a: 9})
            states = await settled(store)
            assert list(states.values()) == [DeliveryState.FAILED]
            assert len(receiver.snapshot()) == 1 + len(FAST.retry_delays)
            record = store.query(lambda r: r.delivery(1))
            assert record is not None and (record.attempts, record.last_status) == (4, 503)
            receiver.answer = always(200)
            store.transact(lambda w: w.redeliver(1))
            await wait_for(receiver, 5)
            assert list((await settled(store)).values()) == [DeliveryState.DELIVERED]
        got = receiver.snapshot()
    assert len({g.delivery for g in got}) == 1
    assert got[-1].headers["x-lws-attempt"] == "1"


async def test_a_hanging_host_delays_only_its_own_hooks(store: Store) -> None:
    a, b = store.transact(lambda w: [add_account(w, 1), add_account(w, 2)])
    settings = DeliverySettings(timeout=1.0, retry_delays=(30.0,), poll_seconds=0.05)
    with Receiver(always(200, delay=5.0)) as slow, Receiver() as fast:
        add_hook(store, a, slow.url(), 1, confirmations=5)
        add_hook(store, b, fast.url(), 2, confirmations=5)
        async with running(store, settings):
            started = trio.current_time()
            scan(store, [a, b], 10, {a: 5, b: 5})
            await wait_for(fast, 5, timeout=5)
            took = trio.current_time() - started
            # The hanging host got its first delivery only: it waits to retry.
            assert len(slow.snapshot()) == 1
    assert took < 1.5


async def test_down_receiver_then_restart_delivers_everything_once_in_order(
    store: Store,
) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    receiver = Receiver()
    add_hook(store, a, receiver.url(), 1, confirmations=6)
    settings = DeliverySettings(timeout=0.5, retry_delays=(0.2, 1.0), poll_seconds=0.05)
    async with running(store, settings):
        scan(store, [a], 10, {a: 4})
        await trio.sleep(0.5)  # two attempts, refused; the next one is due in 1 s
    assert store.query(lambda r: r.delivery(1)).attempts == 2  # type: ignore[union-attr]
    with receiver:
        async with running(store, settings):  # a new engine, as after a restart
            scan(store, [a], 12, {})
            await settled(store)
        got = receiver.snapshot()
    assert [g.json["confirmations"] for g in got] == [1, 2, 3, 4, 5, 6]


async def test_prune_and_full_outbox_log(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    settings = DeliverySettings(
        timeout=0.5, retry_delays=(0.05,), keep_seconds=0.5, outbox_limit=4, poll_seconds=0.05
    )
    with Receiver() as receiver:
        add_hook(store, a, receiver.url(), 1, confirmations=10)
        caplog.set_level(logging.WARNING, logger="lws.notify.engine")
        async with running(store, settings) as engine:
            scan(store, [a], 20, {a: 5})  # 10 levels, room for 4
            await settled(store)
            await trio.sleep(0.3)
            assert "4 of its 4 records" in caplog.text
            scan(store, [a], 21, {a: 20})  # one more, dropped
            await trio.sleep(0.3)
            assert "6 events dropped (6 since the store began)" in caplog.text
            assert "1 events dropped (7 since the store began)" in caplog.text
            assert engine.status.outbox is not None and engine.status.outbox.dropped_events == 7
            await trio.sleep(1.6)  # past keep_seconds, counted in whole seconds
            assert await engine.prune() == 4
    assert store.query(lambda r: r.outbox_info()).entries == 0
    assert [g.json["confirmations"] for g in receiver.snapshot()] == [1, 2, 3, 4]


async def test_deleted_hook_is_not_called(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    with Receiver() as receiver:
        key = add_hook(store, a, receiver.url(), 1, confirmations=3)
        scan(store, [a], 10, {a: 9})
        store.transact(lambda w: w.delete_hooks([key]))
        async with running(store):
            await trio.sleep(0.3)
        assert receiver.snapshot() == []
