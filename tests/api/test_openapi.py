# Owns the OpenAPI checks: the committed docs/openapi.json is what the code
# generates, every route of the table is documented and nothing else is, and
# lws serves the document at GET /openapi.json.
"""The OpenAPI document matches the routes."""

from __future__ import annotations

from lws.api import openapi
from lws.api.routes import ROUTES

from .conftest import Api
from .schema_check import DOC, DOC_PATH


def test_committed_document_is_current() -> None:
    assert DOC_PATH.read_bytes() == openapi.document_bytes(), (
        "docs/openapi.json is stale: python -m lws.api.openapi > docs/openapi.json"
    )


def test_every_route_documented_and_vice_versa() -> None:
    table = {(r.path, m.lower()) for r in ROUTES for m in r.methods}
    documented = {(path, method) for path, ops in DOC["paths"].items() for method in ops}
    assert table == documented
    assert DOC["openapi"].startswith("3.1")


async def test_document_is_served(client: Api) -> None:
    response = await client.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == DOC
