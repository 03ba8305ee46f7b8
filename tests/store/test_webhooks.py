# Owns the tests of the store's webhook side: hooks, which event a batch, a
# pool pass, a rollback or a request writes into the outbox (in the same
# transaction), confirmation trackers, the outbox limit and counters, the
# engine's result writes, redelivery, pruning, deletion and the 1 -> 2
# migration.
from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from lws.store import (
    NO_ACCOUNT,
    AccountBatch,
    AccountPool,
    ConfirmationEvent,
    DeliveryPending,
    DeliveryRecord,
    DeliveryState,
    HookRecord,
    HookType,
    InvalidRecord,
    NewAccountEvent,
    ReorgEvent,
    SpendEvent,
    Store,
    UnknownAccount,
    Writer,
    schema,
)
from lws.store.records import DELIVERY_DECODER, DELIVERY_HEAD_DECODER, encode
from tests.support.store_data import (
    NETWORK,
    add_account,
    address,
    block_hash,
    make_output,
    make_spend,
)


def hook(
    account_id: int,
    hook_type: HookType = HookType.TX_CONFIRMATION,
    *,
    n: int = 0,
    payment_id: bytes | None = bytes(8),
    confirmations: int = 1,
) -> HookRecord:
    return HookRecord(
        type=hook_type,
        account_id=account_id,
        event_id=bytes([n]) * 16,
        url=f"http://127.0.0.1:9/{n}",
        token=f"token-{n}",
        payment_id=payment_id,
        confirmations=confirmations,
        secret=f"secret-{n}",
        created=1,
    )


def batch(
    w: Writer, account_id: int, start: int, end: int, outputs=(), spends=()
) -> frozenset[int]:  # type: ignore[no-untyped-def]
    record = w.account(account_id)
    assert record is not None
    top = w.chain_top()
    first = start if top is None else top[0] + 1
    return w.add_block_batch(
        first,
        [block_hash(h) for h in range(first, end)],
        {account_id: AccountBatch(record.scan_height, end, tuple(outputs), tuple(spends))},
    )


def events(store: Store) -> list[tuple[bytes, object]]:
    return store.query(lambda r: [(rec.hook, rec.event) for _, rec in r.deliveries()])


def levels(store: Store) -> list[int]:
    return [e.confirmations for _, e in events(store) if isinstance(e, ConfirmationEvent)]


def test_no_hook_no_event_and_no_webhook_work(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: batch(w, a, 0, 10, [make_output(5, global_index=5)]))
    assert events(store) == []
    info = store.query(lambda r: r.outbox_info())
    assert (info.entries, info.next_seq, info.hooks) == (0, 1, 0)


def test_confirmations_counted_per_block_up_to_the_hook(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    key = store.transact(lambda w: w.add_hook(hook(a, confirmations=3)))
    out = make_output(8, global_index=8)
    # The batch ends at 10: blocks 8 and 9 give the output 1 and 2 confirmations.
    store.transact(lambda w: batch(w, a, 0, 10, [out]))
    assert levels(store) == [1, 2]
    assert {k for k, _ in events(store)} == {key}
    assert [e.output for _, e in events(store)] == [out, out]
    store.transact(lambda w: batch(w, a, 10, 11))
    store.transact(lambda w: batch(w, a, 11, 12))
    assert levels(store) == [1, 2, 3]
    # The tracker stays for the reorg window, then goes.
    assert len(store.query(lambda r: r.trackers(a))) == 1
    store.transact(lambda w: batch(w, a, 12, 8 + schema.REORG_WINDOW_BLOCKS))
    assert store.query(lambda r: r.trackers(a)) == []
    assert levels(store) == [1, 2, 3]
    assert store.query(lambda r: r.check()) == []


def test_catch_up_sends_every_level_at_once(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: w.add_hook(hook(a, confirmations=5)))
    store.transact(lambda w: batch(w, a, 0, 100, [make_output(3, global_index=3)]))
    assert levels(store) == [1, 2, 3, 4, 5]


def test_payment_id_filters(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    short = b"\xab" * 8
    long = b"\xcd" * 32
    none_hook = store.transact(lambda w: w.add_hook(hook(a, n=1)))
    short_hook = store.transact(lambda w: w.add_hook(hook(a, n=2, payment_id=short)))
    any_hook = store.transact(lambda w: w.add_hook(hook(a, n=3, payment_id=None)))
    long_hook = store.transact(lambda w: w.add_hook(hook(a, n=4, payment_id=long[:8])))
    plain = make_output(1, 0, global_index=1)
    paid = msgspec.structs.replace(make_output(2, 0, global_index=2), payment_id=short)
    paid_long = msgspec.structs.replace(make_output(3, 0, global_index=3), payment_id=long)
    store.transact(lambda w: batch(w, a, 0, 5, [plain, paid, paid_long]))
    fired: dict[bytes, list[int]] = {}
    for key, event in events(store):
        assert isinstance(event, ConfirmationEvent)
        fired.setdefault(key, []).append(event.output.global_index)
    assert fired == {none_hook: [1], short_hook: [2], any_hook: [1, 2, 3], long_hook: [3]}


def test_spend_events_carry_the_source(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    spend_hook = store.transact(lambda w: w.add_hook(hook(a, HookType.TX_SPEND, n=7)))
    old = make_output(2, global_index=20, subaddress=(1, 4), rct_type=-1, amount=5_000)
    store.transact(lambda w: batch(w, a, 0, 5, [old]))
    new = make_output(6, global_index=60)
    spends = [make_spend(7, 1, old), make_spend(8, 1, new)]
    store.transact(lambda w: batch(w, a, 5, 10, [new], spends))
    found = events(store)
    assert [k for k, _ in found] == [spend_hook, spend_hook]
    first, second = (e for _, e in found)
    assert isinstance(first, SpendEvent) and isinstance(second, SpendEvent)
    assert first.spend == spends[0]
    assert (first.source_index_amount, first.source_mixin, first.sender) == (5_000, 15, (1, 4))
    assert (second.source_index_amount, second.sender) == (0, (0, 0))


def test_pool_outputs_fire_zero_confirmations_once(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: w.add_hook(hook(a, confirmations=2)))
    out = make_output(None, global_index=0)
    pool = {a: AccountPool(outputs=(out,))}
    store.transact(lambda w: w.replace_pool(pool))
    store.transact(lambda w: w.replace_pool(pool))  # the same view: nothing new
    assert levels(store) == [0]
    mined = msgspec.structs.replace(make_output(4, global_index=4), tx_hash=out.tx_hash)
    store.transact(lambda w: w.replace_pool({}))
    store.transact(lambda w: batch(w, a, 0, 5, [mined]))
    store.transact(lambda w: batch(w, a, 5, 6))
    assert levels(store) == [0, 1, 2]


def test_reorg_turns_tracked_outputs_into_tx_reorg(store: Store) -> None:
    a, b = store.transact(lambda w: [add_account(w, 1), add_account(w, 2)])
    key = store.transact(lambda w: w.add_hook(hook(a, confirmations=10)))
    out = make_output(8, global_index=8)
    early = make_output(2, global_index=2)
    store.transact(lambda w: batch(w, a, 0, 10, [early, out]))
    store.transact(lambda w: batch(w, b, 0, 10))
    before = len(events(store))
    store.transact(lambda w: w.rollback_to(5))
    after = events(store)[before:]
    assert after == [(key, ReorgEvent(output=out))]
    assert [
        schema.split_tracker_key(k)[1] >> 16 for k, _ in store.query(lambda r: r.trackers(a))
    ] == [2]
    # Mined again at 6: counting starts again at 1.
    again = msgspec.structs.replace(make_output(6, global_index=8), tx_hash=out.tx_hash)
    store.transact(lambda w: batch(w, a, 5, 8, [again]))
    tail = events(store)[before + 1 :]
    assert [e.confirmations for _, e in tail if e.output == again] == [1, 2]  # type: ignore[attr-defined]
    assert store.query(lambda r: r.check()) == []


def test_operator_rollback_sends_no_reorg_nor_levels_again(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: w.add_hook(hook(a, confirmations=4)))
    out = make_output(8, global_index=8)
    store.transact(lambda w: batch(w, a, 0, 10, [out]))
    store.transact(lambda w: w.rollback_to(5, reorg=False))
    store.transact(lambda w: batch(w, a, 5, 11, [out]))
    assert levels(store) == [1, 2, 3]


def test_rescan_does_not_resend_levels_already_sent(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: w.add_hook(hook(a, confirmations=3)))
    out = make_output(8, global_index=8)
    store.transact(lambda w: batch(w, a, 0, 10, [out]))
    assert levels(store) == [1, 2]
    store.transact(lambda w: w.rescan_account(a, 5))
    store.transact(
        lambda w: w.add_block_batch(11, [block_hash(10)][:0], {a: AccountBatch(5, 10, (out,))})
    )
    assert levels(store) == [1, 2]
    store.transact(lambda w: batch(w, a, 10, 11))
    assert levels(store) == [1, 2, 3]


def test_new_account_hooks(store: Store) -> None:
    key = store.transact(lambda w: w.add_hook(hook(NO_ACCOUNT, HookType.NEW_ACCOUNT, n=9)))
    store.transact(lambda w: w.emit_new_account(address(5)))
    assert events(store) == [(key, NewAccountEvent(address=address(5)))]
    with pytest.raises(InvalidRecord):
        store.transact(lambda w: w.add_hook(hook(1, HookType.NEW_ACCOUNT, n=10)))


def test_hook_checks(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    with pytest.raises(UnknownAccount):
        store.transact(lambda w: w.add_hook(hook(a + 1)))
    for bad in (
        hook(a, confirmations=-1),
        hook(a, confirmations=schema.MAX_CONFIRMATIONS + 1),
        hook(a, payment_id=b"\x01" * 4),
        msgspec.structs.replace(hook(a), event_id=b"short"),
        msgspec.structs.replace(hook(a), url=""),
    ):
        with pytest.raises(InvalidRecord):
            store.transact(lambda w, bad=bad: w.add_hook(bad))
    store.transact(lambda w: w.add_hook(hook(a)))
    with pytest.raises(InvalidRecord, match="event_id"):
        store.transact(lambda w: w.add_hook(hook(a, payment_id=None)))
    assert store.query(lambda r: r.count_hooks()) == 1


def test_outbox_limit_drops_and_counts(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: w.add_hook(hook(a, confirmations=5)))
    store.transact(lambda w: w.set_outbox_limit(3))
    store.transact(lambda w: batch(w, a, 0, 20, [make_output(10, global_index=10)]))
    info = store.query(lambda r: r.outbox_info())
    assert (info.entries, info.limit, info.dropped_events) == (3, 3, 2)
    assert levels(store) == [1, 2, 3]


def test_delete_hooks_takes_trackers_and_deliveries(store: Store) -> None:
    a, b = store.transact(lambda w: [add_account(w, 1), add_account(w, 2)])
    ka = store.transact(lambda w: w.add_hook(hook(a, confirmations=5, n=1)))
    kb = store.transact(lambda w: w.add_hook(hook(b, confirmations=5, n=2)))
    store.transact(lambda w: batch(w, a, 0, 10, [make_output(8, global_index=8)]))
    store.transact(lambda w: batch(w, b, 0, 10, [make_output(9, global_index=9)]))
    assert store.transact(lambda w: w.delete_hooks([ka, ka])) == 1
    assert {k for k, _ in events(store)} == {kb}
    assert store.query(lambda r: r.trackers(a)) == []
    store.transact(lambda w: w.delete_account(b))
    assert events(store) == []
    assert store.query(lambda r: (r.count_hooks(), r.trackers(b), r.check())) == (0, [], [])


def test_engine_results_redeliver_and_prune(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: w.add_hook(hook(a, confirmations=3)))
    store.transact(lambda w: batch(w, a, 0, 10, [make_output(7, global_index=7)]))
    (s1, r1), (s2, r2), (s3, r3) = store.query(lambda r: list(r.deliveries()))
    assert (s1, s2, s3) == (1, 2, 3)
    done = msgspec.structs.replace(r1, state=DeliveryState.DELIVERED, attempts=1, updated=100)
    failed = msgspec.structs.replace(r2, state=DeliveryState.FAILED, attempts=9, updated=100)
    # A result whose redeliveries count is not the stored one is stale: skipped.
    stale = msgspec.structs.replace(r3, attempts=1)
    written = store.transact(
        lambda w: w.record_attempts([(1, 0, done), (2, 0, failed), (3, 5, stale)])
    )
    assert written == [1, 2]
    with pytest.raises(DeliveryPending):
        store.transact(lambda w: w.redeliver(3))
    again = store.transact(lambda w: w.redeliver(2))
    assert (again.state, again.attempts, again.redeliveries) == (DeliveryState.PENDING, 0, 1)
    assert store.query(lambda r: r.requeued()) == [2]
    assert store.transact(lambda w: w.take_requeued()) == [2]
    assert store.query(lambda r: r.requeued()) == []
    # An attempt that began before the redelivery does not overwrite it.
    assert store.transact(lambda w: w.record_attempts([(2, 0, failed)])) == []
    # Prune: s1 is delivered and old; s2 and s3 are pending.
    assert store.transact(lambda w: w.prune_deliveries(200, keep=10)) == (1, None)
    assert [seq for seq, _ in store.query(lambda r: list(r.deliveries()))] == [2, 3]
    epoch = store.query(lambda r: r.outbox_epoch)
    assert store.query(lambda r: r.delivery_id(2)) == epoch + schema.u64(2)
    assert store.query(lambda r: r.seq_of(epoch + schema.u64(2))) == 2
    other = bytes(b ^ 0xFF for b in epoch) + schema.u64(2)
    assert store.query(lambda r: r.seq_of(other)) is None


def test_prune_keeps_the_outbox_under_its_limit(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: w.add_hook(hook(a, confirmations=10)))
    store.transact(lambda w: batch(w, a, 0, 20, [make_output(5, global_index=5)]))
    records = store.query(lambda r: list(r.deliveries()))
    finished = [
        (seq, 0, msgspec.structs.replace(rec, state=DeliveryState.DELIVERED, updated=10**10))
        for seq, rec in records[:8]
    ]
    store.transact(lambda w: w.record_attempts(finished))
    # Recent, so not old enough; but 10 records for keep=4: the oldest 6 finished go.
    assert store.transact(lambda w: w.prune_deliveries(0, keep=4)) == (6, None)
    # A budget of 1 record per call walks on from where it stopped.
    assert store.transact(lambda w: w.prune_deliveries(0, keep=0, start=0, budget=1)) == (1, 8)


def test_migration_from_format_1(tmp_path: Path) -> None:
    with Store.open(tmp_path, network=NETWORK, format_version=1, migrations={}) as old:

        def strip(w: Writer) -> None:
            for key in (schema.META_OUTBOX_EPOCH, schema.META_NEXT_DELIVERY):
                w._txn.delete(key, db=w._t.meta)

        old.transact(strip)
    with Store.open(tmp_path, network=NETWORK) as store:
        meta = store.query(lambda r: r.meta)
        assert meta.format_version == schema.FORMAT_VERSION
        assert len(store.query(lambda r: r.outbox_epoch)) == 8
        assert store.query(lambda r: r.outbox_info()).next_seq == 1


def test_delivery_record_round_trip() -> None:
    out = make_output(3, global_index=3)
    record = DeliveryRecord(hook=b"k" * 21, event=ConfirmationEvent(out, 2), created=5)
    raw = encode(record)
    assert DELIVERY_DECODER.decode(raw) == record
    assert DELIVERY_HEAD_DECODER.decode(raw).hook == b"k" * 21
