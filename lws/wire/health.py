# Owns the bodies of the admin listener's health endpoints (GET /health,
# GET /ready) as msgspec Structs. Must not compute anything: the health
# service (lws/services/health.py) fills them in.
"""Health and readiness replies."""

from __future__ import annotations

import msgspec


class HealthReply(msgspec.Struct, kw_only=True):
    """GET /health: the process is up and answering."""

    status: str = "ok"


class ReadyReply(msgspec.Struct, kw_only=True):
    """GET /ready: 200 when ``ready``, 503 with the ``reasons`` otherwise."""

    ready: bool
    #: One sentence per failed check (empty when ready).
    reasons: list[str]
    #: The scanner's state (starting, ok, synchronizing, unavailable, ...).
    scanner_state: str
    #: monerod's height as just asked (0: not reachable).
    daemon_height: int
    #: Blocks the store holds.
    scan_height: int
    #: daemon_height - scan_height (0 when monerod is not reachable).
    lag_blocks: int
    max_lag_blocks: int
