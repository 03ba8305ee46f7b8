"""The C extension's batched derivations and output checks equal monero's, one by one.

The oracle is :func:`lws.monero.derivation.generate_key_derivation` (itself
checked against monero's own vectors in test_derivation.py) with wallet2's
identity fallback, and monero's vectors directly.  Both of the extension's
methods are covered: the Montgomery ladder with y recovery (1-2 scalars,
the window method for the scalars it cannot take) and the comb table (3 or
more); every test runs with the ladders one by one and, where the CPU has
AVX-512 IFMA, 8 at a time (which then also replace the comb).

``subaddress_keys`` (monero's ``derive_subaddress_public_key`` for outputs
without view tags) is checked against monero's ``derive_public_key`` vectors
and :func:`lws.monero.derivation.derive_subaddress_public_key`.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lws.monero.derivation import (
    derive_subaddress_public_key,
    effective_view_scalar,
    generate_key_derivation,
)
from lws.monero.ed25519 import IDENTITY, L, P, base_mul, decode_point, encode_point, point_add

from .scan_paths import vector_lanes
from .test_derivation import h, needs_vectors, vectors
from .test_ownership import SMALL_ORDER_KEYS, TORSION

native = pytest.importorskip("lws.monero._derivations")


@pytest.fixture(autouse=True, params=["portable", "vector"])
def ladders(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test with ladders one by one, and 8 at a time where the CPU can."""
    with vector_lanes(request.param == "vector"):
        yield request.param


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


def any_key(rng: random.Random) -> bytes:
    """A tx key of any kind (as keys() draws them), from a plain Random."""
    kind = rng.randrange(8)
    if kind < 3:
        return base_mul(as_scalar(rng.randrange(1, L)))
    if kind == 3:
        point = decode_point(base_mul(as_scalar(rng.randrange(1, L))))
        assert point is not None
        return encode_point(point_add(point, TORSION[rng.randrange(1, 8)]))
    if kind == 4:
        return rng.choice(SMALL_ORDER_KEYS)
    if kind == 5:
        return (P + rng.randrange(19)).to_bytes(32, "little")
    return rng.randbytes(32)


@pytest.mark.parametrize("n_scalars", [1, 2, 3, 9, 65])
def test_many_keys_many_scalars(n_scalars: int) -> None:
    """Blocks of keys (8 ladder lanes, partly filled) and groups of scalars."""
    rng = random.Random(n_scalars)
    key_list = [any_key(rng) for _ in range(21)]
    secrets = [rng.randbytes(32) for _ in range(n_scalars)]
    table = derive(key_list, secrets)
    checked = rng.sample(range(n_scalars), min(n_scalars, 3))
    for key, row in zip(key_list, table, strict=True):
        for j in checked:
            assert row[j] == expected(key, secrets[j])
    other = native.set_vector_lanes(not native.vector_lanes())
    try:
        assert derive(key_list, secrets) == table  # the other ladder mode agrees on all
    finally:
        native.set_vector_lanes(not other)


# --- subaddress_keys: P - Hs(D || i) G for outputs without view tags -----------------


def subaddress_keys(
    derivations: list[list[bytes]], jobs: list[tuple[int, int, bytes]], position: int
) -> list[bytes]:
    """``[job] -> key`` for a ``[slot][account]`` table and (slot, index, P) jobs."""
    table = b"".join(d for row in derivations for d in row)
    out = native.subaddress_keys(
        table,
        len(derivations[0]),
        position,
        b"".join(struct.pack("<II", slot, index) for slot, index, _ in jobs),
        native.prepare_outputs(b"".join(key for _, _, key in jobs)),
    )
    assert len(out) == 32 * len(jobs)
    return [out[32 * j : 32 * (j + 1)] for j in range(len(jobs))]


REFUSED = b"\xff" * 32


@needs_vectors
def test_subaddress_keys_monero_vectors() -> None:
    """derive_public_key(D, i, B) = P means P - Hs(D || i) G = B."""
    rows = [row for row in vectors()["derive_public_key"] if row[3] == "true"]
    assert rows
    jobs = [(slot, int(row[1]), h(row[4])) for slot, row in enumerate(rows)]
    got = subaddress_keys([[h(row[0])] for row in rows], jobs, 0)
    assert got == [h(row[2]) for row in rows]


def test_subaddress_keys_equal_monero_for_any_input() -> None:
    """Random and hostile derivations, output keys and indexes, several accounts."""
    rng = random.Random(18)
    n_slots, n_accounts = 5, 3
    derivations = [
        [rng.choice([rng.randbytes(32), IDENTITY, any_key(rng)]) for _ in range(n_accounts)]
        for _ in range(n_slots)
    ]
    jobs = [
        (
            rng.randrange(n_slots),
            rng.choice([0, 1, 2, 127, 128, 16383, 16384, 2**32 - 1]),
            any_key(rng),
        )
        for _ in range(150)
    ]
    for position in range(n_accounts):
        got = subaddress_keys(derivations, jobs, position)
        for (slot, index, key), result in zip(jobs, got, strict=True):
            want = derive_subaddress_public_key(key, derivations[slot][position], index)
            assert result == (REFUSED if want is None else want), (slot, index, key.hex())


def test_subaddress_keys_refuse_what_they_cannot_read() -> None:
    prepared = native.prepare_outputs(base_mul(as_scalar(7)))
    job = struct.pack("<II", 0, 0)
    assert native.subaddress_keys(bytes(64), 2, 1, b"", b"") == b""
    with pytest.raises(ValueError, match="32-byte"):
        native.prepare_outputs(bytes(31))
    for table, n_accounts, position, jobs, ready in (
        (bytes(64), 2, 2, job, prepared),  # no such account
        (bytes(64), 0, 0, job, prepared),
        (bytes(96), 2, 0, job, prepared),  # not slots x accounts
        (bytes(64), 2, 0, job + b"\0", prepared),
        (bytes(64), 2, 0, job, prepared + b"\0"),
        (bytes(64), 2, 0, struct.pack("<II", 1, 0), prepared),  # no such slot
    ):
        with pytest.raises(ValueError):
            native.subaddress_keys(table, n_accounts, position, jobs, ready)
