# Owns epee "portable storage", the binary body format of monerod's .bin RPC
# calls (/get_blocks.bin, /get_outs.bin, /get_hashes.bin): header, sections,
# the 2-bit-width size varint, every scalar type, objects and arrays, both
# ways.  Must not know what any field means (that is the daemon client's and
# the block parser's business) and must not do I/O.
"""epee portable storage: ``loads`` (bytes -> dict) and ``dumps`` (dict -> bytes).

Layout (monero ``contrib/epee/include/storages/portable_storage*.h``)::

    header   u32le 0x01011101, u32le 0x01020101, u8 1   (01 11 01 01 01 01 02 01 01)
    section  size(count), then count x entry
    entry    u8 name_len (1..255), name, u8 tag, value
    size     low 2 bits of the first byte give the width (0: 1 byte, 1: 2,
             2: 4, 3: 8; little-endian); the value is the whole int >> 2
    tag      1 i64, 2 i32, 3 i16, 4 i8, 5 u64, 6 u32, 7 u16, 8 u8, 9 double,
             10 string (size + raw bytes), 11 bool (one byte, 0 or 1),
             12 object (a section), 0x80 | t: array of t = size(count) and
             count values of type t without tag bytes

Decoding: integers -> ``int``, double -> ``float``, string -> ``bytes``,
bool -> ``bool``, object -> ``dict``, array -> ``list``.  Choices, each
following monerod's reader unless noted:

* names must be 1..255 bytes (monerod refuses empty names) and are decoded as
  strict UTF-8 (monerod treats them as opaque bytes; every real name is
  ASCII);
* a duplicate name in one section is an error (monerod refuses it too);
* tag 13 (plain "array") is accepted only as monerod reads it: followed by a
  second tag byte that carries the 0x80 flag.  monerod never writes it;
* arrays of arrays (0x8d) are refused, even empty ones (monerod can not read
  a non-empty one);
* sizes need not use the narrowest width (monerod accepts wide ones);
* trailing bytes after the root section are an error (monerod ignores them).

Encoding (:func:`dumps`): keys are written sorted by their UTF-8 bytes, as
monerod's ``std::map`` writes them, so a body built from the same typed
values is byte-identical to monerod's.  A plain ``int`` is written as uint64
(int64 when negative); :class:`Typed` (or the helpers :func:`U8` ...
:func:`I64`) picks another type.  ``bytes``/``bytearray``/``memoryview`` and
``str`` (UTF-8) -> string, ``bool`` -> bool, ``float`` -> double, ``Mapping``
-> object, ``list``/``tuple`` -> array whose element type comes from the
elements (plain ints: uint64, int64 if any is negative).  An empty list is
written as an empty array of uint64 (``85 00``) unless given a type with
``Typed(tag, [])``; monerod itself omits empty containers and reads an empty
array of any element type as an absent field, so omitting the key is the
closest match to monerod and what callers should prefer.  Values epee can not
carry (out of range, names too long or empty, nested arrays, mixed arrays,
nesting too deep) raise :class:`MoneroFormatError`; Python types with no epee
form (``None``, sets, ...) raise ``TypeError``, as ``json.dumps`` does.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, Union

from .errors import MoneroFormatError

# --- format constants --------------------------------------------------------

#: First header word (little-endian u32 0x01011101).
SIGNATURE_A = 0x01011101
#: Second header word (little-endian u32 0x01020101).
SIGNATURE_B = 0x01020101
#: The only format version monerod writes or reads.
FORMAT_VERSION = 1
#: The 9 bytes every body starts with: ``01 11 01 01 01 01 02 01 01``.
HEADER = struct.pack("<IIB", SIGNATURE_A, SIGNATURE_B, FORMAT_VERSION)

TYPE_INT64 = 1
TYPE_INT32 = 2
TYPE_INT16 = 3
TYPE_INT8 = 4
TYPE_UINT64 = 5
TYPE_UINT32 = 6
TYPE_UINT16 = 7
TYPE_UINT8 = 8
TYPE_DOUBLE = 9
TYPE_STRING = 10
TYPE_BOOL = 11
TYPE_OBJECT = 12
TYPE_ARRAY = 13
#: Set in a tag byte: an array whose elements have the type in the low bits.
FLAG_ARRAY = 0x80

# --- limits -------------------------------------------------------------------

#: Deepest nesting accepted, the root section being level 1 and every object
#: or array inside adding one.  monerod's reader caps its recursion at 100
#: (counted in call frames, so it is stricter still); real replies nest 4
#: deep.  The check fires long before Python's recursion limit (about two
#: frames per level), so a nesting bomb is a MoneroFormatError, never a
#: RecursionError.
MAX_DEPTH = 100
#: Default cap on decoded objects, strings and section entries in one body.
#: Each costs Python objects (an empty dict is 64 bytes, a name str 50) for as
#: little as one input byte, so without a cap a 100 MB reply of empty objects
#: would need gigabytes.  The largest real replies (/get_blocks.bin: 1000
#: blocks, 20000 txs, their output indices, plus the pool) hold a few hundred
#: thousand; monerod caps objects, fields and strings the same way for P2P
#: bodies.  (Arrays of plain numbers are not counted: at 8 bytes a pointer
#: they cost a bounded multiple of the body, which the caller's size cap
#: bounds.)
MAX_ITEMS = 4_000_000
#: Largest size value: an 8-byte size keeps 62 bits after the 2 marker bits.
MAX_SIZE = (1 << 62) - 1
#: Names are prefixed by one length byte; monerod refuses empty names.
MAX_NAME_LEN = 255
#: Fewest bytes one section entry can take: name length byte, a name of at
#: least one byte, tag byte, and a value of at least one byte.  A section
#: count is checked against the bytes left using this before any work.
MIN_ENTRY_BYTES = 4

_SIZE_MARK_MASK = 0x03

# --- values -------------------------------------------------------------------

#: What :func:`loads` returns for one value.
EpeeValue: TypeAlias = Union[int, float, bytes, bool, "dict[str, EpeeValue]", "list[EpeeValue]"]

_S_U16 = struct.Struct("<H")
_S_U32 = struct.Struct("<I")
_S_U64 = struct.Struct("<Q")

#: struct format letter of each fixed-width scalar type (bool is read as a u8).
_FIXED_CODE: dict[int, str] = {
    TYPE_INT64: "q",
    TYPE_INT32: "i",
    TYPE_INT16: "h",
    TYPE_INT8: "b",
    TYPE_UINT64: "Q",
    TYPE_UINT32: "I",
    TYPE_UINT16: "H",
    TYPE_UINT8: "B",
    TYPE_DOUBLE: "d",
    TYPE_BOOL: "B",
}
_FIXED: dict[int, struct.Struct] = {t: struct.Struct("<" + c) for t, c in _FIXED_CODE.items()}

#: Inclusive range of each integer type.
_INT_RANGE: dict[int, tuple[int, int]] = {
    TYPE_INT64: (-(1 << 63), (1 << 63) - 1),
    TYPE_INT32: (-(1 << 31), (1 << 31) - 1),
    TYPE_INT16: (-(1 << 15), (1 << 15) - 1),
    TYPE_INT8: (-(1 << 7), (1 << 7) - 1),
    TYPE_UINT64: (0, (1 << 64) - 1),
    TYPE_UINT32: (0, (1 << 32) - 1),
    TYPE_UINT16: (0, (1 << 16) - 1),
    TYPE_UINT8: (0, (1 << 8) - 1),
}

#: Fewest bytes one array element of each type takes (a string or object is
#: at least its one-byte size).  An array count is checked against the bytes
#: left using this, so a huge claimed count fails before anything is built.
_MIN_ELEMENT_BYTES: dict[int, int] = {t: s.size for t, s in _FIXED.items()}
_MIN_ELEMENT_BYTES[TYPE_STRING] = 1
_MIN_ELEMENT_BYTES[TYPE_OBJECT] = 1


@dataclass(frozen=True, slots=True)
class Typed:
    """A value to be written with an explicit epee type ``tag`` (1..12).

    ``value`` is a scalar fitting the tag (an ``int`` in range for the integer
    tags, a ``float``/``int`` for double, ``bytes``/``str`` for string, a
    ``bool`` for bool, a ``Mapping`` for object), or a ``list``/``tuple`` of
    such scalars, meaning an array of that element type (``Typed(TYPE_OBJECT,
    [])`` is an empty array of objects).  The range of scalars is checked
    here; array elements are checked when written.
    """

    tag: int
    value: Any

    def __post_init__(self) -> None:
        if not TYPE_INT64 <= self.tag <= TYPE_OBJECT:
            raise MoneroFormatError(f"epee: no Typed form for tag {self.tag}")
        if not isinstance(self.value, list | tuple):
            _check_scalar(self.tag, self.value)


def I64(value: int) -> Typed:
    """``value`` written as int64."""
    return Typed(TYPE_INT64, value)


def I32(value: int) -> Typed:
    """``value`` written as int32."""
    return Typed(TYPE_INT32, value)


def I16(value: int) -> Typed:
    """``value`` written as int16."""
    return Typed(TYPE_INT16, value)


def I8(value: int) -> Typed:
    """``value`` written as int8."""
    return Typed(TYPE_INT8, value)


def U64(value: int) -> Typed:
    """``value`` written as uint64 (what a plain non-negative int gets)."""
    return Typed(TYPE_UINT64, value)


def U32(value: int) -> Typed:
    """``value`` written as uint32."""
    return Typed(TYPE_UINT32, value)


def U16(value: int) -> Typed:
    """``value`` written as uint16."""
    return Typed(TYPE_UINT16, value)


def U8(value: int) -> Typed:
    """``value`` written as uint8."""
    return Typed(TYPE_UINT8, value)


# --- decoding -----------------------------------------------------------------


class _Reader:
    """One pass over one body; positions are passed and returned explicitly.

    The body is held as ``bytes``: indexing and slicing bytes is what the hot
    loops do most, and both are cheaper on bytes than on a memoryview.  The
    one-byte size (every count and length below 64) is read inline.
    """

    __slots__ = ("buf", "end", "items_left", "names")

    def __init__(self, buf: bytes, max_items: int) -> None:
        self.buf = buf
        self.end = len(buf)
        self.items_left = max_items
        #: Raw entry name -> its str: a reply repeats a handful of names.
        self.names: dict[bytes, str] = {}

    def size(self, pos: int) -> tuple[int, int]:
        buf = self.buf
        if pos >= self.end:
            raise MoneroFormatError("epee: truncated size")
        first = buf[pos]
        mark = first & _SIZE_MARK_MASK
        if mark == 0:
            return first >> 2, pos + 1
        width = 1 << mark
        if pos + width > self.end:
            raise MoneroFormatError("epee: truncated size")
        return int.from_bytes(buf[pos : pos + width], "little") >> 2, pos + width

    def take_items(self, n: int) -> None:
        self.items_left -= n
        if self.items_left < 0:
            raise MoneroFormatError("epee: too many objects, strings and entries")

    def name(self, raw: bytes) -> str:
        try:
            name = self.names[raw] = str(raw, "utf-8")
        except UnicodeDecodeError:
            raise MoneroFormatError("epee: entry name is not UTF-8") from None
        return name

    def section(self, pos: int, depth: int) -> tuple[dict[str, EpeeValue], int]:
        if depth > MAX_DEPTH:
            raise MoneroFormatError(f"epee: nested deeper than {MAX_DEPTH}")
        buf = self.buf
        end = self.end
        if pos < end and not buf[pos] & _SIZE_MARK_MASK:
            count = buf[pos] >> 2
            pos += 1
        else:
            count, pos = self.size(pos)
        if count > (end - pos) // MIN_ENTRY_BYTES:
            raise MoneroFormatError(f"epee: section claims {count} entries, too few bytes left")
        self.items_left -= count
        if self.items_left < 0:
            raise MoneroFormatError("epee: too many objects, strings and entries")
        names = self.names
        out: dict[str, EpeeValue] = {}
        for _ in range(count):
            if pos >= end:
                raise MoneroFormatError("epee: truncated entry name")
            name_len = buf[pos]
            pos += 1
            if name_len == 0:
                raise MoneroFormatError("epee: empty entry name")
            stop = pos + name_len
            if stop + 1 > end:  # the name and the tag byte
                raise MoneroFormatError("epee: truncated entry")
            raw_name = buf[pos:stop]
            name = names.get(raw_name)
            if name is None:
                name = self.name(raw_name)
            if name in out:
                raise MoneroFormatError(f"epee: duplicate entry name {name!r}")
            tag = buf[stop]
            pos = stop + 1
            if tag == TYPE_STRING:
                self.items_left -= 1
                if self.items_left < 0:
                    raise MoneroFormatError("epee: too many objects, strings and entries")
                out[name], pos = self.string(pos)
            elif tag & FLAG_ARRAY:
                out[name], pos = self.array(tag & ~FLAG_ARRAY, pos, depth + 1)
            elif tag == TYPE_ARRAY:
                # monerod's reader: a plain array tag is followed by the real
                # (flagged) array tag.
                if pos >= end:
                    raise MoneroFormatError("epee: truncated array tag")
                inner = buf[pos]
                if not inner & FLAG_ARRAY:
                    raise MoneroFormatError(f"epee: array tag {inner:#x} lacks the array flag")
                out[name], pos = self.array(inner & ~FLAG_ARRAY, pos + 1, depth + 1)
            else:
                out[name], pos = self.scalar(tag, pos, depth)
        return out, pos

    def scalar(self, tag: int, pos: int, depth: int) -> tuple[EpeeValue, int]:
        fixed = _FIXED.get(tag)
        if fixed is not None:
            if pos + fixed.size > self.end:
                raise MoneroFormatError("epee: truncated value")
            value = fixed.unpack_from(self.buf, pos)[0]
            if tag == TYPE_BOOL:
                if value > 1:
                    raise MoneroFormatError(f"epee: bool byte {value}")
                value = value == 1
            return value, pos + fixed.size
        if tag == TYPE_STRING:
            self.take_items(1)
            return self.string(pos)
        if tag == TYPE_OBJECT:
            self.take_items(1)
            return self.section(pos, depth + 1)
        raise MoneroFormatError(f"epee: unknown type tag {tag:#x}")

    def string(self, pos: int) -> tuple[bytes, int]:
        buf = self.buf
        if pos < self.end and not buf[pos] & _SIZE_MARK_MASK:
            n = buf[pos] >> 2
            pos += 1
        else:
            n, pos = self.size(pos)
        stop = pos + n
        if stop > self.end:
            raise MoneroFormatError(f"epee: string of {n} bytes, fewer left")
        return buf[pos:stop], stop

    def array(self, elem: int, pos: int, depth: int) -> tuple[list[EpeeValue], int]:
        if depth > MAX_DEPTH:
            raise MoneroFormatError(f"epee: nested deeper than {MAX_DEPTH}")
        min_bytes = _MIN_ELEMENT_BYTES.get(elem)
        if min_bytes is None:
            if elem == TYPE_ARRAY:
                raise MoneroFormatError("epee: array of arrays")
            raise MoneroFormatError(f"epee: unknown array element tag {elem:#x}")
        count, pos = self.size(pos)
        if count > (self.end - pos) // min_bytes:
            raise MoneroFormatError(f"epee: array claims {count} elements, too few bytes left")
        code = _FIXED_CODE.get(elem)
        if code is not None:
            values: list[Any] = list(struct.unpack_from(f"<{count}{code}", self.buf, pos))
            pos += count * min_bytes
            if elem == TYPE_BOOL:
                if any(v > 1 for v in values):
                    raise MoneroFormatError("epee: bool byte above 1")
                values = [v == 1 for v in values]
            return values, pos
        self.take_items(count)
        out: list[EpeeValue] = []
        append = out.append
        if elem == TYPE_STRING:
            string = self.string
            for _ in range(count):
                s, pos = string(pos)
                append(s)
        else:
            section = self.section
            for _ in range(count):
                d, pos = section(pos, depth + 1)
                append(d)
        return out, pos


def loads(
    data: bytes | bytearray | memoryview, *, max_items: int = MAX_ITEMS
) -> dict[str, EpeeValue]:
    """Decode one epee body (header + root section) into a dict.

    Raises :class:`MoneroFormatError`, and nothing else, for any input that is
    not exactly one well-formed body, or that holds more than ``max_items``
    objects, strings and section entries (see :data:`MAX_ITEMS`).
    """
    buf = data if isinstance(data, bytes) else bytes(data)
    if len(buf) < len(HEADER):
        raise MoneroFormatError("epee: shorter than the header")
    if buf[: len(HEADER)] != HEADER:
        raise MoneroFormatError("epee: bad header (signature or version)")
    reader = _Reader(buf, max_items)
    root, pos = reader.section(len(HEADER), 1)
    if pos != len(buf):
        raise MoneroFormatError(f"epee: {len(buf) - pos} trailing bytes")
    return root


# --- encoding -----------------------------------------------------------------


def _check_scalar(tag: int, value: Any) -> None:
    """Raise unless ``value`` (not a list) can be written as type ``tag``."""
    rng = _INT_RANGE.get(tag)
    if rng is not None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"epee: integer type {tag} needs an int, not {type(value).__name__}")
        if not rng[0] <= value <= rng[1]:
            raise MoneroFormatError(f"epee: {value} out of range for integer type {tag}")
    elif tag == TYPE_DOUBLE:
        if not isinstance(value, float | int) or isinstance(value, bool):
            raise TypeError(f"epee: double needs a float, not {type(value).__name__}")
    elif tag == TYPE_STRING:
        if not isinstance(value, bytes | bytearray | memoryview | str):
            raise TypeError(f"epee: string needs bytes or str, not {type(value).__name__}")
    elif tag == TYPE_BOOL:
        if not isinstance(value, bool):
            raise TypeError(f"epee: bool needs a bool, not {type(value).__name__}")
    elif tag == TYPE_OBJECT:
        if not isinstance(value, Mapping):
            raise TypeError(f"epee: object needs a Mapping, not {type(value).__name__}")
    else:
        raise MoneroFormatError(f"epee: no scalar form for tag {tag}")


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        raise MoneroFormatError("epee: str is not encodable as UTF-8") from None


def _pack_size(out: bytearray, n: int) -> None:
    if n <= 0x3F:
        out.append(n << 2)
    elif n <= 0x3FFF:
        out += _S_U16.pack(n << 2 | 1)
    elif n <= 0x3FFF_FFFF:
        out += _S_U32.pack(n << 2 | 2)
    elif n <= MAX_SIZE:
        out += _S_U64.pack(n << 2 | 3)
    else:
        raise MoneroFormatError(f"epee: size {n} too large")


def _default_tag(value: Any) -> int:
    """The type a plain value (or a scalar Typed) is written with."""
    if isinstance(value, Typed):
        if isinstance(value.value, list | tuple):
            raise MoneroFormatError("epee: arrays of arrays are not allowed")
        return value.tag
    if isinstance(value, bool):
        return TYPE_BOOL
    if isinstance(value, int):
        return TYPE_UINT64 if value >= 0 else TYPE_INT64
    if isinstance(value, float):
        return TYPE_DOUBLE
    if isinstance(value, bytes | bytearray | memoryview | str):
        return TYPE_STRING
    if isinstance(value, Mapping):
        return TYPE_OBJECT
    if isinstance(value, list | tuple):
        raise MoneroFormatError("epee: arrays of arrays are not allowed")
    raise TypeError(f"epee: no epee form for {type(value).__name__}")


def _write_raw(out: bytearray, tag: int, value: Any, depth: int) -> None:
    """Write ``value`` as type ``tag`` without a tag byte."""
    if isinstance(value, Typed):
        if value.tag != tag or isinstance(value.value, list | tuple):
            raise MoneroFormatError(f"epee: element typed {value.tag} in an array of type {tag}")
        value = value.value
    _check_scalar(tag, value)
    if tag == TYPE_DOUBLE:
        try:
            value = float(value)
        except OverflowError:
            raise MoneroFormatError(f"epee: {value} does not fit a double") from None
    fixed = _FIXED.get(tag)
    if fixed is not None:
        out += fixed.pack(value)
    elif tag == TYPE_STRING:
        if isinstance(value, str):
            raw = _utf8(value)
        elif isinstance(value, memoryview):
            raw = value.tobytes()
        else:
            raw = value
        _pack_size(out, len(raw))
        out += raw
    else:  # TYPE_OBJECT, by _check_scalar
        _write_section(out, value, depth + 1)


def _write_array(out: bytearray, tag: int | None, items: Sequence[Any], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MoneroFormatError(f"epee: nested deeper than {MAX_DEPTH}")
    if tag is None:
        if not items:
            tag = TYPE_UINT64
        elif all(type(v) is int for v in items):
            tag = TYPE_INT64 if min(items) < 0 else TYPE_UINT64
        else:
            tags = {_default_tag(v) for v in items}
            if len(tags) != 1:
                raise MoneroFormatError(f"epee: array mixes element types {sorted(tags)}")
            (tag,) = tags
    out.append(FLAG_ARRAY | tag)
    _pack_size(out, len(items))
    for v in items:
        _write_raw(out, tag, v, depth)


def _write_section(out: bytearray, obj: Mapping[str, Any], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MoneroFormatError(f"epee: nested deeper than {MAX_DEPTH}")
    entries: list[tuple[bytes, Any]] = []
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"epee: names are str, not {type(key).__name__}")
        name = _utf8(key)
        if not 1 <= len(name) <= MAX_NAME_LEN:
            raise MoneroFormatError(f"epee: name of {len(name)} bytes (1..{MAX_NAME_LEN})")
        entries.append((name, value))
    entries.sort(key=lambda e: e[0])
    _pack_size(out, len(entries))
    for name, value in entries:
        out.append(len(name))
        out += name
        if isinstance(value, list | tuple):
            _write_array(out, None, value, depth + 1)
        elif isinstance(value, Typed) and isinstance(value.value, list | tuple):
            _write_array(out, value.tag, value.value, depth + 1)
        else:
            tag = _default_tag(value)
            out.append(tag)
            _write_raw(out, tag, value, depth)


def dumps(obj: Mapping[str, Any]) -> bytes:
    """Encode ``obj`` as one epee body (header + root section).

    See the module docstring for how Python values map to epee types.
    """
    if not isinstance(obj, Mapping):
        raise TypeError(f"epee: the root must be a Mapping, not {type(obj).__name__}")
    out = bytearray(HEADER)
    _write_section(out, obj, 1)
    return bytes(out)
