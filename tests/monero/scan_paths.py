# Owns switching how lws.monero.ownership derives for a test: the C
# extension with its ladders 8 at a time (AVX-512 IFMA) or one by one, or
# no C extension and X25519 ladders on OpenSSL or libsodium; each restored
# afterwards, and a path this machine cannot take is a pytest skip. Must not
# assert anything.
"""The scan paths of lws.monero.ownership, for the tests that run on each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest

from lws.monero import ownership
from lws.monero.x25519 import openssl_ladders, sodium_ladders

#: Each path by name: the C extension's ladders (True: 8 at a time), or the
#: X25519 backend used without the C extension.
SCAN_PATHS = {
    "native-vector": True,
    "native-portable": False,
    "x25519-openssl": openssl_ladders,
    "x25519-sodium": sodium_ladders,
}


@contextmanager
def vector_lanes(vector: bool) -> Iterator[None]:
    """The C extension's ladders 8 at a time (``vector``) or one by one, as
    before afterwards; skips where the CPU has no AVX-512 IFMA."""
    from lws.monero import _derivations

    before = _derivations.vector_lanes()
    if _derivations.set_vector_lanes(vector) != vector:
        _derivations.set_vector_lanes(before)
        pytest.skip("this CPU has no AVX-512 IFMA")
    try:
        yield
    finally:
        _derivations.set_vector_lanes(before)


@contextmanager
def scan_path(name: str) -> Iterator[None]:
    """ownership derives by the path ``name`` of SCAN_PATHS meanwhile."""
    how = SCAN_PATHS[name]
    if isinstance(how, bool):
        if ownership._native_derivations is None:
            pytest.skip("the C extension lws.monero._derivations is not built")
        with vector_lanes(how):
            yield
        return
    with (
        mock.patch.object(ownership, "_native_derivations", None),
        mock.patch.object(ownership, "current_backend", lambda: how),
    ):
        yield
