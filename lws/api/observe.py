# Owns the admin listener's endpoints for machines: GET /health (the process
# answers: 200), GET /ready (200 or 503 with the reasons as JSON, from
# services/health.py) and GET /metrics (Prometheus text from every lws serve
# process; it needs an admin key as `Authorization: Bearer <key>` unless
# metrics_public is set). /health and /ready never need a key: orchestrators
# probe them. Must not hold logic beyond mapping the services' answers to HTTP.
"""Health, readiness and metrics routes (Quart blueprint)."""

from __future__ import annotations

import msgspec
from quart import Blueprint, Response, request

from lws.services import admin, health
from lws.services.context import Services

from .admin import presented_key
from .quart_base import JSON

_ENCODE = msgspec.json.Encoder().encode
#: Probes and scrapes must never see a cached answer.
_NO_STORE = {"Cache-Control": "no-store"}


def observe_blueprint(svc: Services) -> Blueprint:
    bp = Blueprint("observe", __name__)

    @bp.route("/health", methods=["GET"])
    async def health_check() -> Response:
        return Response(_ENCODE({"status": "ok"}), 200, content_type=JSON, headers=_NO_STORE)

    @bp.route("/ready", methods=["GET"])
    async def ready() -> Response:
        reply = await health.readiness(svc)
        status = 200 if reply.ready else 503
        return Response(_ENCODE(reply), status, content_type=JSON, headers=_NO_STORE)

    @bp.route("/metrics", methods=["GET"])
    async def scrape() -> Response:
        if not svc.config.metrics_public:
            # 403 with {"Error": ...} for a missing or unknown key, as the admin API.
            await admin.authenticate(svc, presented_key(None, request.headers.get("Authorization")))
        body, content_type = await health.scrape(svc, request.headers.get("Accept", ""))
        return Response(body, 200, content_type=content_type, headers=_NO_STORE)

    return bp


__all__ = ["observe_blueprint"]
