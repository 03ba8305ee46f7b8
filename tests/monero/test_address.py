"""lws.monero.address against monero's own base58 vectors, real wallet-rpc
addresses and python-monero as an independent encoder/decoder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import monero.address as pm_address
import monero.base58 as pm_base58
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from monero.keccak import keccak_256 as pm_keccak
from nacl.bindings import crypto_core_ed25519_scalar_reduce, crypto_scalarmult_ed25519_base_noclamp

from lws.monero.address import (
    MAX_ADDRESS_LENGTH,
    Address,
    AddressKind,
    Network,
    base58_decode,
    base58_encode,
    decode_address,
    encode_address,
    make_address,
)
from lws.monero.errors import MoneroFormatError

DATA = Path(__file__).parent / "data"
WALLETS = json.loads((DATA / "wallet_rpc_addresses.json").read_text())["wallets"]

# From monero tests/unit_tests/base58.cpp (TEST_encode_block / TEST_encode /
# TEST_decode_pos): (bytes hex, base58).
BASE58_VECTORS = [
    ("", ""),
    ("00", "11"),
    ("39", "1z"),
    ("ff", "5Q"),
    ("0000", "111"),
    ("0039", "11z"),
    ("0100", "15R"),
    ("ffff", "LUv"),
    ("000000", "11111"),
    ("000039", "1111z"),
    ("010000", "11LUw"),
    ("ffffff", "2UzHL"),
    ("00000039", "11111z"),
    ("ffffffff", "7YXq9G"),
    ("0000000039", "111111z"),
    ("ffffffffff", "VtB5VXc"),
    ("000000000039", "11111111z"),
    ("ffffffffffff", "3CUsUpv9t"),
    ("00000000000039", "111111111z"),
    ("ffffffffffffff", "Ahg1opVcGW"),
    ("0000000000000039", "1111111111z"),
    ("ffffffffffffffff", "jpXCZedGfVQ"),
    ("0000000000000000", "11111111111"),
    ("0000000000000001", "11111111112"),
    ("0000000000000008", "11111111119"),
    ("0000000000000009", "1111111111A"),
    ("000000000000003a", "11111111121"),
    ("00ffffffffffffff", "1Ahg1opVcGW"),
    ("06156013762879f7", "22222222222"),
    ("05e022ba374b2a00", "1z111111111"),
    ("000000000000000000", "1111111111111"),
    ("06156013762879f7ffffffffff", "22222222222VtB5VXc"),
    ("ff" * 9, "jpXCZedGfVQ5Q"),
    ("ff" * 16, "jpXCZedGfVQjpXCZedGfVQ"),
]

# monero tests/unit_tests/base58.cpp TEST_decode_neg: bad lengths, overflowing
# blocks, characters outside the alphabet.
BASE58_INVALID = [
    "1",
    "z",
    "1111",
    "zzzz",
    "11111111",
    "123456789AB1",
    "123456789ABzzzz",
    "5R",
    "zz",
    "LUw",
    "2UzHM",
    "7YXq9H",
    "VtB5VXd",
    "3CUsUpv9u",
    "Ahg1opVcGX",
    "jpXCZedGfVR",
    "zzzzzzzzzzz",
    "123456789ABjpXCZedGfVR",
    "zzzzzzzzzzz11",
    "10",
    "11I",
    "11O11",
    "11l111",
    "11_11111111",
    "1101111111111",
    "111111111111l1111",
]

# monero tests/crypto/tests.txt: check_key ... false / true.
NOT_A_POINT = bytes.fromhex("c2cb3cf3840aa9893e00ec77093d3d44dba7da840b51c48462072d58d8efd183")
A_POINT = bytes.fromhex("bd85a61bae0c101d826cbed54b1290f941d26e70607a07fc6f0ad611eb8f70a6")

# python-monero's network names; its prefix table (monero.const) is an
# independent source for ours.
NETWORK_NAMES = {Network.MAINNET: "main", Network.TESTNET: "test", Network.STAGENET: "stage"}
PM_NET = {"main": 0, "test": 1, "stage": 2}


def _random_point() -> bytes:
    scalar = crypto_core_ed25519_scalar_reduce(os.urandom(64))
    return bytes(crypto_scalarmult_ed25519_base_noclamp(scalar))


def _pm_encode(prefix: int, payload: bytes) -> str:
    """An address built with python-monero's keccak and base58 only."""
    body = bytes([prefix]) + payload
    return str(pm_base58.encode((body + pm_keccak(body).digest()[:4]).hex()))


@pytest.mark.parametrize(("hexdata", "text"), BASE58_VECTORS)
def test_base58_monero_vectors(hexdata: str, text: str) -> None:
    assert base58_encode(bytes.fromhex(hexdata)) == text
    assert base58_decode(text) == bytes.fromhex(hexdata)


@pytest.mark.parametrize("text", BASE58_INVALID)
def test_base58_rejects(text: str) -> None:
    with pytest.raises(MoneroFormatError):
        base58_decode(text)


@given(st.binary(max_size=80))
@settings(max_examples=200, deadline=None)
def test_base58_matches_python_monero(data: bytes) -> None:
    text = base58_encode(data)
    assert text == pm_base58.encode(data.hex())
    assert base58_decode(text) == data


def test_prefix_table_matches_python_monero() -> None:
    from monero import const

    pid = b"\x07" * 8
    for net, name in NETWORK_NAMES.items():
        idx = PM_NET[name]
        standard = _pm_encode(const.MASTERADDR_NETBYTES[idx], A_POINT * 2)
        sub = _pm_encode(const.SUBADDR_NETBYTES[idx], A_POINT * 2)
        integrated = _pm_encode(const.INTADDRR_NETBYTES[idx], A_POINT * 2 + pid)
        assert make_address(net, A_POINT, A_POINT) == standard
        assert make_address(net, A_POINT, A_POINT, subaddress=True) == sub
        assert make_address(net, A_POINT, A_POINT, payment_id=pid) == integrated
        assert decode_address(standard) == Address(net, AddressKind.STANDARD, A_POINT, A_POINT)
        assert decode_address(sub) == Address(net, AddressKind.SUBADDRESS, A_POINT, A_POINT)
        assert decode_address(integrated) == Address(
            net, AddressKind.INTEGRATED, A_POINT, A_POINT, pid
        )


@pytest.mark.parametrize("net", list(Network))
def test_encode_matches_python_monero(net: Network) -> None:
    for _ in range(5):
        spend, view = _random_point(), _random_point()
        text = make_address(net, spend, view)
        parsed = pm_address.address(text)
        assert type(parsed) is pm_address.Address
        assert parsed.net == NETWORK_NAMES[net]
        assert parsed.spend_key() == spend.hex()
        assert parsed.view_key() == view.hex()

        sub = make_address(net, spend, view, subaddress=True)
        assert type(pm_address.address(sub)) is pm_address.SubAddress
        assert pm_address.address(sub).net == NETWORK_NAMES[net]

        pid = os.urandom(8)
        integrated = make_address(net, spend, view, payment_id=pid)
        assert integrated == str(parsed.with_payment_id(pid.hex()))
        pm_integrated = pm_address.address(integrated)
        assert pm_integrated.payment_id() == pid.hex()
        assert str(pm_integrated.base_address()) == text

        for t, kind, p in (
            (text, AddressKind.STANDARD, None),
            (sub, AddressKind.SUBADDRESS, None),
            (integrated, AddressKind.INTEGRATED, pid),
        ):
            assert decode_address(t) == Address(net, kind, spend, view, p)
            assert encode_address(decode_address(t)) == t


def _all_wallet_addresses() -> list[tuple[str, str, AddressKind, bytes | None]]:
    out: list[tuple[str, str, AddressKind, bytes | None]] = []
    for wallet in WALLETS:
        for entry in wallet["subaddresses"]:
            primary = entry["major"] == 0 and entry["minor"] == 0
            kind = AddressKind.STANDARD if primary else AddressKind.SUBADDRESS
            out.append((wallet["network"], entry["address"], kind, None))
        for entry in wallet["integrated"]:
            out.append(
                (
                    wallet["network"],
                    entry["address"],
                    AddressKind.INTEGRATED,
                    bytes.fromhex(entry["payment_id"]),
                )
            )
    return out


@pytest.mark.parametrize(("network", "text", "kind", "payment_id"), _all_wallet_addresses())
def test_wallet_rpc_addresses(
    network: str, text: str, kind: AddressKind, payment_id: bytes | None
) -> None:
    net = Network(network)
    address = decode_address(text, net)
    assert address.network is net
    assert address.kind is kind
    assert address.payment_id == payment_id
    assert encode_address(address) == text
    pm = pm_address.address(text)
    assert pm.spend_key() == address.spend_public.hex()
    assert pm.view_key() == address.view_public.hex()


@pytest.mark.parametrize("wallet", WALLETS, ids=lambda w: str(w["network"]))
def test_wallet_rpc_primary_keys(wallet: dict[str, object]) -> None:
    """The primary address carries (b G, a G) for the keys query_key gave."""
    address = decode_address(str(wallet["primary_address"]))
    spend_secret = bytes.fromhex(str(wallet["spend_secret"]))
    view_secret = bytes.fromhex(str(wallet["view_secret"]))
    assert address.spend_public == crypto_scalarmult_ed25519_base_noclamp(spend_secret)
    assert address.view_public == crypto_scalarmult_ed25519_base_noclamp(view_secret)


def test_network_mismatch_names_the_network() -> None:
    text = make_address(Network.STAGENET, A_POINT, A_POINT)
    with pytest.raises(MoneroFormatError, match="stagenet"):
        decode_address(text, Network.MAINNET)
    assert decode_address(text, Network.STAGENET).network is Network.STAGENET
    integrated = make_address(Network.TESTNET, A_POINT, A_POINT, payment_id=bytes(8))
    with pytest.raises(MoneroFormatError, match="testnet"):
        decode_address(integrated, Network.MAINNET)


def test_rejects_bad_checksum() -> None:
    text = make_address(Network.MAINNET, A_POINT, A_POINT)
    raw = bytearray(base58_decode(text))
    raw[-1] ^= 1
    with pytest.raises(MoneroFormatError, match="checksum"):
        decode_address(base58_encode(bytes(raw)))
    raw[-1] ^= 1
    raw[10] ^= 0x40  # a key byte: the checksum no longer matches
    with pytest.raises(MoneroFormatError, match="checksum"):
        decode_address(base58_encode(bytes(raw)))


def test_rejects_unknown_prefix() -> None:
    for prefix in (0, 17, 20, 43, 127):
        with pytest.raises(MoneroFormatError, match="prefix"):
            decode_address(_pm_encode(prefix, A_POINT * 2))


def test_rejects_wrong_payload_length() -> None:
    with pytest.raises(MoneroFormatError, match="length"):
        decode_address(_pm_encode(18, A_POINT * 2 + bytes(8)))  # standard + payment id
    with pytest.raises(MoneroFormatError, match="length"):
        decode_address(_pm_encode(19, A_POINT * 2))  # integrated without one
    with pytest.raises(MoneroFormatError, match="length"):
        decode_address(_pm_encode(42, A_POINT * 2 + b"\x01"))
    with pytest.raises(MoneroFormatError):
        decode_address(_pm_encode(18, A_POINT))


def test_rejects_keys_that_are_not_points() -> None:
    for payload in (NOT_A_POINT + A_POINT, A_POINT + NOT_A_POINT, b"\xff" * 64):
        with pytest.raises(MoneroFormatError, match="point"):
            decode_address(_pm_encode(18, payload))
    with pytest.raises(MoneroFormatError, match="point"):
        make_address(Network.MAINNET, NOT_A_POINT, A_POINT)
    with pytest.raises(MoneroFormatError):
        make_address(Network.MAINNET, A_POINT[:31], A_POINT)


def test_encode_rejects_inconsistent_values() -> None:
    with pytest.raises(MoneroFormatError):
        make_address(Network.MAINNET, A_POINT, A_POINT, subaddress=True, payment_id=bytes(8))
    with pytest.raises(MoneroFormatError):
        make_address(Network.MAINNET, A_POINT, A_POINT, payment_id=bytes(7))
    with pytest.raises(MoneroFormatError):
        encode_address(Address(Network.MAINNET, AddressKind.INTEGRATED, A_POINT, A_POINT, None))
    with pytest.raises(MoneroFormatError):
        encode_address(Address(Network.MAINNET, AddressKind.STANDARD, A_POINT, A_POINT, bytes(8)))


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "4" * 95,
        "4" * 106,
        "\u00e9" * 95,
        "4\x00" + "1" * 93,
        "1" * (MAX_ADDRESS_LENGTH + 1),
        "1" * 10_000_000,
        "\U0001f600" * 50,
    ],
)
def test_rejects_junk_text(text: str) -> None:
    with pytest.raises(MoneroFormatError):
        decode_address(text)


def test_rejects_non_text() -> None:
    with pytest.raises(MoneroFormatError):
        decode_address(b"not text")  # type: ignore[arg-type]


def test_max_length_is_an_integrated_address() -> None:
    text = make_address(Network.MAINNET, A_POINT, A_POINT, payment_id=bytes(8))
    assert len(text) == MAX_ADDRESS_LENGTH == 106
    assert len(make_address(Network.MAINNET, A_POINT, A_POINT)) == 95


@given(st.text(max_size=120))
@settings(max_examples=300, deadline=None)
def test_any_text_decodes_or_raises(text: str) -> None:
    try:
        address = decode_address(text)
    except MoneroFormatError:
        return
    assert encode_address(address) == text


_REAL = WALLETS[0]["subaddresses"][1]["address"]


@given(
    st.integers(0, len(_REAL) - 1),
    st.sampled_from("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0Il_"),
)
@settings(max_examples=200, deadline=None)
def test_one_character_changes_are_rejected(pos: int, char: str) -> None:
    mutated = _REAL[:pos] + char + _REAL[pos + 1 :]
    if mutated == _REAL:
        assert decode_address(mutated).kind is AddressKind.SUBADDRESS
        return
    with pytest.raises(MoneroFormatError):
        decode_address(mutated)
