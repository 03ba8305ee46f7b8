# Owns the OpenAPI 3.1 document of the wallet API, built from the route
# table and the wire Structs' JSON Schemas (so it cannot drift from what the
# code accepts and sends). `python -m lws.api.openapi` prints it; the copy in
# docs/openapi.json is checked against it by the tests. Must not serve it
# (app.py does) or hold any other logic.
"""The OpenAPI document, generated from the route table."""

from __future__ import annotations

import sys
from typing import Any

import msgspec

import lws
from lws.wire.responses import ErrorBody

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


if __name__ == "__main__":
    sys.stdout.buffer.write(document_bytes())
