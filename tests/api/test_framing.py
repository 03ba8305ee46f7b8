# Owns the tests of lws/api/framing.py over real loopback sockets, against a
# minimal Quart-Trio app served by lws's AppServer (Hypercorn): the
# reproducer of the Hypercorn + quart-trio keep-alive wedge (each early-reply
# case with its body 200 ms after the head, then a second request on the
# same connection), the proof that the wedge is still upstream's (the same
# exchange without the middleware hangs: when it stops hanging, the
# workaround can go), and the framing refusals.
"""The FramingGuard middleware, over raw sockets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import hypercorn.config
import hypercorn.trio
import pytest
import trio
from quart import request
from quart_trio import QuartTrio

from lws.api.framing import DRAIN_LIMIT, MAX_HEADER_FIELDS
from lws.api.serve import AppServer, ServerSettings
from lws.config import Config
from tests.support.raw_http import Conn

#: Short timeouts so the slow-client cases take a fraction of a second.
FAST = ServerSettings(graceful_timeout=1.0, keep_alive_timeout=2.0, read_timeout=2)
#: How long after its head a body arrives: after the app has replied.
BODY_DELAY_S = 0.2
#: What "the connection is wedged" waits for before it says so.
WEDGE_WAIT_S = 2.0


def minimal_app() -> QuartTrio:
    """The smallest Quart-Trio app with every early-reply case of the issue."""
    app = QuartTrio(__name__)

    @app.route("/echo", methods=["POST"])
    async def echo() -> Any:
        if request.mimetype != "application/json":
            return {"Error": "Unsupported media type"}, 415
        if (request.content_length or 0) > 1024:
            return {"Error": "Request body too large"}, 413
        return {"length": len(await request.get_data())}

    @app.route("/version", methods=["GET", "OPTIONS"])
    async def version() -> Any:
        return {"server_type": "test"}

    return app


async def listening_socket() -> trio.socket.SocketType:
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@pytest.fixture
async def guarded() -> AsyncIterator[int]:
    """The minimal app behind lws's AppServer (and so the FramingGuard): its port."""
    sock = await listening_socket()
    server = AppServer(Config(), minimal_app(), inherited=[sock], settings=FAST, name="test")
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        yield sock.getsockname()[1]
        server.shutdown()
    sock.close()


@pytest.fixture
async def bare() -> AsyncIterator[int]:
    """The minimal app on Hypercorn alone, as upstream ships them: its port."""
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            lambda task_status: hypercorn.trio.serve(
                minimal_app(), config, shutdown_trigger=shutdown.wait, task_status=task_status
            )
        )
        yield int(bound[0].rsplit(":", 1)[1])
        shutdown.set()


def head(method: str, path: str, length: int, *extra: str, content_type: str) -> bytes:
    text = f"{method} {path} HTTP/1.1\r\nHost: lws\r\nContent-Type: {content_type}\r\n"
    text += f"Content-Length: {length}\r\n" + "".join(f"{h}\r\n" for h in extra)
    return text.encode() + b"\r\n"


VERSION = b"GET /version HTTP/1.1\r\nHost: lws\r\n\r\n"

#: Every reply the app sends before the request body has arrived.
EARLY = {
    "415": head("POST", "/echo", 2, content_type="text/plain"),
    "404": head("POST", "/nope", 2, content_type="application/json"),
    "405": head("PUT", "/echo", 2, content_type="application/json"),
    "413": head("POST", "/echo", 2000, content_type="application/json"),
    "options-with-body": head("OPTIONS", "/version", 2, content_type="application/json"),
    "expect-100-continue": head(
        "POST", "/echo", 2, "Expect: 100-continue", content_type="text/plain"
    ),
}


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    raise AssertionError(data)


async def early_reply_then_next(port: int, name: str) -> tuple[int, dict[str, str], Conn]:
    """The early-reply exchange ``name``: head, reply, body 200 ms later, then a
    second request on the same connection (whose answer the caller reads)."""
    conn = await Conn.open(port)
    data = EARLY[name]
    await conn.send(data)
    status, headers, _ = await conn.response()
    if status == 100:  # Hypercorn says "go on" at once; the real reply follows
        status, headers, _ = await conn.response()
    await trio.sleep(BODY_DELAY_S)
    await conn.send(b"{" + b" " * (_length(data) - 2) + b"}")
    await conn.send(VERSION)
    return status, headers, conn


@pytest.mark.parametrize("name", list(EARLY))
async def test_early_reply_keeps_the_connection_usable(guarded: int, name: str) -> None:
    status, headers, conn = await early_reply_then_next(guarded, name)
    assert 200 <= status < 500 and "connection" not in headers, (status, headers)
    status, _, body = await conn.response()
    assert status == 200 and json.loads(body) == {"server_type": "test"}
    await conn.aclose()


@pytest.mark.parametrize("name", list(EARLY))
async def test_upstream_still_wedges_without_the_guard(bare: int, name: str) -> None:
    """The bug the middleware works around (hypercorn 0.18, quart-trio 0.12):
    the second request is neither answered nor is the connection closed. When
    this test fails, upstream has fixed it: drop the workaround."""
    _, _, conn = await early_reply_then_next(bare, name)
    with trio.move_on_after(WEDGE_WAIT_S) as waited:
        while b"server_type" not in conn.buffer:
            if not await conn._more():
                break  # closed: not wedged
    assert waited.cancelled_caught, bytes(conn.buffer)
    await conn.aclose()


async def test_large_unread_body_gets_its_reply_then_close(guarded: int) -> None:
    size = 200_000
    assert size > DRAIN_LIMIT
    conn = await Conn.open(guarded)
    await conn.send(head("POST", "/echo", size, content_type="text/plain"))
    status, headers, body = await conn.response()
    assert (status, headers["connection"]) == (415, "close") and json.loads(body)["Error"]
    await trio.sleep(BODY_DELAY_S)
    try:
        await conn.send(b"x" * size)
    except trio.BrokenResourceError:
        pass  # closed while we sent: what the test asks for
    assert await conn.closed()
    await conn.aclose()


async def refused(port: int, data: bytes, status: int) -> str:
    """``data`` gets ``status`` with an {"Error": ...} body and the connection closes."""
    conn = await Conn.open(port)
    await conn.send(data)
    got, headers, body = await conn.response()
    assert got == status, (data[:200], got, body)
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    message = json.loads(body)["Error"]
    assert await conn.closed()
    await conn.aclose()
    conn = await Conn.open(port)  # ... and the server serves the next one
    await conn.send(VERSION)
    assert (await conn.response())[0] == 200
    await conn.aclose()
    return str(message)


@pytest.mark.parametrize("encoding", [b"chunked", b"Chunked"])
async def test_transfer_encoding_is_refused(guarded: int, encoding: bytes) -> None:
    data = (
        b"POST /echo HTTP/1.1\r\nHost: lws\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: " + encoding + b"\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    )
    assert "Content-Length" in await refused(guarded, data, 411)


async def test_transfer_encoding_h11_refuses_still_closes(guarded: int) -> None:
    # A coding h11 does not know: Hypercorn answers itself (501), and closes.
    conn = await Conn.open(guarded)
    await conn.send(b"POST /echo HTTP/1.1\r\nHost: lws\r\nTransfer-Encoding: gzip\r\n\r\nxx")
    status, _, _ = await conn.response()
    assert status == 501
    assert await conn.closed()
    await conn.aclose()


async def test_transfer_encoding_with_content_length_is_refused(guarded: int) -> None:
    data = (
        b"POST /echo HTTP/1.1\r\nHost: lws\r\nContent-Type: application/json\r\n"
        b"Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    )
    assert "Transfer-Encoding" in await refused(guarded, data, 400)


async def test_too_many_header_fields_is_431(guarded: int) -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADER_FIELDS))  # + Host
    await refused(guarded, b"GET /version HTTP/1.1\r\nHost: lws\r\n" + many + b"\r\n", 431)
    just = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADER_FIELDS - 1))
    conn = await Conn.open(guarded)
    await conn.send(b"GET /version HTTP/1.1\r\nHost: lws\r\n" + just + b"\r\n")
    assert (await conn.response())[0] == 200
    await conn.aclose()


async def test_http2_request_line_is_refused(guarded: int) -> None:
    await refused(guarded, b"GET /version HTTP/2.0\r\nHost: lws\r\n\r\n", 400)


async def test_h2c_upgrade_is_not_served(guarded: int) -> None:
    conn = await Conn.open(guarded)
    await conn.send(
        b"GET /version HTTP/1.1\r\nHost: lws\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
    )
    with trio.move_on_after(3):
        while b"server_type" not in conn.buffer:
            if not await conn._more():
                break
    # Hypercorn switches to h2 on its own; the request itself is refused.
    assert b"server_type" not in conn.buffer
    await conn.aclose()


async def test_stalled_body_is_dropped_within_the_read_timeout(guarded: int) -> None:
    conn = await Conn.open(guarded)
    await conn.send(head("POST", "/echo", 200, content_type="application/json") + b"{")
    started = trio.current_time()
    with trio.fail_after(FAST.read_timeout + 3):
        while await conn._more():
            pass
    assert trio.current_time() - started < FAST.read_timeout + 3
    await conn.aclose()


async def test_slow_loris_head_is_dropped(guarded: int) -> None:
    conn = await Conn.open(guarded)
    await conn.send(b"GET /version HTTP/1.1\r\n")
    started = trio.current_time()
    closed = False
    with trio.move_on_after(FAST.keep_alive_timeout + 3):
        for i in range(100):  # one header line every 0.1 s: each in time, the whole not
            try:
                await conn.send(b"X-%d: v\r\n" % i)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                closed = True
                break
            await trio.sleep(0.1)
    closed = closed or await conn.closed(timeout=1)
    assert closed and trio.current_time() - started < FAST.keep_alive_timeout + 3
    await conn.aclose()
