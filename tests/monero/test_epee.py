# Tests the epee portable-storage codec (lws/monero/epee.py): hand-built
# byte tables derived from monero's portable_storage_{base,to_bin,from_bin}.h,
# a real monerod v0.18 /get_blocks.bin reply, hypothesis round trips and
# fuzzing.  Must not touch any other module's behaviour.
"""Tests for lws.monero.epee."""

from __future__ import annotations

import math
import struct
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lws.monero import epee
from lws.monero.epee import (
    HEADER,
    I8,
    I16,
    I32,
    I64,
    MAX_DEPTH,
    U8,
    U16,
    U32,
    U64,
    Typed,
    dumps,
    loads,
)
from lws.monero.errors import MoneroFormatError

# The header as portable_storage.h writes it: u32le SIGNATUREA 0x01011101,
# u32le SIGNATUREB 0x01020101, u8 FORMAT_VER 1.
H = bytes.fromhex("01 11 01 0101 01 02 0101")


def body(*parts: str) -> bytes:
    """Header + hex parts (spaces allowed)."""
    return H + bytes.fromhex("".join(parts))


# --- header ---------------------------------------------------------------------


def test_header_constant() -> None:
    assert HEADER == H


def test_empty_root() -> None:
    # A section of 0 entries is the one size byte 0 << 2 = 00.
    assert dumps({}) == body("00")
    assert loads(body("00")) == {}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        H[:8],
        H,  # no root section count
        bytes.fromhex("02 11 01 01 01 01 02 01 01 00"),  # signature A
        bytes.fromhex("01 11 01 01 01 01 03 01 01 00"),  # signature B
        bytes.fromhex("01 11 01 01 01 01 02 01 02 00"),  # version 2
        bytes.fromhex("01 11 01 01 01 01 02 01 00 00"),  # version 0
    ],
)
def test_bad_header(data: bytes) -> None:
    with pytest.raises(MoneroFormatError):
        loads(data)


# --- one entry of each type -------------------------------------------------------

# (value given to dumps, bytes of the single entry named "a" after the root
# count 04, decoded value).  Entry = u8 name_len 01, name 61, u8 tag, value;
# integers little-endian at their width; string = size (n << 2 for n <= 63)
# then bytes; object = section; array = 0x80|tag, size(count), raw values.
ENTRY_TABLE: list[tuple[Any, str, Any]] = [
    (I64(-1), "01 ffffffffffffffff", -1),
    (-(2**63), "01 0000000000000080", -(2**63)),  # plain negative int: int64
    (I32(-2), "02 feffffff", -2),
    (I16(0x1234), "03 3412", 0x1234),
    (I8(-128), "04 80", -128),
    (U64(2**64 - 1), "05 ffffffffffffffff", 2**64 - 1),
    (7, "05 0700000000000000", 7),  # plain non-negative int: uint64
    (U32(0xDEADBEEF), "06 efbeadde", 0xDEADBEEF),
    (U16(0xBEEF), "07 efbe", 0xBEEF),
    (U8(255), "08 ff", 255),
    (1.5, "09 000000000000f83f", 1.5),  # 1.5 = 0x3ff8000000000000
    (-0.0, "09 0000000000000080", -0.0),
    (b"hi", "0a 08 6869", b"hi"),
    ("h\u00e9", "0a 0c 68c3a9", b"h\xc3\xa9"),  # str -> UTF-8 string
    (b"", "0a 00", b""),
    (True, "0b 01", True),
    (False, "0b 00", False),
    ({"b": U8(7)}, "0c 04 01 62 08 07", {"b": 7}),
    ({}, "0c 00", {}),
    ([1, 2], "85 08 0100000000000000 0200000000000000", [1, 2]),
    ([1, -2], "81 08 0100000000000000 feffffffffffffff", [1, -2]),
    (Typed(epee.TYPE_UINT16, [1, 2]), "87 08 0100 0200", [1, 2]),
    ([U32(1), U32(2)], "86 08 01000000 02000000", [1, 2]),
    (Typed(epee.TYPE_INT8, (-1,)), "84 04 ff", [-1]),
    ([2.0], "89 04 0000000000000040", [2.0]),
    ([b"x", b""], "8a 08 04 78 00", [b"x", b""]),
    ([True, False], "8b 08 01 00", [True, False]),
    ([{}, {"c": b""}], "8c 08 00 04 01 63 0a 00", [{}, {"c": b""}]),
    ([], "85 00", []),  # our documented choice for an untyped empty list
    (Typed(epee.TYPE_OBJECT, []), "8c 00", []),
]


@pytest.mark.parametrize(("value", "entry_hex", "decoded"), ENTRY_TABLE)
def test_entry_table(value: Any, entry_hex: str, decoded: Any) -> None:
    data = body("04 01 61", entry_hex)
    assert dumps({"a": value}) == data
    out = loads(data)
    assert out == {"a": decoded}
    assert same(out["a"], decoded)


def test_string_size_widths() -> None:
    # 63 -> 1 byte fc; 64 -> 2 bytes (64 << 2 | 1 = 0x0101); 16383 -> 2 bytes
    # (0xfffd); 16384 -> 4 bytes (16384 << 2 | 2 = 0x00010002).
    for n, size_hex in [(63, "fc"), (64, "0101"), (16383, "fdff"), (16384, "02000100")]:
        blob = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        data = body("04 01 61 0a", size_hex) + blob
        assert dumps({"a": blob}) == data
        assert loads(data) == {"a": blob}


def test_section_count_widths() -> None:
    # 64 entries: count 64 << 2 | 1 = 0x0101.
    obj = {f"k{i:02d}": U8(i) for i in range(64)}
    expected = (
        H
        + bytes.fromhex("0101")
        + b"".join(bytes([3]) + f"k{i:02d}".encode() + bytes([8, i]) for i in range(64))
    )
    assert dumps(obj) == expected
    assert loads(expected) == {k: v.value for k, v in obj.items()}


def test_wide_sizes_accepted() -> None:
    # monerod reads whatever width the marker says, minimal or not.
    assert loads(body("04 01 61 0a 0100")) == {"a": b""}
    assert loads(body("04 01 61 0a 0200 0000")) == {"a": b""}
    assert loads(body("04 01 61 0a 0300 0000 0000 0000")) == {"a": b""}
    assert loads(body("0200 0000")) == {}
    assert loads(body("0700 0000 0000 0000 01 61 0b 01")) == {"a": True}


def test_keys_written_sorted_by_bytes() -> None:
    # monerod keeps a section in a std::map<std::string>: keys sorted as bytes.
    data = dumps({"b": True, "B": True, "a": True, "\u00e9": True})
    assert data == body("10", "01 42 0b01", "01 61 0b01", "01 62 0b01", "02 c3a9 0b01")


def test_plain_array_tag_13_read_as_monerod_does() -> None:
    # read_se<array_entry>: tag 13, then a tag byte carrying the 0x80 flag.
    assert loads(body("04 01 61 0d 85 04 0500000000000000")) == {"a": [5]}


# --- the request the scanner sends -------------------------------------------------


def test_get_blocks_request_layout() -> None:
    hashes = [bytes([i]) * 32 for i in (0xAA, 0xBB, 0xCC)]
    req = {
        "block_ids": b"".join(hashes),
        "start_height": U64(1234),
        "prune": True,
        "no_miner_tx": False,
    }
    expected = (
        H
        + bytes([4 << 2])  # 4 entries, written in sorted order
        + b"\x09block_ids\x0a"
        + struct.pack("<H", 96 << 2 | 1)  # 96 bytes: 2-byte size 81 01
        + b"".join(hashes)
        + b"\x0bno_miner_tx\x0b\x00"
        + b"\x05prune\x0b\x01"
        + b"\x0cstart_height\x05"
        + (1234).to_bytes(8, "little")
    )
    assert dumps(req) == expected
    assert expected[9:13] == bytes.fromhex("10 09 62 6c")
    assert expected[21:23] == bytes.fromhex("81 01")


# A request monerod v0.18.0.0 (regtest) accepted: genesis id only, start 0.
REAL_REQUEST = bytes.fromhex(
    "0111010101010201011009626c6f636b5f6964730a80418015bb9ae982a1975da7d79277c2705727a56894ba0f"
    "b246adaabb1f4632e30b6e6f5f6d696e65725f74780b00057072756e650b010c73746172745f68656967687405"
    "0000000000000000"
)

REGTEST_GENESIS = bytes.fromhex("418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3")


def test_real_request_bytes() -> None:
    req = {
        "block_ids": REGTEST_GENESIS,
        "start_height": U64(0),
        "prune": True,
        "no_miner_tx": False,
    }
    assert dumps(req) == REAL_REQUEST


# --- a real reply -------------------------------------------------------------------

# monerod v0.18.0.0 --regtest, /get_blocks.bin {block_ids: genesis, start_height:
# 112, prune: true}; chain of 114 blocks mined to one wallet, which had sent
# tx ceadb128... (spending key images c81437d0... and 13cd416c...) mined in
# block 113.
REAL_REPLY = bytes.fromhex(
    """
0111010101010201012006626c6f636b738c080805626c6f636b0a0902101083ca8ad8063776661090603a6a89380a68
17812aae86b2cf0e53cee1c70072a7533ac7236e0000000002ac0101ff70018990b090e4ff07034fc3d9e1caf8db5928
28d6e6b9ca4b02245e11cbc1d80d49f448d79d36b9ff0a2224014f333821eed1a9e2bf1049ffa6692839f6f6e3f7781a
c8a164331819aaf34c7c0201000000067072756e65640b010c05626c6f636b0a8902101084ca8ad80617fb69f53260f0
abc7e9c04d28ee800a4605feb02465c4e8dc0e9a584f1a6dd00000000002ad0101ff7101c7e4d1caedff0703543798aa
e195bb1b94b1d52753343a45ed8c0510a847692cc8a776c9eecb7029c22401df3b50d7b7c4e977d77b75e69aed80773a
cf84f9e7a10f4d126c80187d8d13d20201000001ceadb1284b501d236c0585687e66ebcd6b3176a452fa7abb1426d2de
bd9da97f067072756e65640b01037478738c040804626c6f620acd040200020200100004050706030601020501010103
0501c81437d0f6d7ee0ba4e64fe66bf0c1cea98e168df946a4ce12b439bbd545b2fe0200100105040102040104040306
050701030113cd416cd660b0b977c9cc00d4a94b5e5fc555ffa9259728e0e38014f0164a34020003d69e78415b4cf486
9cfb2644eabc34a1c816fb338af65a4f1aa84a45d703c168da0003d044e6277c3c101e120a6f50cdf316cb37dd73638c
0a245a68fbd03864fcdb38b12c0120924be57d7fa52049cac8b7d9a231d539af595e11b4eb6446a644bc9a44449a0209
01f28a132ec3c0958e0680e5a0da099a59c3f864190594e071d4ae6e94c512849839bfe20c1ce5d9a56c502d05407b45
08b02e49d2f8b6f4f91de32a72368a0dd123c0fd6a8709df8df80d0c24e324c965c9c13a75fe17fc0b48557d8c0a8d0d
7072756e61626c655f686173680a80000000000000000000000000000000000000000000000000000000000000000007
637265646974730500000000000000000e63757272656e745f6865696768740572000000000000000e6f75747075745f
696e64696365738c080407696e64696365738c040407696e646963657385046f000000000000000407696e6469636573
8c080407696e6469636573850470000000000000000407696e6469636573850871000000000000007200000000000000
0c73746172745f686569676874057000000000000000067374617475730a084f4b08746f705f686173680a0009756e74
7275737465640b00
"""
)


def test_real_get_blocks_reply() -> None:
    r = loads(REAL_REPLY)
    assert sorted(r) == [
        "blocks",
        "credits",
        "current_height",
        "output_indices",
        "start_height",
        "status",
        "top_hash",
        "untrusted",
    ]
    assert r["status"] == b"OK"
    assert r["start_height"] == 112
    assert r["current_height"] == 114  # blocks 0..113
    assert r["untrusted"] is False
    blocks = r["blocks"]
    assert isinstance(blocks, list) and len(blocks) == 2
    b112, b113 = blocks
    assert isinstance(b112, dict) and isinstance(b113, dict)
    assert b112["pruned"] is True and "txs" not in b112  # empty: omitted
    block = b113["block"]
    assert isinstance(block, bytes)
    assert block[:2] == b"\x10\x10"  # major, minor version 16 (regtest)
    assert block.endswith(
        b"\x01"
        + bytes.fromhex(  # one tx hash, last
            "ceadb1284b501d236c0585687e66ebcd6b3176a452fa7abb1426d2debd9da97f"
        )
    )
    txs = b113["txs"]
    assert isinstance(txs, list) and len(txs) == 1
    tx = txs[0]
    assert isinstance(tx, dict) and sorted(tx) == ["blob", "prunable_hash"]
    assert tx["prunable_hash"] == bytes(32)  # always zero, see notes/monerod.md
    blob = tx["blob"]
    assert isinstance(blob, bytes) and blob[0] == 2  # tx version 2
    for key_image in (
        "c81437d0f6d7ee0ba4e64fe66bf0c1cea98e168df946a4ce12b439bbd545b2fe",
        "13cd416cd660b0b977c9cc00d4a94b5e5fc555ffa9259728e0e38014f0164a34",
    ):
        assert bytes.fromhex(key_image) in blob
    # amount-0 (RingCT) global indexes: coinbases of blocks 1..112 are 0..111,
    # block 113's coinbase 112, then the tx's two outputs.
    assert r["output_indices"] == [
        {"indices": [{"indices": [111]}]},
        {"indices": [{"indices": [112]}, {"indices": [113, 114]}]},
    ]
    # monerod wrote every field with the type our defaults pick, keys sorted:
    # re-encoding reproduces its bytes exactly.
    assert dumps(r) == REAL_REPLY


# --- malformed input -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        body("00 00"),  # trailing byte
        body("04"),  # entry missing
        body("04 00 0b 01"),  # empty name (monerod: "Section name is missing")
        body("04 01 ff 0b 01"),  # name not UTF-8
        body("04 02 61"),  # name truncated
        body("04 01 61"),  # tag missing
        body("08 01 61 0b 01 01 61 0b 00"),  # duplicate key
        body("04 01 61 00"),  # tag 0
        body("04 01 61 0e"),  # tag 14
        body("04 01 61 7f"),
        body("04 01 61 80 00"),  # array of type 0
        body("04 01 61 8e 00"),  # array of type 14
        body("04 01 61 ff 00"),
        body("04 01 61 8d 00"),  # array of arrays, even empty
        body("04 01 61 0d 05"),  # tag 13 followed by an unflagged tag
        body("04 01 61 0d"),  # tag 13 with nothing after it
        body("04 01 61 0d 8d 00"),
        body("04 01 61 0b 02"),  # bool byte 2
        body("04 01 61 8b 04 02"),  # bool array byte 2
        body("04 01 61 01 ffffffffffffff"),  # int64 truncated
        body("04 01 61 02 ffffff"),
        body("04 01 61 03 ff"),
        body("04 01 61 04"),
        body("04 01 61 05 00"),
        body("04 01 61 06 000000"),
        body("04 01 61 07 00"),
        body("04 01 61 08"),
        body("04 01 61 09 00000000000000"),
        body("04 01 61 0b"),
        body("04 01 61 0a"),  # string size missing
        body("04 01 61 0a 01"),  # 2-byte size truncated
        body("04 01 61 0a 0c 6868"),  # string of 3, 2 bytes left
        body("04 01 61 0c"),  # object count missing
        body("04 01 61 0c 04"),  # object entry missing
        body("04 01 61 85"),  # array count missing
        body("04 01 61 85 04 00000000000000"),  # element truncated
        body("04 01 61 8a 08 00"),  # second string missing
        body("04 01 61 8c 08 00"),  # second object missing
        body("0d"),  # 2-byte section count truncated
        body("0e0000"),  # 4-byte truncated
        body("0f000000000000"),  # 8-byte truncated
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(MoneroFormatError):
        loads(data)


@pytest.mark.parametrize(
    "data",
    [
        body("feffffff"),  # root claims 2**30 - 1 entries
        body("ffffffffffffffff"),  # root claims 2**62 - 1 entries
        body("04 01 61 85 feffffff 00000000000000"),  # u64 array, 2**30 - 1
        body("04 01 61 8c ffffffffffffffff 0000"),  # objects, 2**62 - 1
        body("04 01 61 8a ffffffffffffffff 0000"),  # strings
        body("04 01 61 8b ffffffffffffffff 0000"),  # bools
        body("04 01 61 0a ffffffffffffffff 00"),  # string of 2**62 - 1 bytes
        body("04 01 61 0c ffffffffffffffff 00"),  # object of 2**62 - 1 entries
    ],
)
def test_huge_claims_fail_fast(data: bytes) -> None:
    assert len(data) <= 30
    t0 = time.perf_counter()
    with pytest.raises(MoneroFormatError):
        loads(data)
    assert time.perf_counter() - t0 < 0.5


def test_max_items() -> None:
    data = body("04 01 61 8a 08 00 00")  # one entry, two empty strings
    assert loads(data, max_items=3) == {"a": [b"", b""]}
    with pytest.raises(MoneroFormatError):
        loads(data, max_items=2)
    # Items are section entries, objects and strings: here 1 root entry,
    # 1 object, 1 entry in it, 1 more object.
    nested = body("04 01 61 0c 04 01 62 0c 00")
    assert loads(nested, max_items=4) == {"a": {"b": {}}}
    with pytest.raises(MoneroFormatError):
        loads(nested, max_items=3)
    # Numbers are not counted.
    assert loads(body("04 01 61 88 0c 010203"), max_items=1) == {"a": [1, 2, 3]}


def nested_objects(levels: int) -> bytes:
    """Root, then ``levels`` objects each holding the next under key "a"."""
    return H + bytes.fromhex("04 01 61 0c") * levels + b"\x00"


def nested_arrays(pairs: int) -> bytes:
    """Root, then ``pairs`` x (array of one object), each a[0] holding the next."""
    return H + bytes.fromhex("04 01 61 8c 04") * pairs + b"\x00"


def test_depth_limit() -> None:
    # Root is level 1; each object adds one: MAX_DEPTH - 1 objects fit.
    d: Any = loads(nested_objects(MAX_DEPTH - 1))
    for _ in range(MAX_DEPTH - 1):
        assert isinstance(d, dict)
        d = d["a"]
    assert d == {}
    with pytest.raises(MoneroFormatError):
        loads(nested_objects(MAX_DEPTH))
    # An array of objects is two levels (the array, then the object).
    assert loads(nested_arrays((MAX_DEPTH - 1) // 2))
    with pytest.raises(MoneroFormatError):
        loads(nested_arrays(MAX_DEPTH // 2))


@pytest.mark.parametrize("make", [nested_objects, nested_arrays])
def test_nesting_bomb_is_format_error_not_recursion(make: Any) -> None:
    with pytest.raises(MoneroFormatError):
        loads(make(100_000))


def test_memoryview_and_bytearray_input() -> None:
    data = body("04 01 61 0a 08 6869")
    assert loads(bytearray(data)) == {"a": b"hi"}
    assert loads(memoryview(data)) == {"a": b"hi"}
    out = loads(memoryview(b"xx" + data)[2:])
    assert out == {"a": b"hi"} and type(out["a"]) is bytes
    assert loads(memoryview(bytes(x for b in data for x in (b, 0)))[::2]) == {"a": b"hi"}


# --- encoder refusals ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "error"),
    [
        ({"": 1}, MoneroFormatError),  # monerod refuses empty names
        ({"x" * 256: 1}, MoneroFormatError),
        ({"a": 2**64}, MoneroFormatError),
        ({"a": -(2**63) - 1}, MoneroFormatError),
        ({"a": [[1]]}, MoneroFormatError),  # arrays of arrays
        ({"a": [Typed(epee.TYPE_UINT8, [1])]}, MoneroFormatError),
        ({"a": [1, b"x"]}, MoneroFormatError),  # mixed element types
        ({"a": [U8(1), U16(1)]}, MoneroFormatError),
        ({"a": Typed(epee.TYPE_UINT32, [U8(1)])}, MoneroFormatError),
        ({"a": Typed(epee.TYPE_UINT8, [256])}, MoneroFormatError),
        ({"a": Typed(epee.TYPE_DOUBLE, 10**400)}, MoneroFormatError),
        ({"a": "\ud800"}, MoneroFormatError),  # lone surrogate: no UTF-8
        ({"\ud800": 1}, MoneroFormatError),
        ({"a": None}, TypeError),
        ({"a": {1, 2}}, TypeError),
        ({1: 1}, TypeError),
        ({"a": Typed(epee.TYPE_UINT8, [True])}, TypeError),
        ({"a": Typed(epee.TYPE_BOOL, [1])}, TypeError),
    ],
)
def test_encoder_refuses(obj: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        dumps(obj)


@pytest.mark.parametrize(
    ("tag", "value"),
    [(epee.TYPE_UINT8, 256), (epee.TYPE_INT8, -129), (epee.TYPE_UINT64, -1), (13, []), (0, 1)],
)
def test_typed_checks_range(tag: int, value: Any) -> None:
    with pytest.raises(MoneroFormatError):
        Typed(tag, value)


def test_encoder_depth_and_cycles() -> None:
    deep: dict[str, Any] = {}
    for _ in range(MAX_DEPTH):
        deep = {"a": deep}
    with pytest.raises(MoneroFormatError):
        dumps(deep)
    assert dumps(deep["a"]) == nested_objects(MAX_DEPTH - 1)
    cyclic: dict[str, Any] = {}
    cyclic["a"] = cyclic
    with pytest.raises(MoneroFormatError):
        dumps(cyclic)


# --- properties --------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Equal with exact types, floats compared bit for bit (NaN included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


INT_RANGES = {
    epee.TYPE_INT64: (-(2**63), 2**63 - 1),
    epee.TYPE_INT32: (-(2**31), 2**31 - 1),
    epee.TYPE_INT16: (-(2**15), 2**15 - 1),
    epee.TYPE_INT8: (-(2**7), 2**7 - 1),
    epee.TYPE_UINT64: (0, 2**64 - 1),
    epee.TYPE_UINT32: (0, 2**32 - 1),
    epee.TYPE_UINT16: (0, 2**16 - 1),
    epee.TYPE_UINT8: (0, 2**8 - 1),
}

Pair = tuple[Any, Any]  # (value for dumps, value loads must return)


def typed_int() -> st.SearchStrategy[Pair]:
    return st.sampled_from(sorted(INT_RANGES)).flatmap(
        lambda t: st.integers(*INT_RANGES[t]).map(lambda v: (Typed(t, v), v))
    )


def scalar() -> st.SearchStrategy[Pair]:
    same_value: st.SearchStrategy[Any] = st.one_of(
        st.integers(-(2**63), 2**64 - 1),
        st.binary(max_size=80),
        st.booleans(),
        st.floats(allow_nan=True, allow_infinity=True),
    )
    return st.one_of(
        typed_int(),
        same_value.map(lambda v: (v, v)),
        st.text(max_size=10).map(lambda s: (s, s.encode("utf-8"))),
    )


def scalar_array() -> st.SearchStrategy[Pair]:
    typed = st.sampled_from(sorted(INT_RANGES)).flatmap(
        lambda t: st.lists(st.integers(*INT_RANGES[t]), max_size=6).map(
            lambda xs: (Typed(t, xs), xs)
        )
    )
    wrapped = st.sampled_from(sorted(INT_RANGES)).flatmap(
        lambda t: st.lists(st.integers(*INT_RANGES[t]), min_size=1, max_size=6).map(
            lambda xs: ([Typed(t, x) for x in xs], xs)
        )
    )
    plain: st.SearchStrategy[list[Any]] = st.one_of(
        st.lists(st.integers(-(2**63), 2**63 - 1), max_size=6),
        st.lists(st.integers(0, 2**64 - 1), max_size=6),
        st.lists(st.binary(max_size=40), max_size=6),
        st.lists(st.booleans(), max_size=6),
        st.lists(st.floats(allow_nan=True), max_size=6),
    )
    return st.one_of(typed, wrapped, plain.map(lambda xs: (xs, xs)))


names = st.text(min_size=1, max_size=12)


def objects(children: st.SearchStrategy[Pair]) -> st.SearchStrategy[Pair]:
    return st.dictionaries(names, children, max_size=5).map(
        lambda d: ({k: v[0] for k, v in d.items()}, {k: v[1] for k, v in d.items()})
    )


def values() -> st.SearchStrategy[Pair]:
    def extend(children: st.SearchStrategy[Pair]) -> st.SearchStrategy[Pair]:
        obj = objects(children)
        return st.one_of(
            obj,
            st.lists(obj, min_size=1, max_size=3).map(
                lambda xs: ([x[0] for x in xs], [x[1] for x in xs])
            ),
        )

    return st.recursive(st.one_of(scalar(), scalar_array()), extend, max_leaves=20)


roots = objects(values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roots)
def test_round_trip(pair: Pair) -> None:
    value, expected = pair
    data = dumps(value)
    out = loads(data)
    assert same(out, expected)
    # Decoded values re-encode to the same bytes when the default types fit.
    assert loads(dumps(out)) == out or _has_nan(out)


def _has_nan(v: Any) -> bool:
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, dict):
        return any(_has_nan(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_nan(x) for x in v)
    return False


def loads_or_format_error(data: bytes) -> None:
    try:
        loads(data)
    except MoneroFormatError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    loads_or_format_error(data)
    loads_or_format_error(H + data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    value, _ = draw(roots)
    data = bytearray(dumps(value))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "byte"]))
        i = draw(st.integers(0, len(data)))
        if kind == "flip" and i < len(data):
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and i < len(data):
            data[i] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[i:]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=9))
        elif kind == "delete":
            del data[i : i + draw(st.integers(1, 4))]
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fuzz_mutated(data: bytes) -> None:
    loads_or_format_error(data)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(REAL_REPLY) - 1), st.integers(0, 255), st.integers(0, len(REAL_REPLY)))
def test_fuzz_real_reply(i: int, byte: int, cut: int) -> None:
    data = bytearray(REAL_REPLY)
    data[i] = byte
    loads_or_format_error(bytes(data))
    loads_or_format_error(bytes(data[:cut]))
    if cut < len(REAL_REPLY):
        with pytest.raises(MoneroFormatError):
            loads(REAL_REPLY[:cut])
