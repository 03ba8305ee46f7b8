# Owns what every service call is given: configuration, the store, the
# daemon client, the decoy picker and the scanner's status, bundled once by
# the API app (or the admin CLI). Must not hold request state or import Quart.
"""The dependencies of the services, in one value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from lws.config import Config
from lws.daemon import Daemon
from lws.monero.address import Network
from lws.store import Store

from .decoys import DecoyPicker


class ScannerStatus(msgspec.Struct, frozen=True):
    """What the scanner last knew (the integrator's provider returns it)."""

    #: monerod's chain height (block count) as last seen by the scanner; 0 unknown.
    daemon_height: int = 0
    #: Whether the scanner has caught up with monerod.
    synced: bool = False


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
    decoys: DecoyPicker = field(init=False)

    def __post_init__(self) -> None:
        self.decoys = DecoyPicker(self.daemon)

    @property
    def address_network(self) -> Network:
        return ADDRESS_NETWORK[self.config.network]
