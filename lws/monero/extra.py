# Owns the tolerant reading of a transaction's `extra` field (tx pubkeys,
# additional pubkeys, payment ids). Pure: bytes in, a frozen value out; must
# not know about transaction layout, keys of accounts or any scan math.
"""Transaction ``extra`` parsing, as tolerant as wallet2's ``parse_tx_extra``.

``extra`` is not validated by consensus: garbage, truncated fields and
unknown tags occur on chain.  Monero (``cryptonote_format_utils.cpp``,
``parse_tx_extra``) reads fields one after another and, on the first field it
cannot read, stops and reports failure while keeping every field read so
far; wallet2 then scans with those fields.  ``parse_extra`` does the same and
never raises: ``complete`` is False when it stopped early.
"""

from __future__ import annotations

from msgspec import Struct

from .errors import MoneroFormatError
from .varint import decode_varint

#: tx_extra.h TX_EXTRA_TAG_PADDING: zeros up to the end of extra.
TAG_PADDING = 0x00
#: TX_EXTRA_TAG_PUBKEY: one 32-byte public key.
TAG_PUBKEY = 0x01
#: TX_EXTRA_NONCE: a varint-sized string (payment ids live inside it).
TAG_NONCE = 0x02
#: TX_EXTRA_MERGE_MINING_TAG: a varint-sized string holding varint depth +
#: 32-byte merkle root.
TAG_MERGE_MINING = 0x03
#: TX_EXTRA_TAG_ADDITIONAL_PUBKEYS: varint count + 32 bytes each.
TAG_ADDITIONAL_PUBKEYS = 0x04
#: TX_EXTRA_MYSTERIOUS_MINERGATE_TAG: a varint-sized string.
TAG_MYSTERIOUS_MINERGATE = 0xDE

#: Inside a nonce: TX_EXTRA_NONCE_PAYMENT_ID (+ 32 bytes).
NONCE_PAYMENT_ID = 0x00
#: Inside a nonce: TX_EXTRA_NONCE_ENCRYPTED_PAYMENT_ID (+ 8 bytes).
NONCE_ENCRYPTED_PAYMENT_ID = 0x01

#: TX_EXTRA_PADDING_MAX_COUNT: monero refuses a padding field (tag byte
#: included) longer than 255 bytes.
PADDING_MAX_COUNT = 255
#: TX_EXTRA_NONCE_MAX_COUNT: monero refuses a nonce longer than 255 bytes.
NONCE_MAX_COUNT = 255

_KEY_SIZE = 32
_PAYMENT_ID_SIZE = 32
_ENCRYPTED_PAYMENT_ID_SIZE = 8


class TxExtra(Struct, frozen=True, gc=False):
    """What a scanner needs from ``extra``."""

    #: Every 0x01 field in order (may repeat: wallets try each).
    tx_pubkeys: tuple[bytes, ...]
    #: The first 0x04 field's keys (one per output when present).
    additional_pubkeys: tuple[bytes, ...]
    #: 32-byte unencrypted payment id from the first nonce (0x00 + 32 bytes).
    payment_id: bytes | None
    #: 8-byte encrypted payment id from the first nonce (0x01 + 8 bytes).
    encrypted_payment_id: bytes | None
    #: False when parsing stopped at a field it could not read.
    complete: bool


class _Stop(Exception):
    """Internal: the field at this position cannot be read."""


def _take(extra: bytes, pos: int, size: int) -> tuple[bytes, int]:
    end = pos + size
    if end > len(extra):
        raise _Stop
    return extra[pos:end], end


def _sized_string(extra: bytes, pos: int) -> tuple[bytes, int]:
    """A varint length followed by that many bytes (monero's std::string)."""
    try:
        size, pos = decode_varint(extra, pos)
    except MoneroFormatError:
        raise _Stop from None
    if size > len(extra) - pos:
        raise _Stop
    return _take(extra, pos, size)


def _merge_mining_ok(field: bytes) -> bool:
    """The inner archive must be exactly varint depth + 32-byte root."""
    try:
        _, pos = decode_varint(field, 0)
    except MoneroFormatError:
        return False
    return len(field) - pos == _KEY_SIZE


def parse_extra(extra: bytes) -> TxExtra:
    """Read the fields of ``extra``; never raises (see the module doc)."""
    extra = bytes(extra)
    tx_pubkeys: list[bytes] = []
    additional: tuple[bytes, ...] | None = None
    nonce: bytes | None = None
    complete = True
    pos = 0
    end = len(extra)
    try:
        while pos < end:
            tag = extra[pos]
            pos += 1
            if tag == TAG_PADDING:
                # Zeros until the end; tag + zeros at most PADDING_MAX_COUNT.
                rest = extra[pos:]
                if len(rest) + 1 > PADDING_MAX_COUNT or rest.count(0) != len(rest):
                    raise _Stop
                pos = end
            elif tag == TAG_PUBKEY:
                key, pos = _take(extra, pos, _KEY_SIZE)
                tx_pubkeys.append(key)
            elif tag == TAG_NONCE:
                data, pos = _sized_string(extra, pos)
                if len(data) > NONCE_MAX_COUNT:
                    raise _Stop
                if nonce is None:
                    nonce = data
            elif tag == TAG_MERGE_MINING:
                data, pos = _sized_string(extra, pos)
                if not _merge_mining_ok(data):
                    raise _Stop
            elif tag == TAG_ADDITIONAL_PUBKEYS:
                try:
                    count, pos = decode_varint(extra, pos)
                except MoneroFormatError:
                    raise _Stop from None
                if count > (end - pos) // _KEY_SIZE:
                    raise _Stop
                keys = tuple(
                    extra[pos + i * _KEY_SIZE : pos + (i + 1) * _KEY_SIZE] for i in range(count)
                )
                pos += count * _KEY_SIZE
                if additional is None:
                    additional = keys
            elif tag == TAG_MYSTERIOUS_MINERGATE:
                _, pos = _sized_string(extra, pos)
            else:
                raise _Stop
    except _Stop:
        complete = False

    payment_id: bytes | None = None
    encrypted_payment_id: bytes | None = None
    if nonce is not None:
        # cryptonote_format_utils.cpp get_(encrypted_)payment_id_from_tx_extra_nonce:
        # exact sizes only.
        if len(nonce) == 1 + _PAYMENT_ID_SIZE and nonce[0] == NONCE_PAYMENT_ID:
            payment_id = nonce[1:]
        elif (
            len(nonce) == 1 + _ENCRYPTED_PAYMENT_ID_SIZE and nonce[0] == NONCE_ENCRYPTED_PAYMENT_ID
        ):
            encrypted_payment_id = nonce[1:]
    return TxExtra(
        tx_pubkeys=tuple(tx_pubkeys),
        additional_pubkeys=additional if additional is not None else (),
        payment_id=payment_id,
        encrypted_payment_id=encrypted_payment_id,
        complete=complete,
    )
