# Owns serving any lws ASGI app (the wallet API's Quart-Trio app, and later
# the admin API and console) with Hypercorn (`hypercorn.trio.serve`) inside
# lws's trio nursery: binding HOST:PORT listeners (or taking listening
# sockets inherited from the main process, in an API worker), TLS from the
# configured certificate through Hypercorn, the refusal of plain HTTP on a
# non-loopback address (view keys travel in requests) unless the operator
# allows it, the FramingGuard middleware in front of every app, Hypercorn's
# transport limits (one ServerSettings; the write bound is the kernel's
# TCP_USER_TIMEOUT on the listening sockets) and its keep-alive timer
# (keepalive_timer.py), a graceful shutdown on an event,
# and task_status.started(bound URLs) once listening. Must not build apps or
# know routes.
"""Serve an ASGI app on Hypercorn, on listeners or inherited sockets."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio

from lws.config import Config, is_loopback, split_listen
from lws.errors import ConfigError

from . import keepalive_timer
from .framing import FramingGuard

log = logging.getLogger(__name__)

#: Seconds in-flight requests get to finish after shutdown is asked (then
#: Hypercorn cancels them).
GRACEFUL_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ServerSettings:
    """Hypercorn's transport limits; tests shrink the timeouts to stay fast."""

    #: Seconds in-flight requests get to finish after shutdown is asked.
    graceful_timeout: float = GRACEFUL_TIMEOUT_S
    #: Seconds an idle keep-alive connection stays open. Hypercorn also
    #: counts it from a connection's start (or last reply) until a whole
    #: request head has arrived: it is the bound on a slow-loris head.
    keep_alive_timeout: float = 10.0
    #: Seconds without a byte from the client while Hypercorn reads (a
    #: stalled body; the app's body timeout is the other bound).
    read_timeout: int = 10
    #: Bytes of a request head (h11_max_incomplete_size): real clients send
    #: well under 1 KiB; nginx's large_client_header_buffers is 4 x 8 KiB.
    max_head: int = 16 * 1024
    #: Seconds a TLS handshake may take.
    handshake_timeout: float = 10.0
    #: Pending connections the kernel queues per listener.
    backlog: int = 1024
    #: Requests on one keep-alive connection before it is closed.
    keep_alive_max_requests: int = 10_000
    #: Seconds between pings on a websocket (/feed): its client sends nothing
    #: after the login, and Hypercorn's read timeout would close it; a live
    #: client's pongs keep it open, a dead one's silence ends it.
    websocket_ping_interval: float = 5.0
    #: Seconds a reply's bytes may stay unacknowledged by the client before
    #: the kernel drops the connection (TCP_USER_TIMEOUT on the listening
    #: sockets, inherited by every connection): a client that stops reading
    #: (a zero window) or vanishes. Hypercorn's sends are shielded from
    #: cancellation, so nothing above the socket can bound them.
    write_timeout: float = 30.0


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


def bound_writes(sockets: list[trio.socket.SocketType], timeout: float) -> None:
    """Drop a connection whose sent bytes stay unacknowledged for
    ``timeout`` seconds (Linux's TCP_USER_TIMEOUT; accepted connections
    inherit it from their listening socket)."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is None:
        log.warning("no TCP_USER_TIMEOUT here: a client that stops reading holds its connection")
        return
    for sock in sockets:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, option, round(timeout * 1000))


def hypercorn_config(
    config: Config, fds: list[int], settings: ServerSettings
) -> hypercorn.config.Config:
    """Hypercorn's configuration for serving on the listening sockets ``fds``."""
    hc = hypercorn.config.Config()
    hc.bind = [f"fd://{fd}" for fd in fds]
    if config.tls_certificate is not None:
        hc.certfile = config.tls_certificate
        hc.keyfile = config.tls_key
    hc.graceful_timeout = settings.graceful_timeout
    hc.keep_alive_timeout = settings.keep_alive_timeout
    hc.read_timeout = settings.read_timeout
    hc.h11_max_incomplete_size = settings.max_head
    hc.ssl_handshake_timeout = settings.handshake_timeout
    hc.backlog = settings.backlog
    hc.keep_alive_max_requests = settings.keep_alive_max_requests
    hc.websocket_ping_interval = settings.websocket_ping_interval
    # Per-request work lws does not need: no access log line (lws logs what
    # matters itself), no Server header.
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.include_server_header = False
    return hc


class AppServer:
    """Serves ``app`` on ``listen`` (or ``inherited`` sockets) until ``shutdown`` is set."""

    def __init__(
        self,
        config: Config,
        app: Any,
        *,
        listen: tuple[str, ...] | None = None,
        shutdown: trio.Event | None = None,
        settings: ServerSettings | None = None,
        inherited: list[trio.socket.SocketType] | None = None,
        name: str = "wallet API",
    ) -> None:
        """``inherited``: listening sockets to serve instead of binding ``listen``."""
        self.config = config
        self.listen = config.listen if listen is None else listen
        self.inherited = inherited
        check_listeners(config, self.listen)
        self.app = app
        self.shutdown_event = shutdown if shutdown is not None else trio.Event()
        self.settings = settings or ServerSettings()
        self.name = name
        #: The listening sockets, once ``run`` has bound them (API workers share them).
        self.sockets: list[trio.socket.SocketType] = []
        self.bound: list[str] = []

    def shutdown(self) -> None:
        self.shutdown_event.set()

    async def _bind(self) -> list[trio.socket.SocketType]:
        if self.inherited is not None:
            return list(self.inherited)
        listeners: list[trio.SocketListener] = []
        try:
            for entry in self.listen:
                host, port = split_listen(entry)
                listeners += await trio.open_tcp_listeners(port, host=host)
        except BaseException:
            for listener in listeners:
                await trio.aclose_forcefully(listener)
            raise
        return [listener.socket for listener in listeners]

    async def run(
        self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until shutdown; ``task_status.started(bound URLs)`` once listening."""
        self.sockets = await self._bind()
        bound_writes(self.sockets, self.settings.write_timeout)
        # Hypercorn owns (and closes) duplicates; ours stay open for API workers.
        fds = [os.dup(sock.fileno()) for sock in self.sockets]
        hc = hypercorn_config(self.config, fds, self.settings)
        # One keep-alive timer task per connection, not one per request.
        keepalive_timer.install()

        async def serving(*, task_status: trio.TaskStatus[list[str]]) -> None:
            await hypercorn.trio.serve(
                FramingGuard(self.app),  # type: ignore[arg-type]
                hc,
                shutdown_trigger=self.shutdown_event.wait,
                task_status=task_status,
            )

        try:
            async with trio.open_nursery() as nursery:
                self.bound = await nursery.start(serving)
                log.info("%s listening on %s", self.name, ", ".join(self.bound))
                task_status.started(self.bound)
        finally:
            if self.inherited is None:
                for sock in self.sockets:
                    sock.close()


__all__ = ["GRACEFUL_TIMEOUT_S", "AppServer", "ServerSettings", "check_listeners", "is_loopback"]
