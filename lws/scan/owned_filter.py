# Owns a fixed-size bitmap that answers "does any account own RingCT output
# N?" with "no" or "maybe", so the candidate-spend search skips the store for
# nearly every ring member. It is a superset: a bit is set for every output
# the scanner stores (and for every owned output the store held when it was
# built) and never cleared, so a stale bit only costs one store lookup.
# Must not read or write the store itself; the scanner feeds it.
"""A "maybe owned" filter over global output indexes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: 2**24 bits (2 MiB): under 1% of lookups pass in vain while fewer than
#: ~170,000 owned outputs share it.
FILTER_BITS = 1 << 24
_MASK = FILTER_BITS - 1


class OwnedFilter:
    """Bits over ``global_index mod FILTER_BITS`` of RingCT-space outputs.

    Outputs with a non-zero index amount (pre-RingCT) are always "maybe":
    they are rare, and the bitmap covers the amount-0 space only.
    """

    __slots__ = ("_bits",)

    def __init__(self, global_indexes: Iterable[int] = ()) -> None:
        self._bits = bytearray(FILTER_BITS // 8)
        for global_index in global_indexes:
            self.add(0, global_index)

    def add(self, index_amount: int, global_index: int) -> None:
        if index_amount == 0 and global_index >= 0:
            bit = global_index & _MASK
            self._bits[bit >> 3] |= 1 << (bit & 7)

    def may_own(self, index_amount: int, global_index: int) -> bool:
        if index_amount != 0:
            return True
        bit = global_index & _MASK
        return bool(self._bits[bit >> 3] >> (bit & 7) & 1)

    def maybe_owned(self, index_amount: int, global_indexes: Sequence[int]) -> list[int]:
        """The indexes (of one amount space) that ``may_own`` says maybe to, in order."""
        if index_amount != 0:
            return list(global_indexes)
        bits = self._bits
        return [i for i in global_indexes if i >= 0 and bits[(i & _MASK) >> 3] >> (i & 7) & 1]
