# Owns opening and closing the small LMDB environments that live beside the
# main store, each in its own folder of the data directory (the rate
# limiter's budgets, the accounts' last access times): never the main
# store's environment, whose one write lock the scanner holds for whole
# batches. An environment is opened once per process and real path (LMDB
# refuses a second open in one process), counted by its users. Not durable
# on purpose (no fsync): what they hold is cheap to lose in a crash. Must
# not know what the tables hold.
"""Small, shared, non-durable LMDB environments beside the store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

import lmdb

from .errors import StoreOpenError

#: Readers at once: a few per API process (each request reads in its own txn).
MAX_READERS = 256
_DIR_MODE = 0o700
_FILE_MODE = 0o600

#: Environments open in this process by real path, with their user count.
_OPEN: dict[str, tuple[lmdb.Environment, int]] = {}


def open_sidecar(
    path: str | os.PathLike[str], map_size: int, what: str
) -> tuple[lmdb.Environment, str]:
    """The environment in folder ``path`` (created if need be) and its real
    path, the key to give ``close_sidecar``; ``what`` names it in errors."""
    where = Path(path)
    try:
        where.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
        real = str(where.resolve())
        if real in _OPEN:
            env, users = _OPEN[real]
            _OPEN[real] = env, users + 1
            return env, real
        env = lmdb.open(
            real,
            map_size=map_size,
            subdir=True,
            mode=_FILE_MODE,
            max_readers=MAX_READERS,
            max_dbs=0,
            sync=False,
            metasync=False,
            lock=True,
        )
    except (OSError, lmdb.Error) as e:
        raise StoreOpenError(f"cannot open the {what} at {where}: {e}") from None
    _OPEN[real] = env, 1
    return env, real


def close_sidecar(real: str) -> None:
    """One user fewer of the environment at ``real``; closed with the last."""
    env, users = _OPEN.pop(real)
    if users > 1:
        _OPEN[real] = env, users - 1
    else:
        env.close()


class SidecarTable:
    """What every table on a sidecar environment shares: its entry count and
    giving the environment back once, however often it is closed (or at the
    end of a ``with`` block)."""

    def __init__(self, env: lmdb.Environment, where: str) -> None:
        """``env`` and ``where`` as open_sidecar returned them."""
        self._env = env
        self._where = where
        self._closed = False

    def __len__(self) -> int:
        return int(self._env.stat()["entries"])

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            close_sidecar(self._where)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
