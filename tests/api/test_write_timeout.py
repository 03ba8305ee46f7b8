# Owns the tests of the write bound of lws's HTTP surfaces (serve.py's
# bound_writes, TCP_USER_TIMEOUT on the listening sockets): a client that
# asks for a big reply and stops reading loses its connection within the
# bound, so the reply's task ends instead of waiting forever in Hypercorn's
# shielded send; a client that reads slowly but steadily gets its whole
# reply however long it takes.
"""A client that stops reading cannot hold a connection forever."""

from __future__ import annotations

import socket
from typing import Any

import trio

from lws.api.serve import ServerSettings
from tests.support.asgi import answer_lifespan

from .conftest import make_config, serving

#: The bound in these tests, seconds.
WRITE_TIMEOUT = 1.0
#: The reply: far more than the kernel buffers of both ends hold.
REPLY = b"x" * (8 * 1024 * 1024)
#: The slow reader's reply, and its pause between reads (under the bound).
SLOW_REPLY = b"y" * (2 * 1024 * 1024)
SLOW_PAUSE_S = 0.25
SETTINGS = ServerSettings(graceful_timeout=1.0, write_timeout=WRITE_TIMEOUT)


class BigReply:
    """An ASGI app answering every request with REPLY; records how its send ended."""

    def __init__(self, reply: bytes = REPLY) -> None:
        self.reply = reply
        self.send_ended = trio.Event()
        self.send_took: float | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        headers = [(b"content-length", str(len(self.reply)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        started = trio.current_time()
        try:
            await send({"type": "http.response.body", "body": self.reply})
        finally:
            self.send_took = trio.current_time() - started
            self.send_ended.set()


async def small_window_client(port: int, buffer: int = 4096) -> trio.socket.SocketType:
    """A client connection with a small receive buffer, its request sent."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    await sock.connect(("127.0.0.1", port))
    await sock.send(b"GET /big HTTP/1.1\r\nHost: l\r\n\r\n")
    return sock


async def test_a_client_that_stops_reading_is_dropped() -> None:
    app = BigReply()
    async with serving(app, make_config(), settings=SETTINGS) as api:
        sock = await small_window_client(api.port)
        try:
            await trio.sleep(0.1)
            assert await sock.recv(1024)  # the reply has started: then the client reads no more
            with trio.fail_after(WRITE_TIMEOUT + 5):
                await app.send_ended.wait()
            assert app.send_took is not None and app.send_took < WRITE_TIMEOUT + 4
        finally:
            sock.close()  # (unread bytes: a reset, which ends a send still waiting)


async def test_a_slow_steady_reader_gets_the_whole_reply() -> None:
    app = BigReply(SLOW_REPLY)
    async with serving(app, make_config(), settings=SETTINGS) as api:
        sock = await small_window_client(api.port, 64 * 1024)
        received = bytearray()
        started = trio.current_time()
        with trio.fail_after(60):
            while True:
                chunk = await sock.recv(1024 * 1024)
                assert chunk, "the server closed the connection"
                received += chunk
                _, _, body = bytes(received).partition(b"\r\n\r\n")
                if len(body) >= len(SLOW_REPLY):
                    break
                await trio.sleep(SLOW_PAUSE_S)  # pauses, each shorter than the bound
        head, _, body = bytes(received).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and body == SLOW_REPLY
        assert trio.current_time() - started > 2 * WRITE_TIMEOUT  # far longer than the bound
        sock.close()
