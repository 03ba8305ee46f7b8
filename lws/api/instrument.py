# Owns counting the requests of an ASGI app in lws.metrics: one
# lws_api_requests_total{api,method,status} and one lws_api_request_seconds
# observation per HTTP request, from its arrival to the end of its reply
# (or the client leaving). The method label is the route's name when the
# path is one of the app's routes, else "other": paths are whatever a client
# sends and never become label values. Must not change a request or reply.
"""Request metrics as an ASGI middleware."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from lws import metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The status counted for a request whose reply never started (the client
#: left, or the app failed before answering): nginx's "client closed request".
NO_REPLY_STATUS = 499


class RequestMetrics:
    """Wraps ``app``; counts its HTTP requests as ``api`` ("wallet", "admin")."""

    def __init__(self, app: ASGIApp, api: str, paths: Iterable[str]) -> None:
        """``paths``: the app's route paths ("/login"); each is labelled by its
        name without the slash ("login")."""
        self.app = app
        self.api = api
        self.names = {path: path.strip("/") or "root" for path in paths}

    def method_of(self, path: str) -> str:
        return self.names.get(path, metrics.OTHER_METHOD)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = NO_REPLY_STATUS

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            metrics.api_request(
                self.api, self.method_of(scope["path"]), status, time.perf_counter() - started
            )


def for_quart(app: Any, api: str) -> RequestMetrics:
    """``app`` (a Quart app) counted as ``api``, its fixed-path rules as methods."""
    paths = [rule.rule for rule in app.url_map.iter_rules() if "<" not in rule.rule]
    return RequestMetrics(app, api, paths)
