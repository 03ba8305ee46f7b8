# Owns the Quart-Trio app of the wallet API: one view per entry of the route
# table doing transport only (concurrency limit, Content-Type, body limit,
# msgspec decode -> service -> encode), CORS for configured origins, and the
# error handlers that route every failure through api/errors.py. Must not
# hold business logic (services do) or start servers (server.py does).
"""The wallet API as a QuartTrio app."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import trio
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from lws.config import Config
from lws.daemon import Daemon
from lws.errors import ClientError, LwsError, PayloadTooLarge, Unavailable, UnsupportedMediaType
from lws.services.context import ScannerStatusProvider, Services
from lws.store import Store

from . import openapi
from .errors import (
    http_exception_response,
    lws_error_response,
    unexpected_error_response,
)
from .routes import MAX_BODY, OPENAPI_PATH, ROUTES, Route

log = logging.getLogger(__name__)

#: Requests served at once; beyond it a request waits up to QUEUE_WAIT_S, then
#: gets 503 + Retry-After. Sized for 2 cores: each request is mostly an LMDB
#: read in a worker thread or a wait on monerod.
MAX_CONCURRENT_REQUESTS = 64
#: How long a request may wait for a free slot before it is refused.
QUEUE_WAIT_S = 1.0
#: Seconds a client may take to send its body (slow-loris guard).
BODY_TIMEOUT_S = 20
#: How long browsers may cache a CORS preflight answer.
CORS_MAX_AGE_S = 600

_ENCODE = msgspec.json.Encoder().encode


class ApiState:
    """What the views share: services, the limiter, decoders."""

    def __init__(self, services: Services, max_concurrency: int) -> None:
        self.services = services
        self.limiter = trio.CapacityLimiter(max_concurrency)
        self.decoders: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {
            route.request: msgspec.json.Decoder(route.request) for route in ROUTES
        }
        self.openapi = openapi.document_bytes()


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, content_type="application/json")


async def _read_body(route: Route) -> bytes:
    length = request.content_length
    if length is not None and length > route.body_limit:
        raise PayloadTooLarge(
            f"Request body too large: {route.path} accepts {route.body_limit} bytes"
        )
    chunks = bytearray()
    with trio.move_on_after(BODY_TIMEOUT_S) as scope:
        async for chunk in request.body:
            chunks += chunk
            if len(chunks) > route.body_limit:
                raise PayloadTooLarge(
                    f"Request body too large: {route.path} accepts {route.body_limit} bytes"
                )
    if scope.cancelled_caught:
        raise ClientError("Request body not received in time")
    return bytes(chunks)


def _decode(state: ApiState, route: Route, body: bytes) -> msgspec.Struct:
    if route.request.__name__ == "EmptyRequest" and not body.strip():
        return route.request()
    try:
        decoded: msgspec.Struct = state.decoders[route.request].decode(body)
        return decoded
    except msgspec.ValidationError as exc:
        raise ClientError(f"Invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ClientError(f"Malformed JSON: {exc}") from None


def _check_content_type(route: Route) -> None:
    if request.mimetype != "application/json":
        # A GET-able method may be POSTed without a body (nothing to type).
        if route.request.__name__ == "EmptyRequest" and not request.content_length:
            return
        raise UnsupportedMediaType("Unsupported media type: send Content-Type: application/json")


def _make_view(state: ApiState, route: Route) -> Any:
    async def view() -> Response:
        acquired = False
        with trio.move_on_after(QUEUE_WAIT_S):
            await state.limiter.acquire()
            acquired = True
        if not acquired:
            raise Unavailable("Server busy, retry later")
        try:
            if route.path == OPENAPI_PATH:
                return _json(state.openapi)
            if request.method == "POST":
                _check_content_type(route)
                body = await _read_body(route)
            else:
                body = b""
            req = _decode(state, route, body)
            reply = await route.handler(state.services, req)
            return _json(_ENCODE(reply))
        finally:
            state.limiter.release()

    view.__name__ = "view_" + route.path.strip("/").replace(".", "_")
    return view


def _cors(config: Config, response: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin and origin in config.cors_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers.add("Vary", "Origin")
    return response


def create_app(
    config: Config,
    store: Store,
    daemon: Daemon,
    scanner_status: ScannerStatusProvider | None = None,
    *,
    max_concurrency: int = MAX_CONCURRENT_REQUESTS,
) -> QuartTrio:
    """The wallet API app over ``store`` and ``daemon``."""
    app = QuartTrio(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT_S
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    state = ApiState(Services(config, store, daemon, scanner_status), max_concurrency)
    app.extensions["lws"] = state

    for route in ROUTES:
        app.add_url_rule(
            route.path,
            endpoint=route.path,
            view_func=_make_view(state, route),
            methods=sorted(route.methods),
        )

    @app.before_request
    async def preflight() -> Response | None:
        if request.method != "OPTIONS" or request.url_rule is None:
            return None
        response = Response(b"", status=204)
        origin = request.headers.get("Origin")
        if origin and origin in config.cors_origins:
            methods = sorted(request.url_rule.methods or ())
            response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
        return response

    @app.after_request
    async def add_cors(response: Response) -> Response:
        return _cors(config, response)

    @app.errorhandler(LwsError)
    async def on_lws_error(exc: LwsError) -> Response:
        return lws_error_response(exc)

    @app.errorhandler(HTTPException)
    async def on_http_error(exc: HTTPException) -> Response:
        return http_exception_response(exc)

    @app.errorhandler(Exception)
    async def on_unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return http_exception_response(exc)
        if isinstance(exc, LwsError):
            return lws_error_response(exc)
        return unexpected_error_response(exc)

    return app
