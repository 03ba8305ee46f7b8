# Owns the accounts' last access times: a small LMDB environment beside the
# store (sidecar.py; never the main store, so that recording an access
# neither takes the scanner's write lock nor changes the store generation
# that keeps the wallet API's replies cached). Keys are primary addresses
# (ascii), values unix seconds (big-endian u64); a merge keeps the later
# time. Not durable (no fsync): a crash forgets the last minute of
# accesses, which is harmless. Must not know HTTP or who accessed.
"""Last access time per account address, shared by lws's processes."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import lmdb

from .errors import StoreError
from .schema import MAX_ADDRESS_LENGTH
from .sidecar import SidecarTable, open_sidecar

#: Bytes of the environment's map: ~150 bytes an address with page overhead,
#: so ~400,000 accounts; past it, new accounts' times are not kept.
MAP_SIZE = 64 * 1024 * 1024
#: The folder of the table inside the data directory.
FOLDER = "access"
_TIME = struct.Struct(">Q")


class AccessTable(SidecarTable):
    """Last access (unix seconds) by address, shared by every process of one data directory."""

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str]) -> AccessTable:
        """The table of the data directory ``data_dir`` (created if missing)."""
        env, real = open_sidecar(Path(data_dir) / FOLDER, MAP_SIZE, "access table")
        return cls(env, real)

    def merge(self, times: Mapping[str, int]) -> int:
        """Keep each later time of ``times``; how many were kept (a full map
        drops the rest)."""
        kept = 0
        try:
            with self._env.begin(write=True) as txn:
                for address, when in times.items():
                    key = _key(address)
                    old = txn.get(key)
                    if old is None or _TIME.unpack(old)[0] < when:
                        txn.put(key, _TIME.pack(max(0, when)))
                    kept += 1
        except lmdb.MapFullError:
            return 0
        except lmdb.Error as e:
            raise StoreError(f"access table: {e}") from None
        return kept

    def get_many(self, addresses: Iterable[str]) -> dict[str, int]:
        """The known times of ``addresses`` (an address never seen is absent)."""
        found: dict[str, int] = {}
        with self._env.begin() as txn:
            for address in addresses:
                value = txn.get(_key(address))
                if value is not None:
                    found[address] = int(_TIME.unpack(value)[0])
        return found

    def delete(self, addresses: Iterable[str]) -> None:
        with self._env.begin(write=True) as txn:
            for address in addresses:
                txn.delete(_key(address))


def _key(address: str) -> bytes:
    if not address or len(address) > MAX_ADDRESS_LENGTH or not address.isascii():
        raise ValueError("not an address")
    return address.encode("ascii")


__all__ = ["FOLDER", "MAP_SIZE", "AccessTable"]
