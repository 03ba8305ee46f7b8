# Owns the admin API as a Quart-Trio app built over a Services object, for
# its own listener (`lws serve --admin-listen`): one POST rule per row of the
# admin route table (monero-lws's envelope {"auth", "params"}; the key may
# come as `Authorization: Bearer` instead), the checks before a body is read
# (415, 413 on Content-Length), msgspec decode -> admin key check (403) ->
# service -> encode, and its OpenAPI document at GET /openapi.json. Errors go
# through errors.py: {"Error": ...} with 400/403/404/405/409/413/415/503,
# never a 500 for bad input, never an empty body. More routes (metrics,
# health, the console) are added to the app this returns. Must not hold
# business logic (lws.services.admin does, the audit line included), serve
# itself (serve.py does) or touch the store.
"""The admin API's Quart-Trio app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import msgspec
from quart import Response, request
from quart_trio import QuartTrio

from lws.errors import ClientError
from lws.services import admin
from lws.services.context import Services
from lws.wire.admin import EmptyParams

from . import openapi
from .admin_routes import ADMIN_OPENAPI_PATH, ADMIN_ROUTES, MAX_ADMIN_BODY, AdminRoute
from .quart_base import JSON, check_head, configure, decode_json

_ENCODE = msgspec.json.Encoder().encode
_BEARER = "bearer "


class AdminApp(QuartTrio):
    """The admin app, with the services its routes (and later ones) use."""

    services: Services


class _Envelope(msgspec.Struct):
    """The envelope as first read: the key is checked before the params are."""

    auth: str | None = None
    params: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b""))


_ENVELOPE = msgspec.json.Decoder(_Envelope)


class _Command:
    """What one command needs per request: its row and its params' decoder."""

    def __init__(self, route: AdminRoute) -> None:
        self.route = route
        kind: Any = route.params if route.params is not None else EmptyParams | None
        self.params: msgspec.json.Decoder[Any] = msgspec.json.Decoder(kind)

    def decode_params(self, raw: msgspec.Raw) -> Any:
        if not len(raw):
            if self.route.params is None:
                return None
            raise ClientError("Invalid request: Object missing required field `params`")
        try:
            return decode_json(self.params, raw)
        except ClientError as exc:
            raise ClientError(str(exc).replace(" - at `$", " - at `$.params", 1)) from None


def presented_key(body_auth: str | None, authorization: str | None) -> str | None:
    """The admin key of a request: the body's ``auth``, else a Bearer header."""
    if body_auth is not None:
        return body_auth
    if authorization is not None and authorization[: len(_BEARER)].lower() == _BEARER:
        return authorization[len(_BEARER) :].strip()
    return None


def create_admin_app(services: Services) -> AdminApp:
    """The admin API over ``services`` (their store; their scanner wake-up)."""
    app = AdminApp(__name__)
    app.services = services
    configure(app, max_body=MAX_ADMIN_BODY)
    commands: dict[str, _Command] = {}
    document = openapi.admin_document_bytes()

    @app.before_request
    async def check_before_body() -> None:
        """415 and 413 from the head alone, before anything reads the body."""
        found = commands.get(request.endpoint or "")
        if found is None or request.method != "POST":
            return
        check_head(found.route.path, found.route.body_limit)

    def make_view(found: _Command) -> Callable[[], Awaitable[Response]]:
        route = found.route

        async def view() -> Response:
            body = cast(bytes, await request.get_data(cache=True, as_text=False))
            envelope: _Envelope = decode_json(_ENVELOPE, body)
            caller = await admin.authenticate(
                services, presented_key(envelope.auth, request.headers.get("Authorization"))
            )
            params = found.decode_params(envelope.params)
            reply = await route.handler(services, params, caller)
            return Response(_ENCODE(reply), 200, content_type=JSON)

        view.__name__ = "admin_" + route.path.strip("/")
        return view

    for route in ADMIN_ROUTES:
        found = _Command(route)
        view = make_view(found)
        commands[view.__name__] = found
        app.add_url_rule(route.path, view.__name__, view, methods=["POST"])

    async def serve_document() -> Response:
        return Response(document, 200, content_type=JSON)

    app.add_url_rule(ADMIN_OPENAPI_PATH, "admin_openapi", serve_document, methods=["GET"])
    return app


__all__ = ["AdminApp", "create_admin_app", "presented_key"]
