# Owns the Ed25519 field, scalar and point primitives Monero's scan math is
# built from: constants, scalar reduction, hash-to-scalar, and a pure-Python
# point decoder/encoder with monero's acceptance rules (ge_frombytes_vartime),
# plus fast libsodium-backed operations for points known to be canonical.
# Must not know about transactions, accounts or addresses.
"""Ed25519 primitives with Monero's semantics.

Monero accepts any point that decompresses (torsion components and small
order included) and rejects non-canonical encodings; libsodium does the
opposite on both counts.  The pure-Python ``decode_point`` follows monero;
the libsodium wrappers are only for inputs this module has already checked.
"""

from __future__ import annotations

from nacl import bindings as _sodium

from .hashing import keccak256

#: The field prime 2**255 - 19.
P = 2**255 - 19
#: The order of the prime subgroup.
L = 2**252 + 27742317777372353535851937790883648493
#: Edwards curve constant d = -121665/121666.
D = (-121665 * pow(121666, -1, P)) % P
#: sqrt(-1) mod p.
SQRT_M1 = pow(2, (P - 1) // 4, P)

#: The encoding of the identity point (x = 0, y = 1).
IDENTITY = bytes([1]) + bytes(31)

#: Extended homogeneous coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, xy = T/Z.
ExtendedPoint = tuple[int, int, int, int]

_IDENTITY_EXT: ExtendedPoint = (0, 1, 1, 0)


def scalar_reduce(data: bytes) -> bytes:
    """``sc_reduce32``/``sc_reduce``: little-endian bytes to a scalar mod l."""
    return (int.from_bytes(data, "little") % L).to_bytes(32, "little")


def hash_to_scalar(data: bytes) -> bytes:
    """Monero's ``hash_to_scalar``: keccak, then reduce mod l."""
    return scalar_reduce(keccak256(data))


def scalar_to_int(scalar: bytes) -> int:
    return int.from_bytes(scalar, "little")


def int_to_scalar(value: int) -> bytes:
    return (value % L).to_bytes(32, "little")


def is_reduced_scalar(scalar: bytes) -> bool:
    """monero's ``sc_check``: a 32-byte scalar strictly below l."""
    return len(scalar) == 32 and int.from_bytes(scalar, "little") < L


def decode_point(encoded: bytes) -> ExtendedPoint | None:
    """monero's ``ge_frombytes_vartime``: None where monero returns an error.

    Rejects a y that is not below p, a y with no x on the curve, and the
    encoding of x = 0 with the sign bit set.  Torsion and small order are
    accepted, as in monero.
    """
    if len(encoded) != 32:
        return None
    y = int.from_bytes(encoded, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    y2 = y * y % P
    u = (y2 - 1) % P
    v = (D * y2 + 1) % P
    # x = u v^3 (u v^7)^((p-5)/8)
    v3 = v * v % P * v % P
    x = u * v3 % P * pow(u * v3 % P * v3 % P * v % P, (P - 5) // 8, P) % P
    vx2 = v * x % P * x % P
    if vx2 != u:
        if vx2 != (-u) % P:
            return None
        x = x * SQRT_M1 % P
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def encode_point(point: ExtendedPoint) -> bytes:
    """``ge_tobytes``: the canonical 32-byte encoding."""
    x, y, z, _ = point
    zi = pow(z, -1, P)
    x = x * zi % P
    y = y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def batch_invert(values: list[int]) -> list[int]:
    """Montgomery's trick: every ``1/v mod p`` for one field inversion (no v may be 0)."""
    count = len(values)
    if count == 0:
        return []
    prefix = [0] * count
    acc = 1
    for i, value in enumerate(values):
        prefix[i] = acc
        acc = acc * value % P
    inverse = pow(acc, -1, P)
    out = [0] * count
    for i in range(count - 1, -1, -1):
        out[i] = inverse * prefix[i] % P
        inverse = inverse * values[i] % P
    return out


def point_add(p1: ExtendedPoint, p2: ExtendedPoint) -> ExtendedPoint:
    """Complete twisted Edwards addition (a = -1), extended coordinates."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def point_double(p1: ExtendedPoint) -> ExtendedPoint:
    return point_add(p1, p1)


def point_negate(p1: ExtendedPoint) -> ExtendedPoint:
    x, y, z, t = p1
    return ((-x) % P, y, z, (-t) % P)


def point_mul(scalar: int, point: ExtendedPoint) -> ExtendedPoint:
    """Variable-time double-and-add: slow (ms), for rare and hostile inputs."""
    result = _IDENTITY_EXT
    addend = point
    while scalar > 0:
        if scalar & 1:
            result = point_add(result, addend)
        addend = point_double(addend)
        scalar >>= 1
    return result


def point_mul8(point: ExtendedPoint) -> ExtendedPoint:
    """``ge_mul8``: clears any torsion component."""
    return point_double(point_double(point_double(point)))


def is_identity(point: ExtendedPoint) -> bool:
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0


def check_key(encoded: bytes) -> bool:
    """monero's ``check_key``: the bytes decode to a curve point."""
    return decode_point(encoded) is not None


# --- libsodium-backed operations ------------------------------------------


def base_mul(scalar: bytes) -> bytes:
    """s*G for a reduced scalar; the identity for s = 0 (libsodium refuses)."""
    if not any(scalar):
        return IDENTITY
    return _sodium.crypto_scalarmult_ed25519_base_noclamp(scalar)


def add_points(p1: bytes, p2: bytes) -> bytes | None:
    """p1 + p2 for two encodings; None where monero's decoder rejects one.

    libsodium adds torsioned points but accepts non-canonical encodings, so
    canonicity is checked here first.
    """
    if decode_point(p1) is None or decode_point(p2) is None:
        return None
    return _sodium.crypto_core_ed25519_add(p1, p2)
