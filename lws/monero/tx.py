# Owns the binary transaction format: the prefix, the RingCT base, where the
# prunable part starts, and the transaction id. Pure: bytes in, frozen values
# out; must not read `extra` fields (extra.py), blocks (block.py) or do any
# scan math, and must not parse the prunable part (proofs, signatures).
"""Monero transactions (``cryptonote_basic.h``, ``rctTypes.h``).

A blob is either full (prefix, RingCT base, prunable part) or pruned (prefix
and base only, as ``get_blocks.bin`` with ``prune`` and ``get_transactions``'
``pruned_as_hex`` give it).  The parser reads the prefix and the base, and
treats whatever follows the base as the prunable part: it is hashed, never
parsed, so a pruned blob parses without it.
"""

from __future__ import annotations

from msgspec import Struct

from .errors import MoneroFormatError
from .hashing import keccak256
from .varint import MAX_VARINT, decode_varint

#: Transaction versions monero accepts (serialization rejects 0 and anything
#: above CURRENT_TRANSACTION_VERSION = 2).
TX_VERSIONS = (1, 2)

#: Input tags (cryptonote_basic.h VARIANT_TAG).
TXIN_GEN = 0xFF
TXIN_TO_KEY = 0x02
#: txin_to_script / txin_to_scripthash: defined but never used on chain.
TXIN_TO_SCRIPT = 0x00
TXIN_TO_SCRIPTHASH = 0x01
#: Output target tags.
TXOUT_TO_KEY = 0x02
TXOUT_TO_TAGGED_KEY = 0x03

#: rctTypes.h RCTType* values.
RCT_TYPE_NULL = 0
RCT_TYPE_FULL = 1
RCT_TYPE_SIMPLE = 2
RCT_TYPE_BULLETPROOF = 3
RCT_TYPE_BULLETPROOF2 = 4
RCT_TYPE_CLSAG = 5
RCT_TYPE_BULLETPROOF_PLUS = 6
#: Types whose ecdhInfo is only an 8-byte amount (no mask) on the wire.
RCT_COMPACT_ECDH_TYPES = frozenset(
    {RCT_TYPE_BULLETPROOF2, RCT_TYPE_CLSAG, RCT_TYPE_BULLETPROOF_PLUS}
)

#: Bound on inputs per transaction.  A relayed transaction is at most
#: CRYPTONOTE_MAX_TX_SIZE = 1,000,000 bytes and a key input takes at least
#: 35 bytes (tag, amount, count, one offset, key image), so no valid
#: transaction has more than 28,572; this bound rejects absurd counts before
#: any per-byte check, with room to spare.
MAX_INPUTS = 1 << 16
#: Bound on outputs per transaction: an output takes at least 34 bytes, so
#: the same 1,000,000-byte limit allows fewer than 29,412 (ordinary
#: transactions carry at most BULLETPROOF_PLUS_MAX_OUTPUTS = 16).
MAX_OUTPUTS = 1 << 16
#: Bound on key offsets (ring members) per input: each costs at least one
#: offset byte plus a 64-byte v1 signature or CLSAG scalar, so a
#: 1,000,000-byte transaction has fewer than 15,385 (rings are 16 since HF15).
MAX_KEY_OFFSETS = 1 << 16

_KEY = 32
_EIGHT = 8
#: Smallest encodings, used to check counts against the bytes left.
_MIN_INPUT_SIZE = 2  # txin_gen: tag + 1-byte varint height
_MIN_OUTPUT_SIZE = 1 + 1 + _KEY  # amount varint, tag, key
_V1_SIGNATURE_SIZE = 64  # crypto::signature (c, r) per ring member
_ZERO_HASH = bytes(32)


class GenInput(Struct, frozen=True, array_like=True, gc=False, tag=True):
    """txin_gen: the coinbase input.

    Both input types are tagged so msgspec can decode a transaction (scan
    workers send parsed batches to the scanner as msgpack)."""

    height: int


class KeyInput(Struct, frozen=True, array_like=True, gc=False, tag=True):
    """txin_to_key: a spend of one of ``key_offsets`` (relative, as written)."""

    amount: int
    key_offsets: tuple[int, ...]
    key_image: bytes


class TxOut(Struct, frozen=True, array_like=True, gc=False):
    """An output: txout_to_key (``view_tag`` None) or txout_to_tagged_key."""

    amount: int
    key: bytes
    view_tag: int | None


class EcdhInfo(Struct, frozen=True, array_like=True, gc=False):
    """Encrypted amount.  Types 1-3: 32-byte mask and amount; 4-6: mask
    ``b""`` and an 8-byte amount."""

    mask: bytes
    amount: bytes


class RctBase(Struct, frozen=True, array_like=True, gc=False):
    """The RingCT base (``rctSigBase`` as serialized)."""

    type: int
    fee: int
    ecdh: tuple[EcdhInfo, ...]
    #: outPk[i].mask: the amount commitment of output i.
    out_pk: tuple[bytes, ...]
    #: Only for RCTTypeSimple (2); later types keep them in the prunable part.
    pseudo_outs: tuple[bytes, ...]


class Transaction(Struct, frozen=True, array_like=True):
    """A parsed transaction (prefix, RingCT base and the hashes of its parts)."""

    version: int
    unlock_time: int
    inputs: tuple[GenInput | KeyInput, ...]
    outputs: tuple[TxOut, ...]
    #: Raw extra bytes (see extra.parse_extra).
    extra: bytes
    #: None for v1.
    rct: RctBase | None
    #: keccak of the prefix bytes.
    prefix_hash: bytes
    #: keccak of the RingCT base bytes (v2), else None.
    base_hash: bytes | None
    #: keccak of the prunable bytes when the blob carried them (v2, non-null
    #: type), else None.
    prunable_hash: bytes | None
    #: v1 only: keccak of the whole blob when it carried its signatures (the
    #: v1 txid), else None.
    blob_hash: bytes | None = None
    #: True when the blob lacked a prunable part (v2 non-null type) or
    #: signatures (v1 with key inputs) that the transaction has.
    pruned: bool = False
    #: Byte length of the prefix and of the RingCT base within the blob.
    prefix_size: int = 0
    base_size: int = 0

    @property
    def is_coinbase(self) -> bool:
        """Exactly one input, and it is a txin_gen."""
        return len(self.inputs) == 1 and isinstance(self.inputs[0], GenInput)


class _Reader:
    """Cursor over a blob; every failure is a MoneroFormatError."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data)

    def left(self) -> int:
        return self.end - self.pos

    def varint(self) -> int:
        pos = self.pos
        if pos < self.end:
            first = self.data[pos]
            if first < 0x80:  # one byte (most counts and tags): no call
                self.pos = pos + 1
                return first
        value, self.pos = decode_varint(self.data, pos)
        return value

    def varints(self, count: int) -> tuple[int, ...]:
        """``count`` varints (ring key offsets): one and two bytes inline."""
        data = self.data
        pos = self.pos
        end = self.end
        values: list[int] = []
        append = values.append
        for _ in range(count):
            if pos + 1 < end:
                first = data[pos]
                if first < 0x80:
                    append(first)
                    pos += 1
                    continue
                second = data[pos + 1]
                if 0 < second < 0x80:  # a final 0 group would be non-canonical
                    append(first & 0x7F | second << 7)
                    pos += 2
                    continue
            value, pos = decode_varint(data, pos)
            append(value)
        self.pos = pos
        return tuple(values)

    def byte(self) -> int:
        if self.pos >= self.end:
            raise MoneroFormatError("truncated: expected a byte")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, size: int) -> bytes:
        stop = self.pos + size
        if stop > self.end:
            raise MoneroFormatError(f"truncated: expected {size} bytes")
        out = self.data[self.pos : stop]
        self.pos = stop
        return out

    def count(self, what: str, limit: int, min_item_size: int) -> int:
        """A varint element count, checked against ``limit`` and bytes left."""
        n = self.varint()
        if n > limit:
            raise MoneroFormatError(f"too many {what}: {n} > {limit}")
        if n * min_item_size > self.left():
            raise MoneroFormatError(f"{what} count {n} exceeds the bytes left")
        return n


def _read_input(r: _Reader) -> GenInput | KeyInput:
    tag = r.byte()
    if tag == TXIN_GEN:
        return GenInput(height=r.varint())
    if tag == TXIN_TO_KEY:
        amount = r.varint()
        n = r.count("key offsets", MAX_KEY_OFFSETS, 1)
        offsets = r.varints(n)
        return KeyInput(amount=amount, key_offsets=offsets, key_image=r.take(_KEY))
    if tag in (TXIN_TO_SCRIPT, TXIN_TO_SCRIPTHASH):
        raise MoneroFormatError(f"unsupported input type 0x{tag:02x} (script inputs)")
    raise MoneroFormatError(f"unknown input type 0x{tag:02x}")


def _read_outputs(r: _Reader, count: int) -> tuple[TxOut, ...]:
    """``count`` outputs (amount varint, target tag, key, view tag if tagged), inline."""
    data = r.data
    pos = r.pos
    end = r.end
    outputs: list[TxOut] = []
    append = outputs.append
    for _ in range(count):
        if pos < end and data[pos] < 0x80:  # RingCT outputs: amount 0
            amount = data[pos]
            pos += 1
        else:
            amount, pos = decode_varint(data, pos)
        if pos >= end:
            raise MoneroFormatError("truncated: expected a byte")
        tag = data[pos]
        pos += 1
        if tag == TXOUT_TO_TAGGED_KEY:
            if pos + _KEY + 1 > end:
                raise MoneroFormatError("truncated: expected a tagged output key")
            append(TxOut(amount=amount, key=data[pos : pos + _KEY], view_tag=data[pos + _KEY]))
            pos += _KEY + 1
        elif tag == TXOUT_TO_KEY:
            if pos + _KEY > end:
                raise MoneroFormatError(f"truncated: expected {_KEY} bytes")
            append(TxOut(amount=amount, key=data[pos : pos + _KEY], view_tag=None))
            pos += _KEY
        else:
            raise MoneroFormatError(f"unsupported output type 0x{tag:02x}")
    r.pos = pos
    return tuple(outputs)


def _slices(r: _Reader, count: int, size: int) -> tuple[bytes, ...]:
    """``count`` consecutive ``size``-byte fields (the caller checked they fit)."""
    data = r.data
    start = r.pos
    r.pos = start + count * size
    return tuple(data[at : at + size] for at in range(start, r.pos, size))


def _read_rct_base(r: _Reader, n_inputs: int, n_outputs: int) -> RctBase:
    """rctTypes.h rctSigBase::serialize_rctsig_base."""
    rct_type = r.byte()
    if rct_type == RCT_TYPE_NULL:
        return RctBase(type=rct_type, fee=0, ecdh=(), out_pk=(), pseudo_outs=())
    if rct_type > RCT_TYPE_BULLETPROOF_PLUS:
        raise MoneroFormatError(f"unknown RingCT type {rct_type}")
    fee = r.varint()
    pseudo_outs: tuple[bytes, ...] = ()
    if rct_type == RCT_TYPE_SIMPLE:
        if n_inputs * _KEY > r.left():
            raise MoneroFormatError("pseudoOuts exceed the bytes left")
        pseudo_outs = _slices(r, n_inputs, _KEY)
    compact = rct_type in RCT_COMPACT_ECDH_TYPES
    ecdh_size = _EIGHT if compact else 2 * _KEY
    if n_outputs * (ecdh_size + _KEY) > r.left():
        raise MoneroFormatError("ecdhInfo/outPk exceed the bytes left")
    if compact:
        ecdh = tuple(EcdhInfo(mask=b"", amount=amount) for amount in _slices(r, n_outputs, _EIGHT))
    else:
        halves = _slices(r, 2 * n_outputs, _KEY)
        ecdh = tuple(
            EcdhInfo(mask=mask, amount=amount)
            for mask, amount in zip(halves[0::2], halves[1::2], strict=True)
        )
    out_pk = _slices(r, n_outputs, _KEY)
    return RctBase(type=rct_type, fee=fee, ecdh=ecdh, out_pk=out_pk, pseudo_outs=pseudo_outs)


def _read_transaction(data: bytes, start: int, *, embedded: bool) -> tuple[Transaction, int]:
    """Parse a transaction at ``start``; return it and the position after it.

    ``embedded`` (a block's miner tx): the transaction ends where its own
    structure ends; only prunable-free forms are accepted, since the length
    of a prunable part is only known by parsing it.  Otherwise the
    transaction runs to the end of ``data``.
    """
    r = _Reader(data, start)
    version = r.varint()
    if version not in TX_VERSIONS:
        raise MoneroFormatError(f"unsupported transaction version {version}")
    unlock_time = r.varint()
    n_in = r.count("inputs", MAX_INPUTS, _MIN_INPUT_SIZE)
    if n_in == 0:
        # check_tx_syntax: "tx with empty inputs, rejected"; a v2 tx without
        # inputs would also have no RingCT base at all.
        raise MoneroFormatError("transaction without inputs")
    inputs = tuple(_read_input(r) for _ in range(n_in))
    n_out = r.count("outputs", MAX_OUTPUTS, _MIN_OUTPUT_SIZE)
    outputs = _read_outputs(r, n_out)
    extra_size = r.varint()
    if extra_size > r.left():  # extra is bounded by the blob that carries it
        raise MoneroFormatError("extra size exceeds the bytes left")
    extra = r.take(extra_size)
    prefix_end = r.pos
    prefix_hash = keccak256(data[start:prefix_end])

    rct: RctBase | None = None
    base_hash: bytes | None = None
    prunable_hash: bytes | None = None
    blob_hash: bytes | None = None
    pruned = False
    base_end = prefix_end
    if version == 1:
        ring_members = sum(len(i.key_offsets) for i in inputs if isinstance(i, KeyInput))
        sig_size = ring_members * _V1_SIGNATURE_SIZE
        if embedded:
            if sig_size:
                raise MoneroFormatError("embedded v1 transaction with signatures")
            end = prefix_end
        else:
            end = r.end
            left = end - prefix_end
            if left == sig_size:
                pass
            elif left == 0:
                pruned = True
            else:
                raise MoneroFormatError(
                    f"v1 signatures: {left} bytes where {sig_size} are expected"
                )
        if not pruned:
            blob_hash = keccak256(data[start:end])
    else:
        rct = _read_rct_base(r, n_in, n_out)
        base_end = r.pos
        base_hash = keccak256(data[prefix_end:base_end])
        if embedded:
            if rct.type != RCT_TYPE_NULL:
                raise MoneroFormatError("embedded transaction with a prunable RingCT part")
            end = base_end
        else:
            end = r.end
            if rct.type == RCT_TYPE_NULL:
                if end != base_end:
                    raise MoneroFormatError("trailing bytes after a null RingCT base")
            elif end == base_end:
                pruned = True
            else:
                prunable_hash = keccak256(data[base_end:end])
    tx = Transaction(
        version=version,
        unlock_time=unlock_time,
        inputs=inputs,
        outputs=outputs,
        extra=extra,
        rct=rct,
        prefix_hash=prefix_hash,
        base_hash=base_hash,
        prunable_hash=prunable_hash,
        blob_hash=blob_hash,
        pruned=pruned,
        prefix_size=prefix_end - start,
        base_size=base_end - prefix_end,
    )
    return tx, end


def parse_embedded_transaction(data: bytes, pos: int) -> tuple[Transaction, int]:
    """Parse the prunable-free transaction at ``pos`` inside a larger blob (a
    block's miner tx); return it and the position just after it."""
    return _read_transaction(bytes(data), pos, embedded=True)


def parse_transaction(blob: bytes) -> Transaction:
    """Parse a full or pruned transaction blob.

    Pruned means the bytes stop right after the RingCT base (v2) or after
    the prefix (v1 with key inputs).  Raises MoneroFormatError, and only
    that, for anything malformed.
    """
    tx, _ = _read_transaction(bytes(blob), 0, embedded=False)
    return tx


def transaction_hash(tx: Transaction, prunable_hash: bytes | None = None) -> bytes:
    """The transaction id (cryptonote_format_utils.cpp get_transaction_hash).

    v1: keccak of the whole blob (needs a blob with its signatures).
    v2: keccak(prefix_hash || base_hash || prunable hash), the prunable hash
    being 32 zero bytes for RCTTypeNull, else the one computed at parse time
    or, for a pruned blob, ``prunable_hash`` (e.g. from get_transactions).
    """
    if tx.version == 1:
        if tx.blob_hash is None:
            raise MoneroFormatError("the id of a pruned v1 transaction needs its signatures")
        return tx.blob_hash
    if tx.rct is None or tx.base_hash is None:
        raise MoneroFormatError("v2 transaction without a RingCT base")
    if tx.rct.type == RCT_TYPE_NULL:
        tail = _ZERO_HASH
    elif tx.prunable_hash is not None:
        tail = tx.prunable_hash
    elif prunable_hash is not None:
        if len(prunable_hash) != 32:
            raise MoneroFormatError("prunable hash must be 32 bytes")
        tail = bytes(prunable_hash)
    else:
        raise MoneroFormatError("pruned transaction: its prunable hash is needed")
    return keccak256(tx.prefix_hash + tx.base_hash + tail)


def absolute_key_offsets(inp: KeyInput) -> tuple[int, ...]:
    """Ring member indexes from the relative offsets a key input carries."""
    out: list[int] = []
    total = 0
    for offset in inp.key_offsets:
        total += offset
        if total > MAX_VARINT:
            raise MoneroFormatError("key offsets overflow 64 bits")
        out.append(total)
    return tuple(out)
