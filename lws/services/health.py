# Owns the operator's view of the server as a whole: readiness (fit to serve
# wallets: the store readable, monerod reachable, on our network and
# synchronised, the store's chain within ready_max_lag_blocks of monerod's,
# the scanner not failing), with one reason per failed check; and one
# snapshot of the state (scanner status, accounts by status, pending
# requests, store usage, the webhook outbox) for /metrics and the console's
# overview. Must not serve HTTP, write to the store or start anything.
"""Health, readiness and the state of the server."""

from __future__ import annotations

import msgspec
import trio

from lws import metrics
from lws.daemon import NetworkMismatch
from lws.errors import DaemonError, DaemonUnavailable
from lws.scan.status import ScannerStatus, ScanState
from lws.store import AccountStatus, Reader, RequestKind, StoreUsage
from lws.wire.health import ReadyReply
from lws.wire.webhooks import OutboxStats

from . import storeio, webhooks
from .chainview import chain_height
from .context import Services

#: Seconds /ready waits for monerod's get_info: probes give up after a few
#: seconds (Kubernetes' default is 1 s, most load balancers 2-5 s), and a
#: monerod that does not answer get_info in this time is not serving the
#: scanner either.
READY_DAEMON_TIMEOUT_S = 2.0

#: The names operators see for account statuses and request kinds (lower
#: case, as `lws admin` and the admin API spell them).
STATUS_NAMES = {status: status.name.lower() for status in AccountStatus}
REQUEST_NAMES = {kind: kind.name.lower() for kind in RequestKind}


class ServerState(msgspec.Struct, frozen=True, kw_only=True):
    """The server at one moment, as the operator sees it."""

    scanner: ScannerStatus
    #: Blocks the store holds (the next height the tip pass scans).
    scan_height: int
    #: Accounts by status name (every status present).
    accounts: dict[str, int]
    #: Pending requests by kind name (every kind present).
    requests: dict[str, int]
    usage: StoreUsage
    #: The webhook outbox (services/webhooks' counts).
    outbox: OutboxStats

    @property
    def lag_blocks(self) -> int:
        """Blocks the store trails monerod as the scanner last saw it (0: unknown)."""
        if not self.scanner.daemon_height:
            return 0
        return max(0, self.scanner.daemon_height - self.scan_height)


def _scanner_status(svc: Services) -> ScannerStatus:
    return svc.scanner_status() if svc.scanner_status is not None else ScannerStatus()


def _read_state(reader: Reader) -> tuple[int, dict[str, int], dict[str, int], OutboxStats]:
    accounts = {STATUS_NAMES[status]: n for status, n in reader.account_counts().items()}
    requests = {REQUEST_NAMES[kind]: reader.count_requests(kind) for kind in RequestKind}
    return chain_height(reader), accounts, requests, webhooks.outbox_stats(reader)


async def server_state(svc: Services) -> ServerState:
    """One consistent snapshot of the store's counts, with the scanner status."""
    scan_height, accounts, requests, outbox = await storeio.read(svc.store, _read_state)
    usage = await trio.to_thread.run_sync(svc.store.usage)
    return ServerState(
        scanner=_scanner_status(svc),
        scan_height=scan_height,
        accounts=accounts,
        requests=requests,
        usage=usage,
        outbox=outbox,
    )


async def pending_requests(svc: Services) -> int:
    """Requests waiting for an operator, of every kind."""
    return await storeio.read(svc.store, lambda reader: reader.count_requests())


def metrics_sample(state: ServerState) -> metrics.ServerSample:
    """The gauges of one scrape, from ``state``."""
    return metrics.ServerSample(
        scan_height=state.scan_height,
        daemon_height=state.scanner.daemon_height,
        blocks_per_second=state.scanner.blocks_per_second,
        scanner_state=str(state.scanner.state),
        scanner_states=tuple(str(s) for s in ScanState),
        accounts_behind=state.scanner.accounts_behind,
        accounts=state.accounts,
        requests_pending=state.requests,
        store_bytes=state.usage.file_bytes,
        store_used_bytes=state.usage.used_bytes,
        store_map_bytes=state.usage.map_bytes,
        store_map_max_bytes=state.usage.max_map_bytes,
        store_readers=state.usage.readers,
        store_max_readers=state.usage.max_readers,
        webhooks=metrics.WebhookSample(
            hooks=state.outbox.hooks,
            records={
                "pending": state.outbox.pending,
                "delivered": state.outbox.delivered,
                "failed": state.outbox.failed,
            },
            limit=state.outbox.limit,
            dropped_events=state.outbox.dropped_events,
        ),
    )


async def scrape(svc: Services, accept: str = "") -> tuple[bytes, str]:
    """GET /metrics: every process's counters and this moment's gauges (body,
    Content-Type). The store reads and the multiprocess files' merge run in a
    worker thread."""
    state = await server_state(svc)
    return await trio.to_thread.run_sync(metrics.exposition, metrics_sample(state), accept)


async def readiness(svc: Services) -> ReadyReply:
    """GET /ready: every check is run, and each failed one gives its reason."""
    reasons: list[str] = []
    max_lag = svc.config.ready_max_lag_blocks
    status = _scanner_status(svc)
    scan_height = 0
    try:
        scan_height = await storeio.read(svc.store, chain_height)
    except Exception as exc:  # whatever it is, the store is not usable
        reasons.append(f"the store cannot be read: {type(exc).__name__}")
    daemon_height = 0
    with trio.move_on_after(READY_DAEMON_TIMEOUT_S) as probe:
        try:
            info = await svc.daemon.check_network(svc.config.network)
        except NetworkMismatch as exc:
            reasons.append(str(exc))
        except (DaemonUnavailable, DaemonError) as exc:
            reasons.append(f"monerod is not answering: {exc}")
        else:
            daemon_height = info.height
            if info.bootstrapped:
                reasons.append("monerod is serving from a bootstrap daemon")
            elif info.syncing:
                reasons.append(
                    f"monerod is synchronising ({info.height} of {info.target_height} blocks)"
                )
    if probe.cancelled_caught:
        reasons.append(f"monerod did not answer get_info within {READY_DAEMON_TIMEOUT_S:g} s")
    lag = max(0, daemon_height - scan_height) if daemon_height else 0
    if daemon_height and lag > max_lag:
        reasons.append(f"the scanner is {lag} blocks behind monerod (ready within {max_lag})")
    if status.state is ScanState.STARTING:
        reasons.append("the scanner has not finished its first round")
    elif status.state is ScanState.WORKER_FAILED:
        reasons.append(f"the scanner's workers failed: {status.last_error}")
    elif status.state is ScanState.UNAVAILABLE and not reasons:
        # monerod answers this probe but failed the scanner's last round.
        reasons.append(f"the scanner's last round failed: {status.last_error}")
    return ReadyReply(
        ready=not reasons,
        reasons=reasons,
        scanner_state=str(status.state),
        daemon_height=daemon_height,
        scan_height=scan_height,
        lag_blocks=lag,
        max_lag_blocks=max_lag,
    )
