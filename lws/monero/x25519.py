# Owns the X25519 ladders of the scan's fast path: u(k P) for one clamped
# scalar over many u-coordinates, by either of the two libraries at hand
# (OpenSSL through pyca/cryptography, libsodium through PyNaCl), and which of
# them the scan uses. Both follow RFC 7748 and give the same bytes; which one
# is faster depends on the machine (OpenSSL by ~30% on an earlier host,
# libsodium by ~15% on an AMD EPYC one), so the host process times them
# (lws.scan.ladders) and sets the winner here. Must not read a clock or know
# what the scalars or points mean (ownership.py does).
"""Batched X25519 ladders on OpenSSL or libsodium."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from nacl import bindings as _sodium
from nacl.exceptions import CryptoError

#: ``ladders(u_values)(clamped_scalar) -> [u(k P) as int, or 0 where refused]``.
LadderBackend = Callable[[Sequence[bytes]], Callable[[bytes], list[int]]]


def openssl_ladders(u_values: Sequence[bytes]) -> Callable[[bytes], list[int]]:
    """OpenSSL: the points are parsed once and serve every scalar.

    OpenSSL refuses (ValueError) an all-zero result, i.e. a small-order
    point: 0 is returned for it."""
    points = [X25519PublicKey.from_public_bytes(u) for u in u_values]
    from_bytes = int.from_bytes

    def ladders(clamped: bytes) -> list[int]:
        exchange = X25519PrivateKey.from_private_bytes(clamped).exchange
        out: list[int] = []
        append = out.append
        for point in points:
            try:
                append(from_bytes(exchange(point), "little"))
            except ValueError:
                append(0)
        return out

    return ladders


def sodium_ladders(u_values: Sequence[bytes]) -> Callable[[bytes], list[int]]:
    """libsodium: refuses small-order points before the ladder and an
    all-zero result after it; 0 is returned for both, as for OpenSSL."""
    scalarmult = _sodium.crypto_scalarmult
    from_bytes = int.from_bytes

    def ladders(clamped: bytes) -> list[int]:
        out: list[int] = []
        append = out.append
        for u_value in u_values:
            try:
                append(from_bytes(scalarmult(clamped, u_value), "little"))
            except CryptoError:
                append(0)
        return out

    return ladders


#: Both backends, for the host process to time (lws.scan.ladders).
BACKENDS: tuple[LadderBackend, ...] = (openssl_ladders, sodium_ladders)

_current: list[LadderBackend] = [sodium_ladders]


def use_backend(backend: LadderBackend) -> None:
    """Make ``backend`` the one the scan's ladders run on (in this process)."""
    if backend not in BACKENDS:
        raise ValueError("not an X25519 ladder backend of this module")
    _current[0] = backend


def current_backend() -> LadderBackend:
    """The backend the scan's ladders run on (libsodium until one is set)."""
    return _current[0]
