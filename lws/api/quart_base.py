# Owns what every lws Quart-Trio app shares: Quart's own limits (body cap,
# body and reply timeouts), exact paths (no slash merging, no redirects), no
# JSON key sorting, the error handlers of errors.py; the check of a POST's
# head before its body is read (415, 413 from Content-Length); and the one
# mapping of msgspec's decode failures to a 400; the per-request connection
# class (quart_connection.py). Must not know routes or
# services: each app (wallet.py, admin.py) adds its own.
"""Settings and checks shared by lws's Quart apps."""

from __future__ import annotations

from typing import Any

import msgspec
from quart import request
from quart_trio import QuartTrio

from lws.errors import ClientError, PayloadTooLarge, UnsupportedMediaType

from . import errors
from .quart_connection import InlineBodyConnection

#: Seconds a client may take to send a whole body: the largest body any app
#: takes (1 MiB) at 50 KiB/s; then 408 and the connection closes.
BODY_TIMEOUT_S = 20
#: Seconds to write a reply to a client that does not read.
RESPONSE_TIMEOUT_S = 30
#: The one media type lws's POST methods take.
JSON = "application/json"


def configure(app: QuartTrio, *, max_body: int) -> None:
    """Apply the shared settings and error handlers to ``app``."""
    app.config.update(
        MAX_CONTENT_LENGTH=max_body,
        BODY_TIMEOUT=BODY_TIMEOUT_S,
        RESPONSE_TIMEOUT=RESPONSE_TIMEOUT_S,
        # Replies are bytes we made: no key sorting or pretty printing to apply.
        JSON_SORT_KEYS=False,
    )
    # Paths are method names: "//login" is not "/login" (no redirects).
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    errors.install(app)
    # Small requests are read whole, then answered in one task (quart_connection.py).
    app.asgi_http_class = InlineBodyConnection


def check_head(path: str, body_limit: int, *, empty_ok: bool = False) -> None:
    """415 unless the request is JSON (or, ``empty_ok``, has no body at all),
    413 if its Content-Length is over ``body_limit``; from the head alone."""
    length = request.content_length or 0
    if request.mimetype != JSON and not (empty_ok and length == 0):
        raise UnsupportedMediaType("Unsupported media type: send Content-Type: application/json")
    if length > body_limit:
        raise PayloadTooLarge(f"Request body too large: {path} accepts {body_limit} bytes")


def decode_json(decoder: msgspec.json.Decoder[Any], data: bytes | msgspec.Raw) -> Any:
    """``data`` decoded, or a 400 that says what is wrong with it."""
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ClientError(f"Invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ClientError(f"Malformed JSON: {exc}") from None
    except UnicodeDecodeError:
        # msgspec raises this (not a DecodeError) for a string that is not UTF-8.
        raise ClientError("Malformed JSON: the body is not valid UTF-8") from None
