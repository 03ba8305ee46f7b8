# Owns the tests of the store's cheap read-side helpers for caches: the write
# generation (changes with every write that commits something, in this
# process or another, never with reads or writes that change nothing; equal
# to the generation a fresh snapshot shows) and the decode memo (unchanged
# records come back as the same objects, snapshot after snapshot).
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lws.store import AccountPool, AccountStatus, Store
from lws.store.memo import DecodeMemo
from tests.support.store_data import NETWORK, add_account, synthetic_batch


def test_generation_follows_writes(store: Store) -> None:
    start = store.generation()
    assert start is not None and start == store.query(lambda r: r.generation)
    account = store.transact(lambda w: add_account(w, 1))
    after_add = store.generation()
    assert after_add is not None and after_add > start
    # reads, and write transactions that change nothing, keep it
    store.query(lambda r: r.outputs(account))
    store.transact(lambda w: w.account(account))
    assert store.generation() == after_add
    # a snapshot taken before a write shows the older generation
    with store.read() as before:
        store.transact(lambda w: synthetic_batch(w, 0, 3))
        assert before.generation == after_add
        assert store.generation() != before.generation
    after_batch = store.generation()
    assert after_batch == store.query(lambda r: r.generation)
    store.transact(lambda w: w.replace_pool({account: AccountPool()}))
    store.transact(lambda w: w.set_status(account, AccountStatus.INACTIVE))
    assert store.generation() not in (after_batch, None)


def test_generation_sees_another_process_write(store: Store, tmp_path: Path) -> None:
    # LMDB's last transaction id lives in the shared map: a write committed by
    # another process (``lws admin``) changes this process's generation.
    store.transact(lambda w: add_account(w, 1))
    seen = store.generation()
    code = (
        "import sys; from lws.store import Store; from tests.support.store_data import add_account\n"
        f"with Store.open(sys.argv[1], network={NETWORK!r}) as s:\n"
        "    s.transact(lambda w: add_account(w, 2))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=60)
    assert store.generation() not in (seen, None)
    assert store.generation() == store.query(lambda r: r.generation)


def test_unchanged_records_come_back_as_the_same_objects(store: Store) -> None:
    account = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: synthetic_batch(w, 0, 4))
    first = store.query(lambda r: (r.outputs(account), r.spends(account)))
    assert len(first[0]) == 4 and len(first[1]) == 3
    store.transact(lambda w: add_account(w, 2))  # a write that leaves them alone
    again = store.query(lambda r: (r.outputs(account), r.spends(account)))
    assert again == first
    assert all(a is b for a, b in zip(again[0] + again[1], first[0] + first[1], strict=True))
    # from_height cuts the same list, with the same objects
    top = first[0][-1].height
    assert store.query(lambda r: r.outputs(account, top)) == [first[0][-1]]
    assert store.query(lambda r: (r.outputs(account + 1), r.spends(99))) == ([], [])


def test_the_decode_memo_is_bounded_and_decodes_each_content_once() -> None:
    decoded: list[bytes] = []

    def decode(raw: bytes) -> str:
        decoded.append(raw)
        return raw.decode()

    memo = DecodeMemo(decode, size=2)
    assert memo.many([b"a", b"b", b"a"]) == ["a", "b", "a"]
    assert decoded == [b"a", b"b"]
    memo(b"c")  # past the bound: starts over
    memo(b"a")
    assert decoded == [b"a", b"b", b"c", b"a"]
