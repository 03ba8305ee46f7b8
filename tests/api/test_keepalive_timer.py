# Owns the tests of lws/api/keepalive_timer.py, on a real Hypercorn serving
# a bare ASGI app over loopback: the cost it removes (Hypercorn's own timer
# spawns a task per keep-alive request beside the app's; lws's spawns none),
# and that both timers behave the same for a client: an idle connection
# closes keep_alive_timeout after its last reply (so each reply moves the
# deadline), a request slower than the timeout is not cut, a slow head is
# still closed, a connection that goes idle after a shutdown closes at once,
# a client that leaves mid-request does not keep its connection open; and,
# on a stand-in for Hypercorn's TCPServer, the timer's own cases: a disarmed
# timer's task ends, a deadline that passed just before the next arming
# does not close the fresh connection.
"""Hypercorn's keep-alive timer: one task per connection, same behaviour."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import hypercorn.config
import hypercorn.trio
import pytest
import trio
from hypercorn.trio import tcp_server

from lws.api import keepalive_timer
from lws.api.keepalive_timer import DISARMED_GRACE_S, KeepAliveTimer
from tests.support.asgi import answer_lifespan
from tests.support.raw_http import Conn
from tests.support.regtest import free_port
from tests.support.spawns import counting_spawns

#: Seconds an idle connection stays open in these tests.
TIMEOUT = 1.0
#: Requests sent on one connection when counting tasks.
REQUESTS = 50
GET = b"GET /%s HTTP/1.1\r\nHost: l\r\n\r\n"


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A plain ASGI app: reads the body, then /slow takes 1.5 timeouts,
    anything else answers at once."""
    if scope["type"] == "lifespan":
        await answer_lifespan(receive, send)
        return
    more = scope["method"] == "POST"
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    if scope["path"] == "/slow":
        await trio.sleep(TIMEOUT * 1.5)
    body = b'{"ok": true}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(params=["hypercorn", "lws"])
def timer(request: pytest.FixtureRequest) -> Iterator[str]:
    """Which keep-alive timer Hypercorn uses for the test."""
    before = tcp_server.TrioSingleTask
    if request.param == "lws":
        assert keepalive_timer.install()
    else:
        keepalive_timer.uninstall()
    try:
        yield request.param
    finally:
        tcp_server.TrioSingleTask = before  # type: ignore[attr-defined,misc]


@asynccontextmanager
async def hypercorn_serving(
    read_timeout: int | None = None,
) -> AsyncIterator[tuple[int, trio.Event]]:
    """Hypercorn serving bare_app on a free port: (port, shutdown trigger)."""
    port = free_port()
    config = hypercorn.config.Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.keep_alive_timeout = TIMEOUT
    config.read_timeout = read_timeout
    config.graceful_timeout = 3.0
    config.accesslog = None
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        serve = partial(hypercorn.trio.serve, bare_app, config, shutdown_trigger=shutdown.wait)
        await nursery.start(serve)  # type: ignore[arg-type]
        try:
            yield port, shutdown
        finally:
            shutdown.set()


async def tasks_spawned_by_requests() -> int:
    """Tasks spawned while REQUESTS requests are answered on one keep-alive
    connection (counted after its first reply)."""
    async with hypercorn_serving() as (port, _):
        conn = await Conn.open(port)
        await conn.send(GET % b"first")
        assert (await conn.response())[0] == 200
        with counting_spawns() as counter:
            for _ in range(REQUESTS):
                await conn.send(GET % b"fast")
                assert (await conn.response())[0] == 200
        await conn.aclose()
        return counter.spawned


async def test_hypercorn_timer_spawns_a_task_per_request() -> None:
    """The cost the workaround removes: besides the app's task, Hypercorn's
    own timer spawns one more task per request (and cancels it)."""
    keepalive_timer.uninstall()
    try:
        spawned = await tasks_spawned_by_requests()
    finally:
        assert keepalive_timer.install()
    assert spawned >= 2 * REQUESTS


async def test_lws_timer_spawns_no_task_per_request() -> None:
    assert keepalive_timer.install()
    assert tcp_server.TrioSingleTask is KeepAliveTimer
    assert await tasks_spawned_by_requests() == REQUESTS  # the app's task, nothing else


async def test_each_reply_moves_the_deadline(timer: str) -> None:
    async with hypercorn_serving() as (port, _):
        conn = await Conn.open(port)
        first = trio.current_time()
        for _ in range(4):  # 2.4 timeouts in all, never idle for one
            await conn.send(GET % b"fast")
            assert (await conn.response())[0] == 200
            await trio.sleep(TIMEOUT * 0.6)
        assert trio.current_time() - first > 2 * TIMEOUT
        await conn.send(GET % b"fast")
        assert (await conn.response())[0] == 200
        last_reply = trio.current_time()
        assert await conn.closed(timeout=TIMEOUT + 2)
        idle = trio.current_time() - last_reply
        assert TIMEOUT * 0.9 <= idle < TIMEOUT + 1
        await conn.aclose()


async def test_a_request_slower_than_the_timeout_is_not_cut(timer: str) -> None:
    async with hypercorn_serving() as (port, _):
        conn = await Conn.open(port)
        await conn.send(GET % b"slow")
        assert (await conn.response(timeout=TIMEOUT * 3))[0] == 200
        await conn.send(GET % b"fast")  # and the connection still serves
        assert (await conn.response())[0] == 200
        await conn.aclose()


async def test_a_head_that_never_ends_is_closed(timer: str) -> None:
    async with hypercorn_serving() as (port, _):
        conn = await Conn.open(port)
        started = trio.current_time()
        await conn.send(b"GET /fast HTTP/1.1\r\nHost: l")  # ... and nothing more
        assert await conn.closed(timeout=TIMEOUT + 2)
        assert trio.current_time() - started < TIMEOUT + 1
        await conn.aclose()


async def test_an_idle_connection_closes_at_once_on_shutdown(timer: str) -> None:
    async with hypercorn_serving() as (port, shutdown):
        idle = await Conn.open(port)
        await idle.send(GET % b"fast")
        assert (await idle.response())[0] == 200
        busy = await Conn.open(port)
        await busy.send(GET % b"slow")
        await trio.sleep(0.1)
        shutdown.set()
        assert await idle.closed(timeout=TIMEOUT / 2)
        assert (await busy.response(timeout=TIMEOUT * 3))[0] == 200  # finishes its request
        assert await busy.closed(timeout=TIMEOUT / 2)  # then closes
        await idle.aclose()
        await busy.aclose()


async def test_a_client_that_leaves_mid_request_is_let_go(timer: str) -> None:
    """A body that stops coming: Hypercorn's read timeout ends the connection,
    and lws's timer holds it at most DISARMED_GRACE_S longer."""
    async with hypercorn_serving(read_timeout=int(TIMEOUT)) as (port, _):
        conn = await Conn.open(port)
        started = trio.current_time()
        await conn.send(b"POST /fast HTTP/1.1\r\nHost: l\r\nContent-Length: 100\r\n\r\n{")
        assert await conn.closed(timeout=TIMEOUT + DISARMED_GRACE_S + 2)
        assert trio.current_time() - started < TIMEOUT + DISARMED_GRACE_S + 1
        await conn.aclose()


class StandInContext:
    """What KeepAliveTimer uses of Hypercorn's WorkerContext."""

    def __init__(self) -> None:
        self.terminated = trio.Event()


class StandInServer:
    """What KeepAliveTimer uses of Hypercorn's TCPServer."""

    def __init__(self) -> None:
        self.config = hypercorn.config.Config()
        self.config.keep_alive_timeout = TIMEOUT
        self.context = StandInContext()
        self.closed = 0

    async def _idle_timeout(self) -> None:
        raise AssertionError("KeepAliveTimer runs its own wait")

    async def _initiate_server_close(self) -> None:
        self.closed += 1


class StandInTaskGroup:
    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery


async def test_an_idle_timer_closes_once_after_the_timeout() -> None:
    server, timer = StandInServer(), KeepAliveTimer()
    async with trio.open_nursery() as nursery:
        started = trio.current_time()
        await timer.restart(StandInTaskGroup(nursery), server._idle_timeout)
    assert server.closed == 1
    assert TIMEOUT <= trio.current_time() - started < TIMEOUT + 0.5


async def test_a_disarmed_timer_ends_its_task_without_closing() -> None:
    server, timer = StandInServer(), KeepAliveTimer()
    async with trio.open_nursery() as nursery:
        await timer.restart(StandInTaskGroup(nursery), server._idle_timeout)
        await trio.sleep(0.1)
        disarmed = trio.current_time()
        await timer.stop()
    assert server.closed == 0
    assert trio.current_time() - disarmed < DISARMED_GRACE_S + 0.5


async def test_arming_after_a_passed_deadline_does_not_close_the_connection() -> None:
    """The deadline passed, but the timer's task has not run yet when the
    connection goes idle again: the fresh idle period gets its full timeout."""
    server, timer = StandInServer(), KeepAliveTimer()
    async with trio.open_nursery() as nursery:
        group = StandInTaskGroup(nursery)
        await timer.restart(group, server._idle_timeout)
        await trio.sleep(0.1)
        await timer.stop()
        assert timer._scope is not None
        timer._scope.cancel()  # as its deadline passing does; its task has not run yet
        rearmed = trio.current_time()
        await timer.restart(group, server._idle_timeout)
        await trio.sleep(TIMEOUT / 2)
        assert server.closed == 0
    assert server.closed == 1  # the new timer's, a whole timeout after the arming
    assert trio.current_time() - rearmed >= TIMEOUT


async def test_terminating_closes_an_idle_connection_only() -> None:
    idle, busy = StandInServer(), StandInServer()
    idle_timer, busy_timer = KeepAliveTimer(), KeepAliveTimer()
    async with trio.open_nursery() as nursery:
        group = StandInTaskGroup(nursery)
        await idle_timer.restart(group, idle._idle_timeout)
        await busy_timer.restart(group, busy._idle_timeout)
        await busy_timer.stop()
        await trio.sleep(0.1)
        idle.context.terminated.set()
        busy.context.terminated.set()
        await trio.sleep(0.1)
        assert (idle.closed, busy.closed) == (1, 0)
