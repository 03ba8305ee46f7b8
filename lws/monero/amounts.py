# Owns RingCT amount recovery for a found output (rctOps.cpp ecdhDecode,
# rctSigs.cpp decodeRctSimple), Pedersen commitments (commit, zeroCommit)
# and the short payment id cipher (encrypt_payment_id).  Pure; takes the
# output's shared scalar s_i or the derivation as input and must not derive
# them itself (derivation.py does), nor parse transactions.
"""Amounts, commitments and encrypted payment ids.

``s`` below is the output's shared scalar ``Hs(D || varint(i))``.  A decoded
amount is only trusted once ``mask G + amount H`` equals the output's
commitment: a sender can otherwise put any number in ecdhInfo.
"""

from __future__ import annotations

from nacl import bindings as _sodium

from .ed25519 import (
    D,
    ExtendedPoint,
    L,
    P,
    base_mul,
    batch_invert,
    decode_point,
    encode_point,
    hash_to_scalar,
    int_to_scalar,
    point_add,
    scalar_to_int,
)
from .errors import MoneroFormatError
from .hashing import keccak256

#: RingCT types (rctTypes.h): 1 Full, 2 Simple, 3 Bulletproof carry a 32-byte
#: masked mask and amount per output ...
RCT_TYPE_FULL = 1
RCT_TYPE_SIMPLE = 2
RCT_TYPE_BULLETPROOF = 3
#: ... 4 Bulletproof2, 5 CLSAG, 6 BulletproofPlus only an 8-byte amount
#: ("compact" ecdhInfo, the mask is derived from s).
RCT_TYPE_BULLETPROOF2 = 4
RCT_TYPE_CLSAG = 5
RCT_TYPE_BULLETPROOF_PLUS = 6
_FULL_ECDH_TYPES = frozenset({RCT_TYPE_FULL, RCT_TYPE_SIMPLE, RCT_TYPE_BULLETPROOF})
_COMPACT_ECDH_TYPES = frozenset({RCT_TYPE_BULLETPROOF2, RCT_TYPE_CLSAG, RCT_TYPE_BULLETPROOF_PLUS})

#: The second Pedersen generator H (rctTypes.h ``H``), in the prime subgroup.
H = bytes.fromhex("8b655970153799af2aeadc9ff1add0ea6c7251d54154cfa92c173a0dd39c1f94")
#: Amounts are uint64 (xmr_amount).
MAX_AMOUNT = 2**64 - 1
#: Compact ecdhInfo carries the amount's 8 little-endian bytes.
COMPACT_AMOUNT_SIZE = 8
#: Keys, scalars and full ecdhInfo fields are 32 bytes.
KEY_SIZE = 32
#: The short payment id of tx extra nonce 0x01.
ENCRYPTED_PAYMENT_ID_SIZE = 8
#: cryptonote_config.h HASH_KEY_ENCRYPTED_PAYMENT_ID.
HASH_KEY_ENCRYPTED_PAYMENT_ID = b"\x8d"

_AMOUNT_DOMAIN = b"amount"
_MASK_DOMAIN = b"commitment_mask"


#: A multiple of H ready for a mixed addition: (y + x, y - x, 2 d x y).
_NielsPoint = tuple[int, int, int]
#: Amounts are added up from their bytes: window i, byte b -> b * 256**i * H.
_AMOUNT_WINDOWS = 8


def _amount_table() -> tuple[tuple[_NielsPoint, ...], ...]:
    """Every ``b * 256**i * H`` (i < 8, 0 < b < 256; entry 0 unused), affine."""
    base = decode_point(H)
    assert base is not None
    multiples: list[ExtendedPoint] = []
    for _ in range(_AMOUNT_WINDOWS):
        acc = base
        for _ in range(255):
            multiples.append(acc)
            acc = point_add(acc, base)
        base = acc  # 256 times the window's base: the next window's
    inverses = batch_invert([z for _, _, z, _ in multiples])
    table: list[tuple[_NielsPoint, ...]] = []
    for window in range(_AMOUNT_WINDOWS):
        row: list[_NielsPoint] = [(1, 1, 0)]  # the identity, never looked up
        for (x, y, _, _), z_inverse in zip(
            multiples[window * 255 : (window + 1) * 255],
            inverses[window * 255 : (window + 1) * 255],
            strict=True,
        ):
            x = x * z_inverse % P
            y = y * z_inverse % P
            row.append(((y + x) % P, (y - x) % P, 2 * D * x * y % P))
        table.append(tuple(row))
    return tuple(table)


_AMOUNT_TABLE = _amount_table()


def _amount_h(amount: int) -> bytes:
    """amount * H for a uint64 amount: at most 8 table additions.

    A third of the cost of libsodium's variable-base multiplication (which
    also re-checks H's order each time); the commitment check of every
    found output pays it.
    """
    x, y, z, t = 0, 1, 1, 0  # the identity, extended coordinates
    for row in _AMOUNT_TABLE:
        byte = amount & 0xFF
        if byte:
            # Mixed addition (a = -1) with an affine (y + x, y - x, 2dxy) point.
            y_plus_x, y_minus_x, xy2d = row[byte]
            a = (y - x) * y_minus_x % P
            b = (y + x) * y_plus_x % P
            c = t * xy2d % P
            d = 2 * z
            e, f, g, h = b - a, d - c, d + c, b + a
            x, y, z, t = e * f % P, g * h % P, f * g % P, e * h % P
        amount >>= 8
        if not amount:
            break
    return encode_point((x, y, z, t))


def commit(amount: int, mask: bytes) -> bytes:
    """``rct::commit``: mask G + amount H (``mask`` is reduced mod l first)."""
    if not 0 <= amount <= MAX_AMOUNT:
        raise MoneroFormatError("amount out of uint64 range")
    if len(mask) != KEY_SIZE:
        raise MoneroFormatError("mask must be 32 bytes")
    mask_g = base_mul(int_to_scalar(scalar_to_int(mask)))
    # Both summands are libsodium outputs, hence canonical encodings.
    return bytes(_sodium.crypto_core_ed25519_add(mask_g, _amount_h(amount)))


def zero_commit(amount: int) -> bytes:
    """``rct::zeroCommit``: 1 G + amount H, the commitment of a cleartext amount."""
    return commit(amount, int_to_scalar(1))


def commitment_mask(shared_scalar: bytes) -> bytes:
    """``genCommitmentMask``: Hs("commitment_mask" || s)."""
    return hash_to_scalar(_MASK_DOMAIN + shared_scalar)


def decode_amount(
    rct_type: int,
    ecdh_mask: bytes,
    ecdh_amount: bytes,
    shared_scalar: bytes,
    commitment: bytes,
) -> tuple[int, bytes] | None:
    """``(amount, mask)`` of an output, or None if it does not open ``commitment``.

    Compact types (4-6): ``ecdh_amount`` is 8 bytes, ``ecdh_mask`` is
    ignored (pass b""); amount = ecdh XOR keccak("amount" || s)[:8] and
    mask = Hs("commitment_mask" || s).  Types 1-3: both are 32 bytes;
    mask = ecdh_mask - Hs(s), amount = ecdh_amount - Hs(Hs(s)) mod l, and
    the amount must fit 64 bits (monero would silently truncate it).
    None too for any other type or malformed sizes.
    """
    if len(shared_scalar) != KEY_SIZE or len(commitment) != KEY_SIZE:
        return None
    if rct_type in _COMPACT_ECDH_TYPES:
        if len(ecdh_amount) != COMPACT_AMOUNT_SIZE:
            return None
        pad = keccak256(_AMOUNT_DOMAIN + shared_scalar)[:COMPACT_AMOUNT_SIZE]
        amount = int.from_bytes(ecdh_amount, "little") ^ int.from_bytes(pad, "little")
        mask = commitment_mask(shared_scalar)
    elif rct_type in _FULL_ECDH_TYPES:
        if len(ecdh_mask) != KEY_SIZE or len(ecdh_amount) != KEY_SIZE:
            return None
        secret1 = hash_to_scalar(shared_scalar)
        secret2 = hash_to_scalar(secret1)
        mask = int_to_scalar(scalar_to_int(ecdh_mask) - scalar_to_int(secret1))
        amount = (scalar_to_int(ecdh_amount) - scalar_to_int(secret2)) % L
        if amount > MAX_AMOUNT:
            return None
    else:
        return None
    if commit(amount, mask) != bytes(commitment):
        return None
    return amount, mask


def decrypt_payment_id(encrypted: bytes, derivation: bytes) -> bytes:
    """Short payment id: enc XOR keccak(D || 0x8d)[:8] (its own inverse).

    ``derivation`` is the main derivation 8aR of the tx's first pubkey.
    Raises MoneroFormatError on wrong sizes.
    """
    if len(encrypted) != ENCRYPTED_PAYMENT_ID_SIZE or len(derivation) != KEY_SIZE:
        raise MoneroFormatError("payment id must be 8 bytes and derivation 32 bytes")
    pad = keccak256(bytes(derivation) + HASH_KEY_ENCRYPTED_PAYMENT_ID)
    value = int.from_bytes(encrypted, "little") ^ int.from_bytes(
        pad[:ENCRYPTED_PAYMENT_ID_SIZE], "little"
    )
    return value.to_bytes(ENCRYPTED_PAYMENT_ID_SIZE, "little")
