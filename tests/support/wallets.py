# Owns putting a test wallet (its WalletKeys) into the store's terms: the
# account Writer.add_account adds for it, and a request record for it, with
# the wallet's address and keys filled in and every other field the test's
# choice. Must not pick heights, times or statuses for the caller.
"""A test wallet's account and request records."""

from __future__ import annotations

from typing import Any

from lws.playground.keys import WalletKeys
from lws.store import RequestKind, RequestRecord, Writer


def add_wallet(w: Writer, keys: WalletKeys, **fields: Any) -> int:
    """Add the account of ``keys``; ``fields`` as Writer.add_account takes
    them (start_height and created at least). Its account id."""
    return w.add_account(
        keys.address(),
        view_secret=keys.view_secret,
        spend_public=keys.spend_public,
        view_public=keys.view_public,
        **fields,
    )


def wallet_request(
    keys: WalletKeys, kind: RequestKind, start: int, *, created: int = 1
) -> RequestRecord:
    """A pending ``kind`` request of ``keys`` from height ``start``."""
    return RequestRecord(
        kind=kind,
        address=keys.address(),
        view_secret=keys.view_secret,
        spend_public=keys.spend_public,
        view_public=keys.view_public,
        start_height=start,
        created=created,
    )
