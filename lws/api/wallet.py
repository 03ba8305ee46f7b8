# Owns the wallet API as a Quart-Trio app built over a Services object: one
# Quart rule per row of the route table (405 with Allow, HEAD for GET,
# automatic OPTIONS), the checks before a body is read (415, 413 on
# Content-Length), msgspec decode -> service -> encode, kept replies
# (Encoded) sent as their bytes (gzipped when the client accepts gzip), a
# concurrency limit with 503 + Retry-After, CORS (quart-cors) for the
# configured origins, rate limits (quart-rate-limiter, ratelimit.py) on the
# methods that create or cost, Quart's own limits (MAX_CONTENT_LENGTH,
# BODY_TIMEOUT), and the /feed websocket (feed.py) when given a hub. Errors
# go through errors.py. Must not hold business logic (services do), serve
# itself (serve.py does) or touch the store.
"""The wallet API's Quart-Trio app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import msgspec
import trio
from quart import Response, g, request
from quart_cors import cors
from quart_rate_limiter import RateLimiter, rate_limit
from quart_rate_limiter.store import RateLimiterStoreABC
from quart_trio import QuartTrio

from lws.notify.feed import FeedHub
from lws.services import accounts
from lws.services.context import Services
from lws.services.encoded import Encoded
from lws.wire.requests import LoginRequest

from . import errors, feed, openapi, ratelimit
from .quart_base import JSON, check_head, configure, decode_json
from .routes import MAX_BODY, OPENAPI_PATH, ROUTES, Route

#: Requests served at once; beyond it a request waits up to QUEUE_WAIT_S, then
#: gets 503 + Retry-After. Sized for 2 cores: each request is mostly an LMDB
#: read in a worker thread or a wait on monerod.
MAX_CONCURRENT_REQUESTS = 64
#: How long a request may wait for a free slot before it is refused.
QUEUE_WAIT_S = 1.0
#: How long browsers may cache a CORS preflight answer.
CORS_MAX_AGE_S = 600
#: Paths served by another path's endpoint (the published name and ours):
#: one view, one rate budget.
_ALIASES = {"/import_request": "/import_wallet_request"}

_ENCODE = msgspec.json.Encoder().encode
_VARY_HEADERS = {"Vary": "Accept-Encoding"}
_GZIP_HEADERS = {"Vary": "Accept-Encoding", "Content-Encoding": "gzip"}


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


class _Dispatch:
    """What one route needs per request: its row, decoder and whether it has input."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.empty = route.request.__name__ == "EmptyRequest"
        self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(route.request)

    def decode(self, body: bytes) -> msgspec.Struct:
        if self.empty and not body.strip():
            return self.route.request()
        decoded: msgspec.Struct = decode_json(self.decoder, body)
        return decoded


class WalletApp(QuartTrio):
    """The Quart-Trio app, with the services and limiter the tests reach."""

    services: Services
    limiter: trio.CapacityLimiter


async def _encoded_reply(encoded: Encoded) -> Response:
    """A kept reply (the account reads), sent as its bytes; gzipped (compressed
    once per reply) when the client accepts it."""
    if encoded.compressible and accepts_gzip(request.headers.get("Accept-Encoding", "")):
        zipped = await encoded.gzipped()
        if zipped is not None:
            return Response(zipped, 200, _GZIP_HEADERS, content_type=JSON)
    return Response(encoded.body, 200, _VARY_HEADERS, content_type=JSON)


def create_app(
    services: Services,
    *,
    max_concurrency: int = MAX_CONCURRENT_REQUESTS,
    rate_store: RateLimiterStoreABC | None = None,
    feed_hub: FeedHub | None = None,
) -> WalletApp:
    """The wallet API over ``services``. ``rate_store``: where rate budgets
    live (default: the shared table under the data folder). ``feed_hub``:
    serve the /feed websocket with its messages (none: no /feed)."""
    config = services.config
    app = WalletApp(__name__)
    app.services = services
    app.limiter = trio.CapacityLimiter(max_concurrency)
    configure(app, max_body=MAX_BODY)
    dispatch: dict[str, _Dispatch] = {}
    document = openapi.document_bytes()

    @app.before_request
    async def check_before_body() -> None:
        """415 and 413 from the head alone, before anything reads the body."""
        found = dispatch.get(request.endpoint or "")
        if found is None or request.method != "POST":
            return
        check_head(found.route.path, found.route.body_limit, empty_ok=found.empty)

    def make_view(found: _Dispatch) -> Callable[[], Awaitable[Response]]:
        route = found.route
        handler = route.handler
        is_login = route.path == "/login"

        async def view() -> Response:
            if route.path == OPENAPI_PATH:
                return Response(document, 200, content_type=JSON)
            body = (
                await request.get_data(cache=True, as_text=False)
                if request.method == "POST"
                else b""
            )
            req = found.decode(cast(bytes, body))
            reply = g.get("login_reply") if is_login else None
            if reply is None:
                try:
                    app.limiter.acquire_nowait()  # the common case: no timer needed
                except trio.WouldBlock:
                    acquired = False
                    with trio.move_on_after(QUEUE_WAIT_S):
                        await app.limiter.acquire()
                        acquired = True
                    if not acquired:
                        return errors.error_response(503, "Server busy, retry later")
                try:
                    reply = await handler(services, req)
                finally:
                    app.limiter.release()
            if isinstance(reply, Encoded):
                return await _encoded_reply(reply)
            return Response(_ENCODE(reply), 200, content_type=JSON)

        view.__name__ = route.path.strip("/").replace(".", "_")
        return view

    limited = config.rate_limit > 0
    proxies = ratelimit.parse_proxies(config.trusted_proxies)
    views: dict[str, tuple[str, Callable[[], Awaitable[Response]]]] = {}
    for route in ROUTES:
        if route.path in _ALIASES:
            endpoint, view = views[_ALIASES[route.path]]
        else:
            found = _Dispatch(route)
            view = make_view(found)
            endpoint = view.__name__
            dispatch[endpoint] = found
            if limited and route.rate_limited:
                limit = ratelimit.per_minute(config.rate_limit)
                if route.path == "/login":
                    limit.skip_function = _login_skip(services)
                limit.key_function = ratelimit.key_function(proxies)
                view = rate_limit(limits=[limit])(view)
            views[route.path] = endpoint, view
        app.add_url_rule(route.path, endpoint, view, methods=sorted(route.methods))

    if feed_hub is not None:
        feed.install(app, services, feed_hub)
    if limited:
        store = rate_store or ratelimit.SharedRateStore(Path(config.data_path) / "ratelimit")
        RateLimiter(app, store=store)
    if config.cors_origins:
        cors(
            app,
            allow_origin=list(config.cors_origins),
            allow_credentials=True,
            allow_headers=["content-type"],
            allow_methods=["GET", "POST"],
            max_age=CORS_MAX_AGE_S,
        )
    return app


def _login_skip(services: Services) -> Callable[[], Awaitable[bool]]:
    """login is limited only when it would create an account: one that exists
    is answered from the read this makes (kept for the view in ``g``)."""

    decoder = msgspec.json.Decoder(LoginRequest)

    async def skip() -> bool:
        try:
            req = decoder.decode(await request.get_data(cache=True, as_text=False))
        except (msgspec.DecodeError, UnicodeDecodeError):
            return True  # the view answers 400; nothing is created
        if not req.create_account:
            return True
        existing = await accounts.existing_login(services, req)
        g.login_reply = existing
        return existing is not None

    return skip


__all__ = ["MAX_CONCURRENT_REQUESTS", "WalletApp", "accepts_gzip", "create_app"]
