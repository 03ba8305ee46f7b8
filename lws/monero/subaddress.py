# Owns subaddress key math (device_default.cpp get_subaddress_secret_key /
# get_subaddress_spend_public_key / get_subaddress), the spend-key lookup
# table a scanner matches outputs against, and view-key checks.  Pure; must
# not scan transactions, touch the store, or format anything but through
# address.py.
"""Subaddresses: m = Hs("SubAddr\\0" || a || u32le(major) || u32le(minor)).

For ``(major, minor) != (0, 0)``: spend key ``D = B + m G`` and view key
``C = a D``.  Index ``(0, 0)`` is the primary address itself (``B``,
``A = a G``), not a derived key.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Iterable

from nacl import bindings as _sodium
from nacl.exceptions import RuntimeError as _SodiumError

from .address import Address, AddressKind, Network, make_address
from .ed25519 import (
    base_mul,
    decode_point,
    encode_point,
    hash_to_scalar,
    is_reduced_scalar,
    point_mul,
    scalar_to_int,
)
from .errors import MoneroFormatError

#: cryptonote_config.h HASH_KEY_SUBADDRESS, with its C string's NUL.
HASH_KEY_SUBADDRESS = b"SubAddr\x00"
#: Major and minor indexes are uint32 in wallet2.
MAX_INDEX = 2**32 - 1
#: The most entries one table may hold: ~30 us each to build and ~150 bytes
#: each to keep, so a million is ~30 s of CPU and ~150 MB per account;
#: anything beyond is a mistake or an attack, not a wallet.
MAX_TABLE_ENTRIES = 1_000_000

_U32_PAIR = struct.Struct("<II")


def _check_secret(view_secret: bytes) -> None:
    if not is_reduced_scalar(view_secret):
        raise MoneroFormatError("view secret is not a reduced 32-byte scalar")


def _check_point(public: bytes) -> None:
    if decode_point(public) is None:
        raise MoneroFormatError("public key is not a curve point")


def _check_index(major: int, minor: int) -> None:
    if not (0 <= major <= MAX_INDEX and 0 <= minor <= MAX_INDEX):
        raise MoneroFormatError("subaddress index out of uint32 range")


def _scalar_mul(scalar: bytes, public: bytes) -> bytes:
    """``scalar * public`` as monero's ge_scalarmult (torsion kept).

    libsodium only multiplies prime-order points; anything else (a torsioned
    key a sender or a user made up) takes the slow pure-Python path.
    ``public`` must already have passed :func:`decode_point`.
    """
    try:
        return _sodium.crypto_scalarmult_ed25519_noclamp(scalar, public)
    except _SodiumError:
        point = decode_point(public)
        assert point is not None  # checked by every caller
        return encode_point(point_mul(scalar_to_int(scalar), point))


def subaddress_secret(view_secret: bytes, major: int, minor: int) -> bytes:
    """m = Hs("SubAddr\\0" || a || u32le(major) || u32le(minor))."""
    _check_secret(view_secret)
    _check_index(major, minor)
    return hash_to_scalar(HASH_KEY_SUBADDRESS + view_secret + _U32_PAIR.pack(major, minor))


def subaddress_spend_public(
    view_secret: bytes, spend_public: bytes, major: int, minor: int
) -> bytes:
    """D = B + m G; ``spend_public`` itself for (0, 0)."""
    _check_secret(view_secret)
    _check_point(spend_public)
    _check_index(major, minor)
    if major == 0 and minor == 0:
        return bytes(spend_public)
    m = subaddress_secret(view_secret, major, minor)
    return bytes(_sodium.crypto_core_ed25519_add(spend_public, base_mul(m)))


def view_public_from_secret(view_secret: bytes) -> bytes:
    """A = a G (``secret_key_to_public_key``)."""
    _check_secret(view_secret)
    return base_mul(view_secret)


def subaddress_address(
    network: Network, view_secret: bytes, spend_public: bytes, major: int, minor: int
) -> str:
    """The address wallet2 shows for ``(major, minor)``.

    (0, 0) is the primary (standard) address ``(B, a G)``; every other
    index is a subaddress ``(D, a D)``.
    """
    spend = subaddress_spend_public(view_secret, spend_public, major, minor)
    if major == 0 and minor == 0:
        return make_address(network, spend, view_public_from_secret(view_secret))
    return make_address(network, spend, _scalar_mul(view_secret, spend), subaddress=True)


def lookahead_ranges(majors: int, minors: int) -> list[tuple[int, int, int]]:
    """Ranges for wallet2's lookahead: majors 0..majors-1, minors 0..minors-1."""
    if majors < 1 or minors < 1:
        raise MoneroFormatError("lookahead needs at least one major and one minor")
    if majors - 1 > MAX_INDEX or minors - 1 > MAX_INDEX:
        raise MoneroFormatError("subaddress index out of uint32 range")
    return [(major, 0, minors - 1) for major in range(majors)]


def merge_ranges(
    ranges: Iterable[tuple[int, int, int]],
) -> tuple[tuple[int, int, int], ...]:
    """Sort and merge (major, minor_first, minor_last) ranges, minors inclusive:
    overlapping or adjacent ranges of one major become one. A range out of
    uint32 or with first > last is a MoneroFormatError."""
    merged: list[tuple[int, int, int]] = []
    for major, first, last in sorted(ranges):
        if not (0 <= major <= MAX_INDEX and 0 <= first <= last <= MAX_INDEX):
            raise MoneroFormatError(f"bad subaddress range ({major}, {first}, {last})")
        if merged and merged[-1][0] == major and first <= merged[-1][2] + 1:
            prev = merged[-1]
            merged[-1] = (major, prev[1], max(prev[2], last))
        else:
            merged.append((major, first, last))
    return tuple(merged)


def build_subaddress_table(
    view_secret: bytes, spend_public: bytes, ranges: Iterable[tuple[int, int, int]]
) -> dict[bytes, tuple[int, int]]:
    """Map spend public key -> (major, minor) for a scanner's lookup.

    ``ranges`` holds ``(major, first_minor, last_minor)`` with both minors
    inclusive (as the light-wallet API's subaddress ranges are).  The
    primary key ``spend_public -> (0, 0)`` is always included.  Raises
    :class:`MoneroFormatError` for bad keys, out-of-range indexes, or more
    than :data:`MAX_TABLE_ENTRIES` entries.
    """
    _check_secret(view_secret)
    _check_point(spend_public)
    spend = bytes(spend_public)
    table: dict[bytes, tuple[int, int]] = {spend: (0, 0)}
    prefix = HASH_KEY_SUBADDRESS + bytes(view_secret)
    add = _sodium.crypto_core_ed25519_add
    pack = _U32_PAIR.pack
    for major, first, last in ranges:
        _check_index(major, first)
        _check_index(major, last)
        if first > last:
            raise MoneroFormatError("subaddress range ends before it starts")
        if len(table) + (last - first + 1) > MAX_TABLE_ENTRIES + 1:
            raise MoneroFormatError("too many subaddresses")
        for minor in range(first, last + 1):
            if major == 0 and minor == 0:
                continue
            m = hash_to_scalar(prefix + pack(major, minor))
            # spend was checked above and base_mul's output is canonical, so
            # libsodium's add (which skips monero's canonicity rules) is safe.
            table[add(spend, base_mul(m))] = (major, minor)
    return table


def check_view_key(address: Address, view_secret: bytes) -> bool:
    """Whether ``view_secret`` is the view key of ``address``.

    Standard and integrated addresses: ``a G == A``.  A subaddress carries
    ``C = a D``, so the test there is ``a D == C``: it proves ``a`` is the
    wallet's view key, but a subaddress still cannot be an lws account (the
    scan needs the primary spend key, which ``D`` does not reveal).
    A non-reduced secret (monero's ``sc_check``) is never valid.  The final
    comparison is constant-time.
    """
    if not is_reduced_scalar(view_secret):
        return False
    if address.kind is AddressKind.SUBADDRESS:
        if decode_point(address.spend_public) is None:
            return False
        expected = _scalar_mul(view_secret, address.spend_public)
    else:
        expected = base_mul(view_secret)
    return hmac.compare_digest(expected, address.view_public)
