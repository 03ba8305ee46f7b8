# Owns the tests of lws.daemon.blocks_body, the fast decoder of get_blocks.bin
# bodies: on bodies in monerod's layout it answers, and exactly what the
# generic epee decoder gives; on any other or damaged body the daemon
# client's outcome (reply or error) is the same as without it.
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lws.daemon import blocks_reply as daemon_module
from lws.daemon.blocks_body import decode_get_blocks
from lws.errors import DaemonError, DaemonUnavailable
from lws.monero import epee
from lws.monero.errors import MoneroFormatError

blobs = st.binary(min_size=0, max_size=80)
#: Per tx of a block (miner tx first): its outputs' global indexes.
tx_indices = st.lists(st.integers(0, 2**64 - 1), max_size=4)


@st.composite
def monerod_bodies(draw: st.DrawFn) -> bytes:
    """A get_blocks.bin body as monerod 0.18 writes it with prune=true:
    empty containers left out, a 32-byte prunable hash per tx."""
    n_blocks = draw(st.integers(0, 6))
    blocks: list[dict[str, Any]] = []
    indices: list[dict[str, Any]] = []
    for _ in range(n_blocks):
        txs = draw(st.lists(blobs, max_size=4))
        entry: dict[str, Any] = {"block": draw(blobs), "pruned": True}
        if txs:
            entry["txs"] = [{"blob": b, "prunable_hash": bytes(32)} for b in txs]
        blocks.append(entry)
        per_tx = [draw(tx_indices) for _ in range(len(txs) + 1)]
        indices.append({"indices": [{"indices": i} if i else {} for i in per_tx]} if per_tx else {})
    body: dict[str, Any] = {
        "status": draw(st.sampled_from(["OK", "OK", "BUSY", "Failed"])),
        "start_height": draw(st.integers(0, 2**40)),
        "current_height": draw(st.integers(0, 2**40)),
        "untrusted": draw(st.booleans()),
        "credits": 0,
        "top_hash": b"",
    }
    if blocks:
        body["blocks"] = blocks
        body["output_indices"] = draw(st.sampled_from([indices, indices[:-1] or indices]))
    return epee.dumps(body)


def outcome(body: bytes, *, fast: bool) -> object:
    """What the daemon client makes of a get_blocks.bin body: the reply, or the error."""
    try:
        if fast:
            reply = daemon_module.fast_blocks_reply(body)
            if reply is not None:
                return reply
        data = epee.loads(body)
        daemon_module.check_status("/get_blocks.bin", data)
        return daemon_module.checked_blocks_reply(data)
    except (DaemonError, DaemonUnavailable, MoneroFormatError) as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=300)
@given(monerod_bodies())
def test_monerod_bodies_take_the_fast_path_and_decode_the_same(body: bytes) -> None:
    assert decode_get_blocks(body) is not None
    assert outcome(body, fast=True) == outcome(body, fast=False)


@settings(max_examples=500)
@given(monerod_bodies(), st.data())
def test_damaged_bodies_end_the_same_either_way(body: bytes, data: st.DataObject) -> None:
    """Truncated, with a byte changed, or with bytes inserted: same reply or same error."""
    at = data.draw(st.integers(0, len(body)))
    damage = data.draw(st.sampled_from(["truncate", "flip", "insert"]))
    if damage == "truncate":
        body = body[:at]
    elif damage == "flip" and at < len(body):
        body = body[:at] + bytes([body[at] ^ data.draw(st.integers(1, 255))]) + body[at + 1 :]
    else:
        body = body[:at] + data.draw(st.binary(min_size=1, max_size=3)) + body[at:]
    assert outcome(body, fast=True) == outcome(body, fast=False)


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_any_bytes_end_the_same_either_way(tail: bytes) -> None:
    body = epee.HEADER + tail
    assert outcome(body, fast=True) == outcome(body, fast=False)


def test_other_layouts_are_left_to_the_generic_decoder() -> None:
    """A field monerod 0.18 does not write, unpruned txs, a nested object at
    the root: the fast path steps aside (and the generic one decodes them)."""
    for body in (
        {"blocks": [{"block": b"b", "pruned": True, "block_weight": 7}], "output_indices": [{}]},
        {"blocks": [{"block": b"b", "txs": [b"tx"]}], "output_indices": [{}]},
        {"blocks": [], "output_indices": [], "extra": {"a": 1}},
    ):
        encoded = epee.dumps(body)
        assert decode_get_blocks(encoded) is None
        assert outcome(encoded, fast=True) == outcome(encoded, fast=False)
