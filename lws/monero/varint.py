# Owns LEB128 varints as Monero writes them in transactions and blocks.
# Pure: bytes in, ints out; must not know about any structure that uses them.
"""Monero's varint: little-endian base-128, canonical encodings only."""

from .errors import MoneroFormatError

#: The largest value a Monero varint carries (it decodes into a uint64).
MAX_VARINT = (1 << 64) - 1
#: A uint64 needs at most ten 7-bit groups.
MAX_VARINT_BYTES = 10


def encode_varint(value: int) -> bytes:
    """Encode ``value`` (0 <= value < 2**64) as a canonical varint."""
    if value < 0 or value > MAX_VARINT:
        raise MoneroFormatError(f"varint out of range: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """Decode one varint at ``pos``; return ``(value, position after it)``.

    Rejects truncated input, values past 64 bits and non-canonical encodings
    (a final zero group after the first byte), as monero does.
    """
    value = 0
    shift = 0
    end = len(data)
    start = pos
    while True:
        if pos >= end:
            raise MoneroFormatError("truncated varint")
        byte = data[pos]
        pos += 1
        if pos - start > MAX_VARINT_BYTES:
            raise MoneroFormatError("varint too long")
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and pos - start > 1:
                raise MoneroFormatError("non-canonical varint")
            if value > MAX_VARINT:
                raise MoneroFormatError("varint exceeds 64 bits")
            return value, pos
        shift += 7
