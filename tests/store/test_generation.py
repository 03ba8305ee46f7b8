# Owns the tests of the store's cheap read-side helpers for caches: the write
# generation (changes with every write that commits something, in this
# process or another, never with reads or writes that change nothing; equal
# to the generation a fresh snapshot shows) and the still-encoded record
# lists (output_values, spend_values decode to outputs(), spends()).
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lws.store import AccountPool, AccountStatus, Store
from lws.store.records import OUTPUT_DECODER, SPEND_DECODER

from . import NETWORK, add_account, synthetic_batch


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path, network=NETWORK) as opened:
        yield opened


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
        "import sys; from lws.store import Store; from tests.store import add_account\n"
        f"with Store.open(sys.argv[1], network={NETWORK!r}) as s:\n"
        "    s.transact(lambda w: add_account(w, 2))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=60)
    assert store.generation() not in (seen, None)
    assert store.generation() == store.query(lambda r: r.generation)


def test_values_decode_to_records(store: Store) -> None:
    account = store.transact(lambda w: add_account(w, 1))
    store.transact(lambda w: synthetic_batch(w, 0, 4))
    with store.read() as r:
        outputs = r.outputs(account)
        spends = r.spends(account)
        assert len(outputs) == 4 and len(spends) == 3
        assert [OUTPUT_DECODER.decode(v) for v in r.output_values(account)] == outputs
        assert [SPEND_DECODER.decode(v) for v in r.spend_values(account)] == spends
        assert r.output_values(account + 1) == [] and r.spend_values(99) == []
