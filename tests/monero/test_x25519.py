# Owns the tests of lws.monero.x25519: the OpenSSL and libsodium ladders give
# the same u-coordinates (0 where either refuses) on every canonical u, on
# the curve or its twist, small-order points included; the calibration
# picks one of them.
from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from lws.monero.ed25519 import P
from lws.monero.x25519 import openssl_ladders, sodium_ladders

#: u-coordinates of the points of order 1, 2, 4 and 8 (RFC 7748's list, canonical ones).
SMALL_ORDER_U = [
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    P - 1,
]

clamped_scalars = st.integers(0, (1 << 251) - 1).map(
    lambda m: (1 << 254 | 8 * m).to_bytes(32, "little")
)
u_coordinates = st.one_of(st.integers(0, P - 1), st.sampled_from(SMALL_ORDER_U))


@settings(max_examples=200)
@given(clamped_scalars, st.lists(u_coordinates, min_size=1, max_size=8))
def test_both_backends_agree(scalar: bytes, us: list[int]) -> None:
    u_values = [u.to_bytes(32, "little") for u in us]
    assert openssl_ladders(u_values)(scalar) == sodium_ladders(u_values)(scalar)


def test_small_order_points_give_zero() -> None:
    u_values = [u.to_bytes(32, "little") for u in SMALL_ORDER_U]
    scalar = (1 << 254 | 8 * 977).to_bytes(32, "little")
    assert sodium_ladders(u_values)(scalar) == [0] * len(SMALL_ORDER_U)
    assert openssl_ladders(u_values)(scalar) == [0] * len(SMALL_ORDER_U)


def test_base_point_ladder_is_the_public_key() -> None:
    """u = 9 (the base point) times k is the X25519 public key of k, by either backend."""
    scalar = (1 << 254 | 8 * 123456789).to_bytes(32, "little")
    public = X25519PrivateKey.from_private_bytes(scalar).public_key().public_bytes_raw()
    nine = (9).to_bytes(32, "little")
    expected = int.from_bytes(public, "little")
    assert openssl_ladders([nine])(scalar) == [expected]
    assert sodium_ladders([nine])(scalar) == [expected]
