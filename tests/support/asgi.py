# Owns what the bare ASGI test apps share: answering Hypercorn's lifespan
# protocol (startup, then shutdown, each acknowledged), so an app written
# for a transport test only handles its HTTP requests. Must not know lws.
"""The lifespan part of a bare ASGI test app."""

from __future__ import annotations

from typing import Any


async def answer_lifespan(receive: Any, send: Any) -> None:
    """Acknowledge each lifespan message until the shutdown."""
    while True:
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return
