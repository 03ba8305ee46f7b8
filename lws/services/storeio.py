# Owns how services reach the store: one read snapshot or one write
# transaction per call, off the event loop where LMDB may block. Must not
# know any record's meaning; services pass functions of a Reader / Writer.
"""Run a function over a store snapshot or write transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

from lws.store import Reader, Store, Writer

T = TypeVar("T")


async def read(store: Store, fn: Callable[[Reader], T]) -> T:
    """``fn`` over one consistent snapshot, in a worker thread."""

    return await trio.to_thread.run_sync(store.query, fn)


async def write(store: Store, fn: Callable[[Writer], T]) -> T:
    """``fn`` inside one write transaction (committed if it returns, in a worker
    thread; ``fn`` may run twice if the map had to grow, so it must be pure)."""
    return await trio.to_thread.run_sync(store.transact, fn)
