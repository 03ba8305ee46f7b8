# Owns the tests of lws/api/quart_connection.py at the ASGI level: an app
# configured like lws's (quart_base.configure) is called with scripted
# receive/send; each case's reply is compared with the one quart-trio's own
# connection class gives to the same messages, so the fast path changes
# nothing a client sees: a whole small body, a body that comes late (the
# head-only replies must not wait for it), a body over the fast limit, a
# client that leaves first, a bad Content-Length.
"""The per-request connection class: same replies, fewer tasks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
import trio
from quart import request
from quart_trio import QuartTrio
from quart_trio.asgi import TrioASGIHTTPConnection

from lws.api import quart_connection
from lws.api.quart_base import check_head, configure
from lws.api.quart_connection import FAST_BODY_LIMIT, FIRST_BODY_WAIT_S, InlineBodyConnection
from tests.support.spawns import counting_spawns

Message = dict[str, Any]
#: The largest body the test app's route takes.
ROUTE_LIMIT = 4 * FAST_BODY_LIMIT


def make_app(connection: type[TrioASGIHTTPConnection]) -> QuartTrio:
    app = QuartTrio(__name__)
    configure(app, max_body=ROUTE_LIMIT)
    app.asgi_http_class = connection

    @app.route("/echo", methods=["POST"])
    async def echo() -> Any:
        check_head("/echo", ROUTE_LIMIT)
        data = await request.get_data(as_text=False)
        return {"length": len(data), "head": bytes(data[:8]).decode()}

    return app


def scope(headers: Sequence[tuple[bytes, bytes]]) -> Message:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }


def json_head(length: int | bytes) -> list[tuple[bytes, bytes]]:
    value = length if isinstance(length, bytes) else str(length).encode()
    return [(b"content-type", b"application/json"), (b"content-length", value)]


async def exchange(
    connection: type[TrioASGIHTTPConnection],
    headers: Sequence[tuple[bytes, bytes]],
    script: Sequence[tuple[float, Message]],
) -> tuple[list[Message], float | None]:
    """Runs the app on one request: each (delay, message) of ``script`` is
    put on receive after its delay; then receive blocks (a client that waits).
    Returns what the app sent and when its reply started (None: no reply)."""
    app = make_app(connection)
    sent: list[Message] = []
    started: list[float] = []
    put, take = trio.open_memory_channel[Message](len(script) + 1)
    t0 = trio.current_time()

    async def feed() -> None:
        for delay, message in script:
            await trio.sleep(delay)
            await put.send(message)

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            started.append(trio.current_time() - t0)
        sent.append(dict(message))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed)
            await app(scope(headers), take.receive, send)  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()
    return sent, (started[0] if started else None)


def reply(sent: list[Message]) -> tuple[int, bytes]:
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def body_messages(data: bytes, chunks: int = 1) -> list[tuple[float, Message]]:
    size = max(1, -(-len(data) // chunks))
    parts = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    messages: list[tuple[float, Message]] = [
        (0.0, {"type": "http.request", "body": part, "more_body": True}) for part in parts
    ]
    messages.append((0.0, {"type": "http.request", "body": b"", "more_body": False}))
    return messages


CASES = {
    "whole small body": (json_head(15), body_messages(b'{"a": "abcdefg"}'[:15])),
    "small body in pieces": (json_head(3000), body_messages(b"[" + b"1," * 1499 + b"]", 5)),
    "no body": (json_head(0), [(0.0, {"type": "http.request", "body": b"", "more_body": False})]),
    "body over the fast limit": (
        json_head(FAST_BODY_LIMIT + 10),
        body_messages(b'"' + b"x" * (FAST_BODY_LIMIT + 8) + b'"', 4),
    ),
    "body over the route limit": (
        json_head(ROUTE_LIMIT + 1),
        body_messages(b"x" * (ROUTE_LIMIT + 1), 4),
    ),
    "wrong media type": (
        [(b"content-type", b"text/plain"), (b"content-length", b"5")],
        body_messages(b"hello"),
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
async def test_replies_equal_quart_trios_own(case: str) -> None:
    headers, script = CASES[case]
    ours, _ = await exchange(InlineBodyConnection, headers, script)
    theirs, _ = await exchange(TrioASGIHTTPConnection, headers, script)
    assert reply(ours) == reply(theirs)
    assert reply(ours)[0] in (200, 413, 415)


async def test_a_late_body_does_not_delay_a_head_only_reply() -> None:
    """415 is decided by the head: it must not wait for a body that comes
    a second later (it waits FIRST_BODY_WAIT_S at most)."""
    late = [(1.0, {"type": "http.request", "body": b"hello", "more_body": False})]
    sent, started = await exchange(
        InlineBodyConnection, [(b"content-type", b"text/plain"), (b"content-length", b"5")], late
    )
    assert reply(sent)[0] == 415
    assert started is not None and started < FIRST_BODY_WAIT_S + 0.5


async def test_a_late_body_is_still_read() -> None:
    """A body that follows its head after FIRST_BODY_WAIT_S goes through
    quart-trio's path and is read whole, with what came before it."""
    script = [
        (0.0, {"type": "http.request", "body": b'{"x": ', "more_body": True}),
        (FIRST_BODY_WAIT_S * 5, {"type": "http.request", "body": b"1}", "more_body": True}),
        (0.0, {"type": "http.request", "body": b"", "more_body": False}),
    ]
    sent, _ = await exchange(InlineBodyConnection, json_head(8), script)
    status, body = reply(sent)
    assert (status, json.loads(body)) == (200, {"length": 8, "head": '{"x": 1}'})


async def test_a_client_that_leaves_first_gets_nothing() -> None:
    script = [
        (0.0, {"type": "http.request", "body": b"{", "more_body": True}),
        (0.0, {"type": "http.disconnect"}),
    ]
    sent, started = await exchange(InlineBodyConnection, json_head(10), script)
    assert sent == [] and started is None


async def test_a_content_length_that_is_no_number_takes_quart_trios_path() -> None:
    assert quart_connection._content_length({"headers": json_head(b"12x")}) is None
    assert quart_connection._content_length({"headers": json_head(b"12")}) == 12
    assert quart_connection._content_length({"headers": []}) == 0


async def test_small_requests_are_answered_without_a_task_of_their_own() -> None:
    """What the class is for: a whole small request spawns no task (quart-trio's
    own spawns two in a nursery). Counted with a trio instrument."""
    headers, script = CASES["whole small body"]
    counts = {}
    for connection in (InlineBodyConnection, TrioASGIHTTPConnection):
        with counting_spawns() as counter:
            await exchange(connection, headers, script)
        counts[connection.__name__] = counter.spawned
    # exchange() itself spawns the feeder: one task.
    assert counts == {"InlineBodyConnection": 1, "TrioASGIHTTPConnection": 3}
