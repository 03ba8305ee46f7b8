# Owns the upgrades of older store formats: MIGRATIONS maps a format version
# v to the function that rewrites a store of format v into format v + 1.
# Must not open environments or commit: Store.open runs each step in its own
# write transaction and bumps the version in the same transaction.
"""Format migrations (none yet: FORMAT_VERSION 1 is the first format)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .writer import Writer

#: A step from format v to v + 1, run inside one write transaction; it may be
#: re-run after a map growth, like every write function.
Migration = Callable[[Writer], None]

MIGRATIONS: Mapping[int, Migration] = {}
