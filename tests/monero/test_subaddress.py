"""lws.monero.subaddress against real monero-wallet-rpc addresses
(tests/monero/data/wallet_rpc_addresses.json) and python-monero's own
subaddress derivation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from monero.backends.offline import OfflineWallet
from monero.wallet import Wallet
from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp

from lws.monero.address import AddressKind, Network, decode_address
from lws.monero.ed25519 import L
from lws.monero.errors import MoneroFormatError
from lws.monero.subaddress import (
    MAX_TABLE_ENTRIES,
    build_subaddress_table,
    check_view_key,
    lookahead_ranges,
    subaddress_address,
    subaddress_secret,
    subaddress_spend_public,
    view_public_from_secret,
)

DATA = Path(__file__).parent / "data"
WALLETS = json.loads((DATA / "wallet_rpc_addresses.json").read_text())["wallets"]
# monero tests/crypto/tests.txt: check_key ... false.
NOT_A_POINT = bytes.fromhex("c2cb3cf3840aa9893e00ec77093d3d44dba7da840b51c48462072d58d8efd183")


def _keys(wallet: dict[str, object]) -> tuple[Network, bytes, bytes]:
    view_secret = bytes.fromhex(str(wallet["view_secret"]))
    spend_public = bytes(
        crypto_scalarmult_ed25519_base_noclamp(bytes.fromhex(str(wallet["spend_secret"])))
    )
    return Network(str(wallet["network"])), view_secret, spend_public


def _cases() -> list[tuple[int, int, int, str]]:
    return [
        (w, e["major"], e["minor"], e["address"])
        for w, wallet in enumerate(WALLETS)
        for e in wallet["subaddresses"]
    ]


@pytest.mark.parametrize(("wallet", "major", "minor", "expected"), _cases())
def test_wallet_rpc_subaddresses(wallet: int, major: int, minor: int, expected: str) -> None:
    network, view_secret, spend_public = _keys(WALLETS[wallet])
    assert subaddress_address(network, view_secret, spend_public, major, minor) == expected
    assert (
        subaddress_spend_public(view_secret, spend_public, major, minor)
        == decode_address(expected).spend_public
    )


@pytest.mark.parametrize("wallet", range(len(WALLETS)))
def test_table_covers_wallet_rpc_subaddresses(wallet: int) -> None:
    network, view_secret, spend_public = _keys(WALLETS[wallet])
    entries = WALLETS[wallet]["subaddresses"]
    majors = 1 + max(e["major"] for e in entries)
    minors = 1 + max(e["minor"] for e in entries)
    table = build_subaddress_table(view_secret, spend_public, lookahead_ranges(majors, minors))
    assert len(table) == majors * minors
    for entry in entries:
        spend = decode_address(entry["address"], network).spend_public
        assert table[spend] == (entry["major"], entry["minor"])
    assert table[spend_public] == (0, 0)


@pytest.mark.parametrize(
    ("major", "minor"),
    [(0, 1), (1, 0), (7, 123), (50, 199), (2**31, 5), (2**32 - 1, 2**32 - 1), (0, 2**32 - 1)],
)
def test_matches_python_monero(major: int, minor: int) -> None:
    """python-monero's Wallet.get_address is an independent implementation."""
    for wallet in WALLETS:
        network, view_secret, spend_public = _keys(wallet)
        pm = Wallet(OfflineWallet(wallet["primary_address"], view_key=wallet["view_secret"]))
        expected = str(pm.get_address(major, minor))
        assert subaddress_address(network, view_secret, spend_public, major, minor) == expected
        table = build_subaddress_table(view_secret, spend_public, [(major, minor, minor)])
        assert table[decode_address(expected).spend_public] == (major, minor)


def test_primary_index_is_the_primary_address() -> None:
    for wallet in WALLETS:
        network, view_secret, spend_public = _keys(wallet)
        assert subaddress_spend_public(view_secret, spend_public, 0, 0) == spend_public
        assert (
            subaddress_address(network, view_secret, spend_public, 0, 0)
            == wallet["primary_address"]
        )
        assert decode_address(wallet["primary_address"]).kind is AddressKind.STANDARD


def test_subaddress_secret_layout() -> None:
    """m = Hs("SubAddr\\0" || a || u32le major || u32le minor), spelled out with
    python-monero's keccak and libsodium's reduction."""
    from monero.keccak import keccak_256
    from nacl.bindings import crypto_core_ed25519_scalar_reduce

    view_secret = bytes.fromhex(WALLETS[0]["view_secret"])
    data = (
        b"SubAddr\x00"
        + view_secret
        + (0x01020304).to_bytes(4, "little")
        + (0x0A0B0C0D).to_bytes(4, "little")
    )
    expected = crypto_core_ed25519_scalar_reduce(keccak_256(data).digest() + bytes(32))
    assert subaddress_secret(view_secret, 0x01020304, 0x0A0B0C0D) == expected


def test_table_ranges_are_inclusive_and_merge() -> None:
    _, view_secret, spend_public = _keys(WALLETS[0])
    table = build_subaddress_table(view_secret, spend_public, [(0, 0, 3), (5, 10, 12), (0, 2, 6)])
    assert sorted(table.values()) == [(0, m) for m in range(7)] + [(5, 10), (5, 11), (5, 12)]
    for spend, (major, minor) in table.items():
        assert subaddress_spend_public(view_secret, spend_public, major, minor) == spend
    assert build_subaddress_table(view_secret, spend_public, []) == {spend_public: (0, 0)}


def test_lookahead_ranges() -> None:
    assert lookahead_ranges(2, 3) == [(0, 0, 2), (1, 0, 2)]
    with pytest.raises(MoneroFormatError):
        lookahead_ranges(0, 3)
    with pytest.raises(MoneroFormatError):
        lookahead_ranges(1, 0)
    with pytest.raises(MoneroFormatError):
        lookahead_ranges(2**32 + 1, 1)


def test_table_rejects_bad_input() -> None:
    _, view_secret, spend_public = _keys(WALLETS[0])
    with pytest.raises(MoneroFormatError):
        build_subaddress_table(view_secret, spend_public, [(0, 5, 4)])
    with pytest.raises(MoneroFormatError):
        build_subaddress_table(view_secret, spend_public, [(2**32, 0, 0)])
    with pytest.raises(MoneroFormatError):
        build_subaddress_table(view_secret, spend_public, [(0, -1, 3)])
    with pytest.raises(MoneroFormatError):
        build_subaddress_table(view_secret, spend_public, [(0, 0, 2**32)])
    with pytest.raises(MoneroFormatError, match="too many"):
        build_subaddress_table(view_secret, spend_public, [(0, 0, MAX_TABLE_ENTRIES)])
    with pytest.raises(MoneroFormatError):
        build_subaddress_table(view_secret, NOT_A_POINT, [(0, 0, 1)])
    non_reduced = (int.from_bytes(view_secret, "little") + L).to_bytes(32, "little")
    with pytest.raises(MoneroFormatError):
        build_subaddress_table(non_reduced, spend_public, [(0, 0, 1)])


def test_functions_reject_bad_keys_and_indexes() -> None:
    _, view_secret, spend_public = _keys(WALLETS[0])
    with pytest.raises(MoneroFormatError):
        subaddress_spend_public(view_secret[:31], spend_public, 0, 1)
    with pytest.raises(MoneroFormatError):
        subaddress_spend_public(view_secret, NOT_A_POINT, 0, 1)
    with pytest.raises(MoneroFormatError):
        subaddress_spend_public(view_secret, spend_public, -1, 1)
    with pytest.raises(MoneroFormatError):
        subaddress_address(Network.MAINNET, view_secret, spend_public, 1, 2**32)
    with pytest.raises(MoneroFormatError):
        view_public_from_secret(b"\xff" * 32)


@pytest.mark.parametrize("wallet", range(len(WALLETS)))
def test_view_public_and_check_view_key(wallet: int) -> None:
    data = WALLETS[wallet]
    _, view_secret, _ = _keys(data)
    primary = decode_address(data["primary_address"])
    assert view_public_from_secret(view_secret) == primary.view_public
    assert check_view_key(primary, view_secret)
    for entry in data["integrated"]:
        assert check_view_key(decode_address(entry["address"]), view_secret)
    for entry in data["subaddresses"][1:4]:
        assert check_view_key(decode_address(entry["address"]), view_secret)

    other = bytes.fromhex(WALLETS[(wallet + 1) % len(WALLETS)]["view_secret"])
    if other != view_secret:
        assert not check_view_key(primary, other)
    spend_secret = bytes.fromhex(data["spend_secret"])
    assert not check_view_key(primary, spend_secret)
    assert not check_view_key(decode_address(data["subaddresses"][1]["address"]), spend_secret)
    # The same scalar plus l is the same key on the curve, but sc_check refuses it.
    non_reduced = (int.from_bytes(view_secret, "little") + L).to_bytes(32, "little")
    assert not check_view_key(primary, non_reduced)
    assert not check_view_key(primary, view_secret[:31])
    assert not check_view_key(primary, b"")


def test_check_view_key_on_a_torsioned_subaddress() -> None:
    """libsodium refuses to multiply a point with a torsion component; monero
    (and so a made-up subaddress) does not care.  With T of order 2,
    a (D + T) = a D + (a mod 2) T."""
    from nacl.bindings import crypto_core_ed25519_add, crypto_scalarmult_ed25519_noclamp

    from lws.monero.address import Address

    order_two = bytes.fromhex("ec" + "ff" * 30 + "7f")  # (0, -1)
    network, view_secret, _ = _keys(WALLETS[0])
    spend = decode_address(WALLETS[0]["subaddresses"][1]["address"]).spend_public
    torsioned_spend = bytes(crypto_core_ed25519_add(spend, order_two))
    base = int.from_bytes(view_secret, "little")
    for secret in ((base).to_bytes(32, "little"), (base + 1).to_bytes(32, "little")):
        clean_view = bytes(crypto_scalarmult_ed25519_noclamp(secret, spend))
        odd = bool(secret[0] & 1)
        view = bytes(crypto_core_ed25519_add(clean_view, order_two)) if odd else clean_view
        assert check_view_key(
            Address(network, AddressKind.SUBADDRESS, torsioned_spend, view), secret
        )
        if odd:
            assert not check_view_key(
                Address(network, AddressKind.SUBADDRESS, torsioned_spend, clean_view), secret
            )
