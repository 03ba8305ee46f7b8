# Owns checking a reply against docs/openapi.json (or the admin API's
# docs/admin-openapi.json) with jsonschema: the documented schema of (path,
# method, status) must accept the real body.
"""Validate real replies against the committed OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
DOC: dict[str, Any] = json.loads(DOC_PATH.read_text())
ADMIN_DOC_PATH = DOC_PATH.parent / "admin-openapi.json"
ADMIN_DOC: dict[str, Any] = json.loads(ADMIN_DOC_PATH.read_text())


def check_reply(path: str, method: str, status: int, body: Any, doc: dict[str, Any] = DOC) -> None:
    responses = doc["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} -> {status} is not documented"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": doc["components"]}).validate(body)
