"""derivation.py against monero's own vectors and an independent pure-Python model."""

from __future__ import annotations

import random
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lws.monero.derivation import (
    derivation_to_scalar,
    derive_public_key,
    derive_secret_key,
    derive_subaddress_public_key,
    derive_view_tag,
    effective_view_scalar,
    generate_key_derivation,
)
from lws.monero.ed25519 import (
    IDENTITY,
    ExtendedPoint,
    L,
    P,
    base_mul,
    check_key,
    decode_point,
    encode_point,
    hash_to_scalar,
    int_to_scalar,
    is_identity,
    is_reduced_scalar,
    point_add,
    point_double,
    point_mul,
    point_negate,
)
from lws.monero.errors import MoneroFormatError
from lws.monero.hashing import keccak256

TESTS_TXT = Path("/usr/share/monero/testdata/crypto/tests.txt")


@cache
def vectors() -> dict[str, list[list[str]]]:
    by_name: dict[str, list[list[str]]] = defaultdict(list)
    for line in TESTS_TXT.read_text().splitlines():
        fields = line.split()
        if fields:
            by_name[fields[0]].append(fields[1:])
    return by_name


needs_vectors = pytest.mark.skipif(
    not TESTS_TXT.exists(), reason="monero's tests.txt is absent (Debian package monero-tests)"
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# --- monero's vectors ---------------------------------------------------------


@needs_vectors
def test_generate_key_derivation_vectors() -> None:
    rows = vectors()["generate_key_derivation"]
    assert len(rows) == 272
    falses = 0
    for row in rows:
        got = generate_key_derivation(h(row[0]), h(row[1]))
        if row[2] == "false":
            falses += 1
            assert got is None, row
        else:
            assert got == h(row[3]), row
    assert falses == 16


@needs_vectors
def test_derive_public_key_vectors() -> None:
    rows = vectors()["derive_public_key"]
    assert len(rows) == 272
    falses = 0
    for row in rows:
        got = derive_public_key(h(row[0]), int(row[1]), h(row[2]))
        if row[3] == "false":
            falses += 1
            assert got is None, row
        else:
            assert got == h(row[4]), row
            # derive_subaddress_public_key undoes it (monero's subaddress lookup).
            assert derive_subaddress_public_key(got, h(row[0]), int(row[1])) == h(row[2])
    assert falses == 16


@needs_vectors
def test_derive_view_tag_vectors() -> None:
    rows = vectors()["derive_view_tag"]
    assert len(rows) == 70
    assert {int(row[1]) for row in rows} >= {0, 127, 128}  # one- and two-byte varints
    for row in rows:
        assert derive_view_tag(h(row[0]), int(row[1])) == int(row[2], 16), row


@needs_vectors
def test_derive_secret_key_vectors() -> None:
    rows = vectors()["derive_secret_key"]
    assert len(rows) == 256
    for row in rows:
        secret = derive_secret_key(h(row[0]), int(row[1]), h(row[2]))
        assert secret == h(row[3]), row
        # x = Hs(D||i) + b  <=>  xG = derive_public_key(D, i, bG)
        assert base_mul(secret) == derive_public_key(h(row[0]), int(row[1]), base_mul(h(row[2])))


@needs_vectors
def test_hash_to_scalar_vectors() -> None:
    rows = vectors()["hash_to_scalar"]
    assert len(rows) == 256
    for row in rows:
        data = b"" if row[0] == "x" else h(row[0])  # "x" stands for empty input
        assert hash_to_scalar(data) == h(row[-1]), row


@needs_vectors
def test_check_key_vectors() -> None:
    rows = vectors()["check_key"]
    assert len(rows) == 372
    for row in rows:
        assert check_key(h(row[0])) is (row[1] == "true"), row


@needs_vectors
def test_check_scalar_vectors() -> None:
    for row in vectors()["check_scalar"]:
        assert is_reduced_scalar(h(row[0])) is (row[1] == "true"), row


@needs_vectors
def test_secret_key_to_public_key_vectors() -> None:
    rows = vectors()["secret_key_to_public_key"]
    for row in rows:
        if row[1] == "true":
            assert base_mul(h(row[0])) == h(row[2]), row
        else:
            assert not is_reduced_scalar(h(row[0])), row


# --- an independent model: pure-Python points -----------------------------------


def torsion_points() -> list[ExtendedPoint]:
    """The 8 points of order dividing 8, found as l * (random curve points)."""
    rng = random.Random(8)
    found: dict[bytes, ExtendedPoint] = {}
    while len(found) < 8:
        point = decode_point(rng.getrandbits(255).to_bytes(32, "little"))
        if point is None:
            continue
        torsion = point_mul(L, point)
        found[encode_point(torsion)] = torsion
    return list(found.values())


TORSION = torsion_points()


def model_derivation(tx_pubkey: bytes, secret: int) -> bytes | None:
    point = decode_point(tx_pubkey)
    if point is None:
        return None
    return encode_point(point_mul(8 * secret, point))


def random_scalar(rng: random.Random) -> int:
    return rng.randrange(1, L)


def test_torsion_points_are_what_we_think() -> None:
    orders = []
    for point in TORSION:
        multiple, order = point, 1
        while not is_identity(multiple):
            multiple, order = point_add(multiple, point), order + 1
        orders.append(order)
    assert sorted(orders) == [1, 2, 4, 4, 8, 8, 8, 8]


def test_small_order_tx_pubkey_gives_identity() -> None:
    secret = (123456789).to_bytes(32, "little")
    for point in TORSION:
        assert generate_key_derivation(encode_point(point), secret) == IDENTITY


@given(st.integers(1, L - 1), st.integers(1, L - 1), st.integers(0, 7))
@settings(max_examples=25, deadline=None)
def test_torsion_component_is_cleared(r: int, a: int, which: int) -> None:
    # R' = rG + T: monero accepts it and clears T; libsodium alone would refuse it.
    clean = base_mul(r.to_bytes(32, "little"))
    clean_point = decode_point(clean)
    assert clean_point is not None
    dirty = encode_point(point_add(clean_point, TORSION[which]))
    secret = a.to_bytes(32, "little")
    got = generate_key_derivation(dirty, secret)
    assert got == generate_key_derivation(clean, secret)
    assert got == model_derivation(dirty, a)
    # and the sender's side: 8 r (aG) is the same point
    assert got == model_derivation(base_mul(secret), r)


def test_unreduced_secret_below_2_255_is_used_as_is() -> None:
    rng = random.Random(5)
    tx_pubkey = base_mul(random_scalar(rng).to_bytes(32, "little"))
    for secret in (L, L + 7, 2**255 - 1, 2**253 + 12345):
        expected = model_derivation(tx_pubkey, secret)
        assert generate_key_derivation(tx_pubkey, secret.to_bytes(32, "little")) == expected


def ge_scalarmult_model(secret: bytes, point: ExtendedPoint) -> ExtendedPoint:
    """crypto-ops.c's ge_scalarmult, step by step: signed radix-16 digits and a
    table of 1A..8A, where a digit whose magnitude matches no entry adds nothing."""
    digits = []
    value = int.from_bytes(secret, "little")
    carry = 0
    for i in range(31):
        carry += secret[i]
        carry2 = (carry + 8) >> 4
        digits += [carry - (carry2 << 4), carry2 - (((carry2 + 8) >> 4) << 4)]
        carry = (carry2 + 8) >> 4
    carry += secret[31]
    carry2 = (carry + 8) >> 4
    digits += [carry - (carry2 << 4), carry2]
    assert sum(d * 16**i for i, d in enumerate(digits)) == value  # the recoding itself is exact
    table = [point]
    for _ in range(7):
        table.append(point_add(table[-1], point))
    result: ExtendedPoint = (0, 1, 1, 0)
    for digit in reversed(digits):
        for _ in range(4):
            result = point_double(result)
        magnitude = abs(digit)
        if 1 <= magnitude <= 8:
            entry = table[magnitude - 1]
            result = point_add(result, point_negate(entry) if digit < 0 else entry)
    return result


@pytest.mark.parametrize("top", [0x80, 0x87, 0x88, 0x8F, 0x90, 0xC3, 0xFF])
def test_secret_with_top_bit_set_matches_ge_scalarmult(top: int) -> None:
    rng = random.Random(top)
    tx_point = decode_point(base_mul(random_scalar(rng).to_bytes(32, "little")))
    assert tx_point is not None
    for low_carry in (0x00, 0xFF):  # with and without a carry into the top byte
        secret = bytes([rng.randrange(256) for _ in range(30)] + [low_carry, top])
        expected = encode_point(point_mul(8, ge_scalarmult_model(secret, tx_point)))
        assert generate_key_derivation(encode_point(tx_point), secret) == expected


@given(st.integers(0, 2**255 - 1))
@settings(max_examples=200)
def test_effective_scalar_is_the_secret_below_2_255(value: int) -> None:
    assert effective_view_scalar(value.to_bytes(32, "little")) == value % L


# --- hostile and malformed input -------------------------------------------------


def test_invalid_tx_pubkeys_return_none() -> None:
    secret = (42).to_bytes(32, "little")
    non_canonical = [(P + k).to_bytes(32, "little") for k in range(19)]  # y >= p
    negative_zero = (1 | 1 << 255).to_bytes(32, "little")  # x = 0 with the sign bit
    not_on_curve = (2).to_bytes(32, "little")
    assert decode_point(not_on_curve) is None
    for key in [*non_canonical, negative_zero, not_on_curve]:
        assert generate_key_derivation(key, secret) is None, key.hex()
    for key in (b"", b"\x01" * 31, b"\x01" * 33):
        assert generate_key_derivation(key, secret) is None
        assert derive_public_key(IDENTITY, 0, key) is None
        assert derive_subaddress_public_key(key, IDENTITY, 0) is None


def test_wrong_secret_and_derivation_sizes_raise() -> None:
    with pytest.raises(MoneroFormatError):
        generate_key_derivation(IDENTITY, b"\x01" * 31)
    with pytest.raises(MoneroFormatError):
        derivation_to_scalar(b"\x00" * 33, 0)
    with pytest.raises(MoneroFormatError):
        derive_view_tag(b"", 0)
    with pytest.raises(MoneroFormatError):
        derive_view_tag(IDENTITY, -1)
    with pytest.raises(MoneroFormatError):
        derive_view_tag(IDENTITY, 2**64)


def test_derivation_scalar_and_view_tag_definitions() -> None:
    derivation = bytes(range(32))
    for index, varint in (
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (2**64 - 1, b"\xff" * 9 + b"\x01"),
    ):
        digest = keccak256(derivation + varint)
        assert derivation_to_scalar(derivation, index) == (
            int.from_bytes(digest, "little") % L
        ).to_bytes(32, "little")
        assert derive_view_tag(derivation, index) == keccak256(b"view_tag" + derivation + varint)[0]


@given(
    st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32), st.integers(0, 300)
)
@settings(max_examples=150, deadline=None)
def test_never_raises_on_any_32_bytes(key: bytes, secret: bytes, index: int) -> None:
    derivation = generate_key_derivation(key, secret)
    assert derivation is None or len(derivation) == 32
    assert (derivation is None) == (decode_point(key) is None)
    public = derive_public_key(secret, index, key)
    sub = derive_subaddress_public_key(key, secret, index)
    assert (public is None) == (sub is None) == (decode_point(key) is None)
    if public is not None:
        assert derive_subaddress_public_key(public, secret, index) == key


def test_derive_public_key_with_torsioned_base_matches_model() -> None:
    rng = random.Random(3)
    base_point = decode_point(base_mul(random_scalar(rng).to_bytes(32, "little")))
    assert base_point is not None
    generator = decode_point(base_mul((1).to_bytes(32, "little")))
    assert generator is not None
    for torsion in TORSION:
        dirty = point_add(base_point, torsion)
        derivation = bytes(rng.randrange(256) for _ in range(32))
        scalar = int.from_bytes(derivation_to_scalar(derivation, 5), "little")
        expected = encode_point(point_add(point_mul(scalar, generator), dirty))
        assert derive_public_key(derivation, 5, encode_point(dirty)) == expected
        assert derive_subaddress_public_key(expected, derivation, 5) == encode_point(dirty)


def _model_offset(encoded: bytes, scalar: bytes, subtract: bool) -> bytes | None:
    """``point +/- scalar*G`` entirely in the pure-Python model."""
    point = decode_point(encoded)
    if point is None:
        return None
    s_g = decode_point(base_mul(scalar))
    assert s_g is not None
    return encode_point(point_add(point, point_negate(s_g) if subtract else s_g))


#: Encodings where libsodium's decoder and monero's disagree: y >= p, and
#: x = 0 (y = 1 or p - 1) with the sign bit set; plus their canonical twins.
_EDGE_ENCODINGS = [
    (value | sign << 255).to_bytes(32, "little")
    for value in (0, 1, 2, P - 1, P, P + 1, P + 2, 2**255 - 1)
    for sign in (0, 1)
]


@given(
    st.one_of(st.binary(min_size=32, max_size=32), st.sampled_from(_EDGE_ENCODINGS)),
    st.integers(0, 300),
)
@settings(max_examples=400, deadline=None)
def test_output_key_offsets_match_the_python_decoder(encoded: bytes, index: int) -> None:
    derivation = base_mul(int_to_scalar(index + 7))
    scalar = derivation_to_scalar(derivation, index)
    assert derive_subaddress_public_key(encoded, derivation, index) == _model_offset(
        encoded, scalar, subtract=True
    )
    assert derive_public_key(derivation, index, encoded) == _model_offset(
        encoded, scalar, subtract=False
    )


def test_edge_encodings_are_refused_like_monero() -> None:
    derivation = base_mul(int_to_scalar(5))
    for encoded in _EDGE_ENCODINGS:
        expected = decode_point(encoded) is not None
        assert (derive_subaddress_public_key(encoded, derivation, 0) is not None) == expected
