# Owns the reply cache of the account reads (get_address_info,
# get_address_txs, get_unspent_outs): encoded replies keyed by (method,
# address, reply-changing parameters), each valid only for the store
# generation (write transaction id) it was read at and until an optional
# deadline, in an LRU bounded by entries and bytes. Must not decide who may
# read an entry: callers check the view key against the entry's account
# (constant time) before they use it. Lives on the event loop thread only.
"""A bounded LRU of encoded account replies, invalidated by store writes."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

#: Entries kept at most: a few per account for a few thousand active wallets.
MAX_ENTRIES = 4096
#: Bytes of encoded replies kept at most: an account with 1,200 outputs has a
#: ~700 KB get_unspent_outs reply; this keeps ~100 such replies in 64 MiB.
MAX_BYTES = 64 << 20
#: A reply larger than this share of MAX_BYTES is not cached (it would evict
#: everything else; such an account pays the full read every time).
MAX_ENTRY_SHARE = 8


@dataclass(slots=True)
class CachedReply:
    """One account reply as read at store generation ``generation``."""

    #: Store generation (Reader.generation) of the snapshot it was built from.
    generation: int
    #: The account's stored view secret: requests must match it (constant time).
    view_secret: bytes
    #: The encoded reply (JSON bytes).
    body: bytes
    #: time.time() after which it is stale (a time lock ends); inf if never.
    valid_until: float = math.inf
    #: Whatever else the caller needs on a hit (e.g. get_unspent_outs' total
    #: and its encoded outputs, to re-assemble the reply when fees change).
    extra: Any = None
    #: Bytes charged to the cache (body and extra's encoded parts).
    size: int = field(default=0)


class ReplyCache:
    """LRU of CachedReply; bounded by ``max_entries`` and ``max_bytes``."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, CachedReply] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, key: Hashable, generation: int | None, now: float) -> CachedReply | None:
        """The entry for ``key`` if it is still valid at ``generation`` and ``now``.

        A stale entry is dropped. ``generation`` None (unknown) is a miss.
        """
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if generation is None or entry.generation != generation or now >= entry.valid_until:
            self._drop(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: Hashable, entry: CachedReply) -> None:
        """Keep ``entry`` (replacing an older one for ``key``) unless it is too big."""
        if not entry.size:
            entry.size = len(entry.body)
        old = self._entries.get(key)
        if old is not None and old.generation > entry.generation:
            return  # a slower reader of an older snapshot must not replace a newer reply
        self._drop(key)
        if entry.size > self.max_bytes // MAX_ENTRY_SHARE:
            return
        self._entries[key] = entry
        self._bytes += entry.size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size
