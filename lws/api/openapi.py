# Owns the OpenAPI 3.1 documents of the wallet API and of the admin API,
# each built from its route table and the wire Structs' JSON Schemas (so
# they cannot drift from what the code accepts and sends). `python -m
# lws.api.openapi` prints the wallet API's (`--admin`: the admin API's); the
# copies in docs/openapi.json and docs/admin-openapi.json are checked against
# them by the tests. Must not serve them (the apps do) or hold any other logic.
"""The OpenAPI documents, generated from the route tables."""

from __future__ import annotations

import sys
from typing import Any

import msgspec

import lws
from lws.wire.responses import ErrorBody

from .admin_routes import ADMIN_ROUTES, AdminRoute
from .routes import ROUTES, Route

REF_TEMPLATE = "#/components/schemas/{name}"

_ERRORS = {
    "400": "Malformed JSON, a missing or ill-typed field, a number past its width, a bad address",
    "403": "Unknown, hidden or pending account, or a view key that does not match",
    "404": "No such method",
    "405": "HTTP method not allowed for this path",
    "413": "Body larger than this method accepts",
    "415": "Content-Type is not application/json",
    "429": "Past this client's budget for this method; see Retry-After",
    "502": "monerod answered with an error",
    "503": "Overloaded or monerod unreachable; see Retry-After",
}


def _error_responses(route: Route) -> dict[str, Any]:
    codes = ["404", "405", "503"]
    if "POST" in route.methods:
        codes += ["400", "413", "415", "502"]
    if route.account:
        codes.append("403")
    if route.rate_limited:
        codes.append("429")
    return {
        code: {
            "description": _ERRORS[code],
            "content": {
                "application/json": {"schema": {"$ref": REF_TEMPLATE.format(name="ErrorBody")}}
            },
        }
        for code in sorted(codes)
    }


def build() -> dict[str, Any]:
    types: list[Any] = [ErrorBody]
    for route in ROUTES:
        types.append(route.request)
        if route.response is not None:
            types.append(route.response)
    _, components = msgspec.json.schema_components(types, ref_template=REF_TEMPLATE)
    paths: dict[str, Any] = {}
    for route in ROUTES:
        ok_schema: dict[str, Any] = (
            {"$ref": REF_TEMPLATE.format(name=route.response.__name__)}
            if route.response is not None
            else {"type": "object"}
        )
        operations: dict[str, Any] = {}
        for method in sorted(route.methods):
            operation: dict[str, Any] = {
                "operationId": route.path.strip("/").replace(".", "_") + "_" + method.lower(),
                "summary": route.summary,
                "responses": {
                    "200": {
                        "description": "Success",
                        "content": {"application/json": {"schema": ok_schema}},
                    },
                    **_error_responses(route),
                },
            }
            if method == "POST":
                operation["requestBody"] = {
                    "required": route.request.__name__ != "EmptyRequest",
                    "description": f"At most {route.body_limit} bytes",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": REF_TEMPLATE.format(name=route.request.__name__)}
                        }
                    },
                }
            operations[method.lower()] = operation
        paths[route.path] = operations
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lws light-wallet API",
            "version": lws.__version__,
            "description": (
                "The MyMonero light-wallet REST API as lws serves it. Amounts are decimal "
                "strings; hex is lowercase; arrays are always present. Every error body is "
                '{"Error": "..."}.'
            ),
        },
        "paths": paths,
        "components": {"schemas": components},
    }


def document_bytes() -> bytes:
    return msgspec.json.format(msgspec.json.encode(build()), indent=2) + b"\n"


# --- the admin API ----------------------------------------------------------------------

_ADMIN_ERRORS = {
    "400": "Malformed JSON, missing or ill-typed params, a malformed address or one of "
    "another network, a view key that does not match its address",
    "403": "Missing, unknown or revoked admin key",
    "404": "No such command",
    "405": "Commands are POST only",
    "409": "Conflicts with the store: an unknown address, no such pending request, an "
    "account that exists, a height above the chain lws holds (nothing was written)",
    "413": "Body larger than this command accepts",
    "415": "Content-Type is not application/json",
    "503": "lws has not heard from monerod yet (add_account without from_height); retry",
}


def _admin_operation(route: AdminRoute) -> dict[str, Any]:
    codes = ["400", "403", "404", "405", "413", "415"]
    if route.changes:
        codes.append("409")
    if route.path == "/add_account":
        codes.append("503")
    responses: dict[str, Any] = {
        "200": {
            "description": "Success",
            "content": {
                "application/json": {
                    "schema": {"$ref": REF_TEMPLATE.format(name=route.response.__name__)}
                }
            },
        },
    }
    for code in sorted(codes):
        responses[code] = {
            "description": _ADMIN_ERRORS[code],
            "content": {
                "application/json": {"schema": {"$ref": REF_TEMPLATE.format(name="ErrorBody")}}
            },
        }
    return {
        "operationId": "admin_" + route.path.strip("/"),
        "summary": route.summary,
        "security": [{"adminKey": []}, {}],
        "requestBody": {
            "required": True,
            "description": f"At most {route.body_limit} bytes",
            "content": {
                "application/json": {
                    "schema": {"$ref": REF_TEMPLATE.format(name=_schema_name(route.request))}
                }
            },
        },
        "responses": responses,
    }


def _schema_name(kind: Any) -> str:
    """The component name msgspec gives ``kind`` (generic envelopes included)."""
    (schema,), _ = msgspec.json.schema_components([kind], ref_template=REF_TEMPLATE)
    ref: str = schema["$ref"]
    return ref.rsplit("/", 1)[1]


def build_admin() -> dict[str, Any]:
    types: list[Any] = [ErrorBody]
    for route in ADMIN_ROUTES:
        types += [route.request, route.response]
    _, components = msgspec.json.schema_components(types, ref_template=REF_TEMPLATE)
    paths = {route.path: {"post": _admin_operation(route)} for route in ADMIN_ROUTES}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lws admin API",
            "version": lws.__version__,
            "description": (
                "The operator API of lws, on its own listener (--admin-listen): "
                "monero-lws's commands, params and replies, plus delete_accounts. Every "
                'call is POST /<command> with {"auth": "<admin key>", "params": {...}}; '
                "the key may come as `Authorization: Bearer <admin key>` instead "
                "(`lws admin create-admin-key` makes one). Every error body is "
                '{"Error": "..."}. A call that names an unknown address changes nothing.'
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "adminKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An admin key (64 hex digits), or the body's `auth` field",
                }
            },
        },
    }


def admin_document_bytes() -> bytes:
    return msgspec.json.format(msgspec.json.encode(build_admin()), indent=2) + b"\n"


if __name__ == "__main__":
    admin_wanted = sys.argv[1:] == ["--admin"]
    sys.stdout.buffer.write(admin_document_bytes() if admin_wanted else document_bytes())
