# Owns Monero's key-derivation primitives with monero's exact semantics
# (src/crypto/crypto.cpp): generate_key_derivation, derivation_to_scalar,
# derive_public_key, derive_subaddress_public_key, derive_secret_key and
# derive_view_tag. This is the reference the fast batched scan (ownership.py)
# must agree with. Must not know about transactions, accounts or batching.
"""Monero's shared-secret derivation, exactly as ``crypto.cpp`` computes it.

Inputs are raw 32-byte values.  Where monero's function returns ``false``
(a public key that ``ge_frombytes_vartime`` rejects) these return ``None``;
a public key of the wrong length is treated the same way, since it cannot
decode either.  A secret or derivation of the wrong length is a caller bug
and raises :class:`MoneroFormatError`, as does an output index outside
``0 <= i < 2**64`` (monero's ``size_t`` varint).

wallet2 does not stop at a ``None`` derivation: it scans with the identity
encoding instead (``derivation or IDENTITY``); ownership.py does the same.

Cost: the pure-Python decode of ``R`` (~0.1 ms) plus libsodium's scalar
multiplication on the torsion-free point ``8R`` (which libsodium accepts,
unlike a torsioned ``R``).  ownership.py caches ``8R`` per key
(:func:`mul8_public_key`) and only comes here for the rare exact checks.
"""

from __future__ import annotations

from nacl import bindings as _sodium
from nacl.exceptions import CryptoError

from .ed25519 import (
    IDENTITY,
    L,
    P,
    base_mul,
    decode_point,
    encode_point,
    hash_to_scalar,
    point_mul,
    point_mul8,
)
from .errors import MoneroFormatError
from .hashing import keccak256
from .varint import encode_varint

#: Every key, scalar and derivation is 32 bytes.
KEY_SIZE = 32
#: Domain separator of view tags (monero's derive_view_tag, no terminator).
VIEW_TAG_SALT = b"view_tag"

__all__ = [
    "KEY_SIZE",
    "VIEW_TAG_SALT",
    "derivation_to_scalar",
    "derive_public_key",
    "derive_secret_key",
    "derive_subaddress_public_key",
    "derive_view_tag",
    "effective_view_scalar",
    "generate_key_derivation",
    "monero_accepts_encoding",
    "mul8_public_key",
    "scalarmult_torsion_free",
]


def _require_size(value: bytes, what: str) -> None:
    if len(value) != KEY_SIZE:
        raise MoneroFormatError(f"{what} must be {KEY_SIZE} bytes, got {len(value)}")


def effective_view_scalar(secret: bytes) -> int:
    """The scalar, mod l, that monero's ``ge_scalarmult`` multiplies by.

    ``generate_key_derivation`` only asserts ``sc_check`` (compiled out in
    release builds), so an unreduced secret still gets multiplied.  For
    ``secret < 2**255`` that is the secret itself.  With the top bit set,
    ``ge_scalarmult``'s signed radix-16 recoding yields a top digit of 9..16,
    which selects none of its eight table entries and so counts as 0; this
    reproduces that digit by digit.
    """
    _require_size(secret, "secret key")
    digits = [0] * 64
    carry = 0
    for i in range(31):
        carry += secret[i]
        carry2 = (carry + 8) >> 4
        digits[2 * i] = carry - (carry2 << 4)
        carry = (carry2 + 8) >> 4
        digits[2 * i + 1] = carry2 - (carry << 4)
    carry += secret[31]
    carry2 = (carry + 8) >> 4
    digits[62] = carry - (carry2 << 4)
    digits[63] = carry2 if carry2 <= 8 else 0
    value = 0
    for digit in reversed(digits):
        value = value * 16 + digit
    return value % L


def mul8_public_key(public_key: bytes) -> bytes | None:
    """``8 * R`` for a public key as monero decodes it; None if it does not.

    The result is in the prime-order subgroup (torsion cleared); a
    small-order ``R`` gives the identity encoding.
    """
    if len(public_key) != KEY_SIZE:
        return None
    point = decode_point(public_key)
    if point is None:
        return None
    return encode_point(point_mul8(point))


def scalarmult_torsion_free(scalar: int, point8: bytes) -> bytes:
    """``scalar * Q`` for ``Q`` from :func:`mul8_public_key` (prime order or identity)."""
    scalar %= L
    if scalar == 0 or point8 == IDENTITY:
        return IDENTITY
    try:
        return _sodium.crypto_scalarmult_ed25519_noclamp(
            scalar.to_bytes(KEY_SIZE, "little"), point8
        )
    except CryptoError:  # pragma: no cover - Q has prime order, libsodium accepts it
        decoded = decode_point(point8)
        if decoded is None:
            return IDENTITY
        return encode_point(point_mul(scalar, decoded))


def generate_key_derivation(tx_pubkey: bytes, view_secret: bytes) -> bytes | None:
    """monero's ``generate_key_derivation``: ``8 * a * R``, or None.

    None exactly where monero returns false: ``R`` fails
    ``ge_frombytes_vartime`` (or is not 32 bytes).  ``R`` with a torsion
    component is accepted and the torsion cleared; a small-order ``R`` gives
    the identity encoding.  ``view_secret`` must be 32 bytes; it is used as
    monero's release build uses it, unreduced values included
    (:func:`effective_view_scalar`).
    """
    scalar = effective_view_scalar(view_secret)
    point8 = mul8_public_key(tx_pubkey)
    if point8 is None:
        return None
    return scalarmult_torsion_free(scalar, point8)


def derivation_to_scalar(derivation: bytes, output_index: int) -> bytes:
    """``Hs(D || varint(i))``: the output's shared scalar, reduced mod l."""
    _require_size(derivation, "derivation")
    return hash_to_scalar(bytes(derivation) + encode_varint(output_index))


def derive_view_tag(derivation: bytes, output_index: int) -> int:
    """``keccak("view_tag" || D || varint(i))[0]``."""
    _require_size(derivation, "derivation")
    return keccak256(VIEW_TAG_SALT + bytes(derivation) + encode_varint(output_index))[0]


_Y_MASK = (1 << 255) - 1


def monero_accepts_encoding(encoded: bytes) -> bool:
    """The checks ``ge_frombytes_vartime`` makes that libsodium's decoder does not.

    monero also refuses a ``y`` that is not below ``p`` and the encoding of
    ``x = 0`` (``y = +-1``) with the sign bit set; libsodium reduces the one
    and accepts the other. Whether a point exists for ``y`` is left to
    libsodium, which refuses exactly those monero refuses.
    """
    value = int.from_bytes(encoded, "little")
    y = value & _Y_MASK
    if y >= P:
        return False
    return not (value >> 255 and (y == 1 or y == P - 1))


def _offset_point(encoded: bytes, scalar: bytes, subtract: bool) -> bytes | None:
    """``point +/- scalar*G``, or None where monero cannot decode ``point``.

    One libsodium call (no Python square root): the cheap canonical checks
    above plus libsodium's curve check equal ``ge_frombytes_vartime``.
    """
    if len(encoded) != KEY_SIZE or not monero_accepts_encoding(encoded):
        return None
    s_g = base_mul(scalar)
    try:
        if subtract:
            return _sodium.crypto_core_ed25519_sub(encoded, s_g)
        return _sodium.crypto_core_ed25519_add(encoded, s_g)
    except CryptoError:  # no point has this y
        return None


def derive_public_key(derivation: bytes, output_index: int, base: bytes) -> bytes | None:
    """monero's ``derive_public_key``: ``Hs(D || i) G + B``; None if ``B`` does not decode."""
    scalar = derivation_to_scalar(derivation, output_index)
    return _offset_point(bytes(base), scalar, subtract=False)


def derive_subaddress_public_key(
    output_key: bytes, derivation: bytes, output_index: int
) -> bytes | None:
    """monero's ``derive_subaddress_public_key``: ``P - Hs(D || i) G``; None if ``P`` does not decode."""
    scalar = derivation_to_scalar(derivation, output_index)
    return _offset_point(bytes(output_key), scalar, subtract=True)


def derive_secret_key(derivation: bytes, output_index: int, base_secret: bytes) -> bytes:
    """monero's ``derive_secret_key``: ``Hs(D || i) + b`` mod l."""
    _require_size(base_secret, "secret key")
    scalar = derivation_to_scalar(derivation, output_index)
    total = int.from_bytes(scalar, "little") + int.from_bytes(base_secret, "little")
    return (total % L).to_bytes(KEY_SIZE, "little")
