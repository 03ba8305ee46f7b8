# Owns the tests of the X25519 backend choice of a scanning process.
from __future__ import annotations

from lws.monero import x25519
from lws.scan.ladders import use_fastest_ladders


def test_the_choice_is_one_of_the_backends_and_becomes_the_scans() -> None:
    chosen = use_fastest_ladders()
    assert chosen in (x25519.openssl_ladders, x25519.sodium_ladders)
    assert x25519.current_backend() is chosen
    assert use_fastest_ladders() is chosen  # measured once per process


def test_only_a_known_backend_can_be_set() -> None:
    before = x25519.current_backend()
    try:
        x25519.use_backend(x25519.openssl_ladders)
        assert x25519.current_backend() is x25519.openssl_ladders
    finally:
        x25519.use_backend(before)
    try:
        x25519.use_backend(lambda u_values: lambda scalar: [])
    except ValueError:
        pass
    else:
        raise AssertionError("an unknown backend was accepted")
