# Owns Monero address text: networks and their prefixes, Monero's block
# base58 with the keccak checksum, and the Address value (standard,
# subaddress, integrated).  Pure; must not derive keys (subaddress.py does)
# nor know about accounts, wallets or the store.
"""Monero addresses: ``decode_address`` / ``encode_address``.

Layout of the decoded bytes (cryptonote_basic_impl.cpp)::

    varint(prefix) || spend_public(32) || view_public(32)
        [|| payment_id(8), integrated only] || keccak(previous)[:4]

then Monero's base58: every 8-byte block becomes exactly 11 characters,
a final partial block of n bytes becomes ``_ENCODED_BLOCK_SIZES[n]``.
"""

from __future__ import annotations

import enum

import msgspec

from .ed25519 import check_key
from .errors import MoneroFormatError
from .hashing import keccak256
from .varint import decode_varint, encode_varint


class Network(enum.Enum):
    MAINNET = "mainnet"
    TESTNET = "testnet"
    STAGENET = "stagenet"


class AddressKind(enum.Enum):
    STANDARD = "standard"
    SUBADDRESS = "subaddress"
    INTEGRATED = "integrated"


#: Base58 prefixes from cryptonote_config.h
#: (CRYPTONOTE_PUBLIC_{,INTEGRATED_,SUBADDRESS_}ADDRESS_BASE58_PREFIX).
PREFIXES: dict[tuple[Network, AddressKind], int] = {
    (Network.MAINNET, AddressKind.STANDARD): 18,
    (Network.MAINNET, AddressKind.INTEGRATED): 19,
    (Network.MAINNET, AddressKind.SUBADDRESS): 42,
    (Network.TESTNET, AddressKind.STANDARD): 53,
    (Network.TESTNET, AddressKind.INTEGRATED): 54,
    (Network.TESTNET, AddressKind.SUBADDRESS): 63,
    (Network.STAGENET, AddressKind.STANDARD): 24,
    (Network.STAGENET, AddressKind.INTEGRATED): 25,
    (Network.STAGENET, AddressKind.SUBADDRESS): 36,
}
_BY_PREFIX: dict[int, tuple[Network, AddressKind]] = {v: k for k, v in PREFIXES.items()}

#: Public keys are 32-byte compressed Edwards points.
KEY_SIZE = 32
#: The short (encrypted) payment id an integrated address carries.
PAYMENT_ID_SIZE = 8
#: keccak(prefix || keys [|| payment id])[:4] closes every address.
CHECKSUM_SIZE = 4

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_DIGITS: dict[str, int] = {c: i for i, c in enumerate(_ALPHABET)}
#: base58.cpp: full 8-byte blocks encode to 11 characters...
_FULL_BLOCK_SIZE = 8
_FULL_ENCODED_BLOCK_SIZE = 11
#: ...and a trailing block of n bytes (index) to this many characters.
_ENCODED_BLOCK_SIZES = (0, 2, 3, 5, 6, 7, 9, 10, 11)
_DECODED_BLOCK_SIZES: dict[int, int] = {
    enc: n for n, enc in enumerate(_ENCODED_BLOCK_SIZES) if n > 0
}


def _encoded_length(byte_length: int) -> int:
    full, rest = divmod(byte_length, _FULL_BLOCK_SIZE)
    return full * _FULL_ENCODED_BLOCK_SIZE + _ENCODED_BLOCK_SIZES[rest]


#: The longest address text there is: an integrated address (1-byte prefix,
#: two keys, payment id, checksum = 77 bytes -> 106 characters).  Anything
#: longer is rejected before any decoding work is done.
MAX_ADDRESS_LENGTH = _encoded_length(1 + 2 * KEY_SIZE + PAYMENT_ID_SIZE + CHECKSUM_SIZE)


class Address(msgspec.Struct, frozen=True, gc=False):
    """A decoded address; ``payment_id`` is set for integrated ones only."""

    network: Network
    kind: AddressKind
    spend_public: bytes
    view_public: bytes
    payment_id: bytes | None = None


# --- base58 ------------------------------------------------------------------


def base58_encode(data: bytes) -> str:
    """Monero's block base58 (not Bitcoin's): fixed width per block."""
    out: list[str] = []
    for start in range(0, len(data), _FULL_BLOCK_SIZE):
        block = data[start : start + _FULL_BLOCK_SIZE]
        num = int.from_bytes(block, "big")
        chars = []
        for _ in range(_ENCODED_BLOCK_SIZES[len(block)]):
            num, digit = divmod(num, 58)
            chars.append(_ALPHABET[digit])
        out.append("".join(reversed(chars)))
    return "".join(out)


def base58_decode(text: str) -> bytes:
    """Inverse of :func:`base58_encode`; rejects what base58.cpp rejects.

    Bad characters, an impossible trailing block length, and blocks whose
    value overflows their byte width (which keeps encodings unique).
    Callers bound ``len(text)`` first.
    """
    out = bytearray()
    for start in range(0, len(text), _FULL_ENCODED_BLOCK_SIZE):
        block = text[start : start + _FULL_ENCODED_BLOCK_SIZE]
        size = _DECODED_BLOCK_SIZES.get(len(block))
        if size is None:
            raise MoneroFormatError("invalid base58 length")
        num = 0
        for char in block:
            digit = _DIGITS.get(char)
            if digit is None:
                raise MoneroFormatError("invalid base58 character")
            num = num * 58 + digit
        if num >> (8 * size):
            raise MoneroFormatError("base58 block overflows")
        out += num.to_bytes(size, "big")
    return bytes(out)


# --- addresses ---------------------------------------------------------------


def decode_address(text: str, network: Network | None = None) -> Address:
    """Parse address text; with ``network``, also require that network.

    Raises :class:`MoneroFormatError` for anything that is not a valid
    address: wrong length or characters, bad checksum, unknown prefix,
    keys that are not curve points (monero's ``check_key``).
    """
    if not isinstance(text, str):
        raise MoneroFormatError("address must be text")
    if len(text) > MAX_ADDRESS_LENGTH:
        raise MoneroFormatError("address too long")
    raw = base58_decode(text)
    if len(raw) <= CHECKSUM_SIZE:
        raise MoneroFormatError("address too short")
    body, checksum = raw[:-CHECKSUM_SIZE], raw[-CHECKSUM_SIZE:]
    if keccak256(body)[:CHECKSUM_SIZE] != checksum:
        raise MoneroFormatError("address checksum mismatch")
    prefix, pos = decode_varint(body)
    found = _BY_PREFIX.get(prefix)
    if found is None:
        raise MoneroFormatError("unknown address prefix")
    net, kind = found
    expected = 2 * KEY_SIZE + (PAYMENT_ID_SIZE if kind is AddressKind.INTEGRATED else 0)
    if len(body) - pos != expected:
        raise MoneroFormatError(f"wrong length for a {kind.value} address")
    spend = body[pos : pos + KEY_SIZE]
    view = body[pos + KEY_SIZE : pos + 2 * KEY_SIZE]
    if not (check_key(spend) and check_key(view)):
        raise MoneroFormatError("address key is not a curve point")
    if network is not None and net is not network:
        raise MoneroFormatError(f"address is for {net.value}, not {network.value}")
    payment_id = body[pos + 2 * KEY_SIZE :] if kind is AddressKind.INTEGRATED else None
    return Address(net, kind, spend, view, payment_id)


def encode_address(address: Address) -> str:
    """Address text for ``address``.

    Raises :class:`MoneroFormatError` where the text would not decode: keys
    that are not curve points, a payment id on the wrong kind or of the
    wrong size.
    """
    if not (check_key(address.spend_public) and check_key(address.view_public)):
        raise MoneroFormatError("address key is not a curve point")
    if address.kind is AddressKind.INTEGRATED:
        if address.payment_id is None or len(address.payment_id) != PAYMENT_ID_SIZE:
            raise MoneroFormatError("integrated address needs an 8-byte payment id")
        tail = address.payment_id
    else:
        if address.payment_id is not None:
            raise MoneroFormatError(f"a {address.kind.value} address has no payment id")
        tail = b""
    body = (
        encode_varint(PREFIXES[(address.network, address.kind)])
        + address.spend_public
        + address.view_public
        + tail
    )
    return base58_encode(body + keccak256(body)[:CHECKSUM_SIZE])


def make_address(
    network: Network,
    spend_public: bytes,
    view_public: bytes,
    *,
    subaddress: bool = False,
    payment_id: bytes | None = None,
) -> str:
    """Address text from keys; ``payment_id`` makes an integrated address."""
    if subaddress and payment_id is not None:
        raise MoneroFormatError("a subaddress cannot carry a payment id")
    if payment_id is not None:
        kind = AddressKind.INTEGRATED
    elif subaddress:
        kind = AddressKind.SUBADDRESS
    else:
        kind = AddressKind.STANDARD
    return encode_address(
        Address(network, kind, bytes(spend_public), bytes(view_public), payment_id)
    )
