# Owns lws's small, strict HTTP/1.1 server on trio streams (TCP, or TLS via
# trio.SSLStream): parsing a request head, Content-Length bodies (with
# Expect: 100-continue), keep-alive and pipelining (one request at a time,
# in order), every transport limit (head size, header count, head/body/idle
# timeouts, open connections, send timeout), the transport-level errors
# (400, 408, 411, 413, 414, 417, 431, 501, 505, 503 at the connection cap)
# and graceful shutdown. It hands each request to a handler and writes what
# the handler returns (a large body straight from its own buffer, after the
# head); it also reads Accept-Encoding for the handler (accepts_gzip). Must
# not know routes, JSON shapes or services (app.py does); its error bodies
# come from api/errors.py.
"""A strict HTTP/1.1 server for the wallet API."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

import msgspec
import trio

from lws.wire.responses import ErrorBody

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """Transport limits; tests shrink the timeouts to stay fast."""

    #: Request line + headers. Real clients send well under 1 KiB; nginx's
    #: large_client_header_buffers default is 4 x 8 KiB.
    max_head: int = 16 * 1024
    #: Header lines per request; browsers send about 15.
    max_headers: int = 100
    #: Seconds from the first byte of a request head to its blank line (slow loris).
    head_timeout: float = 10.0
    #: Seconds a client may take to send a whole body (at 512 KiB, 25 KiB/s).
    body_timeout: float = 20.0
    #: Seconds an idle keep-alive connection stays open.
    idle_timeout: float = 30.0
    #: Seconds to write one response to a client that does not read.
    send_timeout: float = 30.0
    #: Open connections at once; past it a new connection gets 503 and is closed.
    #: Each one is a task and a descriptor; wallets open a handful each.
    max_connections: int = 1000
    #: An unread body up to this size is read and dropped after the reply so
    #: the connection stays usable; a larger one closes the connection.
    drain_limit: int = 64 * 1024
    #: Seconds allowed for that drain.
    drain_timeout: float = 2.0
    #: Seconds spent reading and dropping what a client still sends after a
    #: reply that closes the connection (so the kernel does not reset the
    #: connection before the client has read the reply).
    linger_timeout: float = 2.0


#: Bytes asked from the socket at once.
RECEIVE_SIZE = 64 * 1024
#: Largest number accepted as a Content-Length (18 digits: far past any limit).
MAX_LENGTH_DIGITS = 18
#: A body up to this size is sent in one piece with its head (one copy of a
#: small body is cheaper than a second send); a larger one is sent after the
#: head straight from its own buffer (a 700 KB get_unspent_outs reply would
#: otherwise be copied once more per request).
COALESCE_LIMIT = 16 * 1024

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(rb"[\x21-\x7e]+")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)")
#: Control characters other than HTAB (and DEL) are never allowed in a field value.
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class Headers(dict[str, str]):
    """Request headers: lowercase names, repeated fields joined by ", "."""


class HttpError(Exception):
    """A request the transport refuses; always answered, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyTimeout(HttpError):
    def __init__(self) -> None:
        super().__init__(408, "Request body not received in time")


class ClientGone(Exception):
    """The client closed the connection (mid-body): nothing to answer."""


class Request:
    """One parsed request; ``read_body()`` reads its Content-Length body."""

    __slots__ = (
        "method",
        "target",
        "path",
        "query",
        "version",
        "headers",
        "content_length",
        "expect_continue",
        "body_read",
        "_conn",
    )

    def __init__(
        self,
        method: str,
        target: str,
        path: str,
        query: str,
        version: str,
        headers: Headers,
        content_length: int,
        expect_continue: bool,
        conn: _Connection | None,
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.content_length = content_length
        self.expect_continue = expect_continue
        self.body_read = content_length == 0
        self._conn = conn

    async def read_body(self) -> bytes:
        """The whole body; raises BodyTimeout or ClientGone. Call at most once."""
        if self.body_read:
            return b""
        assert self._conn is not None
        self.body_read = True
        return await self._conn.read_body(self)


#: A response body: bytes, or any read-only buffer (e.g. memoryview) sent as is.
Body = bytes | memoryview


@dataclass(slots=True)
class Response:
    status: int
    body: Body = b""
    #: Extra headers; the server adds Content-Length, Date and Connection.
    headers: list[tuple[str, str]] | None = None


Handler = Callable[[Request], Awaitable[Response]]


def parse_head(head: bytes, limits: Limits) -> Request:
    """A request head (without its blank line) -> Request; raises HttpError."""
    lines = head.split(b"\n")
    request_line = lines[0].removesuffix(b"\r")
    parts = request_line.split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "Malformed request line")
    raw_method, raw_target, raw_version = parts
    if not _TOKEN.fullmatch(raw_method):
        raise HttpError(400, "Malformed request method")
    if not _TARGET.fullmatch(raw_target):
        raise HttpError(400, "Malformed request target")
    version_match = _VERSION.fullmatch(raw_version)
    if version_match is None:
        raise HttpError(400, "Malformed HTTP version")
    if version_match.group(1) != b"1":
        raise HttpError(505, "HTTP version not supported: use HTTP/1.1")
    version = "1.1" if version_match.group(2) != b"0" else "1.0"
    if len(lines) - 1 > limits.max_headers:
        raise HttpError(431, f"Too many header fields (at most {limits.max_headers})")
    headers = Headers()
    lengths: list[bytes] = []
    hosts = 0
    for raw in lines[1:]:
        line = raw.removesuffix(b"\r")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            # Also refuses obs-fold (a line starting with whitespace) and
            # whitespace before the colon: both are request-smuggling vectors.
            raise HttpError(400, "Malformed header line")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise HttpError(400, "Control character in a header value")
        key = name.decode("ascii").lower()
        text = value.decode("latin-1")
        if key == "content-length":
            lengths.append(value)
        elif key == "host":
            hosts += 1
        if key in headers:
            headers[key] += ", " + text
        else:
            headers[key] = text
    if version == "1.1" and hosts != 1:
        raise HttpError(400, "An HTTP/1.1 request needs exactly one Host header")
    if "transfer-encoding" in headers:
        if lengths:
            raise HttpError(400, "Both Transfer-Encoding and Content-Length")
        if headers["transfer-encoding"].strip().lower() == "chunked":
            raise HttpError(411, "Chunked bodies are not supported: send Content-Length")
        raise HttpError(501, "Transfer-Encoding is not supported: send Content-Length")
    content_length = 0
    if lengths:
        if len(lengths) > 1:
            raise HttpError(400, "More than one Content-Length")
        if not lengths[0].isdigit():
            raise HttpError(400, "Content-Length is not a number")
        if len(lengths[0]) > MAX_LENGTH_DIGITS:
            raise HttpError(413, "Request body too large")
        content_length = int(lengths[0])
    expect_continue = False
    expect = headers.get("expect")
    if expect is not None:
        if expect.lower() != "100-continue":
            raise HttpError(417, "Only Expect: 100-continue is supported")
        expect_continue = version == "1.1" and content_length > 0
    target = raw_target.decode("ascii")
    if target.startswith("/"):
        raw_path, _, query = target.partition("?")
    elif target == "*":
        raw_path, query = "*", ""
    elif target[:7].lower() == "http://" or target[:8].lower() == "https://":
        try:
            split = urlsplit(target)
        except ValueError:
            raise HttpError(400, "Malformed request target") from None
        raw_path, query = split.path or "/", split.query
    else:
        raise HttpError(400, "Malformed request target")
    path = unquote(raw_path) if "%" in raw_path else raw_path
    return Request(
        raw_method.decode("ascii"),
        target,
        path,
        query,
        version,
        headers,
        content_length,
        expect_continue,
        None,
    )


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value accepts gzip (RFC 9110 12.5.3):
    ``gzip`` or ``x-gzip`` (else ``*``) with a q-value above 0."""
    named: float | None = None
    star: float | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            named = q if named is None else max(named, q)
        elif coding == "*":
            star = q
    if named is not None:
        return named > 0
    return star is not None and star > 0


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def encode_head(response: Response, *, close: bool, keep_alive_header: bool) -> bytes:
    """The status line and headers of ``response``, blank line included."""
    status = response.status
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\nDate: {http_date()}\r\n"]
    if status != 204:
        lines.append(f"Content-Length: {len(response.body)}\r\n")
    if close:
        lines.append("Connection: close\r\n")
    elif keep_alive_header:
        lines.append("Connection: keep-alive\r\n")
    if response.headers:
        lines.extend(f"{name}: {value}\r\n" for name, value in response.headers)
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def encode_response(
    response: Response, *, close: bool, keep_alive_header: bool, head: bool
) -> bytes:
    """Head and body of ``response`` in one bytes (for small replies and tests)."""
    data = encode_head(response, close=close, keep_alive_header=keep_alive_header)
    return data if head else data + response.body


#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER_S = 2

_encode_error = msgspec.json.Encoder().encode


def error_response(status: int, message: str) -> Response:
    """``{"Error": message}`` as JSON (with Retry-After on a 503)."""
    headers = [("Content-Type", "application/json")]
    if status == 503:
        headers.append(("Retry-After", str(RETRY_AFTER_S)))
    return Response(status, _encode_error(ErrorBody(Error=message)), headers)


class _Connection:
    """One client connection: reads requests, calls the handler, writes replies."""

    def __init__(self, server: Http1Server, stream: trio.abc.Stream) -> None:
        self.server = server
        self.limits = server.limits
        self.stream = stream
        self.buffer = bytearray()
        self.idle_scope: trio.CancelScope | None = None
        #: Set when a read saw the client close its side.
        self.eof = False

    async def _receive(self) -> bytes | bytearray:
        data = await self.stream.receive_some(RECEIVE_SIZE)
        if not data:
            self.eof = True
        return data

    async def serve(self) -> None:
        try:
            await self._serve()
        except (trio.BrokenResourceError, trio.ClosedResourceError, ClientGone):
            pass
        finally:
            await trio.aclose_forcefully(self.stream)

    async def _serve(self) -> None:
        limits = self.limits
        while True:
            # Empty lines before a request line are allowed (RFC 9112 2.2).
            while self.buffer.startswith(b"\r\n") or self.buffer.startswith(b"\n"):
                del self.buffer[: 2 if self.buffer[0] == 13 else 1]
            if not self.buffer:
                if self.server.closing or self.eof:
                    return
                with trio.move_on_after(limits.idle_timeout) as idle:
                    self.idle_scope = idle
                    data = await self._receive()
                self.idle_scope = None
                if idle.cancelled_caught or not data:
                    return
                self.buffer += data
                continue
            try:
                request = await self._read_head()
            except HttpError as exc:
                await self._send_and_close(error_response(exc.status, exc.message))
                return
            if request is None:
                return
            if not await self._respond(request):
                return

    async def _read_head(self) -> Request | None:
        """The next request head from the buffer and the stream; None if the client left."""
        limits = self.limits
        with trio.move_on_after(limits.head_timeout) as scope:
            searched = 0
            while True:
                end = self.buffer.find(b"\n\r\n", max(0, searched - 2))
                end_lf = self.buffer.find(b"\n\n", max(0, searched - 1))
                if end_lf != -1 and (end == -1 or end_lf < end):
                    head_end, body_start = end_lf, end_lf + 2
                    break
                if end != -1:
                    head_end, body_start = end, end + 3
                    break
                if len(self.buffer) > limits.max_head:
                    self._too_large()
                searched = len(self.buffer)
                data = await self._receive()
                if not data:
                    return None
                self.buffer += data
        if scope.cancelled_caught:
            raise HttpError(408, "Request head not received in time")
        if head_end > limits.max_head:
            self._too_large()
        head = bytes(self.buffer[:head_end])
        del self.buffer[:body_start]
        request = parse_head(head, limits)
        request._conn = self
        return request

    def _too_large(self) -> None:
        if self.buffer.find(b"\n", 0, self.limits.max_head) == -1:
            raise HttpError(414, "Request line too long")
        raise HttpError(431, "Request header fields too large")

    async def read_body(self, request: Request) -> bytes:
        length = request.content_length
        if request.expect_continue and len(self.buffer) < length:
            await self._send(b"HTTP/1.1 100 Continue\r\n\r\n")
        with trio.move_on_after(self.limits.body_timeout):
            while len(self.buffer) < length:
                data = await self._receive()
                if not data:
                    raise ClientGone
                self.buffer += data
            body = bytes(self.buffer[:length])
            del self.buffer[:length]
            return body
        raise BodyTimeout

    async def _respond(self, request: Request) -> bool:
        """Handle one request; whether the connection stays open."""
        try:
            response = await self.server.handler(request)
        except HttpError as exc:  # a body the client did not send in time
            await self._send_and_close(error_response(exc.status, exc.message))
            return False
        except ClientGone:
            return False
        except Exception as exc:  # a bug in the handler: the app normally catches these
            log.error("unexpected error while serving a request", exc_info=exc)
            response = error_response(500, "Internal server error")
        connection = request.headers.get("connection", "").lower()
        if request.version == "1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        drain = 0
        if not request.body_read:
            # Replied without reading the body: drop a small one after the reply;
            # a large one (or one the client holds back for a 100 Continue we
            # never sent) means the connection cannot be reused.
            drain = request.content_length
            if request.expect_continue or drain > self.limits.drain_limit:
                keep_alive = False
        if self.server.closing:
            keep_alive = False
        data = encode_head(
            response, close=not keep_alive, keep_alive_header=request.version == "1.0"
        )
        body = b"" if request.method == "HEAD" else response.body
        if not keep_alive:
            await self._send_and_close(data, body)
            return False
        await self._send(data, body)
        if drain:
            with trio.move_on_after(self.limits.drain_timeout):
                while len(self.buffer) < drain:
                    more = await self._receive()
                    if not more:
                        return False
                    self.buffer += more
                del self.buffer[:drain]
                drain = 0
            if drain:
                return False
        return True

    async def _send(self, data: bytes, body: Body = b"") -> None:
        """Send ``data`` then ``body``: together if the body is small, else
        the body from its own buffer (no copy)."""
        if len(body) <= COALESCE_LIMIT:
            data, body = data + body, b""
        with trio.move_on_after(self.limits.send_timeout) as scope:
            await self.stream.send_all(data)
            if body:
                await self.stream.send_all(body)
        if scope.cancelled_caught:
            raise trio.BrokenResourceError("client does not read its reply")

    async def _send_and_close(self, reply: Response | bytes, body: Body = b"") -> None:
        """Send a last reply, then linger so the client can read it before the close."""
        if isinstance(reply, Response):
            body = reply.body
            reply = encode_head(reply, close=True, keep_alive_header=False)
        await self._send(reply, body)
        with trio.move_on_after(self.limits.linger_timeout):
            if isinstance(self.stream, trio.SocketStream):
                await self.stream.send_eof()
            while not self.eof:
                await self._receive()


class Http1Server:
    """Serves ``handler`` on already-open listeners until shut down."""

    def __init__(self, handler: Handler, limits: Limits | None = None) -> None:
        self.handler = handler
        self.limits = limits or Limits()
        self.closing = False
        self.connections: set[_Connection] = set()
        self._idle = trio.Event()
        self._idle.set()

    @property
    def open_connections(self) -> int:
        return len(self.connections)

    async def serve(
        self,
        listeners: list[trio.abc.Listener[trio.abc.Stream]],
        shutdown: trio.Event,
        graceful_timeout: float,
    ) -> None:
        """Accept on ``listeners`` until ``shutdown``; then drain for up to ``graceful_timeout``."""
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as acceptors:
                for listener in listeners:
                    acceptors.start_soon(self._accept_loop, listener, connections)
                await shutdown.wait()
                acceptors.cancel_scope.cancel()
            for listener in listeners:
                await trio.aclose_forcefully(listener)
            self.closing = True
            for conn in list(self.connections):
                if conn.idle_scope is not None:
                    conn.idle_scope.cancel()
            with trio.move_on_after(graceful_timeout):
                await self._idle.wait()
            connections.cancel_scope.cancel()

    async def _accept_loop(
        self, listener: trio.abc.Listener[trio.abc.Stream], nursery: trio.Nursery
    ) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:  # out of descriptors and the like: wait, retry
                log.warning("accept failed: %s", exc)
                await trio.sleep(0.1)
                continue
            if len(self.connections) >= self.limits.max_connections:
                nursery.start_soon(self._refuse, stream)
                continue
            conn = _Connection(self, stream)
            self.connections.add(conn)
            self._idle = trio.Event() if self._idle.is_set() else self._idle
            nursery.start_soon(self._run_connection, conn)

    async def _run_connection(self, conn: _Connection) -> None:
        try:
            await conn.serve()
        finally:
            self.connections.discard(conn)
            if not self.connections:
                self._idle.set()

    async def _refuse(self, stream: trio.abc.Stream) -> None:
        reply = encode_response(
            error_response(503, "Too many open connections, retry later"),
            close=True,
            keep_alive_header=False,
            head=False,
        )
        with trio.move_on_after(1.0):
            try:
                await stream.send_all(reply)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await trio.aclose_forcefully(stream)
