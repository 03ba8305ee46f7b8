# Owns the upgrades of older store formats: MIGRATIONS maps a format version
# v to the function that rewrites a store of format v into format v + 1.
# Must not open environments or commit: Store.open runs each step in its own
# write transaction and bumps the version in the same transaction.
"""Format migrations.

1 -> 2: webhooks (tables hooks, trackers, deliveries, requeued, which
opening a store read-write creates) and the outbox's meta (its random epoch
and counters). Format 2 exists so that an older lws refuses the store instead
of scanning it without writing the events its hooks ask for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .writer import Writer

#: A step from format v to v + 1, run inside one write transaction; it may be
#: re-run after a map growth, like every write function.
Migration = Callable[[Writer], None]


def _webhooks(writer: Writer) -> None:
    writer._init_outbox_meta()


MIGRATIONS: Mapping[int, Migration] = {1: _webhooks}
