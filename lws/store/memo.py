# Owns decoding stored records once per content: a bounded memo from a
# record's stored bytes to its decoded value, one per record table and per
# Store (shared by the threads of one process). Readers that build the same
# replies again and again (the wallet API's account reads) then decode only
# what changed, and get the same objects for unchanged records, which their
# own memos can key on. Must not know tables or keys: it sees values only.
"""Decoded records, memoized by their stored bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Generic, TypeVar

from .records import OUTPUT_DECODER, SPEND_DECODER, OutputRecord, SpendRecord

T = TypeVar("T")

#: Records kept per table: ~1 KB an entry with its key, so each memo stays
#: under ~50 MB. Wallets with more records in all than this still work, each
#: read decoding again what fell out.
RECORD_MEMO_SIZE: Final = 50_000


class DecodeMemo(Generic[T]):
    """``decode(raw)`` memoized by the stored bytes ``raw`` (immutable
    content); past ``size`` entries it starts over. Shared by threads: dict
    reads and writes are atomic, a lost entry is only decoded again."""

    def __init__(self, decode: Callable[[bytes], T], size: int = RECORD_MEMO_SIZE) -> None:
        self._decode = decode
        self._size = size
        self._values: dict[bytes, T] = {}

    def many(self, raws: Sequence[bytes]) -> list[T]:
        get = self._values.get
        found = [get(raw) for raw in raws]
        if None not in found:
            return found  # type: ignore[return-value]
        return [self(raw) if value is None else value for raw, value in zip(raws, found)]

    def __call__(self, raw: bytes) -> T:
        value = self._values.get(raw)
        if value is None:
            value = self._decode(raw)
            if len(self._values) >= self._size:
                self._values.clear()
            self._values[raw] = value
        return value


class RecordMemos:
    """The decode memos of one Store: mined outputs and candidate spends."""

    def __init__(self, size: int = RECORD_MEMO_SIZE) -> None:
        self.outputs: DecodeMemo[OutputRecord] = DecodeMemo(OUTPUT_DECODER.decode, size)
        self.spends: DecodeMemo[SpendRecord] = DecodeMemo(SPEND_DECODER.decode, size)
