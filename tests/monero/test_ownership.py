"""ownership.py: the fast path equals the wallet2 reference, and the reference
finds what a sender built (sender-side math: 8 r A, not the receiver's 8 a R)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from nacl import bindings as sodium

from lws.monero.derivation import (
    derivation_to_scalar,
    derive_public_key,
    derive_view_tag,
    generate_key_derivation,
)
from lws.monero.ed25519 import (
    IDENTITY,
    ExtendedPoint,
    L,
    P,
    base_mul,
    decode_point,
    encode_point,
    hash_to_scalar,
    point_add,
    point_mul,
)
from lws.monero.errors import MoneroFormatError
from lws.monero.ownership import (
    OwnedOutput,
    TxKeys,
    ViewKey,
    find_owned_outputs,
    find_owned_outputs_reference,
    make_view_key,
    x25519_view_scalar,
)

from .scan_paths import SCAN_PATHS
from .scan_paths import scan_path as use_scan_path

SUBADDRESSES = [(0, 1), (0, 2), (1, 0)]


def scalar_bytes(value: int) -> bytes:
    return (value % L).to_bytes(32, "little")


def torsion_points() -> list[ExtendedPoint]:
    rng = random.Random(8)
    found: dict[bytes, ExtendedPoint] = {}
    while len(found) < 8:
        point = decode_point(rng.getrandbits(255).to_bytes(32, "little"))
        if point is not None:
            torsion = point_mul(L, point)
            found[encode_point(torsion)] = torsion
    return list(found.values())


TORSION = torsion_points()
SMALL_ORDER_KEYS = [encode_point(t) for t in TORSION]


def add_torsion(key: bytes, which: int) -> bytes:
    point = decode_point(key)
    assert point is not None
    return encode_point(point_add(point, TORSION[which]))


def negate(encoded: bytes) -> bytes:
    """-Q for a point with x != 0: flip the sign bit."""
    return encoded[:31] + bytes([encoded[31] ^ 0x80])


@dataclass
class Account:
    a: int
    b: int
    view_key: ViewKey
    # (major, minor) -> (spend public D, view public C = a D)
    addresses: dict[tuple[int, int], tuple[bytes, bytes]] = field(default_factory=dict)


def make_account(a: int, b: int) -> Account:
    spend = base_mul(scalar_bytes(b))
    addresses = {(0, 0): (spend, base_mul(scalar_bytes(a)))}
    for major, minor in SUBADDRESSES:
        m = hash_to_scalar(
            b"SubAddr\x00"
            + scalar_bytes(a)
            + major.to_bytes(4, "little")
            + minor.to_bytes(4, "little")
        )
        sub_spend = sodium.crypto_core_ed25519_add(spend, base_mul(m))
        addresses[(major, minor)] = (
            sub_spend,
            sodium.crypto_scalarmult_ed25519_noclamp(scalar_bytes(a), sub_spend),
        )
    keys = {d: index for index, (d, _) in addresses.items() if index != (0, 0)}
    raw_secret = a.to_bytes(32, "little") if a < 2**256 else scalar_bytes(a)
    return Account(a, b, make_view_key(raw_secret, spend, keys), addresses)


def sender_derivation(r: int, view_public: bytes) -> bytes:
    derivation = generate_key_derivation(view_public, scalar_bytes(r))
    assert derivation is not None
    return derivation


def pay(
    derivation: bytes, index: int, spend_public: bytes, tagged: bool
) -> tuple[bytes, int | None]:
    key = derive_public_key(derivation, index, spend_public)
    assert key is not None
    return key, derive_view_tag(derivation, index) if tagged else None


def random_point(rng: random.Random) -> bytes:
    return base_mul(scalar_bytes(rng.randrange(1, L)))


def undecodable(rng: random.Random) -> bytes:
    while True:
        candidate = rng.getrandbits(256).to_bytes(32, "little")
        if decode_point(candidate) is None:
            return candidate


def same(txs: list[TxKeys], accounts: list[ViewKey]) -> list[list[list[OwnedOutput]]]:
    """The fast answer, checked against the reference, also with each account
    listed three times (the C extension's comb path starts at 3 accounts)."""
    fast = find_owned_outputs(txs, accounts)
    reference = find_owned_outputs_reference(txs, accounts)
    assert fast == reference
    assert find_owned_outputs(txs, accounts * 3) == [row * 3 for row in reference]
    return fast


@pytest.fixture(autouse=True, params=list(SCAN_PATHS))
def scan_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test of this module on each way find_owned_outputs derives."""
    with use_scan_path(request.param):
        yield request.param


RNG = random.Random(2024)
ALICE = make_account(RNG.randrange(1, L), RNG.randrange(1, L))
BOB = make_account(RNG.randrange(1, L), RNG.randrange(1, L))


# --- what a sender builds is found, with the right fields -----------------------


@pytest.mark.parametrize("subaddress", [(0, 0), *SUBADDRESSES])
@pytest.mark.parametrize("tagged", [True, False])
def test_payment_is_found_with_its_fields(subaddress: tuple[int, int], tagged: bool) -> None:
    rng = random.Random(hash((subaddress, tagged)))
    r = rng.randrange(1, L)
    spend, view = ALICE.addresses[subaddress]
    # To a subaddress alone, the tx key is r D (monero's construct_tx rule).
    tx_pubkey = (
        base_mul(scalar_bytes(r))
        if subaddress == (0, 0)
        else sodium.crypto_scalarmult_ed25519_noclamp(scalar_bytes(r), spend)
    )
    derivation = sender_derivation(r, view)
    outputs = (pay(derivation, 0, spend, tagged), (random_point(rng), 7 if tagged else None))
    tx = TxKeys((tx_pubkey,), (), outputs)
    found = same([tx], [ALICE.view_key, BOB.view_key])
    assert found == [
        [
            [
                OwnedOutput(
                    output_index=0,
                    tx_pubkey=tx_pubkey,
                    derivation=derivation,
                    scalar=derivation_to_scalar(derivation, 0),
                    subaddress=subaddress,
                    output_key=outputs[0][0],
                )
            ],
            [],
        ]
    ]


def test_additional_keys_and_key_order() -> None:
    rng = random.Random(11)
    r1, r2, r_add0, r_add1 = (rng.randrange(1, L) for _ in range(4))
    main1, main2 = base_mul(scalar_bytes(r1)), base_mul(scalar_bytes(r2))
    alice_main_spend, alice_main_view = ALICE.addresses[(0, 0)]
    sub_spend, sub_view = ALICE.addresses[(1, 0)]
    add0 = sodium.crypto_scalarmult_ed25519_noclamp(scalar_bytes(r_add0), sub_spend)
    add1 = base_mul(scalar_bytes(r_add1))
    outputs = (
        pay(sender_derivation(r_add0, sub_view), 0, sub_spend, True),  # via additional key 0
        pay(sender_derivation(r2, alice_main_view), 1, alice_main_spend, True),  # via main key 2
        pay(sender_derivation(r1, alice_main_view), 2, alice_main_spend, True),  # via main key 1
    )
    tx = TxKeys((main1, main2), (add0, add1, base_mul(scalar_bytes(5))), outputs)
    [[alice, bob]] = same([tx], [ALICE.view_key, BOB.view_key])
    assert bob == []
    assert [(o.output_index, o.tx_pubkey, o.subaddress) for o in alice] == [
        (0, add0, (1, 0)),
        (1, main2, (0, 0)),
        (2, main1, (0, 0)),
    ]
    # Without a main key wallet2 skips the transaction, additional keys included.
    assert same([TxKeys((), (add0, add1, add1), outputs)], [ALICE.view_key]) == [[[]]]
    # An output that both R_1 and its additional key derive: R_1 is tried first.
    both = pay(sender_derivation(r1, alice_main_view), 0, alice_main_spend, False)
    r_same = TxKeys((main1,), (main1,), (both,))
    [[[owned]]] = same([r_same], [ALICE.view_key])
    assert owned.tx_pubkey == main1
    # Additional keys are paired with outputs by position; extra ones are ignored,
    # and outputs past the last additional key only try the main keys.
    short = TxKeys((main2,), (add0,), outputs)
    assert [o.output_index for o in same([short], [ALICE.view_key])[0][0]] == [0, 1]


@pytest.mark.parametrize("which", range(8))
def test_torsioned_tx_pubkey_still_pays(which: int) -> None:
    rng = random.Random(which)
    r = rng.randrange(1, L)
    spend, view = ALICE.addresses[(0, 2)]
    tx_pubkey = add_torsion(sodium.crypto_scalarmult_ed25519_noclamp(scalar_bytes(r), spend), which)
    derivation = sender_derivation(r, view)
    tx = TxKeys(
        (tx_pubkey,), (), (pay(derivation, 0, spend, True), pay(derivation, 1, spend, False))
    )
    [[alice, bob]] = same([tx], [ALICE.view_key, BOB.view_key])
    assert [(o.output_index, o.derivation, o.subaddress) for o in alice] == [
        (0, derivation, (0, 2)),
        (1, derivation, (0, 2)),
    ]
    assert bob == []


def identity_payment(index: int, spend: bytes, tagged: bool) -> tuple[bytes, int | None]:
    return pay(IDENTITY, index, spend, tagged)


@pytest.mark.parametrize(
    "kind", ["small-order", "undecodable", "non-canonical", "negative-zero", "short"]
)
def test_keys_that_derive_the_identity(kind: str) -> None:
    # wallet2 gives a key that fails to decode the identity derivation, and a
    # small-order key derives the identity anyway: P = Hs(I || i) G + B pays.
    rng = random.Random(kind)
    key = {
        "small-order": SMALL_ORDER_KEYS[rng.randrange(8)],
        "undecodable": undecodable(rng),
        "non-canonical": (P + 3).to_bytes(32, "little"),
        "negative-zero": (1 | 1 << 255).to_bytes(32, "little"),
        "short": b"\x05" * 31,
    }[kind]
    spend = ALICE.addresses[(0, 1)][0]
    outputs = (
        identity_payment(0, spend, True),
        (random_point(rng), 3),
        identity_payment(2, spend, False),
    )
    [[alice, bob]] = same([TxKeys((key,), (), outputs)], [ALICE.view_key, BOB.view_key])
    assert [(o.output_index, o.derivation, o.subaddress, o.tx_pubkey) for o in alice] == [
        (0, IDENTITY, (0, 1), key),
        (2, IDENTITY, (0, 1), key),
    ]
    assert bob == []


def test_identity_payment_not_owned_through_a_valid_key() -> None:
    rng = random.Random(4)
    spend = ALICE.addresses[(0, 0)][0]
    tx = TxKeys(
        (random_point(rng),),
        (),
        (identity_payment(0, spend, True), identity_payment(1, spend, False)),
    )
    assert same([tx], [ALICE.view_key]) == [[[]]]


def test_hostile_outputs_that_pass_the_fast_filter() -> None:
    rng = random.Random(5)
    r = rng.randrange(1, L)
    spend, view = ALICE.addresses[(0, 0)]
    derivation = sender_derivation(r, view)
    wrong_sign = negate(derivation)
    outputs = (
        # built from -D: passes the view tag and the spend-key lookup for the
        # wrong-sign candidate; monero derives +D and does not own it.
        pay(wrong_sign, 0, spend, True),
        pay(wrong_sign, 1, spend, False),
        # right view tag, key of nobody
        (random_point(rng), derive_view_tag(derivation, 2)),
        (random_point(rng), derive_view_tag(wrong_sign, 3)),
        # the real one, after all that
        pay(derivation, 4, spend, True),
    )
    tx = TxKeys((base_mul(scalar_bytes(r)),), (), outputs)
    [[alice]] = same([tx], [ALICE.view_key])
    assert [o.output_index for o in alice] == [4]


def test_account_outside_the_x25519_range() -> None:
    for a in (3, L - 3, 2**252 + 5):
        account = make_account(a, 77)
        assert account.view_key.x25519_scalar is None
        rng = random.Random(a)
        r = rng.randrange(1, L)
        spend, view = account.addresses[(0, 1)]
        tx_pubkey = sodium.crypto_scalarmult_ed25519_noclamp(scalar_bytes(r), spend)
        derivation = sender_derivation(r, view)
        tx = TxKeys(
            (tx_pubkey, SMALL_ORDER_KEYS[3]),
            (),
            (pay(derivation, 0, spend, True), (random_point(rng), None)),
        )
        [[owned, alice]] = same([tx], [account.view_key, ALICE.view_key])
        assert [(o.output_index, o.subaddress) for o in owned] == [(0, (0, 1))]
        assert alice == []


@pytest.mark.parametrize("secret", [L + 12345, 2**255 + 99, 2**256 - 1])
def test_unreduced_view_secret(secret: int) -> None:
    view_key = make_view_key(secret.to_bytes(32, "little"), ALICE.addresses[(0, 0)][0])
    rng = random.Random(secret)
    tx_pubkey = random_point(rng)
    derivation = generate_key_derivation(tx_pubkey, secret.to_bytes(32, "little"))
    assert derivation is not None
    tx = TxKeys((tx_pubkey,), (), (pay(derivation, 0, ALICE.addresses[(0, 0)][0], True),))
    [[[owned]]] = same([tx], [view_key])
    assert owned.derivation == derivation


# --- the X25519 trick itself ------------------------------------------------------


@given(st.integers(1, L - 1), st.integers(1, L - 1), st.integers(0, 7))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_x25519_gives_u_of_8aR(a: int, r: int, which: int) -> None:
    clamped = x25519_view_scalar(a)
    if clamped is None:
        return
    value = int.from_bytes(clamped, "little")
    assert value & 7 == 0 and value >> 254 == 1  # already in clamped form
    tx_pubkey = add_torsion(base_mul(scalar_bytes(r)), which)
    y = int.from_bytes(tx_pubkey, "little") & ((1 << 255) - 1)
    u = (1 + y) * pow(1 - y, -1, P) % P
    u_out = int.from_bytes(sodium.crypto_scalarmult(clamped, u.to_bytes(32, "little")), "little")
    expected = decode_point(generate_key_derivation(tx_pubkey, scalar_bytes(a)) or b"")
    assert expected is not None
    x, y_d, z, _ = expected
    assert u_out == (z + y_d) * pow(z - y_d, -1, P) % P


def test_x25519_scalar_range() -> None:
    assert x25519_view_scalar(2**251) == (8 * 2**251).to_bytes(32, "little")
    assert x25519_view_scalar(2**252 - 1) == (8 * (2**252 - 1)).to_bytes(32, "little")
    # below 2**251, l - a is used: same u-coordinate, since u(-Q) = u(Q)
    assert x25519_view_scalar(2**200) == (8 * (L - 2**200)).to_bytes(32, "little")
    assert x25519_view_scalar(L - 2**252 + 1) == (8 * (2**252 - 1)).to_bytes(32, "little")
    # the two gaps: [0, l - 2**252] and [2**252, l)
    for uncovered in (0, 1, L - 2**252, 2**252, L - 1):
        assert x25519_view_scalar(uncovered) is None


# --- fast == reference on everything ----------------------------------------------

KEY_KINDS = (
    ["valid"] * 4 + ["torsion"] * 2 + ["small-order", "undecodable", "non-canonical", "short"]
)
OUTPUT_KINDS = ["pay"] * 4 + [
    "pay-identity",
    "pay-wrong-sign",
    "garbage-point",
    "random-bytes",
    "short",
]
BASE_POINTS = [base_mul(scalar_bytes(1))] + [
    spend for acc in (ALICE, BOB) for spend, _ in acc.addresses.values()
]

#: A tx key as the sender made it: (encoding, r, X) with key = r X (+ torsion), or no r.
SenderKey = tuple[bytes, int | None, bytes]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[TxKeys], list[ViewKey]]:
    seed = draw(st.integers(0, 2**32))
    rng = random.Random(seed)
    accounts = [ALICE, BOB][: draw(st.integers(1, 2))]
    txs: list[TxKeys] = []
    for _ in range(draw(st.integers(1, 3))):
        n_main = draw(st.sampled_from([1, 1, 1, 2, 0]))
        n_outputs = draw(st.integers(1, 3))
        tagged = draw(st.booleans())
        use_additional = draw(st.booleans())

        def key_of(kind: str) -> SenderKey:
            r = rng.randrange(1, L)
            base = rng.choice(BASE_POINTS)
            if kind in ("valid", "torsion"):
                key = sodium.crypto_scalarmult_ed25519_noclamp(scalar_bytes(r), base)
                return (key if kind == "valid" else add_torsion(key, rng.randrange(1, 8))), r, base
            if kind == "small-order":
                return SMALL_ORDER_KEYS[rng.randrange(8)], None, base
            if kind == "undecodable":
                return undecodable(rng), None, base
            if kind == "non-canonical":
                return (
                    (P + rng.randrange(19) + (rng.randrange(2) << 255)).to_bytes(32, "little"),
                    None,
                    base,
                )
            return rng.randbytes(rng.choice([0, 31, 33])), None, base

        mains = [key_of(draw(st.sampled_from(KEY_KINDS))) for _ in range(n_main)]
        additional = (
            [key_of(draw(st.sampled_from(KEY_KINDS))) for _ in range(n_outputs)]
            if use_additional
            else []
        )
        outputs: list[tuple[bytes, int | None]] = []
        for index in range(n_outputs):
            kind = draw(st.sampled_from(OUTPUT_KINDS))
            account = rng.choice(accounts)
            spend = account.addresses[rng.choice([(0, 0), *SUBADDRESSES])][0]
            sources = [k for k in mains + additional[index : index + 1] if k[1] is not None]
            view_tag = rng.randrange(256) if tagged else None
            if kind in ("pay", "pay-wrong-sign") and sources:
                _, r, base = rng.choice(sources)
                assert r is not None
                # 8 r (a X) = 8 a (r X): what the receiver derives from this key
                derivation = sender_derivation(
                    r, sodium.crypto_scalarmult_ed25519_noclamp(scalar_bytes(account.a), base)
                )
                if kind == "pay-wrong-sign":
                    derivation = negate(derivation)
                outputs.append(pay(derivation, index, spend, tagged))
            elif kind == "pay-identity":
                outputs.append(identity_payment(index, spend, tagged))
            elif kind == "random-bytes":
                outputs.append((rng.randbytes(32), view_tag))
            elif kind == "short":
                outputs.append((rng.randbytes(rng.choice([0, 31])), view_tag))
            else:
                outputs.append((random_point(rng), view_tag))
        txs.append(
            TxKeys(
                tuple(k for k, _, _ in mains), tuple(k for k, _, _ in additional), tuple(outputs)
            )
        )
    return txs, [a.view_key for a in accounts]


@given(scenarios())
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_fast_equals_reference(scenario: tuple[list[TxKeys], list[ViewKey]]) -> None:
    """On every scan path (see SCAN_PATHS)."""
    txs, accounts = scenario
    found = same(txs, accounts)
    assert len(found) == len(txs) and all(len(row) == len(accounts) for row in found)
    for tx, row in zip(txs, found, strict=True):
        for owned in row:
            assert [o.output_index for o in owned] == sorted({o.output_index for o in owned})
            for output in owned:
                event("identity derivation" if output.derivation == IDENTITY else "owned")
                if output.tx_pubkey != tx.tx_pubkeys[0]:
                    event("owned through a later or additional key")


keys_anything = st.one_of(
    st.binary(min_size=0, max_size=40),
    st.binary(min_size=32, max_size=32),
    st.sampled_from(SMALL_ORDER_KEYS + [IDENTITY, bytes(32), b"\xff" * 32]),
)
tags_anything = st.one_of(st.none(), st.integers(-300, 600))


@given(
    st.lists(
        st.tuples(
            st.lists(keys_anything, max_size=2),
            st.lists(keys_anything, max_size=3),
            st.lists(st.tuples(keys_anything, tags_anything), max_size=3),
        ),
        max_size=3,
    )
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_never_raises_on_garbage(
    raw: list[tuple[list[bytes], list[bytes], list[tuple[bytes, int | None]]]],
) -> None:
    txs = [TxKeys(tuple(m), tuple(a), tuple(o)) for m, a, o in raw]
    same(txs, [ALICE.view_key, BOB.view_key])


def test_empty_inputs() -> None:
    assert find_owned_outputs([], [ALICE.view_key]) == []
    tx = TxKeys((random_point(random.Random(1)),), (), ())
    assert find_owned_outputs([tx], []) == [[]]
    assert find_owned_outputs([tx], [ALICE.view_key]) == [[[]]]


def test_make_view_key() -> None:
    spend = ALICE.addresses[(0, 0)][0]
    view_key = make_view_key(bytes(32), spend)
    assert dict(view_key.spend_keys) == {spend: (0, 0)}
    with pytest.raises(MoneroFormatError):
        make_view_key(b"\x01" * 31, spend)
    with pytest.raises(MoneroFormatError):
        make_view_key(bytes(32), spend[:31])
    with pytest.raises(MoneroFormatError):
        make_view_key(bytes(32), spend, {b"\x00" * 5: (0, 1)})
