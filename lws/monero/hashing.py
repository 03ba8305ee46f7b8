# Owns Keccak-256 (Monero's cn_fast_hash) and the Merkle tree hash of a list of
# hashes. Pure; must not know about transactions or blocks themselves.
"""Keccak-256 as Monero uses it (original Keccak padding, not SHA3-256)."""

from collections.abc import Sequence

import sha3 as _sha3  # safe-pysha3: a C Keccak, ~1 us for a short input

from .errors import MoneroFormatError

#: The raw Keccak-256 constructor, for hot loops that hash many short inputs.
keccak_256 = _sha3.keccak_256


def keccak256(data: bytes) -> bytes:
    """Monero's ``cn_fast_hash``: Keccak-256 of ``data``."""
    return _sha3.keccak_256(data).digest()  # type: ignore[no-any-return]


def tree_hash(hashes: Sequence[bytes]) -> bytes:
    """Monero's ``tree_hash`` (crypto/tree-hash.c) over 32-byte hashes."""
    count = len(hashes)
    if count == 0:
        raise MoneroFormatError("tree hash of no hashes")
    if count == 1:
        return bytes(hashes[0])
    if count == 2:
        return keccak256(bytes(hashes[0]) + bytes(hashes[1]))
    # cnt = largest power of two strictly below count (count >= 3)
    cnt = 1 << ((count - 1).bit_length() - 1)
    level = [bytes(h) for h in hashes[: 2 * cnt - count]]
    rest = hashes[2 * cnt - count :]
    for i in range(0, len(rest), 2):
        level.append(keccak256(bytes(rest[i]) + bytes(rest[i + 1])))
    while len(level) > 1:
        level = [keccak256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
