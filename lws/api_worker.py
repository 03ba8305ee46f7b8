# Owns the composition root of one API worker process of `lws serve` with
# api_workers > 1 (beside lws/app.py, the main process's): started by
# lws/api/supervisor.py with the main process's listening sockets as inherited
# descriptors (their numbers in argv, after `--metrics-dir DIR` when the main
# process counts metrics in files), its config as the first line on stdin
# and the scanner's status as later lines; it serves the wallet API on those
# sockets (Quart-Trio on Hypercorn, /feed with its own hub) over its own
# store handle, daemon client and caches (rate budgets are shared,
# lws/store/ratelimit.py), says "ready" and asks for scanner wake-ups with
# lines on its stdout (the real stdout is kept for that; anything else
# printed goes to stderr). It stops on
# SIGTERM/SIGINT, or when its stdin closes (the main process is gone). Must
# not scan or run anything but the API.
"""An API worker process: ``python -m lws.api_worker FD...``."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys

import msgspec
import trio

from lws import metrics
from lws.api import instrument
from lws.api.serve import AppServer
from lws.api.wallet import create_app
from lws.api.worker_pipe import READY, WAKE, LineReader
from lws.config import Config
from lws.daemon import Daemon
from lws.gc_tuning import tune_for_long_running
from lws.notify.feed import FeedHub
from lws.scan.status import ScannerStatus
from lws.services.context import Services
from lws.store import Store

log = logging.getLogger(__name__)


async def serve(fds: list[int]) -> None:
    """Serve the API on the inherited listening sockets ``fds`` until told to stop."""
    lines = LineReader(trio.lowlevel.FdStream(os.dup(0)))
    config = msgspec.json.decode(await lines.line(), type=Config)
    logging.basicConfig(
        level=config.log_level.upper(),
        format=f"%(asctime)s %(levelname)s api-worker-{os.getpid()} %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    # The pipe to the main process stays ours alone: fd 1 now writes to stderr.
    to_main = os.dup(1)
    os.dup2(2, 1)
    status = [ScannerStatus()]

    def wake_scanner() -> None:
        os.write(to_main, WAKE)  # a few bytes on a pipe the main process always reads

    if config.daemon_url is None:
        raise SystemExit("an API worker needs a daemon_url")
    sockets = [trio.socket.from_stdlib_socket(socket.socket(fileno=fd)) for fd in fds]
    store = Store.open(config.data_path / "store", network=config.network)
    daemon = Daemon(config.daemon_url)
    shutdown = trio.Event()
    services = Services(config, store, daemon, lambda: status[0], wake_scanner=wake_scanner)
    hub = FeedHub(store)  # /feed connections this worker accepts follow its own store handle
    app = instrument.for_quart(create_app(services, feed_hub=hub), "wallet")
    api = AppServer(config, app, shutdown=shutdown, inherited=sockets)

    async def follow_main() -> None:
        """Scanner status lines from the main process; its end stops this worker."""
        while line := await lines.line():
            status[0] = msgspec.json.decode(line, type=ScannerStatus)
        log.info("main process gone: stopping")
        shutdown.set()

    async def watch_signals() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                shutdown.set()
                return

    try:
        async with trio.open_nursery() as nursery:

            async def run_api(*, task_status: trio.TaskStatus[list[str]]) -> None:
                # api.run drains in-flight requests once `shutdown` is set.
                await api.run(task_status=task_status)
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_signals)
            nursery.start_soon(follow_main)
            await nursery.start(hub.run)
            await nursery.start(services.access.run, store)
            await nursery.start(run_api)
            os.write(to_main, READY)
    finally:
        await daemon.aclose()
        store.close()


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--metrics-dir"]:
        # Count into the main process's directory: its /metrics sums every process.
        metrics.join_multiprocess(args[1])
        args = args[2:]
    tune_for_long_running()
    try:
        trio.run(serve, [int(fd) for fd in args])
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
