# Owns the ASGI middleware every lws Quart-Trio app is served behind
# (serve.py wraps each one): (1) the refusals of request framing this API
# does not take, before the app sees them (any Transfer-Encoding, a
# Transfer-Encoding with a Content-Length, more than MAX_HEADER_FIELDS
# header fields or MAX_HEAD_BYTES, an HTTP version Hypercorn should not have passed on, HTTP/2
# on a cleartext connection), each a 4xx {"Error": ...} that closes the
# connection; (2) the workaround of the Hypercorn + quart-trio keep-alive
# wedge (docs/decisions/quart-hypercorn.md): the reply's last `send` is
# shielded from cancellation, and a reply that ends before the request body has waits
# (bounded by DRAIN_LIMIT and DRAIN_TIMEOUT_S) for the app to read the rest,
# so the connection can serve the next request; a bigger unread body gets
# `Connection: close`. Must not know routes, services or any lws error
# beyond writing its own {"Error": ...} bodies.
"""ASGI middleware: framing refusals and the keep-alive wedge workaround."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec
import trio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Header fields per request: browsers send about 15, the MyMonero clients
#: fewer; 100 is what the old server allowed and what most proxies allow.
MAX_HEADER_FIELDS = 100
#: Bytes of a request's target and header fields. Hypercorn's
#: h11_max_incomplete_size bounds a head only while it is incomplete: one
#: that arrives whole in one read (up to 64 KiB) passes it.
MAX_HEAD_BYTES = 16 * 1024
#: An unread request body up to this many bytes is waited for after an early
#: reply (the app reads it), so the keep-alive connection stays usable; past
#: it the reply closes the connection (reading more to keep it would cost
#: more than a new connection).
DRAIN_LIMIT = 64 * 1024
#: Seconds an early reply's end waits for the rest of a small body. A client
#: sends its body right after its head; one that does not is closed.
DRAIN_TIMEOUT_S = 3.0
#: The HTTP versions an ASGI scope may carry here: Hypercorn's h11 layer
#: passes "HTTP/2.0" request lines on as "2.0", which no client means.
HTTP_VERSIONS = frozenset({"1.0", "1.1", "2", "3"})
#: Versions served over HTTP/2 or HTTP/3 framing (no Connection header there);
#: any other reached the app through h11.
MULTIPLEXED = frozenset({"2", "3"})

_ENCODE = msgspec.json.Encoder().encode


def _refusal(scope: Scope) -> tuple[int, str] | None:
    """The (status, message) a request is refused with, or None."""
    version = scope.get("http_version", "1.1")
    if version not in HTTP_VERSIONS:
        return 400, f"HTTP/{version} is not supported: use HTTP/1.1"
    if version in MULTIPLEXED and scope.get("scheme") == "http":
        # h2c (an Upgrade or prior knowledge): Hypercorn switches on its own.
        return 400, "HTTP/2 is served over TLS only: use HTTP/1.1 on a cleartext connection"
    headers = scope["headers"]
    if len(headers) > MAX_HEADER_FIELDS:
        return 431, f"Too many header fields: at most {MAX_HEADER_FIELDS}"
    transfer_encoding = content_length = False
    size = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b""))
    for name, value in headers:
        size += len(name) + len(value)
        if name == b"transfer-encoding":
            transfer_encoding = True
        elif name == b"content-length":
            content_length = True
    if size > MAX_HEAD_BYTES:
        return 431, f"Request head too large: at most {MAX_HEAD_BYTES} bytes"
    if transfer_encoding and content_length:
        return 400, "Bad request: Transfer-Encoding together with Content-Length"
    if transfer_encoding:
        return 411, "Transfer-Encoding is not accepted: send the body with a Content-Length"
    return None


async def _send_error(send: Send, status: int, message: str, *, close: bool) -> None:
    body = _ENCODE({"Error": message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    with trio.CancelScope(shield=True):
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


class _Exchange:
    """One request/reply of an HTTP/1 connection, as the middleware sees it."""

    __slots__ = ("_receive", "_send", "done", "_done_event", "unread", "closing", "http1")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.http1 = scope.get("http_version", "1.1") not in MULTIPLEXED
        self.closing = False
        #: Whether the request body has all arrived (or the client left).
        self.done = True
        #: Made only when the reply has to wait for the body.
        self._done_event: trio.Event | None = None
        #: Bytes of the body not received yet.
        self.unread = 0
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    self.unread = int(value)
                except ValueError:  # h11 has checked it; nothing to wait for then
                    self.unread = 0
                self.done = self.unread == 0

    def _finish(self) -> None:
        self.done = True
        if self._done_event is not None:
            self._done_event.set()

    async def receive(self) -> Message:
        message = await self._receive()
        kind = message["type"]
        if kind == "http.request":
            self.unread -= len(message.get("body", b""))
            if not message.get("more_body", False):
                self._finish()
        elif kind == "http.disconnect":
            self._finish()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] != "http.response.body" or message.get("more_body", False):
            if message["type"] == "http.response.start" and self.http1 and not self.done:
                if self.unread > DRAIN_LIMIT or message.get("status") == 408:
                    # Too much to wait for, or a body that stalled (408): close.
                    self.closing = True
                    message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
            await self._send(message)
            return
        # The last message: Hypercorn then recycles the connection (request
        # done) or closes it, inside this call; a cancellation of the app
        # must not land in that close (the wedge), so it is shielded.
        with trio.CancelScope(shield=True):
            if not self.done and not self.closing:
                # Give the app the time to read a small rest of the body.
                if self._done_event is None:
                    self._done_event = trio.Event()
                with trio.move_on_after(DRAIN_TIMEOUT_S):
                    await self._done_event.wait()
            await self._send(message)


class FramingGuard:
    """Wraps an ASGI app (a Quart-Trio app) for Hypercorn; see the module comment."""

    def __init__(self, app: AsgiApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _refusal(scope)
        if refusal is not None:
            status, message = refusal
            close = scope.get("http_version", "1.1") not in MULTIPLEXED
            await _send_error(send, status, message, close=close)
            return
        exchange = _Exchange(scope, receive, send)
        await self.app(scope, exchange.receive, exchange.send)
