"""lws.monero.amounts against a real regtest chain: ecdhInfo/outPk from
monerod, amounts and payment ids as monero-wallet-rpc reported them
(tests/monero/data/regtest_amounts.json), coinbase commitments from
/get_outs.  Commitments are cross-checked with libsodium directly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from monero.keccak import keccak_256
from nacl.bindings import (
    crypto_core_ed25519_add,
    crypto_core_ed25519_scalar_reduce,
    crypto_scalarmult_ed25519_base_noclamp,
    crypto_scalarmult_ed25519_noclamp,
)

from lws.monero.amounts import (
    H,
    commit,
    commitment_mask,
    decode_amount,
    decrypt_payment_id,
    zero_commit,
)
from lws.monero.ed25519 import (
    L,
    decode_point,
    encode_point,
    point_mul,
    point_mul8,
)
from lws.monero.errors import MoneroFormatError
from lws.monero.subaddress import build_subaddress_table, lookahead_ranges
from lws.monero.varint import encode_varint

DATA = json.loads((Path(__file__).parent / "data" / "regtest_amounts.json").read_text())
VIEW_SECRET = bytes.fromhex(DATA["recipient"]["view_secret"])
SPEND_PUBLIC = bytes(
    crypto_scalarmult_ed25519_base_noclamp(bytes.fromhex(DATA["recipient"]["spend_secret"]))
)
TABLE = build_subaddress_table(VIEW_SECRET, SPEND_PUBLIC, lookahead_ranges(4, 7))
OWNED = [o for o in DATA["outputs"] if o["owned_by_view_secret"]]
NOT_OWNED = [o for o in DATA["outputs"] if not o["owned_by_view_secret"]]
G = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")


def _hs(data: bytes) -> bytes:
    """hash_to_scalar spelled with python-monero's keccak and libsodium."""
    return bytes(crypto_core_ed25519_scalar_reduce(keccak_256(data).digest() + bytes(32)))


def _derivation(pubkey_hex: str) -> bytes:
    """8 a R with the slow pure-Python point arithmetic (torsion-safe)."""
    point = decode_point(bytes.fromhex(pubkey_hex))
    assert point is not None
    return encode_point(point_mul8(point_mul(int.from_bytes(VIEW_SECRET, "little"), point)))


def _shared_scalars(output: dict[str, Any]) -> list[bytes]:
    """s_i for the main tx pubkey and, if present, the output's additional one."""
    index = output["output_index"]
    keys = [output["tx_pubkey"]]
    if output["additional_pubkeys"]:
        keys.append(output["additional_pubkeys"][index])
    return [_hs(_derivation(k) + encode_varint(index)) for k in keys]


def _owning_scalar(output: dict[str, Any]) -> bytes:
    """The s_i for which P_i - s_i G is one of the wallet's spend keys."""
    found = []
    key = bytes.fromhex(output["output_key"])
    for s in _shared_scalars(output):
        negated = ((L - int.from_bytes(s, "little")) % L).to_bytes(32, "little")
        candidate = bytes(
            crypto_core_ed25519_add(key, crypto_scalarmult_ed25519_base_noclamp(negated))
        )
        if TABLE.get(candidate) == tuple(output["subaddr_index"]):
            found.append(s)
    assert len(found) == 1
    return found[0]


def _libsodium_commit(amount: int, mask: bytes) -> bytes:
    mask_g = crypto_scalarmult_ed25519_base_noclamp(mask)
    amount_h = crypto_scalarmult_ed25519_noclamp(amount.to_bytes(32, "little"), H)
    return bytes(crypto_core_ed25519_add(mask_g, amount_h))


def test_vectors_are_present() -> None:
    assert len(OWNED) >= 6
    assert len(NOT_OWNED) >= 3
    assert {o["rct_type"] for o in DATA["outputs"]} == {6}
    assert any(o["additional_pubkeys"] for o in OWNED)


@pytest.mark.parametrize("output", OWNED, ids=lambda o: f"{o['txid'][:8]}:{o['output_index']}")
def test_decodes_wallet_rpc_amounts(output: dict[str, Any]) -> None:
    s = _owning_scalar(output)
    result = decode_amount(
        output["rct_type"],
        b"",
        bytes.fromhex(output["ecdh_amount"]),
        s,
        bytes.fromhex(output["out_pk"]),
    )
    assert result is not None
    amount, mask = result
    assert amount == output["wallet_rpc_amount"]
    assert mask == _hs(b"commitment_mask" + s) == commitment_mask(s)
    assert _libsodium_commit(amount, mask) == bytes.fromhex(output["out_pk"])


@pytest.mark.parametrize("output", OWNED, ids=lambda o: f"{o['txid'][:8]}:{o['output_index']}")
def test_tampering_is_refused(output: dict[str, Any]) -> None:
    s = _owning_scalar(output)
    ecdh = bytes.fromhex(output["ecdh_amount"])
    out_pk = bytes.fromhex(output["out_pk"])
    for bit in (0, 7, 33, 63):
        flipped = (int.from_bytes(ecdh, "little") ^ (1 << bit)).to_bytes(8, "little")
        assert decode_amount(6, b"", flipped, s, out_pk) is None
    other_pk = bytes.fromhex(
        next(o["out_pk"] for o in DATA["outputs"] if o["out_pk"] != output["out_pk"])
    )
    assert decode_amount(6, b"", ecdh, s, other_pk) is None
    wrong_s = ((int.from_bytes(s, "little") + 1) % L).to_bytes(32, "little")
    assert decode_amount(6, b"", ecdh, wrong_s, out_pk) is None
    # Malformed: unknown types, wrong sizes.
    for rct_type in (0, 7, 255, -1):
        assert decode_amount(rct_type, b"", ecdh, s, out_pk) is None
    assert decode_amount(6, b"", ecdh + b"\x00", s, out_pk) is None
    assert decode_amount(6, b"", ecdh[:7], s, out_pk) is None
    assert decode_amount(6, b"", ecdh, s[:31], out_pk) is None
    assert decode_amount(6, b"", ecdh, s, out_pk[:31]) is None
    assert decode_amount(3, b"", ecdh, s, out_pk) is None
    # Types 4 and 5 use the same compact encoding.
    assert decode_amount(4, b"", ecdh, s, out_pk) == decode_amount(6, b"", ecdh, s, out_pk)
    assert decode_amount(5, b"", ecdh, s, out_pk) == decode_amount(6, b"", ecdh, s, out_pk)


@pytest.mark.parametrize("output", NOT_OWNED, ids=lambda o: f"{o['txid'][:8]}:{o['output_index']}")
def test_other_wallets_outputs_do_not_open(output: dict[str, Any]) -> None:
    for s in _shared_scalars(output):
        assert (
            decode_amount(
                6, b"", bytes.fromhex(output["ecdh_amount"]), s, bytes.fromhex(output["out_pk"])
            )
            is None
        )


def _full_ecdh(amount: int, mask: bytes, s: bytes) -> tuple[bytes, bytes]:
    """Types 1-3 ecdhEncode (rctOps.cpp, v2 == false), built here from the formula:
    mask + Hs(s), amount + Hs(Hs(s)), both mod l."""
    s1 = _hs(s)
    s2 = _hs(s1)
    enc_mask = (int.from_bytes(mask, "little") + int.from_bytes(s1, "little")) % L
    enc_amount = (amount + int.from_bytes(s2, "little")) % L
    return enc_mask.to_bytes(32, "little"), enc_amount.to_bytes(32, "little")


@pytest.mark.parametrize("rct_type", [1, 2, 3])
def test_full_ecdh_types(rct_type: int) -> None:
    """No regtest chain can make types 1-3 (it starts at the newest fork), so
    these vectors are constructed: a real output's (amount, mask) and its real
    commitment from monerod, re-encrypted with the pre-v10 formula above."""
    for output in OWNED:
        s = _owning_scalar(output)
        amount = output["wallet_rpc_amount"]
        mask = _hs(b"commitment_mask" + s)
        out_pk = bytes.fromhex(output["out_pk"])
        enc_mask, enc_amount = _full_ecdh(amount, mask, s)
        assert decode_amount(rct_type, enc_mask, enc_amount, s, out_pk) == (amount, mask)
        # Non-reduced encodings (value + l) are read as scalars too, as sc_sub does.
        unreduced = (int.from_bytes(enc_mask, "little") + L).to_bytes(32, "little")
        assert decode_amount(rct_type, unreduced, enc_amount, s, out_pk) == (amount, mask)
        tampered = (int.from_bytes(enc_amount, "little") + 1).to_bytes(32, "little")
        assert decode_amount(rct_type, enc_mask, tampered, s, out_pk) is None
        assert decode_amount(rct_type, enc_mask, enc_amount[:8], s, out_pk) is None
        assert decode_amount(rct_type, b"", enc_amount, s, out_pk) is None
        # A compact reading of the same output is wrong.
        assert decode_amount(6, b"", enc_amount[:8], s, out_pk) is None


def test_full_ecdh_amount_must_fit_64_bits() -> None:
    """A sender can commit to a scalar amount >= 2**64; monero's h2d would
    truncate it to the low 8 bytes.  We refuse it even though it opens."""
    s = _hs(b"some shared scalar input")
    mask = _hs(b"a mask")
    for amount in (2**64, 2**64 + 5, L - 1):
        amount_h = crypto_scalarmult_ed25519_noclamp(amount.to_bytes(32, "little"), H)
        commitment = bytes(
            crypto_core_ed25519_add(crypto_scalarmult_ed25519_base_noclamp(mask), amount_h)
        )
        enc_mask, enc_amount = _full_ecdh(amount, mask, s)
        assert decode_amount(2, enc_mask, enc_amount, s, commitment) is None
    top = 2**64 - 1
    enc_mask, enc_amount = _full_ecdh(top, mask, s)
    assert decode_amount(2, enc_mask, enc_amount, s, _libsodium_commit(top, mask)) == (top, mask)


def test_zero_amount_opens() -> None:
    s = _hs(b"zero")
    mask = _hs(b"commitment_mask" + s)
    pad = keccak_256(b"amount" + s).digest()[:8]
    commitment = bytes(crypto_scalarmult_ed25519_base_noclamp(mask))  # mask G + 0 H
    assert commit(0, mask) == commitment
    assert decode_amount(6, b"", pad, s, commitment) == (0, mask)
    enc_mask, enc_amount = _full_ecdh(0, mask, s)
    assert decode_amount(1, enc_mask, enc_amount, s, commitment) == (0, mask)


def test_h_is_hash_to_point_of_g() -> None:
    """rctTypes.h H = 8 * decompress(keccak(G))."""
    point = decode_point(keccak_256(G).digest())
    assert point is not None
    assert encode_point(point_mul8(point)) == H


@pytest.mark.parametrize("coinbase", DATA["coinbase"], ids=lambda c: str(c["global_index"]))
def test_zero_commit_matches_get_outs(coinbase: dict[str, Any]) -> None:
    assert zero_commit(coinbase["amount"]) == bytes.fromhex(coinbase["commitment"])


def test_commit_against_libsodium() -> None:
    assert zero_commit(0) == G
    assert commit(0, bytes(32)) == bytes([1]) + bytes(31)
    for i, amount in enumerate((1, 2, 1234567890123, 2**63, 2**64 - 1)):
        mask = _hs(b"mask %d" % i)
        assert commit(amount, mask) == _libsodium_commit(amount, mask)
        assert zero_commit(amount) == _libsodium_commit(amount, (1).to_bytes(32, "little"))
    # A non-reduced mask means the same scalar mod l.
    mask = _hs(b"mask 0")
    unreduced = (int.from_bytes(mask, "little") + L).to_bytes(32, "little")
    assert commit(5, unreduced) == commit(5, mask)
    for bad in (-1, 2**64):
        with pytest.raises(MoneroFormatError):
            commit(bad, mask)
        with pytest.raises(MoneroFormatError):
            zero_commit(bad)
    with pytest.raises(MoneroFormatError):
        commit(1, mask[:31])


# commit() adds amount * H up from a table, one byte of the amount at a
# time: every byte position, its extremes, carries between windows, and any
# uint64 must give libsodium's own amount * H.
_WINDOW_EDGES = [value << (8 * window) for window in range(8) for value in (1, 0x80, 0xFF)]


@pytest.mark.parametrize("amount", [*_WINDOW_EDGES, 0x0101010101010101, 2**64 - 1])
def test_commit_table_matches_libsodium_at_every_byte(amount: int) -> None:
    mask = _hs(b"window mask")
    assert commit(amount, mask) == _libsodium_commit(amount, mask)


@given(st.integers(min_value=1, max_value=2**64 - 1))
def test_commit_matches_libsodium_for_any_amount(amount: int) -> None:
    mask = _hs(b"any mask")
    assert commit(amount, mask) == _libsodium_commit(amount, mask)


@pytest.mark.parametrize("vector", DATA["payment_ids"], ids=lambda v: v["txid"][:8])
def test_decrypt_payment_id(vector: dict[str, Any]) -> None:
    """wallet2 puts an encrypted dummy id (all zeros) in 2-output txs; the
    integrated-address tx carries the real one."""
    derivation = _derivation(vector["tx_pubkey"])
    encrypted = bytes.fromhex(vector["encrypted_payment_id"])
    expected = bytes.fromhex(vector["get_transfers_payment_id"])
    assert decrypt_payment_id(encrypted, derivation) == expected
    if vector["wallet_rpc_payment_id"] is not None:
        assert expected.hex() == vector["wallet_rpc_payment_id"]
    # The cipher is its own inverse.
    assert decrypt_payment_id(expected, derivation) == encrypted


def test_payment_id_vectors_cover_a_real_id() -> None:
    assert any(v["wallet_rpc_payment_id"] == "0123456789abcdef" for v in DATA["payment_ids"])
    assert any(v["get_transfers_payment_id"] == "0000000000000000" for v in DATA["payment_ids"])


def test_decrypt_payment_id_rejects_sizes() -> None:
    with pytest.raises(MoneroFormatError):
        decrypt_payment_id(bytes(7), bytes(32))
    with pytest.raises(MoneroFormatError):
        decrypt_payment_id(bytes(8), bytes(31))
    with pytest.raises(MoneroFormatError):
        decrypt_payment_id(bytes(32), bytes(32))
