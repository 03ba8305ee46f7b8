# Owns what every service call is given: configuration, the store, the
# daemon client, the decoy picker, the scanner's status and wake-up, and the
# shared caches (account replies, monerod's fees), bundled once by the API app
# (or the admin CLI). Must not hold request state or import the HTTP layer.
"""The dependencies of the services, in one value."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import trio

from lws.config import Config
from lws.daemon import Daemon
from lws.monero.address import Network
from lws.scan.status import ScannerStatus
from lws.store import Store

from .access import AccessLog
from .decoys import DecoyPicker
from .fees import FeeCache
from .pieces import ReplyPieces
from .replycache import ReplyCache

ScannerStatusProvider = Callable[[], ScannerStatus]

#: Address networks per configured network (regtest uses mainnet addresses).
ADDRESS_NETWORK = {
    "mainnet": Network.MAINNET,
    "testnet": Network.TESTNET,
    "stagenet": Network.STAGENET,
    "regtest": Network.MAINNET,
}


@dataclass
class Services:
    config: Config
    store: Store
    daemon: Daemon
    scanner_status: ScannerStatusProvider | None = None
    #: Ask the scanner for a pass now (accounts changed, a tx was relayed).
    wake_scanner: Callable[[], None] | None = None
    decoys: DecoyPicker = field(init=False)
    replies: ReplyCache = field(init=False)
    #: Reply cache keys being built now (at most one build per key).
    building: dict[Hashable, trio.Event] = field(init=False)
    fees: FeeCache = field(init=False)
    #: Encoded pieces of the account reads, reused across snapshots.
    pieces: ReplyPieces = field(init=False)
    #: When each account last used the server (noted here, flushed by its task).
    access: AccessLog = field(init=False)

    def __post_init__(self) -> None:
        self.decoys = DecoyPicker(self.daemon)
        self.replies = ReplyCache()
        self.pieces = ReplyPieces()
        self.access = AccessLog(self.config.data_path)
        self.building = {}
        self.fees = FeeCache(self.daemon, self._daemon_height if self.scanner_status else None)

    def _daemon_height(self) -> int:
        return self.scanner_status().daemon_height if self.scanner_status else 0

    def wake(self) -> None:
        """Wake the scanner if one is wired in (no-op otherwise)."""
        if self.wake_scanner is not None:
            self.wake_scanner()

    @property
    def address_network(self) -> Network:
        return ADDRESS_NETWORK[self.config.network]
