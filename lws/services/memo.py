# Owns a bounded memo of built values by their (hashable) key, shared by the
# worker threads of one process: the account reads keep their encoded reply
# pieces in such memos (pieces.py). Must not know what it keeps.
"""A bounded memo, safe to share between threads."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Pieces kept per memo: a piece is a few hundred bytes, its key a record
#: the store's own memo keeps alive anyway, so each memo stays near ~25 MB.
PIECE_MEMO_SIZE = 50_000

_MISSING = object()


class Memo(Generic[K, V]):
    """``build(key)`` memoized; past ``size`` entries it starts over. Shared by
    threads: dict reads and writes are atomic, a lost entry is built again."""

    def __init__(self, build: Callable[[K], V], size: int = PIECE_MEMO_SIZE) -> None:
        self._build = build
        self._size = size
        self._values: dict[K, V] = {}

    def __call__(self, key: K) -> V:
        value = self._values.get(key, _MISSING)
        if value is _MISSING:
            value = self._build(key)
            if len(self._values) >= self._size:
                self._values.clear()
            self._values[key] = value
        return value  # type: ignore[return-value]

    def many(self, keys: Sequence[K]) -> list[V]:
        return [self(key) for key in keys]
