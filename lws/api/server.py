# Owns serving the wallet API handler with lws's own HTTP/1.1 server
# (http1.py) inside lws's trio nursery: listeners from config (or listening
# sockets inherited from the main process, in an API worker), TLS from
# config, the refusal of plain HTTP on a non-loopback address (view keys
# travel in requests) unless the operator allows it, graceful shutdown on an
# event, and task_status.started() once listening. Must not build the app
# (app.py) or know routes.
"""The wallet API's listener."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from typing import Any

import trio

from lws.config import Config, split_listen
from lws.errors import ConfigError

from .http1 import Handler, Http1Server, Limits

log = logging.getLogger(__name__)

#: Seconds in-flight requests get to finish after shutdown is asked.
GRACEFUL_TIMEOUT_S = 5.0
#: Seconds an idle keep-alive connection stays open.
KEEP_ALIVE_TIMEOUT_S = Limits.idle_timeout


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


def tls_context(certificate: str, key: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


def _url(scheme: str, sockname: Any) -> str:
    host, port = sockname[0], sockname[1]
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


class ApiServer:
    """Serves ``app`` on ``config.listen`` (or ``listen``) until ``shutdown`` is set."""

    def __init__(
        self,
        config: Config,
        app: Any,
        *,
        listen: tuple[str, ...] | None = None,
        shutdown: trio.Event | None = None,
        limits: Limits | None = None,
        graceful_timeout: float = GRACEFUL_TIMEOUT_S,
        inherited: list[trio.socket.SocketType] | None = None,
    ) -> None:
        """``inherited``: listening sockets to serve instead of binding ``listen``."""
        self.listen = config.listen if listen is None else listen
        self.inherited = inherited
        #: The listening sockets, once ``run`` has bound them (API workers share them).
        self.sockets: list[trio.socket.SocketType] = []
        check_listeners(config, self.listen)
        self.app = app
        self.shutdown_event = shutdown if shutdown is not None else trio.Event()
        self.bound: list[str] = []
        self.limits = limits or Limits()
        self.graceful_timeout = graceful_timeout
        self._tls: ssl.SSLContext | None = None
        if config.tls_certificate is not None:
            self._tls = tls_context(config.tls_certificate, config.tls_key)
        self.http: Http1Server | None = None

    def shutdown(self) -> None:
        self.shutdown_event.set()

    async def run(
        self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until shutdown; ``task_status.started(bound addresses)`` once listening."""
        handler: Handler = self.app
        self.http = Http1Server(handler, self.limits)
        sockets: list[trio.SocketListener] = []
        try:
            if self.inherited is not None:
                sockets = [trio.SocketListener(sock) for sock in self.inherited]
            for entry in self.listen if self.inherited is None else ():
                host, port = split_listen(entry)
                sockets += await trio.open_tcp_listeners(port, host=host)
        except BaseException:
            for socket_listener in sockets:
                await trio.aclose_forcefully(socket_listener)
            raise
        self.sockets = [listener.socket for listener in sockets]
        scheme = "https" if self._tls is not None else "http"
        self.bound = [_url(scheme, listener.socket.getsockname()) for listener in sockets]
        listeners: list[trio.abc.Listener[Any]] = list(sockets)
        if self._tls is not None:
            listeners = [
                trio.SSLListener(
                    listener,
                    self._tls,
                    https_compatible=True,
                )
                for listener in sockets
            ]
        log.info("wallet API listening on %s", ", ".join(self.bound))
        task_status.started(self.bound)
        await self.http.serve(listeners, self.shutdown_event, self.graceful_timeout)


__all__ = ["ApiServer", "GRACEFUL_TIMEOUT_S", "KEEP_ALIVE_TIMEOUT_S", "check_listeners"]
