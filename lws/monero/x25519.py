# Owns the X25519 ladders of the scan's fast path: u(k P) for one clamped
# scalar over many u-coordinates, computed by whichever of the two libraries
# at hand (OpenSSL through pyca/cryptography, libsodium through PyNaCl) is
# faster on this CPU.  Both follow RFC 7748 and give the same bytes; which
# one wins depends on the machine (OpenSSL by ~30% on an earlier host,
# libsodium by ~15% on an AMD EPYC one), so it is measured once per process.
# Must not know what the scalars or points mean (ownership.py does).
"""Batched X25519 ladders with the faster backend of this machine."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from nacl import bindings as _sodium
from nacl.exceptions import CryptoError

#: ``ladders(u_values)(clamped_scalar) -> [u(k P) as int, or 0 where refused]``.
LadderBackend = Callable[[Sequence[bytes]], Callable[[bytes], list[int]]]

#: Ladders per backend and round when timing the two (3 rounds, best kept).
_CALIBRATION_LADDERS = 24


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


def _seconds(backend: LadderBackend, scalar: bytes, u_values: Sequence[bytes]) -> float:
    started = time.perf_counter()
    backend(u_values)(scalar)
    return time.perf_counter() - started


@functools.cache
def fastest_backend() -> LadderBackend:
    """The backend that ran the same ladders faster here (a few ms, once per process)."""
    scalar = (1 << 254 | 8 * 0x1234567).to_bytes(32, "little")  # already in clamped form
    # Valid u-coordinates: multiples of the base point u = 9.
    u_values = [
        X25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32).public_key().public_bytes_raw()
        for i in range(_CALIBRATION_LADDERS)
    ]
    backends: tuple[LadderBackend, ...] = (openssl_ladders, sodium_ladders)
    best = [float("inf")] * len(backends)
    for _ in range(3):  # interleaved, so a burst of noise hits both
        for i, backend in enumerate(backends):
            best[i] = min(best[i], _seconds(backend, scalar, u_values))
    return backends[best.index(min(best))]
