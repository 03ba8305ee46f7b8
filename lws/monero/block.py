# Owns the binary block format (header, miner transaction, transaction
# hashes) and the block id, including monero's hard-coded block 202612
# exception. Pure: bytes in, frozen values out; must not know about chains,
# heights beyond the miner tx, storage or the daemon.
"""Monero blocks (``cryptonote_basic.h`` block_header/block) and block ids."""

from __future__ import annotations

from msgspec import Struct

from .errors import MoneroFormatError
from .hashing import keccak256, tree_hash
from .tx import GenInput, Transaction, parse_embedded_transaction, transaction_hash
from .varint import decode_varint, encode_varint

#: CRYPTONOTE_MAX_TX_PER_BLOCK (cryptonote_config.h): monero's own bound on
#: the transactions of one block; each hash also takes 32 bytes of the blob.
MAX_BLOCK_TX_HASHES = 0x10000000

#: cryptonote_format_utils.cpp calculate_block_hash: block 202612 was
#: accepted with an id computed by a buggy tree hash.  Its blob hashes to
#: BLOCK_202612_BLOB_HASH and its id is fixed to BLOCK_202612_ID; any other
#: block whose computed id equals BLOCK_202612_ID is invalid.
BLOCK_202612_HEIGHT = 202612
BLOCK_202612_BLOB_HASH = bytes.fromhex(
    "3a8a2b3a29b50fc86ff73dd087ea43c6f0d6b8f936c849194d5c84c737903966"
)
BLOCK_202612_ID = bytes.fromhex("bbd604d2ba11ba27935e006ed39c9bfdd99b76bf4a50654bc1e1e61217962698")

_HASH = 32
_NONCE = 4


class Block(Struct, frozen=True):
    """A parsed block."""

    major_version: int
    minor_version: int
    timestamp: int
    prev_id: bytes
    nonce: int
    miner_tx: Transaction
    tx_hashes: tuple[bytes, ...]


def parse_block(blob: bytes) -> Block:
    """Parse a block blob; raises MoneroFormatError (only) when malformed.

    The miner transaction must be prunable-free (v1 coinbase, or v2 with
    RCTTypeNull), as consensus requires of every miner transaction.
    """
    data = bytes(blob)
    major, pos = decode_varint(data, 0)
    minor, pos = decode_varint(data, pos)
    timestamp, pos = decode_varint(data, pos)
    if len(data) - pos < _HASH + _NONCE:
        raise MoneroFormatError("truncated block header")
    prev_id = data[pos : pos + _HASH]
    pos += _HASH
    nonce = int.from_bytes(data[pos : pos + _NONCE], "little")
    pos += _NONCE
    miner_tx, pos = parse_embedded_transaction(data, pos)
    count, pos = decode_varint(data, pos)
    if count > MAX_BLOCK_TX_HASHES:
        raise MoneroFormatError(f"too many transactions in a block: {count}")
    if count * _HASH != len(data) - pos:
        raise MoneroFormatError("tx hash count does not match the bytes left")
    tx_hashes = tuple(data[pos + i * _HASH : pos + (i + 1) * _HASH] for i in range(count))
    return Block(
        major_version=major,
        minor_version=minor,
        timestamp=timestamp,
        prev_id=prev_id,
        nonce=nonce,
        miner_tx=miner_tx,
        tx_hashes=tx_hashes,
    )


def miner_tx_hash(block: Block) -> bytes:
    """The id of the block's miner transaction."""
    return transaction_hash(block.miner_tx)


def block_header_bytes(block: Block) -> bytes:
    """The serialized block_header (varints are canonical, so this is the
    exact prefix of the block blob)."""
    return (
        encode_varint(block.major_version)
        + encode_varint(block.minor_version)
        + encode_varint(block.timestamp)
        + block.prev_id
        + block.nonce.to_bytes(_NONCE, "little")
    )


def block_hashing_blob(block: Block) -> bytes:
    """get_block_hashing_blob: header, tree hash of all txids, tx count."""
    hashes = [miner_tx_hash(block), *block.tx_hashes]
    return block_header_bytes(block) + tree_hash(hashes) + encode_varint(len(hashes))


def block_hash(blob: bytes, block: Block | None = None) -> bytes:
    """The block id (calculate_block_hash), with the block 202612 exception.

    ``block`` is ``parse_block(blob)`` if the caller already has it.
    """
    data = bytes(blob)
    if block is None:
        block = parse_block(data)
    hashing_blob = block_hashing_blob(block)
    block_id = keccak256(encode_varint(len(hashing_blob)) + hashing_blob)
    inputs = block.miner_tx.inputs
    if (
        len(inputs) == 1
        and isinstance(inputs[0], GenInput)
        and inputs[0].height != BLOCK_202612_HEIGHT
    ):
        return block_id
    if keccak256(data) == BLOCK_202612_BLOB_HASH:
        return BLOCK_202612_ID
    if block_id == BLOCK_202612_ID:
        raise MoneroFormatError("a block with block 202612's id but not its blob")
    return block_id
