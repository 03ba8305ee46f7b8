# Owns the hostile-transaction mutations of the scan tests (unit and e2e):
# points of small order and keys that do not decode, a tx public key with a
# torsion part added, a replaced extra field, a flipped encrypted amount.
# Must not scan or assert what a scan finds: the tests do.
"""Blob mutations that make a real transaction hostile."""

from __future__ import annotations

from lws.monero.ed25519 import L, decode_point, encode_point, is_identity, point_add, point_mul
from lws.monero.extra import parse_extra
from lws.monero.tx import Transaction, parse_transaction
from lws.monero.varint import encode_varint


def _find_torsion_point() -> bytes:
    """An encoded point of order exactly 8 (the torsion part of some curve point)."""
    for y in range(2, 1000):
        point = decode_point(y.to_bytes(32, "little"))
        if point is None:
            continue
        torsion = point_mul(L, point)  # kills the prime-order part
        if not is_identity(point_mul(4, torsion)):
            return encode_point(torsion)
    raise AssertionError("no order-8 point found")


#: A point T with 8T = 0 and 4T != 0.
TORSION_8 = _find_torsion_point()


def _find_undecodable_key() -> bytes:
    """32 bytes that are no curve point (y below p with no x): monero's check_key fails."""
    for y in range(2, 1000):
        key = y.to_bytes(32, "little")
        if decode_point(key) is None:
            return key
    raise AssertionError("every y decodes")


#: A tx public key that does not decode.
UNDECODABLE_KEY = _find_undecodable_key()


def torsioned(key: bytes) -> bytes:
    """``key + T``: a different encoding whose 8x multiple equals 8 * key."""
    point = decode_point(key)
    assert point is not None
    out = encode_point(point_add(point, decode_point(TORSION_8)))  # type: ignore[arg-type]
    assert out != key
    return out


def replace_once(blob: bytes, old: bytes, new: bytes) -> bytes:
    assert blob.count(old) == 1, "the bytes to mutate are not unique in the blob"
    return blob.replace(old, new)


def with_extra(blob: bytes, tx: Transaction, extra: bytes) -> bytes:
    """The blob with its ``extra`` field replaced (length prefix rewritten)."""
    old = encode_varint(len(tx.extra)) + tx.extra
    return replace_once(blob, old, encode_varint(len(extra)) + extra)


def with_main_pubkey(blob: bytes, tx: Transaction, key: bytes) -> bytes:
    """The blob with its first main tx public key replaced in place."""
    pos = tx.extra.index(b"\x01" + parse_extra(tx.extra).tx_pubkeys[0])
    extra = tx.extra[: pos + 1] + key + tx.extra[pos + 33 :]
    return with_extra(blob, tx, extra)


def with_flipped_amount(blob: bytes, tx: Transaction, index: int, bit: int = 0) -> bytes:
    """The blob with one bit of output ``index``'s 8-byte encrypted amount flipped."""
    assert tx.rct is not None
    old = tx.rct.ecdh[index].amount
    assert len(old) == 8
    new = (int.from_bytes(old, "little") ^ (1 << bit)).to_bytes(8, "little")
    return replace_once(blob, old, new)


def torsion_mutation(blob: bytes) -> bytes:
    """The blob with its first main tx public key R replaced by R + T."""
    tx = parse_transaction(blob)
    return with_main_pubkey(blob, tx, torsioned(parse_extra(tx.extra).tx_pubkeys[0]))
