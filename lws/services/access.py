# Owns when each account last used the server: the wallet API's calls that
# prove an account's view key (login, the account reads) note the time in
# this process's memory, and a task flushes the notes to the access table
# beside the store (lws/store/access.py) every FLUSH_INTERVAL_S and when the
# process stops; only accounts that still exist are written, so a deleted
# account's last notes do not come back. Operators read the times
# (list_accounts, the console). Must not slow a request down: a note is one
# dict assignment, everything else happens in the flush.
"""Last access of each account, noted in memory, flushed to the access table."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

import trio

from lws.store import Reader, Store, StoreError
from lws.store.access import FOLDER, AccessTable

log = logging.getLogger(__name__)

#: Seconds between flushes: an operator sees an access at most this late.
FLUSH_INTERVAL_S = 30.0
#: Addresses noted between two flushes at most; past it, new ones wait for
#: the next flush (an account that keeps using the server is noted again).
MAX_PENDING = 100_000


class AccessLog:
    """This process's notes of account accesses, and the table they go to."""

    def __init__(self, data_path: Path, *, interval: float = FLUSH_INTERVAL_S) -> None:
        self.data_path = data_path
        self.interval = interval
        self._pending: dict[str, int] = {}

    def note(self, address: str) -> None:
        """``address`` used the server now (its view key was checked)."""
        pending = self._pending
        if len(pending) < MAX_PENDING or address in pending:
            pending[address] = int(time.time())

    async def flush(self, store: Store) -> int:
        """Write the notes of accounts that still exist; how many were written."""
        pending, self._pending = self._pending, {}
        if not pending:
            return 0

        def still_there(reader: Reader) -> dict[str, int]:
            return {a: t for a, t in pending.items() if reader.account_id(a) is not None}

        def write() -> int:
            times = store.query(still_there)
            if not times:
                return 0
            with AccessTable.open(self.data_path) as table:
                return table.merge(times)

        try:
            return await trio.to_thread.run_sync(write)
        except StoreError as exc:
            log.warning("last access times not written: %s", exc)
            return 0

    async def run(
        self, store: Store, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Flush every ``interval`` seconds, and once more when cancelled."""
        task_status.started()
        try:
            while True:
                await trio.sleep(self.interval)
                await self.flush(store)
        finally:
            with trio.CancelScope(shield=True):
                await self.flush(store)

    async def forget(self, addresses: Iterable[str]) -> None:
        """Drop what is known of ``addresses`` (deleted accounts)."""
        gone = list(addresses)
        for address in gone:
            self._pending.pop(address, None)

        def delete() -> None:
            if (self.data_path / FOLDER).exists():
                with AccessTable.open(self.data_path) as table:
                    table.delete(gone)

        await trio.to_thread.run_sync(delete)


async def last_access(data_path: Path, addresses: Iterable[str]) -> dict[str, int]:
    """The known last access of each of ``addresses`` (absent: never noted)."""
    wanted = list(addresses)

    def read() -> dict[str, int]:
        if not (data_path / FOLDER).exists():
            return {}
        with AccessTable.open(data_path) as table:
            return table.get_many(wanted)

    return await trio.to_thread.run_sync(read)
