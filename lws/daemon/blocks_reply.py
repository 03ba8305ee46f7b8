# Owns the /get_blocks.bin reply as the scanner reads it (BlocksReply), how
# it is built (the generic path over an epee-decoded dict, or the fast path
# of blocks_body.py for bodies in monerod's usual layout) and the status
# check of monerod's replies. Must not do I/O: the client (client.py) fetches the bytes.
"""monerod's get_blocks.bin reply, decoded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from lws.errors import DaemonError, DaemonUnavailable

from .blocks_body import decode_get_blocks

#: monerod answers at most this many blocks per get_blocks.bin
#: (COMMAND_RPC_GET_BLOCKS_FAST_MAX_BLOCK_COUNT).
MAX_BLOCKS_PER_REPLY = 1000


class BlocksReply(msgspec.Struct, frozen=True):
    """The parts of a ``/get_blocks.bin`` reply a scanner reads."""

    start_height: int
    current_height: int
    #: (block blob, [(pruned tx blob, prunable hash)]) per block
    blocks: list[tuple[bytes, list[bytes]]]
    #: per block, per tx (miner tx first), the global output indexes
    output_indices: list[list[list[int]]]


def check_status(what: str, data: dict[str, Any]) -> None:
    status = data.get("status")
    if isinstance(status, bytes):
        status = status.decode(errors="replace")
    if status is not None and status != "OK":
        if status == "BUSY":
            raise DaemonUnavailable(f"monerod is busy ({what})")
        raise DaemonError(f"monerod {what}: {status}")


def checked_blocks_reply(reply: dict[str, Any]) -> BlocksReply:
    try:
        return blocks_reply_from_epee(reply)
    except (KeyError, TypeError, ValueError) as exc:
        raise DaemonError(f"monerod get_blocks.bin reply is malformed: {exc}") from exc


def blocks_reply_from_epee(reply: dict[str, Any]) -> BlocksReply:
    blocks: list[tuple[bytes, list[bytes]]] = []
    for entry in reply.get("blocks", []):
        txs: list[bytes] = []
        for tx in entry.get("txs", []):
            txs.append(tx["blob"] if isinstance(tx, dict) else tx)
        blocks.append((entry["block"], txs))
    indices: list[list[list[int]]] = []
    for per_block in reply.get("output_indices", []):
        indices.append([list(per_tx.get("indices", [])) for per_tx in per_block.get("indices", [])])
    return _reply_of(reply, blocks, indices)


def _reply_of(
    scalars: Mapping[str, Any],
    blocks: list[tuple[bytes, list[bytes]]],
    indices: list[list[list[int]]],
) -> BlocksReply:
    if len(indices) != len(blocks):
        raise ValueError(f"{len(blocks)} blocks but {len(indices)} output index lists")
    return BlocksReply(
        start_height=int(scalars.get("start_height", 0)),
        current_height=int(scalars.get("current_height", 0)),
        blocks=blocks,
        output_indices=indices,
    )


def fast_blocks_reply(content: bytes) -> BlocksReply | None:
    """A get_blocks.bin body in monerod's usual layout, decoded by the fast
    path (status and shape checked as the generic way does); None otherwise."""
    decoded = decode_get_blocks(content)
    if decoded is None:
        return None
    scalars, blocks, indices = decoded
    check_status("/get_blocks.bin", scalars)
    try:
        return _reply_of(scalars, blocks, indices)
    except (TypeError, ValueError) as exc:
        raise DaemonError(f"monerod get_blocks.bin reply is malformed: {exc}") from exc
