# Owns an encoded JSON reply kept between requests (the account reads' cached
# replies) and its gzip form, compressed at most once per reply, in a worker
# thread, on the first request that accepts gzip. Must not know HTTP (the
# API decides whether a request accepts gzip) or the reply's shape.
"""An encoded reply and, made once on demand, its gzip form."""

from __future__ import annotations

import gzip

import trio

#: A reply shorter than this is never compressed: it fits one packet anyway,
#: and gzip's ~20-byte frame would eat the gain.
MIN_GZIP_BYTES = 1024
#: zlib's default: a 735 KB get_unspent_outs reply (1,200 outputs) -> 36% in
#: ~18 ms; level 9 saves 0.1% more in twice the time, level 1 is 39% in 8 ms.
GZIP_LEVEL = 6


#: Bytes a cache charges for the gzip form of a reply of n bytes: JSON of
#: hex keys and hashes compresses to ~36-40%; charged up front (it is made
#: later, on demand).
GZIP_SHARE = 0.4


def gzip_allowance(size: int) -> int:
    """Bytes to charge for the gzip form of a ``size``-byte body."""
    return int(size * GZIP_SHARE) if size >= MIN_GZIP_BYTES else 0


def compress(body: bytes) -> bytes:
    """``body`` gzipped; deterministic (no timestamp in the header)."""
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


class Encoded:
    """JSON bytes of a reply; ``gzipped()`` compresses them once and keeps the result."""

    __slots__ = ("body", "_gzip", "_lock")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self._gzip: bytes | None = None
        self._lock: trio.Lock | None = None

    @property
    def compressible(self) -> bool:
        return len(self.body) >= MIN_GZIP_BYTES

    async def gzipped(self) -> bytes | None:
        """The body gzipped (None if too short to gain). Concurrent first callers
        wait for one compression; later ones get the kept bytes at once."""
        if self._gzip is not None:
            return self._gzip
        if not self.compressible:
            return None
        if self._lock is None:
            self._lock = trio.Lock()
        async with self._lock:
            if self._gzip is None:
                self._gzip = await trio.to_thread.run_sync(compress, self.body)
        return self._gzip
