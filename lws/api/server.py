# Owns serving the wallet API app with Hypercorn inside lws's trio nursery:
# listeners from config, TLS from config, the refusal of plain HTTP on a
# non-loopback address (view keys travel in requests) unless the operator
# allows it, graceful shutdown on an event, and task_status.started() once
# listening. Must not build the app (app.py) or know routes.
"""The wallet API's listener."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from lws.config import Config, split_listen
from lws.errors import ConfigError

log = logging.getLogger(__name__)

#: Seconds in-flight requests get to finish after shutdown is asked.
GRACEFUL_TIMEOUT_S = 5.0
#: Seconds an idle keep-alive connection stays open.
KEEP_ALIVE_TIMEOUT_S = 30


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listeners(config: Config, listen: tuple[str, ...]) -> None:
    """Refuse plain HTTP on a non-loopback address unless allowed."""
    if config.tls_certificate is not None or config.allow_insecure_public:
        return
    for entry in listen:
        host, _ = split_listen(entry)
        if not is_loopback(host):
            raise ConfigError(
                f"listen: {entry!r} is not loopback and no TLS is configured "
                "(view keys would travel in clear); set tls_certificate/tls_key "
                "or allow_insecure_public"
            )


class ApiServer:
    """Serves ``app`` on ``config.listen`` (or ``listen``) until ``shutdown`` is set."""

    def __init__(
        self,
        config: Config,
        app: Any,
        *,
        listen: tuple[str, ...] | None = None,
        shutdown: trio.Event | None = None,
    ) -> None:
        self.listen = config.listen if listen is None else listen
        check_listeners(config, self.listen)
        self.app = app
        self.shutdown_event = shutdown if shutdown is not None else trio.Event()
        self.bound: list[str] = []
        self._hconfig = HypercornConfig()
        self._hconfig.bind = [
            f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            for host, port in (split_listen(entry) for entry in self.listen)
        ]
        if config.tls_certificate is not None:
            self._hconfig.certfile = config.tls_certificate
            self._hconfig.keyfile = config.tls_key
        self._hconfig.graceful_timeout = GRACEFUL_TIMEOUT_S
        self._hconfig.keep_alive_timeout = KEEP_ALIVE_TIMEOUT_S
        self._hconfig.accesslog = None
        self._hconfig.errorlog = logging.getLogger("lws.api.hypercorn")

    def shutdown(self) -> None:
        self.shutdown_event.set()

    async def run(
        self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until shutdown; ``task_status.started(bound addresses)`` once listening."""

        async def trigger() -> None:
            await self.shutdown_event.wait()

        class _Started:
            def started(inner, value: list[str] | None = None) -> None:  # noqa: N805
                self.bound = list(value or [])
                log.info("wallet API listening on %s", ", ".join(self.bound))
                task_status.started(self.bound)

        await serve(self.app, self._hconfig, shutdown_trigger=trigger, task_status=_Started())
