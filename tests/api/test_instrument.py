# Owns the tests of lws/api/instrument.py: each HTTP request counted once
# with its route name and status, unknown paths as "other" (a path a client
# made up never becomes a label), a reply that never started as 499, and
# lifespan/websocket scopes passed through uncounted.
"""Request metrics middleware."""

from __future__ import annotations

from typing import Any

import pytest

from lws import metrics
from lws.api.instrument import RequestMetrics
from tests.test_metrics import value


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/boom":
        raise RuntimeError("failed before answering")
    status = 200 if scope["path"] == "/login" else 404
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _call(app: RequestMetrics, path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "path": path, "method": "POST"}, receive, send)
    return sent


def _count(body: bytes, method: str, status: str) -> float:
    return value(body, "lws_api_requests_total", api="test", method=method, status=status)


async def test_requests_are_counted_by_route_and_status() -> None:
    app = RequestMetrics(_app, "test", ["/login", "/get_address_info"])
    before, _ = metrics.exposition(None)
    sent = await _call(app, "/login")
    assert sent[0]["status"] == 200  # the reply passes through untouched
    await _call(app, "/4" + "5" * 94)  # an address-like path
    with pytest.raises(RuntimeError):
        await _call(app, "/boom")
    after, _ = metrics.exposition(None)
    assert _count(after, "login", "200") == _count(before, "login", "200") + 1
    assert _count(after, "other", "404") == _count(before, "other", "404") + 1
    assert _count(after, "other", "499") == _count(before, "other", "499") + 1
    assert b"4555555" not in after
    assert value(after, "lws_api_request_seconds_count", api="test", method="login") >= 1


async def test_other_scopes_pass_through() -> None:
    seen = []

    async def lifespan_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    app = RequestMetrics(lifespan_app, "test", [])
    await app({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]
