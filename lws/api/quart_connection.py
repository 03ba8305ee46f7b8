# Owns how lws's Quart-Trio apps run one HTTP request (Quart's documented
# `asgi_http_class` hook): a request whose small body (or no body) arrives
# right behind its head is read first and then handled in the connection's
# own task, with no nursery and no second task; any other request (a big
# body, one still arriving after FIRST_BODY_WAIT_S) goes through
# quart-trio's own concurrent handling, with what was read so far. Must not
# change what a request gets for a reply, read more than FAST_BODY_LIMIT
# bytes before the app has seen the head, or know routes.
"""The per-request ASGI connection of lws's Quart-Trio apps."""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart.wrappers import Request, Response
from quart_trio.asgi import TrioASGIHTTPConnection

#: Bodies up to this many bytes (by Content-Length) are read before the app
#: runs. Every wallet read is far below it; the few bigger bodies (a 1 MiB
#: submit_raw_tx) take quart-trio's path, which reads while the app runs.
FAST_BODY_LIMIT = 64 * 1024
#: How long a body may take to follow its head before the request goes to
#: quart-trio's path. Clients send the body with the head or right after
#: it; a reply that the head alone decides (415, 413, 404, 405) waits at
#: most this long for a body that is late.
FIRST_BODY_WAIT_S = 0.02


def _content_length(scope: Any) -> int | None:
    """The request's Content-Length (0 with none), or None if it is not a
    plain number: then quart-trio's path decides what happens."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return 0


class InlineBodyConnection(TrioASGIHTTPConnection):
    """Quart-trio's HTTP connection, answering small requests in one task."""

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        request = self._create_request_from_scope(send)
        length = _content_length(self.scope)
        if length is None or length > FAST_BODY_LIMIT:
            await self._concurrently(request, receive, send)
            return
        whole = False
        with trio.move_on_after(FIRST_BODY_WAIT_S):
            while not whole:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left before its request was whole
                request.body.append(message.get("body", b""))
                whole = not message.get("more_body", False)
        if whole:
            request.body.set_complete()
            await self._answer(request, send)
        else:
            # What was read is in request.body; the next receive() continues after it.
            await self._concurrently(request, receive, send)

    async def _answer(self, request: Request, send: ASGISendCallable) -> None:
        """quart-trio's handle_request, in this task."""
        response = await self.app.handle_request(request)
        timeout = self.app.config["RESPONSE_TIMEOUT"]
        if isinstance(response, Response) and response.timeout != Ellipsis:
            timeout = response.timeout
        with trio.move_on_after(float("inf") if timeout is None else timeout):
            await self._send_response(send, response)

    async def _concurrently(
        self, request: Request, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """quart-trio's own handling: the app runs while the body arrives."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.handle_messages, nursery, request, receive)
            nursery.start_soon(self.handle_request, nursery, request, send)
