"""The C extension's batched derivations equal monero's, one by one.

The oracle is :func:`lws.monero.derivation.generate_key_derivation` (itself
checked against monero's own vectors in test_derivation.py) with wallet2's
identity fallback, and monero's vectors directly.  Both of the extension's
methods are covered: the Montgomery ladder with y recovery (1-2 scalars,
the window method for the scalars it cannot take) and the comb table (3 or
more).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lws.monero.derivation import effective_view_scalar, generate_key_derivation
from lws.monero.ed25519 import IDENTITY, L, P, base_mul, decode_point, encode_point, point_add

from .test_derivation import h, needs_vectors, vectors
from .test_ownership import SMALL_ORDER_KEYS, TORSION

native = pytest.importorskip("lws.monero._derivations")


def as_scalar(value: int) -> bytes:
    return value.to_bytes(32, "little")


def expected(key: bytes, secret: bytes) -> bytes:
    return generate_key_derivation(key, secret) or IDENTITY


def derive(keys: list[bytes], secrets: list[bytes]) -> list[list[bytes]]:
    """``[key][secret] -> derivation`` by the extension."""
    table = native.derivations(
        b"".join(keys), b"".join(as_scalar(effective_view_scalar(s)) for s in secrets)
    )
    assert len(table) == 32 * len(keys) * len(secrets)
    width = 32 * len(secrets)
    return [
        [table[k * width + 32 * j : k * width + 32 * (j + 1)] for j in range(len(secrets))]
        for k in range(len(keys))
    ]


@st.composite
def keys(draw: st.DrawFn) -> bytes:
    """Every kind of tx public key a chain can carry."""
    kind = draw(st.sampled_from(["valid", "torsion", "small", "random", "y>=p", "x=0 signed"]))
    rng = random.Random(draw(st.integers(0, 2**32)))
    if kind in ("valid", "torsion"):
        key = base_mul(as_scalar(rng.randrange(1, L)))
        if kind == "torsion":
            point = decode_point(key)
            assert point is not None
            key = encode_point(point_add(point, TORSION[rng.randrange(1, 8)]))
        return key
    if kind == "small":
        return rng.choice(SMALL_ORDER_KEYS)
    if kind == "random":
        return rng.randbytes(32)
    if kind == "y>=p":
        return (P + rng.randrange(19) + (rng.randrange(2) << 255)).to_bytes(32, "little")
    return (1 | 1 << 255).to_bytes(32, "little")  # y = 1 (x = 0) with the sign bit set


@given(
    st.lists(keys(), min_size=1, max_size=4),
    st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=5),
)
@settings(max_examples=80, deadline=None)
def test_equal_to_monero_for_any_key_and_secret(
    key_list: list[bytes], secrets: list[bytes]
) -> None:
    table = derive(key_list, secrets)
    for key, row in zip(key_list, table, strict=True):
        assert row == [expected(key, s) for s in secrets]


@needs_vectors
@pytest.mark.parametrize("extra_scalars", [0, 2], ids=["window", "comb"])
def test_monero_vectors(extra_scalars: int) -> None:
    rows = vectors()["generate_key_derivation"]
    others = [bytes([i + 1]) * 32 for i in range(extra_scalars)]
    for row in rows:
        got = derive([h(row[0])], [h(row[1]), *others])[0][0]
        assert got == (IDENTITY if row[2] == "false" else h(row[3])), row


@pytest.mark.parametrize("n_scalars", [1, 2, 3], ids=["ladder", "ladder-2", "comb"])
def test_edge_scalars(n_scalars: int) -> None:
    """0 and l - 1 (which the ladder hands to the window method), and their neighbours."""
    key_list = [base_mul(as_scalar(12345)), SMALL_ORDER_KEYS[3], bytes(32)]
    for scalar in (0, 1, 2, L - 2, L - 1, 2**252, 2**252 - 1):
        reference = [
            generate_key_derivation(key, as_scalar(scalar)) or IDENTITY for key in key_list
        ]
        table = native.derivations(b"".join(key_list), as_scalar(scalar) * n_scalars)
        assert table == b"".join(d * n_scalars for d in reference), scalar


def test_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        native.derivations(bytes(31), bytes(32))
    with pytest.raises(ValueError, match="32-byte"):
        native.derivations(bytes(32), bytes(33))
    for unreduced in (L, L + 1, 2**255, 2**256 - 1):
        with pytest.raises(ValueError, match="reduced"):
            native.derivations(bytes(32), bytes(32) + as_scalar(unreduced))
    with pytest.raises(TypeError):
        native.derivations("not bytes", bytes(32))
    assert native.derivations(b"", bytes(32)) == b""
    assert native.derivations(bytes(32), b"") == b""
