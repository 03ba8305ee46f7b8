"""lws.monero.block against real regtest blocks (ids and miner tx ids from
monerod) and synthetic blocks from the test encoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lws.monero import block as block_mod
from lws.monero.block import (
    BLOCK_202612_ID,
    block_hash,
    block_hashing_blob,
    block_header_bytes,
    miner_tx_hash,
    parse_block,
)
from lws.monero.errors import MoneroFormatError
from lws.monero.hashing import keccak256, tree_hash
from lws.monero.tx import GenInput, parse_transaction, transaction_hash
from lws.monero.varint import encode_varint as v
from tests.monero.mutations import EDITS, Edit, apply_edits
from tests.monero.test_tx import build_v2, encode_prefix, gen_input, key_input, to_key_output

DATA = Path(__file__).parent / "data"
BLOCKS: list[dict[str, Any]] = json.loads((DATA / "block_regtest.json").read_text())["blocks"]
TXS: dict[str, Any] = json.loads((DATA / "tx_regtest.json").read_text())


@pytest.mark.parametrize(
    "vec", BLOCKS, ids=[f"h{b['height']}-{len(b['tx_hashes'])}tx" for b in BLOCKS]
)
def test_real_block_ids(vec: dict[str, Any]) -> None:
    blob = bytes.fromhex(vec["blob"])
    blk = parse_block(blob)
    assert blk.tx_hashes == tuple(bytes.fromhex(h) for h in vec["tx_hashes"])
    assert blk.miner_tx.is_coinbase
    assert blk.miner_tx.inputs == (GenInput(height=vec["height"]),)
    assert blk.miner_tx.version == 2 and blk.miner_tx.rct is not None
    assert blk.miner_tx.rct.type == 0
    assert miner_tx_hash(blk) == bytes.fromhex(vec["miner_tx_hash"])
    assert block_hash(blob) == bytes.fromhex(vec["hash"])
    assert block_hash(blob, blk) == bytes.fromhex(vec["hash"])
    # the header re-encodes to the blob's own first bytes
    assert blob.startswith(block_header_bytes(blk))


def test_real_blocks_cover_tree_hash_sizes() -> None:
    """Blocks with 0..5 transfers: tree hashes of 1..6 txids, each checked
    against monerod's block id in test_real_block_ids."""
    assert {len(b["tx_hashes"]) for b in BLOCKS} >= {0, 1, 2, 3, 4, 5}


def test_chain_links() -> None:
    """prev_id of block h+1 is monerod's id of block h."""
    by_height = {b["height"]: b for b in BLOCKS}
    linked = 0
    for h, b in by_height.items():
        if h + 1 in by_height:
            nxt = parse_block(bytes.fromhex(by_height[h + 1]["blob"]))
            assert nxt.prev_id == bytes.fromhex(b["hash"])
            linked += 1
    assert linked >= 4


def test_miner_tx_in_block_is_the_one_monerod_serves() -> None:
    vec = TXS["miner_tx"]
    blk = next(b for b in BLOCKS if b["miner_tx_hash"] == vec["hash"])
    parsed = parse_block(bytes.fromhex(blk["blob"]))
    alone = parse_transaction(bytes.fromhex(vec["full"]))
    assert parsed.miner_tx == alone
    assert transaction_hash(alone) == bytes.fromhex(vec["hash"])


def test_block_txs_are_the_saved_transactions() -> None:
    """The transfers saved in tx_regtest.json are listed in the blocks that
    mined them, under the ids our parser computes."""
    listed = {h for b in BLOCKS for h in b["tx_hashes"]}
    for t in TXS["txs"]:
        txid = transaction_hash(parse_transaction(bytes.fromhex(t["full"])))
        assert txid.hex() in listed


# --------------------------------------------------------------------------
# Synthetic blocks.

PREV = bytes(range(32))


def _miner_v2(height: int) -> bytes:
    return (
        encode_prefix(2, height + 60, [gen_input(height)], [to_key_output(7, b"\x09" * 32)], b"")
        + b"\x00"
    )


def _independent_id(header: bytes, miner: bytes, hashes: list[bytes]) -> bytes:
    """Block id from the encoder's parts: the v2 null-RingCT miner txid is
    keccak(H(prefix) || H(base) || zeros)."""
    miner_id = keccak256(keccak256(miner[:-1]) + keccak256(b"\x00") + bytes(32))
    hashing = header + tree_hash([miner_id, *hashes]) + v(1 + len(hashes))
    return keccak256(v(len(hashing)) + hashing)


def _block(miner: bytes, hashes: list[bytes], nonce: int = 0xDEADBEEF) -> tuple[bytes, bytes]:
    header = v(16) + v(16) + v(1_700_000_000) + PREV + nonce.to_bytes(4, "little")
    return header + miner + v(len(hashes)) + b"".join(hashes), header


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 8, 9])
def test_synthetic_block_ids(n: int) -> None:
    hashes = [keccak256(bytes([i])) for i in range(n)]
    miner = _miner_v2(1000)
    blob, header = _block(miner, hashes)
    blk = parse_block(blob)
    assert (blk.major_version, blk.minor_version, blk.timestamp) == (16, 16, 1_700_000_000)
    assert blk.prev_id == PREV and blk.nonce == 0xDEADBEEF
    assert blk.tx_hashes == tuple(hashes)
    assert block_header_bytes(blk) == header
    assert block_hash(blob) == _independent_id(header, miner, hashes)


def test_v1_miner_tx_id_is_keccak_of_its_blob() -> None:
    miner = encode_prefix(
        1, 60, [gen_input(5)], [to_key_output(10**13, b"\x01" * 32)], b"\x01" + b"\x02" * 32
    )
    blob, _ = _block(miner, [])
    blk = parse_block(blob)
    assert blk.miner_tx.version == 1
    assert miner_tx_hash(blk) == keccak256(miner)


def test_block_202612_exception() -> None:
    """A block at height 202612 whose blob is not the historical one gets
    its ordinary id; the historical id is only produced for the historical
    blob (its keccak is BLOCK_202612_BLOB_HASH, which we cannot forge)."""
    miner = _miner_v2(202612)
    blob, header = _block(miner, [])
    assert block_hash(blob) == _independent_id(header, miner, [])
    assert block_hash(blob) != BLOCK_202612_ID


def test_block_202612_branches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exception as calculate_block_hash has it: only for a miner tx that
    is not a single txin_gen at another height, the blob hash decides."""
    miner = _miner_v2(202612)
    blob, header = _block(miner, [])
    ordinary = _independent_id(header, miner, [])
    # pretend this blob is the historical one: its id becomes the fixed one
    monkeypatch.setattr(block_mod, "BLOCK_202612_BLOB_HASH", keccak256(blob))
    assert block_hash(blob) == BLOCK_202612_ID
    # ...but not at another height (monero skips the check there)
    other = _miner_v2(202613)
    blob2, header2 = _block(other, [])
    monkeypatch.setattr(block_mod, "BLOCK_202612_BLOB_HASH", keccak256(blob2))
    assert block_hash(blob2) == _independent_id(header2, other, [])
    # a block at 202612 computing to the fixed id without the blob is invalid
    monkeypatch.setattr(block_mod, "BLOCK_202612_BLOB_HASH", bytes(32))
    monkeypatch.setattr(block_mod, "BLOCK_202612_ID", ordinary)
    with pytest.raises(MoneroFormatError):
        block_hash(blob)


def test_hashing_blob_layout() -> None:
    miner = _miner_v2(3)
    hashes = [b"\x11" * 32, b"\x22" * 32]
    blob, header = _block(miner, hashes)
    blk = parse_block(blob)
    hb = block_hashing_blob(blk)
    assert hb.startswith(header) and hb.endswith(v(3)) and len(hb) == len(header) + 32 + 1


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(b"", id="empty"),
        pytest.param(_block(_miner_v2(1), [])[0][:-1], id="truncated-count"),
        pytest.param(_block(_miner_v2(1), [b"\x01" * 32])[0][:-1], id="truncated-hash"),
        pytest.param(_block(_miner_v2(1), [])[0] + b"\x00", id="trailing-byte"),
        pytest.param(v(16) + v(16) + v(1) + PREV, id="no-nonce"),
        pytest.param(_block(_miner_v2(1), [])[0][:-1] + v(0x10000001), id="too-many-hashes"),
        pytest.param(
            _block(build_v2(6, prunable=b"\x01" * 64).blob, [])[0], id="miner-with-prunable"
        ),
        pytest.param(
            _block(encode_prefix(1, 0, [key_input(1, [1], b"\x05" * 32)], [], b"") + bytes(64), [])[
                0
            ],
            id="miner-v1-with-signatures",
        ),
    ],
)
def test_malformed_blocks(blob: bytes) -> None:
    with pytest.raises(MoneroFormatError):
        parse_block(blob)


# --------------------------------------------------------------------------
# Properties: only MoneroFormatError escapes.

SEEDS = [bytes.fromhex(b["blob"]) for b in BLOCKS]
_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse_or_format_error(blob: bytes) -> None:
    try:
        blk = parse_block(blob)
    except MoneroFormatError:
        return
    block_hash(blob, blk)  # a parsed block always has an id


@_FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(blob: bytes) -> None:
    _parse_or_format_error(blob)


@_FUZZ
@given(st.sampled_from(SEEDS), EDITS)
def test_fuzz_mutated_real_blocks(seed: bytes, edits: list[Edit]) -> None:
    _parse_or_format_error(apply_edits(seed, edits))
