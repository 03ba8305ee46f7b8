# Owns the ONE map from errors to HTTP replies of the wallet API: LwsError
# (by its http_status), the statuses the app itself decides (404, 405, 415,
# 413), and the catch-all that turns anything else into a logged 500. Every
# error body is {"Error": "..."} (built by http1.error_response, which the
# transport's own errors use too). Must not decide business outcomes
# (services raise the LwsError) and never puts a view key in a message.
"""Error -> HTTP reply, in one place."""

from __future__ import annotations

import logging

from lws.errors import LwsError

from .http1 import RETRY_AFTER_S, Response, error_response

log = logging.getLogger(__name__)

__all__ = [
    "RETRY_AFTER_S",
    "error_response",
    "lws_error_response",
    "method_not_allowed",
    "unexpected_error_response",
]


def lws_error_response(exc: LwsError) -> Response:
    status = exc.http_status
    if status >= 500 and status != 503:
        if status == 500:
            # An LwsError meant as a server fault (a store fault...): still a bug to look at.
            log.error("server error: %s: %s", type(exc).__name__, exc)
        else:
            log.warning("%s: %s", type(exc).__name__, exc)
    return error_response(status, str(exc) or type(exc).__name__)


def not_found() -> Response:
    return error_response(404, "Not found: no such method")


def method_not_allowed(allowed: str) -> Response:
    response = error_response(405, f"Method not allowed: use {allowed}")
    assert response.headers is not None
    response.headers.append(("Allow", allowed))
    return response


def unexpected_error_response(exc: BaseException) -> Response:
    """A bug: log the traceback, tell the client nothing about it."""
    log.error("unexpected error while serving a request", exc_info=exc)
    return error_response(500, "Internal server error")
