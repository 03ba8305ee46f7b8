# Owns the rate limiter's shared table: a small LMDB environment of its own
# (never the main store's, whose one write lock the scanner holds for whole
# batches) that every API process of one `lws serve` opens, so a client's
# budget is one for the whole server. Keys are the limiter's strings, values
# a "theoretical arrival time" (float seconds since the epoch, big-endian
# IEEE double). Past times are worthless and are pruned. Must not know HTTP
# or the limiter's algorithm; durability is not wanted (no fsync: a crash
# forgets some budgets, which is harmless).
"""A tiny multi-process key -> time table for rate limits."""

from __future__ import annotations

import hashlib
import os
import struct
import time
from pathlib import Path

import lmdb

from .errors import StoreOpenError

#: Bytes of the environment's map: an entry is ~100 bytes of key and value
#: plus page overhead, so ~200,000 client x method budgets; past that,
#: expired entries are pruned and, if still full, new budgets are not kept.
MAP_SIZE = 64 * 1024 * 1024
#: Longest key kept as it is; longer ones (LMDB's limit is 511) are hashed.
MAX_KEY = 256
#: Seconds between prunes of expired entries (done by whichever process writes).
PRUNE_INTERVAL_S = 60.0
#: Readers at once: a few per API process (each request reads in its own txn).
MAX_READERS = 256
_TIME = struct.Struct(">d")
_FILE_MODE = 0o600


def _key(key: str) -> bytes:
    raw = key.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_KEY:
        raw = b"#" + hashlib.sha256(raw).digest()
    return raw


#: Environments open in this process by real path, with their user count:
#: LMDB refuses a second open of one environment in one process (two apps
#: of one process, as in the tests, share the first).
_OPEN: dict[str, tuple[lmdb.Environment, int]] = {}


class RateTable:
    """Times by key, shared by every process that opens the same folder."""

    def __init__(self, env: lmdb.Environment, where: str) -> None:
        self._env = env
        self._where = where
        self._last_prune = 0.0
        self._closed = False

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RateTable:
        where = Path(path)
        try:
            where.mkdir(parents=True, exist_ok=True, mode=0o700)
            real = str(where.resolve())
            if real in _OPEN:
                env, users = _OPEN[real]
                _OPEN[real] = env, users + 1
                return cls(env, real)
            env = lmdb.open(
                real,
                map_size=MAP_SIZE,
                subdir=True,
                mode=_FILE_MODE,
                max_readers=MAX_READERS,
                max_dbs=0,
                sync=False,
                metasync=False,
                lock=True,
            )
        except (OSError, lmdb.Error) as e:
            raise StoreOpenError(f"cannot open rate-limit table at {where}: {e}") from None
        _OPEN[real] = env, 1
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

    def __len__(self) -> int:
        return int(self._env.stat()["entries"])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        env, users = _OPEN.pop(self._where)
        if users > 1:
            _OPEN[self._where] = env, users - 1
        else:
            env.close()


__all__ = ["MAP_SIZE", "RateTable"]
