# Owns the rate limiter's shared table: a small LMDB environment of its own
# beside the store (sidecar.py) that every API process of one `lws serve`
# opens, so a client's budget is one for the whole server. Keys are the
# limiter's strings, values a "theoretical arrival time" (float seconds
# since the epoch, big-endian IEEE double). Past times are worthless and
# are pruned. Must not know HTTP or the limiter's algorithm; durability is
# not wanted (no fsync: a crash forgets some budgets, which is harmless).
"""A tiny multi-process key -> time table for rate limits."""

from __future__ import annotations

import hashlib
import os
import struct
import time

import lmdb

from .sidecar import SidecarTable, open_sidecar

#: Bytes of the environment's map: an entry is ~100 bytes of key and value
#: plus page overhead, so ~200,000 client x method budgets; past that,
#: expired entries are pruned and, if still full, new budgets are not kept.
MAP_SIZE = 64 * 1024 * 1024
#: Longest key kept as it is; longer ones (LMDB's limit is 511) are hashed.
MAX_KEY = 256
#: Seconds between prunes of expired entries (done by whichever process writes).
PRUNE_INTERVAL_S = 60.0
_TIME = struct.Struct(">d")


def _key(key: str) -> bytes:
    raw = key.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_KEY:
        raw = b"#" + hashlib.sha256(raw).digest()
    return raw


class RateTable(SidecarTable):
    """Times by key, shared by every process that opens the same folder."""

    def __init__(self, env: lmdb.Environment, where: str) -> None:
        super().__init__(env, where)
        self._last_prune = 0.0

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RateTable:
        env, real = open_sidecar(path, MAP_SIZE, "rate-limit table")
        return cls(env, real)

    def get(self, key: str) -> float | None:
        with self._env.begin() as txn:
            value = txn.get(_key(key))
        return None if value is None else float(_TIME.unpack(value)[0])

    def set(self, key: str, when: float) -> bool:
        """Keep ``when`` for ``key``; False if the table is full of live budgets."""
        now = time.time()
        if now - self._last_prune > PRUNE_INTERVAL_S:
            self.prune(now)
        try:
            self._put(key, when)
        except lmdb.MapFullError:
            self.prune(now)
            try:
                self._put(key, when)
            except lmdb.MapFullError:
                return False
        return True

    def _put(self, key: str, when: float) -> None:
        with self._env.begin(write=True) as txn:
            txn.put(_key(key), _TIME.pack(when))

    def prune(self, now: float) -> int:
        """Drop entries whose time is past ``now``; how many went."""
        self._last_prune = now
        dropped = 0
        with self._env.begin(write=True) as txn:
            cursor = txn.cursor()
            more = cursor.first()
            while more:
                if _TIME.unpack(cursor.value())[0] <= now:
                    cursor.delete()  # moves to the next entry, if any
                    dropped += 1
                    more = bool(cursor.key())
                else:
                    more = cursor.next()
        return dropped


__all__ = ["MAP_SIZE", "RateTable"]
