# Owns composing lws at run time: connects to the Dask cluster first when
# scan_cluster is set, opens the store and the daemon client, starts the
# webhook delivery engine, the /feed hub, the last-access flusher, the
# scanner, the wallet API (its Quart-Trio app on Hypercorn, /feed
# included), the admin API on its own listeners when configured, and (more
# than one API process) the API worker processes on the API's sockets in
# one root nursery (in that order, each via nursery.start), and turns
# SIGINT/SIGTERM into one shutdown event (Hypercorn then drains for its
# graceful timeout). Must not contain business logic or parse configuration.
"""The composition root of ``lws serve``."""

from __future__ import annotations

import logging
import os
import signal
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import trio

from lws import metrics
from lws.api import instrument
from lws.api.admin import create_admin_app
from lws.api.console import console_blueprint
from lws.api.observe import observe_blueprint
from lws.api.serve import AppServer, check_listeners
from lws.api.supervisor import ApiWorkers
from lws.api.wallet import create_app
from lws.config import Config
from lws.daemon import Daemon
from lws.errors import ConfigError
from lws.notify import DeliveryEngine, DeliverySettings
from lws.notify.feed import FeedHub
from lws.scan import Scanner, ScannerStatus
from lws.scan.pool import ScanWorkers
from lws.services.context import Services
from lws.store import Store

log = logging.getLogger(__name__)


async def run(
    config: Config, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve until SIGINT/SIGTERM; ``task_status.started(API addresses)`` once listening.
    Every process started inside counts its metrics into one directory (lws.metrics)."""
    with metrics.multiprocess_files() as metrics_dir:
        await _run(config, metrics_dir, task_status=task_status)


async def _run(
    config: Config, metrics_dir: Path | None, *, task_status: trio.TaskStatus[list[str]]
) -> None:
    if config.daemon_url is None:
        raise ValueError("run() needs a daemon_url; the playground supplies one")
    preflight(config)
    config.data_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    cluster = await _connect_scan_cluster(config)  # before anything: a clear error if absent
    store = Store.open(config.data_path / "store", network=config.network)
    daemon = Daemon(config.daemon_url)
    scanner = Scanner(
        store,
        daemon,
        network=config.network,
        workers=config.scan_workers,
        poll_interval=config.poll_interval,
        batch_blocks=config.scan_batch_blocks,
        pool=cluster,
    )

    engine = DeliveryEngine(store, delivery_settings(config))
    hub = FeedHub(store)

    def scanner_status() -> ScannerStatus:
        return scanner.status

    shutdown = trio.Event()
    services = Services(config, store, daemon, scanner_status, wake_scanner=scanner.wake)
    app = instrument.for_quart(create_app(services, feed_hub=hub), "wallet")
    api = AppServer(config, app, shutdown=shutdown)
    admin_api = (
        AppServer(
            config,
            admin_listener_app(services),
            listen=config.admin_listen,
            shutdown=shutdown,
            name="admin API",
        )
        if config.admin_listen
        else None
    )
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
            await nursery.start(services.access.run, store)
            await nursery.start(scanner.run)
            bound = await nursery.start(serve_api)
            if admin_api is not None:
                await nursery.start(admin_api.run)
            if config.api_processes() > 1:
                workers = ApiWorkers(
                    config,
                    api.sockets,
                    config.api_processes() - 1,
                    status=scanner_status,
                    wake=scanner.wake,
                    metrics_dir=metrics_dir,
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
        if cluster is not None:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(cluster.close)


def admin_listener_app(services: Services) -> instrument.RequestMetrics:
    """The admin listener's one app: the admin API, /health, /ready and
    /metrics, and the operator console; its requests counted as "admin"."""
    app = create_admin_app(services)
    app.register_blueprint(observe_blueprint(services))
    tls = services.config.tls_certificate is not None
    app.register_blueprint(console_blueprint(services, tls=tls))
    return instrument.for_quart(app, "admin")


async def _connect_scan_cluster(config: Config) -> ScanWorkers | None:
    """The Dask cluster of ``scan_cluster``, connected, or None (local worker
    processes). Dask is imported only here, only when it is configured."""
    if config.scan_cluster is None:
        return None
    from lws.scan.cluster import ClusterPool, ClusterTls

    tls = None
    if config.scan_cluster_tls_ca and config.scan_cluster_tls_cert and config.scan_cluster_tls_key:
        tls = ClusterTls(
            ca_file=config.scan_cluster_tls_ca,
            cert_file=config.scan_cluster_tls_cert,
            key_file=config.scan_cluster_tls_key,
        )
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError(
            "scan_cluster needs Dask distributed: pip install 'lws[cluster]'"
        ) from None
    pool = ClusterPool(config.scan_cluster, tls=tls)
    await trio.to_thread.run_sync(pool.start)  # ScanClusterUnavailable names the address
    log.info("scan work goes to the Dask cluster at %s", config.scan_cluster)
    return pool


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


def preflight(config: Config) -> None:
    """The checks of a configuration that need no store, daemon or socket,
    run by ``run`` before it starts anything and by ``lws serve
    --check-config``: listeners (no plain HTTP on a public address unless
    allowed), the TLS certificate and key load, the daemon URL is an http(s)
    URL, the data folder is a writable folder (or can be made). A
    ConfigError names the option."""
    check_listeners(config, config.listen)
    check_listeners(config, config.admin_listen)
    if config.tls_certificate is not None:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                config.tls_certificate, config.tls_key
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"tls_certificate/tls_key: cannot load them: {exc}") from None
    if config.daemon_url is not None:
        url = urlsplit(config.daemon_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"daemon_url: {config.daemon_url!r} is not an http(s) URL")
    where = config.data_path
    while not where.exists() and where.parent != where:
        where = where.parent  # the folder that would be created in
    if not where.is_dir():
        raise ConfigError(f"data_dir: {where} is not a folder")
    if not os.access(where, os.W_OK | os.X_OK):
        raise ConfigError(f"data_dir: {where} is not writable by this user")
