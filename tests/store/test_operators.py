# Owns the tests of the store's operator side: admin keys (hashes only, ids
# never reused, the cap), the account-change counter the scanner watches,
# the operator's rescan, batch writes that skip accounts an operator changed,
# deletion of everything an account has, and opening a store by its recorded
# network.
from __future__ import annotations

import hashlib
from pathlib import Path

import lmdb
import pytest

from lws.store import (
    AccountBatch,
    AccountPool,
    AccountStatus,
    InvalidRecord,
    RequestKind,
    Store,
    StoreError,
    StoreOpenError,
    UnknownAccount,
    WrongNetwork,
)
from lws.store import schema as s
from tests.support.store_data import (
    NETWORK,
    add_account,
    address,
    block_hash,
    h32,
    make_output,
    make_spend,
)


def key_hash(n: int) -> bytes:
    return hashlib.sha256(h32("admin key", n)).digest()


def test_admin_keys_keep_hashes_and_never_reuse_ids(store: Store) -> None:
    first = store.transact(lambda w: w.add_admin_key("ops", key_hash(1), 100))
    second = store.transact(lambda w: w.add_admin_key("", key_hash(2), 200))
    assert (first, second) == (1, 2)
    with store.read() as r:
        keys = r.admin_keys()
        assert [(i, k.name, k.created) for i, k in keys] == [(1, "ops", 100), (2, "", 200)]
        assert keys[0][1].key_hash == key_hash(1)
        assert "hidden" in repr(keys[0][1]) and key_hash(1).hex() not in repr(keys[0][1])
    assert store.transact(lambda w: w.revoke_admin_key(1))
    assert not store.transact(lambda w: w.revoke_admin_key(1))
    assert not store.transact(lambda w: w.revoke_admin_key(-1))
    assert not store.transact(lambda w: w.revoke_admin_key(1 << 40))
    assert store.transact(lambda w: w.add_admin_key("again", key_hash(3), 300)) == 3
    with store.read() as r:
        assert [i for i, _ in r.admin_keys()] == [2, 3]
        assert r.admin_key(1) is None and r.admin_key(3) is not None
        assert r.admin_key(-5) is None


def test_admin_key_checks(store: Store) -> None:
    with pytest.raises(InvalidRecord):
        store.transact(lambda w: w.add_admin_key("x" * (s.MAX_ADMIN_KEY_NAME + 1), key_hash(1), 1))
    with pytest.raises(InvalidRecord):
        store.transact(lambda w: w.add_admin_key("a\nb", key_hash(1), 1))
    with pytest.raises(InvalidRecord):
        store.transact(lambda w: w.add_admin_key("short", b"\x00" * 31, 1))
    store.transact(
        lambda w: [w.add_admin_key(f"k{n}", key_hash(n), n) for n in range(s.MAX_ADMIN_KEYS)]
    )
    with pytest.raises(StoreError, match="at most"):
        store.transact(lambda w: w.add_admin_key("one more", key_hash(9999), 1))


def test_accounts_version_counts_operator_changes_only(store: Store) -> None:
    def version() -> int:
        return store.query(lambda r: r.accounts_version)

    assert version() == 0
    a = store.transact(lambda w: add_account(w, 1))
    assert version() == 1
    out = make_output(1, global_index=1)
    store.transact(
        lambda w: w.add_block_batch(
            0, [block_hash(0), block_hash(1), block_hash(2)], {a: AccountBatch(0, 3, (out,))}
        )
    )
    store.transact(lambda w: w.replace_pool({a: AccountPool((make_output(None, tag="p"),))}))
    assert version() == 1  # the scanner's own writes
    store.transact(lambda w: w.set_status(a, AccountStatus.ACTIVE))
    assert version() == 1  # no change, nothing written
    store.transact(lambda w: w.set_status(a, AccountStatus.INACTIVE))
    store.transact(lambda w: w.rescan_from(a, 1))
    store.transact(lambda w: w.upsert_subaddress_ranges(a, [(0, 1, 5)]))
    store.transact(lambda w: w.upsert_subaddress_ranges(a, [(0, 2, 3)]))  # already in: no bump
    store.transact(lambda w: w.set_lookahead(a, 1, 10))
    store.transact(lambda w: w.rollback_to(0))
    store.transact(lambda w: w.delete_account(a))
    assert version() == 7


def test_operator_rescan_never_moves_forward(store: Store) -> None:
    a = store.transact(lambda w: add_account(w, 1, start_height=4))
    outs = tuple(make_output(h, global_index=h) for h in range(4, 10))
    store.transact(
        lambda w: w.add_block_batch(
            0, [block_hash(h) for h in range(10)], {a: AccountBatch(4, 10, outs)}
        )
    )
    store.transact(lambda w: w.set_lookahead_fail(a, 8))
    record = store.transact(lambda w: w.rescan_from(a, 7))
    assert (record.start_height, record.scan_height, record.lookahead_fail) == (4, 7, 0)
    with store.read() as r:
        assert [o.height for o in r.outputs(a)] == [4, 5, 6]
        assert r.check() == []
    record = store.transact(lambda w: w.rescan_from(a, 9))  # above: nothing moves
    assert (record.start_height, record.scan_height) == (4, 7)
    record = store.transact(lambda w: w.rescan_from(a, 2))  # below the start: both move
    assert (record.start_height, record.scan_height) == (2, 2)
    with pytest.raises(UnknownAccount):
        store.transact(lambda w: w.rescan_from(99, 0))
    with pytest.raises(InvalidRecord):
        store.transact(lambda w: w.rescan_from(a, -1))


def test_batch_skips_accounts_made_inactive_or_hidden_meanwhile(store: Store) -> None:
    a, b, c = store.transact(lambda w: [add_account(w, n) for n in (1, 2, 3)])
    store.transact(lambda w: w.set_status(b, AccountStatus.INACTIVE))
    store.transact(lambda w: w.set_status(c, AccountStatus.HIDDEN))
    batches = {n: AccountBatch(0, 2, (make_output(1, n, global_index=n),)) for n in (a, b, c)}
    skipped = store.transact(
        lambda w: w.add_block_batch(0, [block_hash(0), block_hash(1)], batches)
    )
    assert skipped == {b, c}
    with store.read() as r:
        assert [(i, rec.scan_height) for i, rec in r.accounts()] == [(a, 2), (b, 0), (c, 0)]
        assert r.outputs(b) == [] and r.outputs(c) == []
        assert r.check() == []


def test_delete_account_removes_everything_in_one_transaction(store: Store) -> None:
    keep, gone = store.transact(lambda w: [add_account(w, 1), add_account(w, 2)])
    out_gone = make_output(2, 2, global_index=50)
    store.transact(
        lambda w: w.add_block_batch(
            0,
            [block_hash(h) for h in range(5)],
            {
                keep: AccountBatch(0, 5, (make_output(2, 1, global_index=40),)),
                gone: AccountBatch(0, 5, (out_gone,), (make_spend(3, 0, out_gone),)),
            },
        )
    )
    store.transact(lambda w: w.upsert_subaddress_ranges(gone, [(0, 1, 9)]))
    store.transact(lambda w: w.replace_pool({gone: AccountPool((make_output(None, tag="x"),))}))
    generation = store.generation()

    def fail_after_delete(w):  # type: ignore[no-untyped-def]
        w.delete_account(gone)
        raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        store.transact(fail_after_delete)
    assert store.generation() == generation  # aborted: nothing of it written
    assert store.query(lambda r: r.account(gone)) is not None
    removed = store.transact(lambda w: w.delete_account(gone))
    assert removed.address == address(2)
    with store.read() as r:
        assert r.account(gone) is None and r.account_id(address(2)) is None
        assert r.outputs(gone) == [] and r.spends(gone) == []
        assert r.pool_outputs(gone) == [] and r.pool_spends(gone) == []
        assert r.owners_of(0, 50) == [] and len(r.owners_of(0, 40)) == 1
        assert r.request(RequestKind.IMPORT, address(2)) is None
        assert r.check() == []


def test_open_by_recorded_network(tmp_path: Path) -> None:
    with pytest.raises(StoreOpenError, match="no store"):
        Store.open(tmp_path / "none", network=None)
    with pytest.raises(StoreOpenError, match="no store"):
        Store.open(tmp_path / "none", network=NETWORK, create=False)
    assert not (tmp_path / "none").exists()
    Store.open(tmp_path / "db", network="stagenet").close()
    with Store.open(tmp_path / "db", network=None) as store:
        assert store.network == "stagenet" and not store.readonly
    with pytest.raises(WrongNetwork):
        Store.open(tmp_path / "db", network="mainnet", create=False)


def test_readonly_open_of_a_store_without_admin_keys(tmp_path: Path) -> None:
    Store.open(tmp_path, network=NETWORK).close()
    # A store written before the admin_keys table existed (raw lmdb on purpose).
    env = lmdb.open(str(tmp_path), max_dbs=s.MAX_DBS)
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(s.T_ADMIN_KEYS, txn=txn), delete=True)
    env.close()
    with pytest.raises(StoreOpenError, match="older lws: open it once read-write"):
        Store.open(tmp_path, network=NETWORK, readonly=True)
    Store.open(tmp_path, network=NETWORK).close()  # read-write adds the table
    with Store.open(tmp_path, network=NETWORK, readonly=True) as store:
        assert store.query(lambda r: r.admin_keys()) == []
