# Owns composing lws at run time: opens the store and the daemon client,
# starts the webhook delivery engine, the /feed hub, the scanner, the wallet
# API (its Quart-Trio app on Hypercorn, /feed included) and (more than one
# API process) the API worker processes on the API's sockets in one root
# nursery (in that order, each via nursery.start), and turns SIGINT/SIGTERM
# into one shutdown event (Hypercorn then drains for its graceful timeout).
# Must not contain business logic or parse configuration.
"""The composition root of ``lws serve``."""

from __future__ import annotations

import logging
import signal

import trio

from lws.api.serve import AppServer, check_listeners
from lws.api.supervisor import ApiWorkers
from lws.api.wallet import create_app
from lws.config import Config
from lws.daemon import Daemon
from lws.notify import DeliveryEngine, DeliverySettings
from lws.notify.feed import FeedHub
from lws.scan import Scanner, ScannerStatus
from lws.services.context import Services
from lws.store import Store

log = logging.getLogger(__name__)


async def run(
    config: Config, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve until SIGINT/SIGTERM; ``task_status.started(API addresses)`` once listening."""
    if config.daemon_url is None:
        raise ValueError("run() needs a daemon_url; the playground supplies one")
    check_listeners(config, config.listen)
    config.data_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store.open(config.data_path / "store", network=config.network)
    daemon = Daemon(config.daemon_url)
    scanner = Scanner(
        store,
        daemon,
        network=config.network,
        workers=config.scan_workers,
        poll_interval=config.poll_interval,
        batch_blocks=config.scan_batch_blocks,
    )

    engine = DeliveryEngine(store, delivery_settings(config))
    hub = FeedHub(store)

    def scanner_status() -> ScannerStatus:
        return scanner.status

    shutdown = trio.Event()
    services = Services(config, store, daemon, scanner_status, wake_scanner=scanner.wake)
    app = create_app(services, feed_hub=hub)
    api = AppServer(config, app, shutdown=shutdown)
    try:
        async with trio.open_nursery() as nursery:

            async def serve_api(*, task_status: trio.TaskStatus[list[str]]) -> None:
                # Hypercorn drains in-flight requests (for at most its graceful
                # timeout) when `shutdown` is set; once it has, nothing else
                # needs to outlive it.
                await api.run(task_status=task_status)
                nursery.cancel_scope.cancel()

            nursery.start_soon(_watch_signals, shutdown)
            await nursery.start(engine.run)
            await nursery.start(hub.run)
            await nursery.start(scanner.run)
            bound = await nursery.start(serve_api)
            if config.api_processes() > 1:
                workers = ApiWorkers(
                    config,
                    api.sockets,
                    config.api_processes() - 1,
                    status=scanner_status,
                    wake=scanner.wake,
                )
                await nursery.start(workers.run, shutdown)
                log.info("%d API worker processes share the listeners", config.api_processes() - 1)
            log.info(
                "lws serving on %s (data in %s, daemon %s)",
                ", ".join(bound),
                config.data_path,
                config.daemon_url,
            )
            task_status.started(bound)
    finally:
        await daemon.aclose()
        store.close()


def delivery_settings(config: Config) -> DeliverySettings:
    return DeliverySettings(
        timeout=config.webhook_timeout,
        retry_delays=config.webhook_retry_delays,
        keep_seconds=config.webhook_keep_seconds,
        outbox_limit=config.webhook_outbox_limit,
        verify_tls=config.webhook_verify_tls,
    )


async def _watch_signals(shutdown: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            shutdown.set()
            return
