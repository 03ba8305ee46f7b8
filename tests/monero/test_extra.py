"""lws.monero.extra: real extras from regtest transactions, a table of
hand-built fields (tx_extra.h layout), and properties (never raises)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from monero.transaction.extra import ExtraParser

from lws.monero.extra import TxExtra, parse_extra
from lws.monero.varint import encode_varint as v

DATA = Path(__file__).parent / "data"
TXS: dict[str, Any] = json.loads((DATA / "tx_regtest.json").read_text())
REAL = [*TXS["txs"], TXS["miner_tx"]]

K1, K2, K3 = b"\x11" * 32, b"\x22" * 32, b"\x33" * 32
PID = bytes(range(32))
EPID = b"\xab\xcd\xef\x01\x23\x45\x67\x89"


def pubkey(key: bytes) -> bytes:
    return b"\x01" + key


def nonce(data: bytes) -> bytes:
    return b"\x02" + v(len(data)) + data


def additional(keys: list[bytes]) -> bytes:
    return b"\x04" + v(len(keys)) + b"".join(keys)


def merge_mining(depth: int, root: bytes) -> bytes:
    inner = v(depth) + root
    return b"\x03" + v(len(inner)) + inner


def minergate(data: bytes) -> bytes:
    return b"\xde" + v(len(data)) + data


def X(  # noqa: N802 - a short constructor for the table
    pubs: tuple[bytes, ...] = (),
    add: tuple[bytes, ...] = (),
    pid: bytes | None = None,
    epid: bytes | None = None,
    complete: bool = True,
) -> TxExtra:
    return TxExtra(
        tx_pubkeys=pubs,
        additional_pubkeys=add,
        payment_id=pid,
        encrypted_payment_id=epid,
        complete=complete,
    )


# --------------------------------------------------------------------------
# Real transactions


@pytest.mark.parametrize("vec", REAL, ids=[t["hash"][:12] for t in REAL])
def test_real_extras_agree_with_the_monero_package(vec: dict[str, Any]) -> None:
    extra = bytes(vec["json"]["extra"])
    got = parse_extra(extra)
    ref = ExtraParser(extra).parse()
    assert got.complete
    assert list(got.tx_pubkeys) == ref.get("pubkeys", [])[: len(got.tx_pubkeys)]
    # the monero package lumps 0x01 and 0x04 keys together in "pubkeys"
    assert list(got.tx_pubkeys) + list(got.additional_pubkeys) == ref.get("pubkeys", [])
    nonces = [bytes(n) for n in ref.get("nonces", [])]
    if got.encrypted_payment_id is not None:
        assert nonces[0] == b"\x01" + got.encrypted_payment_id
    if nonces and len(nonces[0]) == 9 and nonces[0][0] == 1:
        assert got.encrypted_payment_id == nonces[0][1:]


def test_real_extra_shapes() -> None:
    by_what = {t["what"]: t for t in TXS["txs"]}
    multi = by_what["3 destinations incl. a subaddress + change (additional pubkeys)"]
    got = parse_extra(bytes(multi["json"]["extra"]))
    # one additional pubkey per output
    assert len(got.additional_pubkeys) == len(multi["json"]["vout"]) == 4
    assert len(got.tx_pubkeys) == 1 and got.encrypted_payment_id is None
    integ = by_what["to an integrated address (encrypted payment id)"]
    got = parse_extra(bytes(integ["json"]["extra"]))
    assert got.encrypted_payment_id is not None and len(got.encrypted_payment_id) == 8
    assert got.payment_id is None and got.additional_pubkeys == ()
    # the coinbase carries a 1-byte nonce (0x00): not a payment id
    cb = parse_extra(bytes(TXS["miner_tx"]["json"]["extra"]))
    assert cb == X((bytes(TXS["miner_tx"]["json"]["extra"][1:33]),))


# --------------------------------------------------------------------------
# Table of hand-built extras: expected values follow from the bytes written.

CASES = [
    ("empty", b"", X()),
    ("one pubkey", pubkey(K1), X((K1,))),
    ("repeated pubkeys", pubkey(K1) + pubkey(K2) + pubkey(K1), X((K1, K2, K1))),
    ("unencrypted pid", pubkey(K1) + nonce(b"\x00" + PID), X((K1,), pid=PID)),
    ("encrypted pid", nonce(b"\x01" + EPID) + pubkey(K1), X((K1,), epid=EPID)),
    ("first nonce wins", nonce(b"\x01" + EPID) + nonce(b"\x00" + PID), X(epid=EPID)),
    ("pid of wrong size", nonce(b"\x00" + PID[:31]) + pubkey(K1), X((K1,))),
    ("epid of wrong size", nonce(b"\x01" + EPID + b"\x00"), X()),
    ("empty nonce", nonce(b"") + pubkey(K1), X((K1,))),
    ("nonce of 255", nonce(b"\x07" * 255) + pubkey(K1), X((K1,))),
    ("nonce of 256", pubkey(K1) + nonce(b"\x07" * 256) + pubkey(K2), X((K1,), complete=False)),
    ("additional", pubkey(K1) + additional([K2, K3]), X((K1,), (K2, K3))),
    ("first additional wins", additional([K2]) + additional([K3]), X(add=(K2,))),
    ("additional empty", additional([]) + pubkey(K1), X((K1,))),
    ("additional too many", pubkey(K1) + b"\x04" + v(3) + K2 + K3, X((K1,), complete=False)),
    ("padding to the end", pubkey(K1) + b"\x00" * 20, X((K1,))),
    ("padding of 255", pubkey(K1) + b"\x00" * 255, X((K1,))),
    ("padding of 256", pubkey(K1) + b"\x00" * 256, X((K1,), complete=False)),
    ("lone padding tag", b"\x00", X()),
    ("padding then data", pubkey(K1) + b"\x00\x00" + pubkey(K2), X((K1,), complete=False)),
    ("merge mining", merge_mining(3, K3) + pubkey(K1), X((K1,))),
    ("merge mining short", b"\x03" + v(31) + v(0) + K3[:30] + pubkey(K1), X(complete=False)),
    ("merge mining long", b"\x03" + v(34) + v(0) + K3 + b"\x00" + pubkey(K1), X(complete=False)),
    ("minergate", minergate(b"hello") + pubkey(K1), X((K1,))),
    ("minergate truncated", pubkey(K1) + b"\xde" + v(10) + b"abc", X((K1,), complete=False)),
    ("unknown tag", pubkey(K1) + b"\x05" + pubkey(K2), X((K1,), complete=False)),
    ("truncated pubkey", pubkey(K1) + b"\x01" + K2[:31], X((K1,), complete=False)),
    ("truncated nonce size", pubkey(K1) + b"\x02", X((K1,), complete=False)),
    ("non-canonical nonce size", pubkey(K1) + b"\x02\x80\x00", X((K1,), complete=False)),
    ("garbage then pid", b"\xff" + nonce(b"\x00" + PID), X(complete=False)),
    (
        "everything",
        pubkey(K1)
        + nonce(b"\x00" + PID)
        + additional([K2])
        + merge_mining(0, K3)
        + pubkey(K3)
        + b"\x00",
        X((K1, K3), (K2,), pid=PID),
    ),
]


@pytest.mark.parametrize("extra,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_extra_table(extra: bytes, expected: TxExtra) -> None:
    assert parse_extra(extra) == expected


# --------------------------------------------------------------------------
# Properties

SEEDS = [bytes(t["json"]["extra"]) for t in REAL] + [c[1] for c in CASES]
_keys = st.binary(min_size=32, max_size=32)
_fields = st.one_of(
    _keys.map(lambda key: ("pub", key)),
    st.lists(_keys, max_size=4).map(lambda keys: ("add", tuple(keys))),
    st.binary(max_size=255).map(lambda data: ("nonce", data)),
    st.binary(max_size=40).map(lambda data: ("mg", data)),
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_never_raises_on_random_bytes(extra: bytes) -> None:
    got = parse_extra(extra)
    assert all(len(key) == 32 for key in got.tx_pubkeys + got.additional_pubkeys)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(SEEDS),
    st.integers(0, 10**6),
    st.binary(max_size=4),
    st.sampled_from(["flip", "cut", "insert"]),
)
def test_never_raises_on_mutations(seed: bytes, at: int, data: bytes, op: str) -> None:
    blob = bytearray(seed)
    if blob:
        i = at % len(blob)
        if op == "flip" and data:
            blob[i] ^= 1 << (data[0] % 8)
        elif op == "cut":
            del blob[i:]
        else:
            blob[i:i] = data
    parse_extra(bytes(blob))


@settings(max_examples=200, deadline=None)
@given(st.lists(_fields, max_size=6), st.binary(max_size=12))
def test_well_formed_fields_are_all_read(fields: list[tuple[str, Any]], junk: bytes) -> None:
    """Fields written in tx_extra.h's layout are read back in order; after
    junk starting with an unknown tag, the fields before it survive."""
    blob = b""
    pubs: list[bytes] = []
    add: tuple[bytes, ...] | None = None
    for kind, value in fields:
        if kind == "pub":
            blob += pubkey(value)
            pubs.append(value)
        elif kind == "add":
            blob += additional(list(value))
            add = value if add is None else add
        elif kind == "nonce":
            blob += nonce(value)
        else:
            blob += minergate(value)
    got = parse_extra(blob)
    assert got.complete
    assert got.tx_pubkeys == tuple(pubs)
    assert got.additional_pubkeys == (add or ())
    tail = parse_extra(blob + b"\x99" + junk)
    assert not tail.complete
    assert (tail.tx_pubkeys, tail.additional_pubkeys) == (got.tx_pubkeys, got.additional_pubkeys)
