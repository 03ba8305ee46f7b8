# Owns the mutation fuzzing of real blobs shared by the block and transaction
# parser tests: a hypothesis strategy of up to four edits (flip a bit, cut
# the tail, insert bytes, delete bytes) and applying them to a seed. Must not
# assert anything: each test says what must hold of the mutated blob.
"""Small edits of real blobs, for the parsers' fuzz tests."""

from __future__ import annotations

from hypothesis import strategies as st

#: (operation, where: any int, taken modulo the blob's length, bytes it uses).
Edit = tuple[str, int, bytes]

EDITS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "cut", "insert", "delete"]),
        st.integers(0, 10**6),
        st.binary(min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=4,
)


def apply_edits(seed: bytes, edits: list[Edit]) -> bytes:
    """``seed`` with ``edits`` applied in turn (an emptied blob stays empty)."""
    blob = bytearray(seed)
    for op, at, data in edits:
        if not blob:
            break
        i = at % len(blob)
        if op == "flip":
            blob[i] ^= 1 << (data[0] % 8)
        elif op == "cut":
            del blob[i:]
        elif op == "insert":
            blob[i:i] = data
        else:
            del blob[i : i + len(data)]
    return bytes(blob)
