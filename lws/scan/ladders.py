# Owns choosing the X25519 ladder backend of a scanning process: times
# OpenSSL's and libsodium's ladders on the same inputs (a few ms, once per
# process) and sets the faster in lws.monero.x25519. Must not scan anything;
# the pure library never reads a clock, this module does it for it.
"""Pick the faster X25519 backend of this machine, once per process."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from lws.monero import x25519

#: Ladders per backend and round when timing the two (3 rounds, best kept).
CALIBRATION_LADDERS = 24
#: Rounds of timing, interleaved so a burst of noise hits both backends.
CALIBRATION_ROUNDS = 3


def _seconds(backend: x25519.LadderBackend, scalar: bytes, u_values: Sequence[bytes]) -> float:
    started = time.perf_counter()
    backend(u_values)(scalar)
    return time.perf_counter() - started


@functools.cache
def use_fastest_ladders() -> x25519.LadderBackend:
    """Time both backends, make the faster the scan's, and return it (cached)."""
    scalar = (1 << 254 | 8 * 0x1234567).to_bytes(32, "little")  # already in clamped form
    # Valid u-coordinates: multiples of the base point u = 9.
    u_values = [
        X25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32).public_key().public_bytes_raw()
        for i in range(CALIBRATION_LADDERS)
    ]
    backends = x25519.BACKENDS
    best = [float("inf")] * len(backends)
    for _ in range(CALIBRATION_ROUNDS):
        for i, backend in enumerate(backends):
            best[i] = min(best[i], _seconds(backend, scalar, u_values))
    fastest = backends[best.index(min(best))]
    x25519.use_backend(fastest)
    return fastest
