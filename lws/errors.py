# Owns lws's one error tree. Each class carries the HTTP status the API maps it
# to; the API maps them in one place. Must not import any other lws module.
"""Every error lws raises on purpose derives from :class:`LwsError`."""

from __future__ import annotations


class LwsError(Exception):
    """Root of lws's errors. ``str(error)`` is safe to show a client."""

    http_status = 500


class ClientError(LwsError):
    """The request is wrong (400)."""

    http_status = 400


class Forbidden(LwsError):
    """Unknown, hidden or pending account, or a view key that does not match (403)."""

    http_status = 403


class Conflict(LwsError):
    """The request conflicts with the store's state: an unknown address, no
    such pending request, an account that exists already (409)."""

    http_status = 409


class PayloadTooLarge(LwsError):
    http_status = 413


class UnsupportedMediaType(LwsError):
    http_status = 415


class Unavailable(LwsError):
    """Temporarily unable to serve: overload, daemon down (503)."""

    http_status = 503


class DaemonUnavailable(Unavailable):
    """monerod cannot be reached, timed out or is busy."""


class DaemonError(LwsError):
    """monerod answered, but with an error or a malformed reply."""

    http_status = 502


class ScanWorkerError(LwsError):
    """A scan worker process failed or died; the pool restarts its workers."""


class ScanClusterUnavailable(LwsError):
    """The Dask scheduler of ``--scan-cluster`` cannot be reached (at start:
    lws stops with it; later: the scanner backs off and reconnects)."""


class ConfigError(LwsError):
    """The configuration is invalid; the message names the key."""
