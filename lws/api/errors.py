# Owns the ONE map from errors to HTTP replies of the wallet API: LwsError
# (by its http_status), Quart/Werkzeug HTTP exceptions (404, 405, 413...),
# and the catch-all that turns anything else into a logged 500. Every error
# body is {"Error": "..."}. Must not decide business outcomes (services raise
# the LwsError) and never puts a view key in a message.
"""Error -> HTTP reply, in one place."""

from __future__ import annotations

import logging

import msgspec
from quart import Response
from werkzeug.exceptions import HTTPException

from lws.errors import LwsError
from lws.wire.responses import ErrorBody

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER_S = 2

_ENCODE = msgspec.json.Encoder().encode

#: Client-facing text for statuses a framework raises without our message.
_HTTP_TEXT = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Unsupported media type: send Content-Type: application/json",
    503: "Service unavailable, retry later",
}


def error_response(status: int, message: str) -> Response:
    response = Response(
        _ENCODE(ErrorBody(Error=message)), status=status, content_type="application/json"
    )
    if status == 503:
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


def http_exception_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    response = error_response(status, _HTTP_TEXT.get(status, exc.name))
    if status == 405:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(sorted(allowed))
    return response


def unexpected_error_response(exc: BaseException) -> Response:
    """A bug: log the traceback, tell the client nothing about it."""
    log.error("unexpected error while serving a request", exc_info=exc)
    return error_response(500, "Internal server error")
