# Owns the API worker processes of `lws serve` with api_workers > 1, from
# the main process: starts each (lws/api_worker.py) with the main process's
# listening sockets as inherited descriptors and the config on its stdin,
# forwards the scanner status to it when it changes, turns its wake-up lines
# into scanner wake-ups, restarts one that exits unexpectedly, and stops
# them all (SIGTERM, then SIGKILL past a deadline) on shutdown. The kernel
# hands each new connection to whichever process accepts it first. Must not
# serve requests itself or know routes.
"""Supervisor of the API worker processes."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import trio

from lws.config import Config
from lws.services.context import ScannerStatusProvider

from .serve import GRACEFUL_TIMEOUT_S
from .worker_pipe import READY, WAKE, LineReader

log = logging.getLogger(__name__)

#: Seconds between looks at the scanner status (sent to workers when it changed).
STATUS_INTERVAL_S = 0.25
#: Seconds before a worker that exited unexpectedly is started again.
RESTART_DELAY_S = 1.0
#: Seconds a worker gets after SIGTERM (it drains in-flight requests) before SIGKILL.
STOP_TIMEOUT_S = GRACEFUL_TIMEOUT_S + 2.0
#: Seconds a new worker may take to import lws and start listening.
START_TIMEOUT_S = 60.0


class WorkerFailed(Exception):
    """A worker did not start (bad install, bad config): lws serve stops."""


class ApiWorkers:
    """``count`` API worker processes serving ``sockets`` next to the main process."""

    def __init__(
        self,
        config: Config,
        sockets: list[trio.socket.SocketType],
        count: int,
        *,
        status: ScannerStatusProvider,
        wake: Callable[[], None],
        metrics_dir: Path | None = None,
    ) -> None:
        """``metrics_dir``: the main process's metrics directory, which the
        workers count into (lws.metrics; None: they count in memory)."""
        self.config = config
        self.fds = [sock.fileno() for sock in sockets]
        self.count = count
        self.status = status
        self.wake = wake
        self.metrics_dir = metrics_dir
        #: Process ids of the running workers (tests and logs).
        self.pids: set[int] = set()

    async def run(
        self, shutdown: trio.Event, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the workers until ``shutdown``; ``started()`` once all of them listen."""
        async with trio.open_nursery() as nursery:
            for index in range(self.count):
                await nursery.start(self._keep, index, shutdown)
            task_status.started()

    async def _keep(
        self, index: int, shutdown: trio.Event, *, task_status: trio.TaskStatus[None]
    ) -> None:
        """Worker ``index``, restarted whenever it exits before ``shutdown``."""
        first = True
        while not shutdown.is_set():
            ready = trio.Event()
            code = await self._run_one(shutdown, ready, task_status if first else None)
            if first and not ready.is_set():
                raise WorkerFailed(f"API worker {index} exited at start (status {code})")
            first = False
            if shutdown.is_set():
                return
            log.error(
                "API worker %d exited (status %s); restarting in %.0f s",
                index,
                code,
                RESTART_DELAY_S,
            )
            await trio.sleep(RESTART_DELAY_S)

    async def _run_one(
        self,
        shutdown: trio.Event,
        ready: trio.Event,
        task_status: trio.TaskStatus[None] | None,
    ) -> int | None:
        proc = await trio.lowlevel.open_process(
            [
                sys.executable,
                "-m",
                "lws.api_worker",
                *(["--metrics-dir", str(self.metrics_dir)] if self.metrics_dir else []),
                *map(str, self.fds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=self.fds,
        )
        assert proc.stdin is not None and proc.stdout is not None
        to_worker, from_worker = proc.stdin, proc.stdout
        self.pids.add(proc.pid)
        try:
            async with trio.open_nursery() as nursery:

                async def messages() -> None:
                    lines = LineReader(from_worker)
                    while line := await lines.line():
                        if line + b"\n" == WAKE:
                            self.wake()
                        elif line + b"\n" == READY:
                            ready.set()
                            if task_status is not None:
                                task_status.started()

                async def forward_status() -> None:
                    last = None
                    try:
                        await to_worker.send_all(msgspec.json.encode(self.config) + b"\n")
                        while True:
                            current = self.status()
                            if current != last:
                                await to_worker.send_all(msgspec.json.encode(current) + b"\n")
                                last = current
                            await trio.sleep(STATUS_INTERVAL_S)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass  # the worker is gone: proc.wait() returns

                async def stop_on_shutdown() -> None:
                    await shutdown.wait()
                    proc.terminate()

                async def start_deadline() -> None:
                    with trio.move_on_after(START_TIMEOUT_S):
                        await ready.wait()
                    if not ready.is_set():
                        log.error("API worker %d did not start in time", proc.pid)
                        proc.kill()

                nursery.start_soon(messages)
                nursery.start_soon(forward_status)
                nursery.start_soon(stop_on_shutdown)
                nursery.start_soon(start_deadline)
                await proc.wait()
                nursery.cancel_scope.cancel()
            return proc.returncode
        finally:
            with trio.CancelScope(shield=True):
                if proc.returncode is None:
                    proc.terminate()
                    with trio.move_on_after(STOP_TIMEOUT_S):
                        await proc.wait()
                    if proc.returncode is None:
                        proc.kill()
                        await proc.wait()
                self.pids.discard(proc.pid)
                await trio.aclose_forcefully(to_worker)
                await trio.aclose_forcefully(from_worker)
