# Owns the tests of accounts, requests and subaddress ranges in the store.
from __future__ import annotations

import time

import pytest

from lws.store import (
    FLAG_GENERATED_LOCALLY,
    AccountBatch,
    AccountExists,
    AccountPool,
    AccountStatus,
    InvalidRecord,
    RequestKind,
    RequestRecord,
    Store,
    UnknownAccount,
    UnknownRequest,
)
from tests.support.store_data import (
    add_account,
    address,
    block_hash,
    h32,
    make_output,
    make_spend,
)


def request(kind: RequestKind, n: int, start_height: int) -> RequestRecord:
    return RequestRecord(
        kind=kind,
        address=address(n),
        view_secret=h32("view", n),
        spend_public=h32("spend_pub", n),
        view_public=h32("view_pub", n),
        start_height=start_height,
        created=1_700_000_001,
        flags=FLAG_GENERATED_LOCALLY,
    )


def test_add_and_find_account(store: Store) -> None:
    first = store.transact(lambda w: add_account(w, 1, start_height=50))
    second = store.transact(lambda w: add_account(w, 2))
    assert (first, second) == (1, 2)
    with store.read() as r:
        found = r.account_by_address(address(1))
        assert found is not None
        account_id, record = found
        assert account_id == first
        assert record.view_secret == h32("view", 1)
        assert record.status == AccountStatus.ACTIVE
        assert (record.start_height, record.scan_height) == (50, 50)
        assert r.account(second) is not None
        assert r.account(99) is None
        assert r.account_by_address(address(3)) is None
        assert r.account_by_address("x" * 500) is None
        assert r.count_accounts() == 2


def test_duplicate_address_is_refused(store: Store) -> None:
    store.transact(lambda w: add_account(w, 1))
    with pytest.raises(AccountExists):
        store.transact(lambda w: add_account(w, 1))


def test_bad_account_fields_are_refused(store: Store) -> None:
    def bad_key(w):  # type: ignore[no-untyped-def]
        return w.add_account(
            address(1),
            view_secret=b"short",
            spend_public=h32(1),
            view_public=h32(2),
            start_height=0,
            created=0,
        )

    def bad_address(w):  # type: ignore[no-untyped-def]
        return w.add_account(
            "not an address!",
            view_secret=h32(0),
            spend_public=h32(1),
            view_public=h32(2),
            start_height=0,
            created=0,
        )

    with pytest.raises(InvalidRecord, match="view_secret"):
        store.transact(bad_key)
    with pytest.raises(InvalidRecord, match="address"):
        store.transact(bad_address)
    assert store.query(lambda r: r.count_accounts()) == 0


def test_repr_hides_view_key(store: Store) -> None:
    store.transact(lambda w: add_account(w, 1))
    record = store.query(lambda r: r.account(1))
    assert record is not None
    assert h32("view", 1).hex() not in repr(record)
    assert repr(h32("view", 1)) not in repr(record)
    assert "<hidden>" in repr(record)
    assert repr(h32("view", 4)) not in repr(request(RequestKind.CREATE, 4, 0))


def test_status_filter_and_changes(store: Store) -> None:
    store.transact(lambda w: [add_account(w, n) for n in range(6)])
    store.transact(lambda w: w.set_status(2, AccountStatus.INACTIVE))
    store.transact(lambda w: w.set_status(4, AccountStatus.HIDDEN))
    with store.read() as r:
        assert [i for i, _ in r.accounts()] == [1, 2, 3, 4, 5, 6]
        assert [i for i, _ in r.accounts(AccountStatus.ACTIVE)] == [1, 3, 5, 6]
        assert [i for i, _ in r.accounts(AccountStatus.INACTIVE)] == [2]
        assert [i for i, _ in r.accounts(AccountStatus.HIDDEN)] == [4]
    with pytest.raises(UnknownAccount):
        store.transact(lambda w: w.set_status(42, AccountStatus.ACTIVE))


def test_lookahead_and_subaddress_ranges(store: Store) -> None:
    account_id = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: w.set_lookahead(account_id, 2, 50))
    store.transact(lambda w: w.set_lookahead_fail(account_id, 1234))
    merged = store.transact(
        lambda w: w.upsert_subaddress_ranges(account_id, [(0, 1, 10), (1, 0, 5), (0, 20, 30)])
    )
    assert merged == ((0, 1, 10), (0, 20, 30), (1, 0, 5))
    # Overlap and adjacency merge; other majors stay apart.
    merged = store.transact(
        lambda w: w.upsert_subaddress_ranges(account_id, [(0, 5, 12), (0, 13, 19), (1, 7, 7)])
    )
    assert merged == ((0, 1, 30), (1, 0, 5), (1, 7, 7))
    record = store.query(lambda r: r.account(account_id))
    assert record is not None
    assert record.subaddress_ranges == merged
    assert record.subaddress_count == 30 + 6 + 1
    assert (record.lookahead_major, record.lookahead_minor, record.lookahead_fail) == (2, 50, 1234)
    with pytest.raises(InvalidRecord):
        store.transact(lambda w: w.upsert_subaddress_ranges(account_id, [(0, 9, 3)]))


def test_create_request_lifecycle(store: Store) -> None:
    assert store.transact(lambda w: w.create_request(request(RequestKind.CREATE, 1, 77)))
    # A second request for the same address changes nothing.
    assert not store.transact(lambda w: w.create_request(request(RequestKind.CREATE, 1, 99)))
    store.transact(lambda w: w.create_request(request(RequestKind.CREATE, 2, 0)))
    with store.read() as r:
        assert r.count_requests() == 2
        assert r.count_requests(RequestKind.CREATE) == 2
        assert r.count_requests(RequestKind.IMPORT) == 0
        pending = r.request(RequestKind.CREATE, address(1))
        assert pending is not None and pending.start_height == 77
        assert r.account_by_address(address(1)) is None
    account_id = store.transact(lambda w: w.accept_request(RequestKind.CREATE, address(1)))
    assert store.transact(lambda w: w.reject_request(RequestKind.CREATE, address(2)))
    assert not store.transact(lambda w: w.reject_request(RequestKind.CREATE, address(2)))
    with store.read() as r:
        assert list(r.requests()) == []
        record = r.account(account_id)
        assert record is not None
        assert record.status == AccountStatus.ACTIVE
        assert (record.start_height, record.scan_height) == (77, 77)
        assert record.flags == FLAG_GENERATED_LOCALLY
        assert r.account_by_address(address(2)) is None
    with pytest.raises(UnknownRequest):
        store.transact(lambda w: w.accept_request(RequestKind.CREATE, address(2)))


def test_import_request_rescans(store: Store) -> None:
    account_id = store.transact(lambda w: add_account(w, 1, start_height=10))
    outs = [make_output(h, global_index=h) for h in (10, 12, 14)]
    spend = make_spend(15, 1, outs[0])
    store.transact(
        lambda w: w.add_block_batch(
            0,
            [block_hash(h) for h in range(20)],
            {account_id: AccountBatch(10, 20, tuple(outs), (spend,))},
        )
    )
    store.transact(lambda w: w.create_request(request(RequestKind.IMPORT, 1, 12)))
    store.transact(lambda w: w.create_request(request(RequestKind.IMPORT, 5, 0)))
    with pytest.raises(UnknownAccount):  # an import needs an account
        store.transact(lambda w: w.accept_request(RequestKind.IMPORT, address(5)))
    store.transact(lambda w: w.accept_request(RequestKind.IMPORT, address(1)))
    with store.read() as r:
        record = r.account(account_id)
        assert record is not None
        assert (record.start_height, record.scan_height) == (12, 12)
        assert [o.height for o in r.outputs(account_id)] == [10]
        assert r.spends(account_id) == []
        assert r.owners_of(0, 12) == []
        assert len(r.owners_of(0, 10)) == 1
        assert r.request(RequestKind.IMPORT, address(1)) is None
        assert r.check() == []


def test_delete_account(store: Store) -> None:
    keep = store.transact(lambda w: add_account(w, 1))
    gone = store.transact(lambda w: add_account(w, 2))
    out_keep = make_output(3, 1, global_index=100)
    out_gone = make_output(3, 2, global_index=101)
    store.transact(
        lambda w: w.add_block_batch(
            0,
            [block_hash(h) for h in range(5)],
            {
                keep: AccountBatch(0, 5, (out_keep,)),
                gone: AccountBatch(0, 5, (out_gone,), (make_spend(4, 3, out_gone),)),
            },
        )
    )
    store.transact(lambda w: w.replace_pool({gone: AccountPool((make_output(None, tag="pool"),))}))
    store.transact(lambda w: w.create_request(request(RequestKind.IMPORT, 2, 0)))
    store.transact(lambda w: w.delete_account(gone))
    with store.read() as r:
        assert r.account(gone) is None
        assert r.account_by_address(address(2)) is None
        assert r.outputs(gone) == [] and r.spends(gone) == [] and r.pool_outputs(gone) == []
        assert r.owners_of(0, 101) == []
        assert len(r.owners_of(0, 100)) == 1
        assert r.count_requests() == 0
        assert r.check() == []
    # Ids are never reused.
    assert store.transact(lambda w: add_account(w, 2)) == 3


def test_ten_thousand_accounts_iterate_fast(store: Store) -> None:
    store.transact(lambda w: [add_account(w, n) for n in range(10_000)])
    with store.read() as r:
        began = time.perf_counter()
        active = sum(1 for _ in r.accounts(AccountStatus.ACTIVE))
        took = time.perf_counter() - began
        assert r.count_accounts() == 10_000
    assert active == 10_000
    # Typically ~10 ms; the bound leaves room for a loaded 2-core machine.
    assert took < 0.5, took
