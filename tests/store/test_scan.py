# Owns the tests of the scanner's writes: block batches, the chain of hashes,
# block_id_history, the global index, rollbacks, rescans and the pool view.
from __future__ import annotations

import msgspec
import pytest

from lws.store import (
    AccountBatch,
    AccountPool,
    ChainMismatch,
    InvalidRecord,
    Owner,
    Store,
    schema,
    tx_index_of,
)
from tests.support.store_data import add_account, block_hash, make_output, make_spend


def hashes(start: int, end: int, fork: int = 0) -> list[bytes]:
    return [block_hash(h, fork) for h in range(start, end)]


def test_batch_stores_everything_in_chain_order(store: Store) -> None:
    a, b = store.transact(lambda w: [add_account(w, 1), add_account(w, 2)])
    # Given out of order: stored in chain order (height, position, vout).
    outs = (
        make_output(7, 3, 1, global_index=71),
        make_output(2, 9, 0, global_index=20),
        make_output(7, 3, 0, global_index=70),
        make_output(7, 1, 0, global_index=69, rct_type=-1, amount=5_000),
    )
    spend = make_spend(9, 2, outs[1])
    skipped = store.transact(
        lambda w: w.add_block_batch(
            0, hashes(0, 10), {a: AccountBatch(0, 10, outs, (spend,)), b: AccountBatch(0, 10)}
        )
    )
    assert skipped == frozenset()
    with store.read() as r:
        stored = r.outputs(a)
        assert [(o.height, o.tx_index & 0xFFFF, o.output_index) for o in stored] == [
            (2, 9, 0),
            (7, 1, 0),
            (7, 3, 0),
            (7, 3, 1),
        ]
        assert stored[2] == outs[2]
        assert r.outputs(a, from_height=7) == stored[1:]
        assert r.spends(a) == [spend]
        assert r.spends(a, from_height=10) == []
        assert r.output(a, tx_index_of(2, 9), 0) == outs[1]
        assert r.outputs(b) == []
        assert [acc.scan_height for _, acc in r.accounts()] == [10, 10]
        assert r.chain_top() == (9, block_hash(9))
        # RingCT outputs are indexed under amount 0, v1 under their amount.
        assert r.owners_of(0, 70) == [Owner(a, tx_index_of(7, 3), 0)]
        assert r.owners_of(0, 69) == []
        assert r.owners_of(5_000, 69) == [Owner(a, tx_index_of(7, 1), 0)]
        assert r.owners_of(0, 72) == []
        # The scanner's "maybe owned" filter is built from these: RingCT only.
        assert sorted(r.owned_ringct_indexes()) == [20, 70, 71]
        assert r.check() == []


def test_one_output_two_owners(store: Store) -> None:
    # Nothing stops two accounts from holding the same global index (e.g. the
    # same view key registered twice): owners_of reports both.
    a, b = store.transact(lambda w: [add_account(w, 1), add_account(w, 2)])
    out = make_output(1, 0, 0, global_index=5)
    store.transact(
        lambda w: w.add_block_batch(
            0, hashes(0, 2), {a: AccountBatch(0, 2, (out,)), b: AccountBatch(0, 2, (out,))}
        )
    )
    owners = store.query(lambda r: r.owners_of(0, 5))
    assert [o.account_id for o in owners] == [a, b]


def test_bad_batch_changes_nothing(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1, start_height=5))
    outside = make_output(3, 0, 0, global_index=1)  # below the account's scan height
    with pytest.raises(InvalidRecord, match="outside"):
        store.transact(
            lambda w: w.add_block_batch(0, hashes(0, 10), {a: AccountBatch(5, 10, (outside,))})
        )
    with pytest.raises(ChainMismatch, match="beyond the stored chain"):
        store.transact(lambda w: w.add_block_batch(0, hashes(0, 10), {a: AccountBatch(5, 11)}))
    broken = make_output(6, 0, 0)
    broken = msgspec.structs.replace(broken, mask=b"x")
    with pytest.raises(InvalidRecord, match="mask"):
        store.transact(
            lambda w: w.add_block_batch(0, hashes(0, 10), {a: AccountBatch(5, 10, (broken,))})
        )
    with store.read() as r:
        assert r.chain_top() is None
        record = r.account(a)
        assert record is not None and record.scan_height == 5


def test_stale_account_share_is_skipped(store: Store) -> None:
    a, b = store.transact(lambda w: [add_account(w, 1), add_account(w, 2, start_height=3)])
    out_a = make_output(4, 0, 0, global_index=1)
    out_b = make_output(4, 1, 0, global_index=2)
    skipped = store.transact(
        lambda w: w.add_block_batch(
            0,
            hashes(0, 6),
            # b's scanner thought b was at 0 (it is at 3); 99 does not exist.
            {
                a: AccountBatch(0, 6, (out_a,)),
                b: AccountBatch(0, 6, (out_b,)),
                99: AccountBatch(0, 6),
            },
        )
    )
    assert skipped == frozenset({b, 99})
    with store.read() as r:
        assert len(r.outputs(a)) == 1 and r.outputs(b) == []
        record = r.account(b)
        assert record is not None and record.scan_height == 3
        assert r.check() == []


def test_chain_must_connect_and_agree(store: Store) -> None:
    store.transact(lambda w: w.add_block_hashes(0, [block_hash(0)]))  # genesis alone
    store.transact(lambda w: w.add_block_hashes(100, hashes(100, 110)))  # any start: run empty
    store.transact(lambda w: w.add_block_hashes(105, hashes(105, 115)))  # overlap, same hashes
    store.transact(lambda w: w.add_block_hashes(115, hashes(115, 120)))  # touching
    store.transact(lambda w: w.add_block_hashes(90, hashes(90, 100)))  # extends downward
    with pytest.raises(ChainMismatch, match="do not connect"):
        store.transact(lambda w: w.add_block_hashes(121, hashes(121, 125)))
    with pytest.raises(ChainMismatch, match="do not connect"):
        store.transact(lambda w: w.add_block_hashes(50, hashes(50, 60)))
    with pytest.raises(ChainMismatch, match="block 118 differs"):
        store.transact(lambda w: w.add_block_hashes(118, hashes(118, 122, fork=1)))
    with store.read() as r:
        assert r.chain_top() == (119, block_hash(119))
        assert r.chain_bottom() == 90
        assert r.hash_at(0) == block_hash(0)
        assert r.hash_at(89) is None and r.hash_at(120) is None
        assert r.check() == []


def wallet2_heights(size: int) -> list[int]:
    """Heights of monero wallet2's get_short_chain_history for a chain of
    ``size`` blocks, transcribed from wallet2.cpp (offset 0, granularity 1)."""
    ids: list[int] = []
    i, multiplier, back, base_included = 0, 1, 1, False
    while back < size:
        ids.append(size - back)
        if size - back == 0:
            base_included = True
        if i < 10:
            back += 1
        else:
            multiplier *= 2
            back += multiplier
        i += 1
    if not base_included:
        ids.append(0)
    return ids


@pytest.mark.parametrize("size", [1, 2, 11, 12, 13, 30, 1000, 4097])
def test_block_id_history_matches_wallet2(store: Store, size: int) -> None:
    store.transact(lambda w: w.add_block_hashes(0, hashes(0, size)))
    history = store.query(lambda r: r.block_id_history())
    assert history == [block_hash(h) for h in wallet2_heights(size)]
    assert history[-1] == block_hash(0)


def test_block_id_history_of_a_partial_chain(store: Store) -> None:
    store.transact(lambda w: w.add_block_hashes(0, [block_hash(0)]))
    store.transact(lambda w: w.add_block_hashes(1000, hashes(1000, 1030)))
    history = store.query(lambda r: r.block_id_history())
    expected = [*range(1029, 1018, -1), 1017, 1013, 1005, 1000, 0]
    assert history == [block_hash(h) for h in expected]


def test_rollback_undoes_a_reorg(store: Store) -> None:
    a, b, c = store.transact(
        lambda w: [add_account(w, 1), add_account(w, 2), add_account(w, 3, start_height=30)]
    )
    outs_a = tuple(make_output(h, 0, 0, global_index=h) for h in range(0, 20, 2))
    spends_a = tuple(make_spend(h + 1, 5, o) for h, o in zip(range(0, 20, 2), outs_a, strict=True))
    outs_b = (make_output(3, 1, 0, global_index=1003),)
    store.transact(
        lambda w: w.add_block_batch(
            0,
            hashes(0, 20),
            {a: AccountBatch(0, 20, outs_a, spends_a), b: AccountBatch(0, 5, outs_b)},
        )
    )
    changed = store.transact(lambda w: w.rollback_to(10))
    assert changed == 2  # a and c (waiting at 30, above the chain); b is at 5
    with store.read() as r:
        assert r.chain_top() == (9, block_hash(9))
        assert [o.height for o in r.outputs(a)] == [0, 2, 4, 6, 8]
        assert [s.height for s in r.spends(a)] == [1, 3, 5, 7, 9]
        assert r.owners_of(0, 10) == [] and len(r.owners_of(0, 8)) == 1
        heights = {i: acc.scan_height for i, acc in r.accounts()}
        assert heights == {a: 10, b: 5, c: 10}
    # The new branch goes in cleanly.
    store.transact(
        lambda w: w.add_block_batch(
            10,
            hashes(10, 15, fork=1),
            {a: AccountBatch(10, 15, (make_output(12, 0, 0, global_index=12, tag="f"),))},
        )
    )
    with store.read() as r:
        assert r.hash_at(12) == block_hash(12, fork=1)
        assert r.check() == []


def test_rollback_clamps_accounts_above_the_point(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: w.add_block_batch(0, hashes(0, 8), {a: AccountBatch(0, 8)}))
    later = store.transact(lambda w: add_account(w, 2, start_height=6))
    assert store.transact(lambda w: w.rollback_to(4)) == 2
    with store.read() as r:
        assert {i: acc.scan_height for i, acc in r.accounts()} == {a: 4, later: 4}
        assert r.chain_top() == (3, block_hash(3))


def test_rescan_account(store: Store) -> None:
    a, b = store.transact(lambda w: [add_account(w, 1), add_account(w, 2)])
    out_a = tuple(make_output(h, 0, 0, global_index=h) for h in range(6))
    out_b = tuple(make_output(h, 1, 0, global_index=100 + h) for h in range(6))
    store.transact(
        lambda w: w.add_block_batch(
            0, hashes(0, 6), {a: AccountBatch(0, 6, out_a), b: AccountBatch(0, 6, out_b)}
        )
    )
    store.transact(lambda w: w.rescan_account(a, 3))
    with store.read() as r:
        assert [o.height for o in r.outputs(a)] == [0, 1, 2]
        assert len(r.outputs(b)) == 6
        record = r.account(a)
        assert record is not None and record.scan_height == 3
        assert r.chain_top() == (5, block_hash(5))  # the chain is shared: untouched
        assert r.check() == []


def test_replace_pool_is_wholesale(store: Store) -> None:
    a, b = store.transact(lambda w: [add_account(w, 1), add_account(w, 2)])
    source = make_output(1, 0, 0, global_index=1)
    store.transact(lambda w: w.add_block_batch(0, hashes(0, 2), {a: AccountBatch(0, 2, (source,))}))
    pool_out = make_output(None, tag="p1")
    pool_spend = make_spend(None, 0, source, tag="p1")
    skipped = store.transact(
        lambda w: w.replace_pool(
            {
                a: AccountPool((pool_out,), (pool_spend,)),
                b: AccountPool((make_output(None, tag="p2"),)),
                77: AccountPool(),
            }
        )
    )
    assert skipped == frozenset({77})
    with store.read() as r:
        assert r.pool_outputs(a) == [pool_out]
        assert r.pool_spends(a) == [pool_spend]
        assert len(r.pool_outputs(b)) == 1
        assert r.outputs(a) == [source]  # mined data untouched
    store.transact(lambda w: w.replace_pool({b: AccountPool()}))
    with store.read() as r:
        assert r.pool_outputs(a) == [] and r.pool_spends(a) == [] and r.pool_outputs(b) == []
    with pytest.raises(InvalidRecord, match="pool output has no height"):
        store.transact(lambda w: w.replace_pool({a: AccountPool((source,))}))


def test_an_unchanged_pool_view_writes_nothing(store: Store) -> None:
    a, b = store.transact(lambda w: [add_account(w, 1), add_account(w, 2)])
    source = make_output(1, 0, 0, global_index=1)
    store.transact(lambda w: w.add_block_batch(0, hashes(0, 2), {a: AccountBatch(0, 2, (source,))}))
    view = {
        a: AccountPool((make_output(None, tag="p1"),), (make_spend(None, 0, source, tag="p1"),)),
        b: AccountPool((make_output(None, tag="p2"),)),
    }
    store.transact(lambda w: w.replace_pool(view))
    written = store.generation()
    # The same view again (the pool changed, but not for these accounts):
    # the store, and so every reply cached for its generation, stays as is.
    store.transact(lambda w: w.replace_pool(dict(view)))
    store.transact(lambda w: w.replace_pool({**view, 77: AccountPool()}))
    assert store.generation() == written
    # One account's view changes: only that is rewritten, the rest is kept.
    changed = {a: view[a], b: AccountPool((make_output(None, tag="p3"),))}
    store.transact(lambda w: w.replace_pool(changed))
    assert store.generation() != written
    with store.read() as r:
        assert r.pool_outputs(a) == list(view[a].outputs)
        assert r.pool_spends(a) == list(view[a].spends)
        assert r.pool_outputs(b) == list(changed[b].outputs)
        assert r.check() == []


def test_check_reports_damage(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1))
    out = make_output(1, 0, 0, global_index=9)
    store.transact(lambda w: w.add_block_batch(0, hashes(0, 2), {a: AccountBatch(0, 2, (out,))}))
    assert store.query(lambda r: r.check()) == []
    # Damage the global index behind the Writer's back.
    store.transact(lambda w: w._txn.delete(schema.gindex_key(0, 9, a), db=w._t.global_index))
    problems = store.query(lambda r: r.check())
    assert any("global index" in p for p in problems), problems
