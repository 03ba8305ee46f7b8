# Owns the multi-process tests: a reader process sees only whole batches while
# this process writes (and grows the map), and a writer killed with SIGKILL
# leaves the store at the end of a committed batch.
from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

from lws.store import Store
from tests.support.store_data import (
    BATCH_BLOCKS,
    NETWORK,
    create_process_store,
    reader_loop,
    snapshot_problems,
    synthetic_batch,
    writer_forever,
)

#: Small map so the writes below grow it while the reader process reads.
SMALL_MAP = 128 * 1024
#: Batches the concurrent-read test writes.
BATCHES = 60
#: Seconds a child gets to start up (spawned interpreters import lws anew).
CHILD_START_TIMEOUT = 30


def test_reader_process_sees_whole_batches(tmp_path: Path) -> None:
    create_process_store(tmp_path, SMALL_MAP)
    ctx = multiprocessing.get_context("spawn")
    reading = ctx.Event()
    stop = ctx.Event()
    results: multiprocessing.Queue[tuple[int, int, int, list[str]]] = ctx.Queue()
    child = ctx.Process(target=reader_loop, args=(str(tmp_path), SMALL_MAP, reading, stop, results))
    child.start()
    try:
        with Store.open(tmp_path, network=NETWORK, map_size=SMALL_MAP) as store:
            first_size = store.map_size
            assert reading.wait(CHILD_START_TIMEOUT)
            for batch in range(BATCHES):
                store.transact(
                    lambda w, b=batch: synthetic_batch(w, b * BATCH_BLOCKS, BATCH_BLOCKS)
                )
            grown = store.map_size > first_size
        stop.set()
        distinct, longest, child_size, problems = results.get(timeout=CHILD_START_TIMEOUT)
    finally:
        stop.set()
        child.join(timeout=CHILD_START_TIMEOUT)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    assert grown
    assert child_size > SMALL_MAP  # the reader adopted the writer's growth
    assert problems == []
    assert distinct > 3, distinct  # it read while the batches went in
    assert longest == BATCHES * BATCH_BLOCKS  # its last snapshot saw every batch


def test_sigkill_leaves_a_committed_state(tmp_path: Path) -> None:
    create_process_store(tmp_path, SMALL_MAP)
    ctx = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue[int] = ctx.Queue()
    child = ctx.Process(target=writer_forever, args=(str(tmp_path), SMALL_MAP, ready))
    child.start()
    try:
        ready.get(timeout=CHILD_START_TIMEOUT)
        time.sleep(random.uniform(0.3, 1.0))
        os.kill(child.pid or 0, signal.SIGKILL)
    finally:
        child.join(timeout=CHILD_START_TIMEOUT)
    assert child.exitcode == -signal.SIGKILL
    with Store.open(tmp_path, network=NETWORK) as store:
        length, problems = snapshot_problems(store)
        assert problems == []
        assert length % BATCH_BLOCKS == 0  # never inside a batch
        assert length > 0  # it wrote something before dying
        # And the store still takes writes where the dead writer stopped.
        store.transact(lambda w: synthetic_batch(w, length, BATCH_BLOCKS))
        assert snapshot_problems(store) == (length + BATCH_BLOCKS, [])
