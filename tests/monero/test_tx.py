"""lws.monero.tx against real regtest transactions (monerod is the oracle)
and against blobs built by a small encoder written from rctTypes.h."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lws.monero.errors import MoneroFormatError
from lws.monero.hashing import keccak256
from lws.monero.tx import (
    MAX_INPUTS,
    EcdhInfo,
    GenInput,
    KeyInput,
    TxOut,
    _Reader,
    absolute_key_offsets,
    parse_transaction,
    transaction_hash,
)
from lws.monero.varint import decode_varint
from lws.monero.varint import encode_varint as v
from tests.monero.mutations import EDITS, Edit, apply_edits

DATA = Path(__file__).parent / "data"
VECTORS: dict[str, Any] = json.loads((DATA / "tx_regtest.json").read_text())


# --------------------------------------------------------------------------
# Test-only encoder (cryptonote_basic.h transaction_prefix, rctTypes.h
# serialize_rctsig_base).  It returns the parts so expected hashes come from
# what the test wrote, not from the parser.


def gen_input(height: int) -> bytes:
    return b"\xff" + v(height)


def key_input(amount: int, offsets: list[int], key_image: bytes) -> bytes:
    return b"\x02" + v(amount) + v(len(offsets)) + b"".join(v(o) for o in offsets) + key_image


def to_key_output(amount: int, key: bytes) -> bytes:
    return v(amount) + b"\x02" + key


def tagged_output(amount: int, key: bytes, view_tag: int) -> bytes:
    return v(amount) + b"\x03" + key + bytes([view_tag])


def encode_prefix(
    version: int, unlock_time: int, inputs: list[bytes], outputs: list[bytes], extra: bytes
) -> bytes:
    return (
        v(version)
        + v(unlock_time)
        + v(len(inputs))
        + b"".join(inputs)
        + v(len(outputs))
        + b"".join(outputs)
        + v(len(extra))
        + extra
    )


def encode_rct_base(
    rct_type: int,
    fee: int = 0,
    pseudo_outs: list[bytes] | None = None,
    ecdh: list[tuple[bytes, bytes]] | None = None,
    out_pk: list[bytes] | None = None,
) -> bytes:
    """ecdh items are (mask, amount); types 4-6 write only the 8-byte amount."""
    out = bytes([rct_type])
    if rct_type == 0:
        return out
    out += v(fee)
    if rct_type == 2:
        out += b"".join(pseudo_outs or [])
    for mask, amount in ecdh or []:
        out += amount if rct_type in (4, 5, 6) else mask + amount
    out += b"".join(out_pk or [])
    return out


@dataclass
class Built:
    prefix: bytes
    base: bytes = b""
    prunable: bytes = b""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def blob(self) -> bytes:
        return self.prefix + self.base + self.prunable

    @property
    def pruned_blob(self) -> bytes:
        return self.prefix + self.base

    def expected_v2_hash(self) -> bytes:
        tail = keccak256(self.prunable) if self.base != b"\x00" else bytes(32)
        return keccak256(keccak256(self.prefix) + keccak256(self.base) + tail)


def k(n: int) -> bytes:
    """A distinct 32-byte value."""
    return bytes([n % 256]) * 31 + bytes([(n * 7 + 3) % 256])


def build_v2(rct_type: int, n_in: int = 2, n_out: int = 3, prunable: bytes = b"") -> Built:
    inputs = [key_input(0, [5 + i, 100, 3], k(10 + i)) for i in range(n_in)]
    outputs = [tagged_output(0, k(20 + i), 0xA0 + i) for i in range(n_out)]
    extra = b"\x01" + k(1)
    compact = rct_type in (4, 5, 6)
    ecdh = [(k(30 + i), (k(40 + i)[:8] if compact else k(40 + i))) for i in range(n_out)]
    pseudo = [k(50 + i) for i in range(n_in)]
    out_pk = [k(60 + i) for i in range(n_out)]
    fee = 123456789
    base = encode_rct_base(rct_type, fee, pseudo, ecdh, out_pk)
    info = {"fee": fee, "ecdh": ecdh, "pseudo": pseudo, "out_pk": out_pk, "n_in": n_in}
    return Built(encode_prefix(2, 0, inputs, outputs, extra), base, prunable, info)


# --------------------------------------------------------------------------
# Real transactions from regtest (RingCT type 6, view tags, subaddresses).


def _vin_expect(vin: dict[str, Any]) -> GenInput | KeyInput:
    if "gen" in vin:
        return GenInput(height=vin["gen"]["height"])
    key = vin["key"]
    return KeyInput(
        amount=key["amount"],
        key_offsets=tuple(key["key_offsets"]),
        key_image=bytes.fromhex(key["k_image"]),
    )


def _vout_expect(vout: dict[str, Any]) -> TxOut:
    target = vout["target"]
    if "tagged_key" in target:
        tk = target["tagged_key"]
        return TxOut(
            amount=vout["amount"], key=bytes.fromhex(tk["key"]), view_tag=int(tk["view_tag"], 16)
        )
    return TxOut(amount=vout["amount"], key=bytes.fromhex(target["key"]), view_tag=None)


REAL = VECTORS["txs"]
ALL_REAL = [*REAL, VECTORS["miner_tx"]]


@pytest.mark.parametrize("vec", ALL_REAL, ids=[t["hash"][:12] for t in ALL_REAL])
def test_real_full_blob_matches_monerod(vec: dict[str, Any]) -> None:
    blob = bytes.fromhex(vec["full"])
    tx = parse_transaction(blob)
    expect = vec["json"]
    assert tx.version == expect["version"] == 2
    assert tx.unlock_time == expect["unlock_time"]
    assert tx.inputs == tuple(_vin_expect(i) for i in expect["vin"])
    assert tx.outputs == tuple(_vout_expect(o) for o in expect["vout"])
    assert tx.extra == bytes(expect["extra"])
    rs = expect["rct_signatures"]
    assert tx.rct is not None
    assert tx.rct.type == rs["type"]
    if rs["type"] == 0:
        assert tx.is_coinbase
        assert tx.rct.fee == 0 and tx.rct.ecdh == () and tx.rct.out_pk == ()
        assert tx.prunable_hash is None and not tx.pruned
    else:
        assert not tx.is_coinbase
        assert tx.rct.fee == rs["txnFee"]
        assert tx.rct.ecdh == tuple(
            EcdhInfo(mask=b"", amount=bytes.fromhex(e["amount"])) for e in rs["ecdhInfo"]
        )
        assert tx.rct.out_pk == tuple(bytes.fromhex(p) for p in rs["outPk"])
        assert tx.rct.pseudo_outs == ()
        # monerod's prunable_hash (get_transactions with prune) is the keccak
        # of the bytes after the base.
        assert tx.prunable_hash == bytes.fromhex(vec["prunable_hash"])
        assert not tx.pruned
    assert transaction_hash(tx) == bytes.fromhex(vec["hash"])
    assert tx.blob_hash is None


@pytest.mark.parametrize("vec", ALL_REAL, ids=[t["hash"][:12] for t in ALL_REAL])
def test_real_pruned_blob(vec: dict[str, Any]) -> None:
    full = bytes.fromhex(vec["full"])
    pruned = bytes.fromhex(vec["pruned"])
    tx_full = parse_transaction(full)
    tx = parse_transaction(pruned)
    # the pruned blob is exactly prefix + base of the full one
    assert pruned == full[: tx_full.prefix_size + tx_full.base_size]
    assert (tx.prefix_hash, tx.base_hash) == (tx_full.prefix_hash, tx_full.base_hash)
    assert (tx.inputs, tx.outputs, tx.extra, tx.rct) == (
        tx_full.inputs,
        tx_full.outputs,
        tx_full.extra,
        tx_full.rct,
    )
    assert tx.prunable_hash is None
    txid = bytes.fromhex(vec["hash"])
    assert tx.rct is not None
    if tx.rct.type == 0:
        assert not tx.pruned
        assert transaction_hash(tx) == txid
    else:
        assert tx.pruned
        assert transaction_hash(tx, bytes.fromhex(vec["prunable_hash"])) == txid
        with pytest.raises(MoneroFormatError):
            transaction_hash(tx)
        with pytest.raises(MoneroFormatError):
            transaction_hash(tx, b"\x00" * 31)


def test_real_data_covers_what_a_scanner_meets() -> None:
    txs = [parse_transaction(bytes.fromhex(t["full"])) for t in REAL]
    assert all(t.rct is not None and t.rct.type == 6 for t in txs)
    assert any(len(t.outputs) >= 3 for t in txs)
    # a transfer to a subaddress among several destinations carries
    # additional pubkeys (extra tag 0x04)
    assert any(b"\x04" in t.extra for t in txs)
    assert all(o.view_tag is not None for t in txs for o in t.outputs)


def test_absolute_key_offsets() -> None:
    vec = REAL[0]
    tx = parse_transaction(bytes.fromhex(vec["full"]))
    inp = tx.inputs[0]
    assert isinstance(inp, KeyInput)
    rel = inp.key_offsets
    assert absolute_key_offsets(inp) == tuple(sum(rel[: i + 1]) for i in range(len(rel)))
    with pytest.raises(MoneroFormatError):
        absolute_key_offsets(KeyInput(amount=0, key_offsets=(2**64 - 1, 1), key_image=k(0)))


# --------------------------------------------------------------------------
# Synthetic: every RingCT type, v1, and the base bytes round-trip.


@pytest.mark.parametrize("rct_type", [1, 2, 3, 4, 5, 6])
def test_synthetic_rct_types(rct_type: int) -> None:
    b = build_v2(rct_type, prunable=b"\x07" * 100)
    tx = parse_transaction(b.blob)
    assert tx.prefix_size == len(b.prefix) and tx.base_size == len(b.base)
    assert b.blob[tx.prefix_size : tx.prefix_size + tx.base_size] == b.base
    assert tx.prefix_hash == keccak256(b.prefix)
    assert tx.base_hash == keccak256(b.base)
    assert tx.prunable_hash == keccak256(b.prunable)
    rct = tx.rct
    assert rct is not None and rct.type == rct_type and rct.fee == b.info["fee"]
    if rct_type in (4, 5, 6):
        assert rct.ecdh == tuple(EcdhInfo(mask=b"", amount=a) for _, a in b.info["ecdh"])
        assert all(len(e.amount) == 8 for e in rct.ecdh)
    else:
        assert rct.ecdh == tuple(EcdhInfo(mask=m, amount=a) for m, a in b.info["ecdh"])
    assert rct.pseudo_outs == (tuple(b.info["pseudo"]) if rct_type == 2 else ())
    assert rct.out_pk == tuple(b.info["out_pk"])
    assert tx.outputs[1] == TxOut(amount=0, key=k(21), view_tag=0xA1)
    assert tx.inputs[1] == KeyInput(amount=0, key_offsets=(6, 100, 3), key_image=k(11))
    assert transaction_hash(tx) == b.expected_v2_hash()
    # pruned form of the same transaction
    ptx = parse_transaction(b.pruned_blob)
    assert ptx.pruned and ptx.prunable_hash is None and ptx.rct == rct
    assert transaction_hash(ptx, keccak256(b.prunable)) == b.expected_v2_hash()


def test_synthetic_v2_coinbase_null_rct() -> None:
    pre = encode_prefix(2, 60, [gen_input(7)], [to_key_output(5, k(3))], b"\x01" + k(4))
    b = Built(pre, b"\x00")
    tx = parse_transaction(b.blob)
    assert tx.is_coinbase and tx.inputs == (GenInput(height=7),)
    assert tx.unlock_time == 60
    assert tx.outputs == (TxOut(amount=5, key=k(3), view_tag=None),)
    expected = keccak256(keccak256(pre) + keccak256(b"\x00") + bytes(32))
    assert transaction_hash(tx) == expected == b.expected_v2_hash()
    with pytest.raises(MoneroFormatError):
        parse_transaction(b.blob + b"\x00")  # a null base has no prunable part


def test_synthetic_v1_transactions() -> None:
    # v1 coinbase: no signatures; txid = keccak(blob)
    cb = encode_prefix(1, 60, [gen_input(1)], [to_key_output(10**12, k(2))], b"\x01" + k(3))
    tx = parse_transaction(cb)
    assert tx.version == 1 and tx.rct is None and tx.base_hash is None
    assert tx.is_coinbase and not tx.pruned
    assert transaction_hash(tx) == keccak256(cb)
    # v1 spend: 2 inputs with rings of 3 and 2 -> 5 signatures of 64 bytes
    pre = encode_prefix(
        1,
        0,
        [key_input(10**12, [1, 2, 3], k(5)), key_input(5 * 10**11, [4, 5], k(6))],
        [to_key_output(10**11, k(7)), to_key_output(9 * 10**11, k(8))],
        b"",
    )
    sigs = bytes(range(256)) * 1 + bytes(64 * 5 - 256)
    tx = parse_transaction(pre + sigs)
    assert not tx.pruned and tx.blob_hash == keccak256(pre + sigs)
    assert transaction_hash(tx) == keccak256(pre + sigs)
    assert tx.inputs[1] == KeyInput(amount=5 * 10**11, key_offsets=(4, 5), key_image=k(6))
    assert not tx.is_coinbase
    # pruned v1 (prefix only): parses, but its id needs the signatures
    ptx = parse_transaction(pre)
    assert ptx.pruned and ptx.prefix_hash == keccak256(pre)
    with pytest.raises(MoneroFormatError):
        transaction_hash(ptx)
    # wrong signature length
    with pytest.raises(MoneroFormatError):
        parse_transaction(pre + sigs[:-1])
    with pytest.raises(MoneroFormatError):
        parse_transaction(pre + sigs + b"\x00")


REAL0 = bytes.fromhex(REAL[0]["full"])


def _tiny(
    version: int = 2, inputs: list[bytes] | None = None, outputs: list[bytes] | None = None
) -> bytes:
    return encode_prefix(
        version,
        0,
        inputs if inputs is not None else [gen_input(1)],
        outputs if outputs is not None else [to_key_output(1, k(1))],
        b"",
    )


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(b"", id="empty"),
        pytest.param(_tiny(version=0) + b"\x00", id="version-0"),
        pytest.param(_tiny(version=3) + b"\x00", id="version-3"),
        pytest.param(_tiny(inputs=[]) + b"\x00", id="no-inputs"),
        pytest.param(_tiny(inputs=[b"\x00" + k(1)]) + b"\x00", id="txin_to_script"),
        pytest.param(_tiny(inputs=[b"\x01" + k(1)]) + b"\x00", id="txin_to_scripthash"),
        pytest.param(_tiny(inputs=[b"\x05" + k(1)]) + b"\x00", id="unknown-input"),
        pytest.param(_tiny(outputs=[v(1) + b"\x00" + k(1)]) + b"\x00", id="txout_to_script"),
        pytest.param(_tiny(outputs=[v(1) + b"\x01" + k(1)]) + b"\x00", id="txout_to_scripthash"),
        pytest.param(_tiny(outputs=[v(1) + b"\x04" + k(1)]) + b"\x00", id="unknown-output"),
        pytest.param(_tiny(outputs=[v(1) + b"\x03" + k(1)]) + b"\x00", id="tagged-no-view-tag"),
        pytest.param(_tiny() + b"\x07" + v(0), id="rct-type-7"),
        pytest.param(_tiny(), id="v2-missing-base"),
        pytest.param(_tiny()[:-1] + v(5) + b"ab", id="extra-too-long"),
        pytest.param(
            encode_prefix(2, 0, [gen_input(1)] * 1, [], b"")[:2] + v(MAX_INPUTS + 1) + b"\xff" * 10,
            id="too-many-inputs",
        ),
        pytest.param(b"\x02\x00" + v(1000) + b"\xff\x00" * 10, id="inputs-exceed-bytes"),
        pytest.param(
            b"\x02\x00\x01" + b"\x02\x00" + v(10**6) + b"\x01" * 40, id="offsets-exceed-bytes"
        ),
        pytest.param(b"\x02\x80\x00", id="non-canonical-varint"),
        pytest.param(build_v2(5).pruned_blob[:-1], id="truncated-base"),
        pytest.param(build_v2(2).pruned_blob[:-33], id="truncated-pseudo-outs"),
    ],
)
def test_malformed_transactions(blob: bytes) -> None:
    with pytest.raises(MoneroFormatError):
        parse_transaction(blob)


def test_every_truncation_of_a_real_blob_is_rejected_or_pruned() -> None:
    """Cutting a full blob anywhere is an error, except exactly after the
    base (the pruned form)."""
    tx = parse_transaction(REAL0)
    cut_ok = tx.prefix_size + tx.base_size
    for cut in range(0, cut_ok + 200):
        if cut == cut_ok:
            assert parse_transaction(REAL0[:cut]).pruned
            continue
        if cut > cut_ok:
            # bytes after the base are the (unparsed) prunable part
            assert parse_transaction(REAL0[:cut]).prunable_hash == keccak256(REAL0[cut_ok:cut])
            continue
        with pytest.raises(MoneroFormatError):
            parse_transaction(REAL0[:cut])


# --------------------------------------------------------------------------
# Properties: only MoneroFormatError escapes.

_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = [bytes.fromhex(t["pruned"]) for t in REAL[:3]] + [
    bytes.fromhex(VECTORS["miner_tx"]["full"]),
    build_v2(1).pruned_blob,
    build_v2(2).pruned_blob,
]


def _parse_or_format_error(blob: bytes) -> None:
    try:
        tx = parse_transaction(blob)
    except MoneroFormatError:
        return
    # whatever parses has a consistent shape
    assert tx.prefix_size + tx.base_size <= len(blob)
    if tx.rct is not None and tx.rct.type != 0:
        assert len(tx.rct.ecdh) == len(tx.rct.out_pk) == len(tx.outputs)


@_FUZZ
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(blob: bytes) -> None:
    _parse_or_format_error(blob)


@_FUZZ
@given(st.sampled_from(SEEDS), EDITS)
def test_fuzz_mutated_real_blobs(seed: bytes, edits: list[Edit]) -> None:
    _parse_or_format_error(apply_edits(seed, edits))


# Ring key offsets are read by a loop that decodes one- and two-byte varints
# inline; any byte string must read exactly as varint.decode_varint reads it,
# errors (truncation, a non-canonical final 0 group, > 64 bits) included.
@given(st.binary(max_size=40), st.integers(min_value=0, max_value=12))
def test_inline_key_offset_varints_read_like_decode_varint(data: bytes, count: int) -> None:
    expected: list[int] = []
    pos = 0
    expected_error = False
    try:
        for _ in range(count):
            value, pos = decode_varint(data, pos)
            expected.append(value)
    except MoneroFormatError:
        expected_error = True
    reader = _Reader(data)
    if expected_error:
        with pytest.raises(MoneroFormatError):
            reader.varints(count)
    else:
        assert reader.varints(count) == tuple(expected)
        assert reader.pos == pos


@pytest.mark.parametrize(
    "encoded",
    [b"\x80\x00", b"\xff\x00", b"\x80", b"\xff", b"\xff" * 10 + b"\x01"],
    ids=["non-canonical-0", "non-canonical-127", "truncated", "truncated-high", "too-long"],
)
def test_inline_key_offset_varints_refuse_what_monero_refuses(encoded: bytes) -> None:
    with pytest.raises(MoneroFormatError):
        _Reader(b"\x05" + encoded).varints(2)
