# Owns the ONE map from errors to HTTP replies of lws's Quart apps, as Quart
# error handlers: LwsError (by its http_status; 503 with Retry-After), the
# HTTP errors Quart and its extensions raise (404, 405 with Allow, 408, 413,
# 429 with Retry-After from quart-rate-limiter...), and the catch-all that
# turns anything else into a logged 500. Every error body is
# {"Error": "..."}. Must not decide business outcomes (services raise the
# LwsError) and never puts a view key in a message.
"""Error -> HTTP reply, in one place, for every lws Quart app."""

from __future__ import annotations

import logging

import msgspec
from quart import Quart, Response
from werkzeug.exceptions import HTTPException

from lws.errors import LwsError

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER_S = 2

_ENCODE = msgspec.json.Encoder().encode
#: What the HTTP errors raised by Quart and its extensions say.
_MESSAGES = {
    404: "Not found: no such method",
    408: "Request timeout: the body did not arrive in time",
    413: "Request body too large",
    429: "Too many requests: retry later",
}
#: Headers of a werkzeug HTTPException worth passing on (not its HTML type).
_KEPT_HEADERS = ("allow", "retry-after")


def error_response(
    status: int, message: str, headers: list[tuple[str, str]] | None = None
) -> Response:
    """``{"Error": message}`` as JSON (with Retry-After on a 503)."""
    response = Response(_ENCODE({"Error": message}), status, content_type="application/json")
    for name, value in headers or ():
        response.headers[name] = value
    if status == 503 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def lws_error_response(exc: LwsError) -> Response:
    status = exc.http_status
    if status >= 500 and status != 503:
        if status == 500:
            # An LwsError meant as a server fault (a store fault...): still a bug to look at.
            log.error("server error: %s: %s", type(exc).__name__, exc)
        else:
            log.warning("%s: %s", type(exc).__name__, exc)
    return error_response(status, str(exc) or type(exc).__name__)


def http_error_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = [(n, v) for n, v in exc.get_headers() if n.lower() in _KEPT_HEADERS]
    if status == 405:
        allowed = dict((n.lower(), v) for n, v in headers).get("allow", "")
        message = f"Method not allowed: use {allowed}"
    elif status == 429:
        retry = dict((n.lower(), v) for n, v in headers).get("retry-after", "?")
        message = f"Too many requests: retry in {retry} s"
    else:
        message = _MESSAGES.get(status, exc.name)
    return error_response(status, message, headers)


def unexpected_error_response(exc: Exception) -> Response:
    """A bug: log the traceback, tell the client nothing about it."""
    log.error("unexpected error while serving a request", exc_info=exc)
    return error_response(500, "Internal server error")


def install(app: Quart) -> None:
    """Route every error of ``app`` through this module."""
    app.register_error_handler(LwsError, lws_error_response)
    app.register_error_handler(HTTPException, http_error_response)
    app.register_error_handler(Exception, unexpected_error_response)


__all__ = ["RETRY_AFTER_S", "error_response", "install"]
