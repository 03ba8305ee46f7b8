# Owns the errors the store raises on purpose. Must not import lmdb: callers
# catch these, never an lmdb exception. Messages never carry a view key.
"""Store errors, all under :class:`lws.errors.LwsError`."""

from __future__ import annotations

from lws.errors import LwsError


class StoreError(LwsError):
    """The store cannot do what was asked (a server-side fault: 500)."""


class StoreOpenError(StoreError):
    """The directory is missing, unreadable, or not an lws store."""


class WrongNetwork(StoreOpenError):
    """The store was made for another Monero network."""


class FormatError(StoreOpenError):
    """The store's format version is newer than this lws, or needs a migration
    that cannot run (read-only open, no migration registered)."""


class UnknownAccount(StoreError):
    http_status = 404


class UnknownRequest(StoreError):
    http_status = 404


class AccountExists(StoreError):
    http_status = 409


class ChainMismatch(StoreError):
    """A block hash differs from the stored one at that height, or a batch
    does not connect to the stored chain: the caller must roll back first."""


class InvalidRecord(StoreError):
    """A record breaks the store's invariants (sizes, heights, ranges)."""


class UnknownDelivery(StoreError):
    http_status = 404


class DeliveryPending(StoreError):
    """An operator asked to redeliver a delivery that is still pending."""

    http_status = 409
