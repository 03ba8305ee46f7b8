# Owns the wallet API as a plain handler of the HTTP/1.1 server (http1.py):
# one dispatch over the route table doing transport only (404, 405 with
# Allow, 415, 413 on Content-Length before reading, msgspec decode ->
# service -> encode; kept replies sent as they are, gzipped when the client
# accepts gzip; a concurrency limit with 503 + Retry-After), CORS for
# configured origins (credentials, preflight), and every failure routed
# through api/errors.py. Must not hold business logic (services do) or start
# servers (server.py does).
"""The wallet API as a request handler."""

from __future__ import annotations

from typing import Any

import msgspec
import trio

from lws.config import Config
from lws.errors import ClientError, LwsError, PayloadTooLarge, UnsupportedMediaType
from lws.services.context import Services
from lws.services.encoded import Encoded

from . import openapi
from .errors import (
    error_response,
    lws_error_response,
    method_not_allowed,
    not_found,
    unexpected_error_response,
)
from .http1 import ClientGone, HttpError, Request, Response, accepts_gzip
from .routes import OPENAPI_PATH, ROUTES, Route

#: Requests served at once; beyond it a request waits up to QUEUE_WAIT_S, then
#: gets 503 + Retry-After. Sized for 2 cores: each request is mostly an LMDB
#: read in a worker thread or a wait on monerod.
MAX_CONCURRENT_REQUESTS = 64
#: How long a request may wait for a free slot before it is refused.
QUEUE_WAIT_S = 1.0
#: How long browsers may cache a CORS preflight answer.
CORS_MAX_AGE_S = 600

_ENCODE = msgspec.json.Encoder().encode
_JSON = ("Content-Type", "application/json")
_VARY = ("Vary", "Accept-Encoding")
_GZIP = ("Content-Encoding", "gzip")


class _Dispatch:
    """What one path answers: its route, Allow header and decoder."""

    def __init__(self, route: Route) -> None:
        self.route = route
        methods = set(route.methods) | {"OPTIONS"}
        if "GET" in methods:
            methods.add("HEAD")
        self.allowed = ", ".join(sorted(methods))
        self.empty = route.request.__name__ == "EmptyRequest"
        self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(route.request)


class WalletApi:
    """The handler ``ApiServer`` calls for every request."""

    def __init__(self, config: Config, services: Services, max_concurrency: int) -> None:
        self.config = config
        self.services = services
        self.limiter = trio.CapacityLimiter(max_concurrency)
        self.routes = {route.path: _Dispatch(route) for route in ROUTES}
        self.openapi = openapi.document_bytes()
        self.cors_origins = frozenset(config.cors_origins)

    async def __call__(self, request: Request) -> Response:
        try:
            response = await self._handle(request)
        except LwsError as exc:
            response = lws_error_response(exc)
        except (HttpError, ClientGone):
            raise  # the body did not arrive: the server answers (or just closes)
        except Exception as exc:
            response = unexpected_error_response(exc)
        if self.cors_origins:
            self._cors(request, response)
        return response

    async def _handle(self, request: Request) -> Response:
        dispatch = self.routes.get(request.path)
        if dispatch is None:
            return not_found()
        route = dispatch.route
        method = request.method
        if method == "OPTIONS":
            return self._preflight(request, dispatch)
        if method not in route.methods and not (method == "HEAD" and "GET" in route.methods):
            return method_not_allowed(dispatch.allowed)
        if route.path == OPENAPI_PATH:
            return Response(200, self.openapi, [_JSON])
        body = b""
        if method == "POST":
            length = request.content_length
            content_type = request.headers.get("content-type", "")
            mimetype = content_type.partition(";")[0].strip().lower()
            # A GET-able method may be POSTed without a body (nothing to type).
            if mimetype != "application/json" and not (dispatch.empty and length == 0):
                raise UnsupportedMediaType(
                    "Unsupported media type: send Content-Type: application/json"
                )
            if length > route.body_limit:
                raise PayloadTooLarge(
                    f"Request body too large: {route.path} accepts {route.body_limit} bytes"
                )
            body = await request.read_body()
        req = self._decode(dispatch, body)
        acquired = False
        with trio.move_on_after(QUEUE_WAIT_S):
            await self.limiter.acquire()
            acquired = True
        if not acquired:
            return error_response(503, "Server busy, retry later")
        try:
            reply = await route.handler(self.services, req)
        finally:
            self.limiter.release()
        if isinstance(reply, Encoded):
            # A kept reply (the account reads): sent from its own buffer, and
            # gzipped (compressed once per reply) when the client accepts it.
            if reply.compressible and accepts_gzip(request.headers.get("accept-encoding", "")):
                zipped = await reply.gzipped()
                if zipped is not None:
                    return Response(200, zipped, [_JSON, _GZIP, _VARY])
            return Response(200, reply.body, [_JSON, _VARY])
        return Response(200, _ENCODE(reply), [_JSON])

    @staticmethod
    def _decode(dispatch: _Dispatch, body: bytes) -> msgspec.Struct:
        if dispatch.empty and not body.strip():
            return dispatch.route.request()
        try:
            decoded: msgspec.Struct = dispatch.decoder.decode(body)
            return decoded
        except msgspec.ValidationError as exc:
            raise ClientError(f"Invalid request: {exc}") from None
        except msgspec.DecodeError as exc:
            raise ClientError(f"Malformed JSON: {exc}") from None
        except UnicodeDecodeError:
            # msgspec raises this (not a DecodeError) for a string that is not UTF-8.
            raise ClientError("Malformed JSON: the body is not valid UTF-8") from None

    def _preflight(self, request: Request, dispatch: _Dispatch) -> Response:
        headers = [("Allow", dispatch.allowed)]
        if request.headers.get("origin") in self.cors_origins:
            headers += [
                ("Access-Control-Allow-Methods", ", ".join(sorted(dispatch.route.methods))),
                ("Access-Control-Allow-Headers", "Content-Type"),
                ("Access-Control-Max-Age", str(CORS_MAX_AGE_S)),
            ]
        return Response(204, b"", headers)

    def _cors(self, request: Request, response: Response) -> None:
        if response.headers is None:
            response.headers = []
        response.headers.append(("Vary", "Origin"))
        origin = request.headers.get("origin")
        if origin is not None and origin in self.cors_origins:
            response.headers += [
                ("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Credentials", "true"),
            ]


def create_app(services: Services, *, max_concurrency: int = MAX_CONCURRENT_REQUESTS) -> WalletApi:
    """The wallet API handler over ``services`` (their store, daemon, caches)."""
    return WalletApi(services.config, services, max_concurrency)
