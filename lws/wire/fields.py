# Owns the field types every light-wallet JSON body is built from: bounded
# integers, uint64 strings, hex keys, address text, and the checks msgspec
# cannot express (uint64 bounds). Must not know about accounts, the store or
# HTTP.
"""Field types of the light-wallet API's JSON."""

from __future__ import annotations

from typing import Annotated

import msgspec

from lws.monero.address import MAX_ADDRESS_LENGTH

U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1
U16_MAX = 2**16 - 1

#: A JSON number that must fit uint16 / uint32 (the spec: reject past the bit width).
U16 = Annotated[int, msgspec.Meta(ge=0, le=U16_MAX)]
U32 = Annotated[int, msgspec.Meta(ge=0, le=U32_MAX)]
#: A JSON number that must fit uint64: msgspec cannot bound past int64, so
#: structs call :func:`check_u64` in ``__post_init__``.
U64 = Annotated[int, msgspec.Meta(ge=0)]
#: A uint64 sent as a decimal string (JavaScript numbers lose precision past 2**53).
#: 20 digits hold every uint64; :func:`u64_of` checks the value.
U64String = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,20}$")]
#: A 32-byte key or hash as 64 hex digits (either case accepted on input).
Hex32 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{64}$")]
#: Address text; longer than any Monero address is refused before decoding.
AddressText = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ADDRESS_LENGTH)]


def check_u64(name: str, value: int) -> None:
    if value > U64_MAX:
        raise ValueError(f"`{name}` exceeds uint64")


def u64_of(name: str, text: str) -> int:
    """The value of a uint64 string (already matched by :data:`U64String`)."""
    value = int(text)
    if value > U64_MAX:
        raise ValueError(f"`{name}` exceeds uint64")
    return value
