# Owns the scanner's status as every reader sees it: its state (one enum),
# the heights it last knew, its rate and last error. The scanner replaces it
# whole on every change (frozen), the main process forwards it to the API
# worker processes as JSON, services read it (daemon_status, fees, readiness).
# Must not hold behaviour beyond what the fields imply.
"""What the scanner last knew, as one immutable value."""

from __future__ import annotations

import enum

import msgspec


class ScanState(enum.StrEnum):
    """Where the scan loop is (daemon_status and operators show it)."""

    #: Not one round done since the start.
    STARTING = "starting"
    #: The last round finished; accounts may still be catching up (accounts_behind).
    OK = "ok"
    #: monerod is syncing its own chain: nothing is scanned until it is done.
    SYNCHRONIZING = "synchronizing"
    #: monerod cannot be reached or answered an error: backing off.
    UNAVAILABLE = "unavailable"
    #: monerod serves another network than lws is configured for.
    WRONG_NETWORK = "wrong_network"
    #: A scan worker process failed; the pool restarts its workers.
    WORKER_FAILED = "worker_failed"
    #: The Dask scheduler of --scan-cluster is unreachable: backing off.
    CLUSTER_UNAVAILABLE = "cluster_unavailable"


class ScannerStatus(msgspec.Struct, frozen=True):
    state: ScanState = ScanState.STARTING
    #: monerod's chain height (block count) as last seen; 0 unknown.
    daemon_height: int = 0
    #: Blocks the store holds (the next height the tip pass scans).
    chain_height: int = 0
    accounts_active: int = 0
    #: Active accounts below the store's chain top (new or imported ones).
    accounts_behind: int = 0
    blocks_per_second: float = 0.0
    #: The message of the state, when it is a failure ("" otherwise).
    last_error: str = ""

    @property
    def synced(self) -> bool:
        """The last round finished and every active account is at the tip."""
        return self.state is ScanState.OK and self.accounts_behind == 0
