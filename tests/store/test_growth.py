# Owns the tests of map growth: a full map is grown and the write function
# re-run, readers of this process are waited for, misuse is refused.
from __future__ import annotations

import functools
import threading
import time
from pathlib import Path

import pytest

from lws.store import AccountBatch, OutputRecord, Store, StoreError, Writer
from tests.support.store_data import NETWORK, add_account, block_hash, make_output

#: Small enough that the test's writes overflow it several times.
TINY_MAP = 64 * 1024


@functools.cache
def outputs(blocks: int) -> tuple[OutputRecord, ...]:
    return tuple(
        make_output(h, 0, v, global_index=h * 4 + v) for h in range(blocks) for v in range(4)
    )


def fill(w: Writer, account_id: int, blocks: int) -> None:
    w.add_block_batch(
        0,
        [block_hash(h) for h in range(blocks)],
        {account_id: AccountBatch(0, blocks, outputs(blocks))},
    )


def test_full_map_grows_and_reruns(tmp_path: Path) -> None:
    with Store.open(tmp_path, network=NETWORK, map_size=TINY_MAP) as store:
        account_id = store.transact(lambda w: add_account(w, 1))
        calls = 0

        def write(w: Writer) -> int:
            nonlocal calls
            calls += 1
            fill(w, account_id, 2_000)
            return calls

        assert store.transact(write) == calls
        assert calls > 1
        assert store.map_size >= TINY_MAP * 2 ** (calls - 1)
        with store.read() as r:
            assert len(r.outputs(account_id)) == 8_000
            assert r.check() == []
    # The grown size is on disk: a small map_size at reopen is overridden.
    with Store.open(tmp_path, network=NETWORK, map_size=TINY_MAP, readonly=True) as store:
        assert store.map_size > TINY_MAP
        assert store.query(lambda r: len(r.outputs(account_id))) == 8_000


def test_growth_waits_for_readers_of_other_threads(tmp_path: Path) -> None:
    with Store.open(tmp_path, network=NETWORK, map_size=TINY_MAP) as store:
        account_id = store.transact(lambda w: add_account(w, 1))
        opened = threading.Event()
        seen: list[int] = []
        released_at: list[float] = []

        def hold_reader() -> None:
            with store.read() as r:
                opened.set()
                time.sleep(0.3)
                seen.append(len(r.outputs(account_id)))
                released_at.append(time.monotonic())

        thread = threading.Thread(target=hold_reader)
        thread.start()
        opened.wait()
        store.transact(lambda w: fill(w, account_id, 2_000))
        done_at = time.monotonic()
        thread.join()
        assert seen == [0]  # its snapshot predates the write
        assert released_at[0] <= done_at
        assert store.query(lambda r: len(r.outputs(account_id))) == 8_000


def test_growth_under_own_reader_is_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path, network=NETWORK, map_size=TINY_MAP) as store:
        account_id = store.transact(lambda w: add_account(w, 1))
        with store.read():
            with pytest.raises(StoreError, match="holds a transaction"):
                store.transact(lambda w: fill(w, account_id, 2_000))
        # Nothing half-written, and the same write succeeds once the reader is gone.
        assert store.query(lambda r: r.chain_top()) is None
        store.transact(lambda w: fill(w, account_id, 2_000))
        assert store.query(lambda r: r.check()) == []


def test_exception_aborts_the_whole_write(tmp_path: Path) -> None:
    with Store.open(tmp_path, network=NETWORK) as store:

        def half(w: Writer) -> None:
            add_account(w, 1)
            raise KeyError("boom")

        with pytest.raises(KeyError):
            store.transact(half)
        with store.read() as r:
            assert r.count_accounts() == 0
            assert r.meta.next_account_id == 1


def test_nested_transact_is_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path, network=NETWORK) as store:

        def nested(w: Writer) -> None:
            add_account(w, 1)
            store.transact(lambda inner: add_account(inner, 2))

        with pytest.raises(StoreError, match="cannot nest"):
            store.transact(nested)
        assert store.query(lambda r: r.count_accounts()) == 0
        store.transact(lambda w: add_account(w, 3))  # the flag was reset
