# Owns the fast decoding of a /get_blocks.bin reply body in the layout monerod
# writes (root scalars, each block with its pruned or full tx blobs, the
# output indices), straight into lists, without a dict per epee section.
# Anything it does not expect (another field, another type, a duplicate, a
# truncation) makes it answer None, and the caller decodes the body with the
# generic epee decoder, which also reports the error. Must not do I/O or know
# what a block contains.
"""Fast path for the one large epee body lws reads: a get_blocks.bin reply."""

from __future__ import annotations

import struct

from lws.monero import epee

#: Root scalars (name -> value), blocks as (block blob, tx blobs), and per
#: block, per tx, the output indices.
FastBlocks = tuple[dict[str, object], list[tuple[bytes, list[bytes]]], list[list[list[int]]]]

_ARRAY_OF_OBJECTS = epee.FLAG_ARRAY | epee.TYPE_OBJECT
_ARRAY_OF_U64 = epee.FLAG_ARRAY | epee.TYPE_UINT64
_U64 = struct.Struct("<Q")

# The exact bytes monerod writes around each value (entry counts as 1-byte
# sizes, name lengths, names, type tags), checked with one startswith each.
_TWO_FIELDS = 2 << 2
_THREE_FIELDS = 3 << 2
_BLOCK = b"\x05block" + bytes([epee.TYPE_STRING])
_PRUNED = b"\x06pruned" + bytes([epee.TYPE_BOOL])
_TXS = b"\x03txs" + bytes([_ARRAY_OF_OBJECTS])
_TX_BLOB = bytes([_TWO_FIELDS]) + b"\x04blob" + bytes([epee.TYPE_STRING])
#: The 32-byte prunable hash after a tx blob: name, tag, size 32, value.
_PRUNABLE_HASH = b"\x0dprunable_hash" + bytes([epee.TYPE_STRING, 32 << 2])
_HASH_TAIL = len(_PRUNABLE_HASH) + 32
_BLOCK_INDICES = b"\x04\x07indices" + bytes([_ARRAY_OF_OBJECTS])
_TX_INDICES = b"\x04\x07indices" + bytes([_ARRAY_OF_U64])


class _Unexpected(Exception):
    """The body is not in the layout this module decodes."""


class _Body:
    __slots__ = ("buf", "end", "items_left")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.end = len(buf)
        self.items_left = epee.MAX_ITEMS

    def size(self, pos: int) -> tuple[int, int]:
        buf = self.buf
        first = buf[pos]  # IndexError past the end: unexpected
        mark = first & 3
        if mark == 0:
            return first >> 2, pos + 1
        width = 1 << mark
        if pos + width > self.end:
            raise _Unexpected
        return int.from_bytes(buf[pos : pos + width], "little") >> 2, pos + width

    def count(self, pos: int) -> tuple[int, int]:
        """An element or entry count; each costs at least one byte."""
        n, pos = self.size(pos)
        if n > self.end - pos:
            raise _Unexpected
        self.items_left -= n
        if self.items_left < 0:
            raise _Unexpected
        return n, pos

    def string(self, pos: int) -> tuple[bytes, int]:
        self.items_left -= 1  # counted like the generic decoder, or more
        n, pos = self.size(pos)
        stop = pos + n
        if stop > self.end:
            raise _Unexpected
        return self.buf[pos:stop], stop

    def name(self, pos: int) -> tuple[bytes, int, int]:
        """An entry's name and type tag."""
        buf = self.buf
        n = buf[pos]
        stop = pos + 1 + n
        if n == 0 or stop >= self.end:
            raise _Unexpected
        return buf[pos + 1 : stop], buf[stop], stop + 1

    def root(self, pos: int) -> FastBlocks:
        n, pos = self.count(pos)
        scalars: dict[str, object] = {}
        blocks: list[tuple[bytes, list[bytes]]] | None = None
        indices: list[list[list[int]]] | None = None
        for _ in range(n):
            name, tag, pos = self.name(pos)
            if name == b"blocks" and tag == _ARRAY_OF_OBJECTS and blocks is None:
                blocks, pos = self.blocks(pos)
            elif name == b"output_indices" and tag == _ARRAY_OF_OBJECTS and indices is None:
                indices, pos = self.output_indices(pos)
            else:
                key = name.decode("ascii")  # UnicodeDecodeError: unexpected
                if key in scalars or key in ("blocks", "output_indices"):
                    raise _Unexpected
                scalars[key], pos = self.scalar(tag, pos)
        if pos != self.end:
            raise _Unexpected
        return scalars, blocks or [], indices or []

    def scalar(self, tag: int, pos: int) -> tuple[object, int]:
        if tag == epee.TYPE_UINT64:
            if pos + 8 > self.end:
                raise _Unexpected
            return _U64.unpack_from(self.buf, pos)[0], pos + 8
        if tag == epee.TYPE_STRING:
            return self.string(pos)
        if tag == epee.TYPE_BOOL:
            value = self.buf[pos]
            if value > 1:
                raise _Unexpected
            return value == 1, pos + 1
        raise _Unexpected

    def blocks(self, pos: int) -> tuple[list[tuple[bytes, list[bytes]]], int]:
        """Each block as monerod writes it (entries sorted by name): ``block``,
        ``pruned`` and, unless it has none, ``txs`` as {blob, prunable_hash}."""
        n, pos = self.count(pos)
        buf = self.buf
        end = self.end
        out: list[tuple[bytes, list[bytes]]] = []
        append = out.append
        for _ in range(n):
            fields = buf[pos]
            if fields not in (_TWO_FIELDS, _THREE_FIELDS) or not buf.startswith(_BLOCK, pos + 1):
                raise _Unexpected
            block, pos = self.string(pos + 1 + len(_BLOCK))
            if not buf.startswith(_PRUNED, pos) or buf[pos + len(_PRUNED)] > 1:
                raise _Unexpected
            pos += len(_PRUNED) + 1
            txs: list[bytes] = []
            if fields == _THREE_FIELDS:
                if not buf.startswith(_TXS, pos):
                    raise _Unexpected
                count, pos = self.count(pos + len(_TXS))
                for _ in range(count):
                    if not buf.startswith(_TX_BLOB, pos):
                        raise _Unexpected
                    pos += len(_TX_BLOB)
                    size, pos = self.size(pos)
                    stop = pos + size
                    if stop + _HASH_TAIL > end or not buf.startswith(_PRUNABLE_HASH, stop):
                        raise _Unexpected
                    txs.append(buf[pos:stop])
                    pos = stop + _HASH_TAIL
                self.items_left -= 2 * count
            append((block, txs))
        return out, pos

    def output_indices(self, pos: int) -> tuple[list[list[list[int]]], int]:
        """An array of {indices: [{indices: [u64...]}]}: the nested lists."""
        n, pos = self.count(pos)
        buf = self.buf
        end = self.end
        unpack_from = struct.unpack_from
        out: list[list[list[int]]] = []
        for _ in range(n):
            per_block: list[list[int]] = []
            if buf[pos] == 0:  # no txs' indices
                pos += 1
            elif buf.startswith(_BLOCK_INDICES, pos):
                count, pos = self.count(pos + len(_BLOCK_INDICES))
                for _ in range(count):
                    if buf[pos] == 0:
                        per_block.append([])
                        pos += 1
                        continue
                    if not buf.startswith(_TX_INDICES, pos):
                        raise _Unexpected
                    pos += len(_TX_INDICES)
                    size, pos = self.size(pos)
                    stop = pos + 8 * size
                    if stop > end:
                        raise _Unexpected
                    per_block.append(list(unpack_from(f"<{size}Q", buf, pos)))
                    pos = stop
            else:
                raise _Unexpected
            out.append(per_block)
        return out, pos


def decode_get_blocks(body: bytes) -> FastBlocks | None:
    """The reply's root scalars, blocks and output indices; None when the body
    is not in the layout monerod writes (decode it with ``epee.loads`` then)."""
    if not body.startswith(epee.HEADER):
        return None
    try:
        return _Body(body).root(len(epee.HEADER))
    except (_Unexpected, IndexError, UnicodeDecodeError, struct.error):
        return None
