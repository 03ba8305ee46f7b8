# Owns the public face of the pure Monero library: re-exports of the scan math
# most callers need. Must not add logic of its own.
"""lws.monero: a sans-I/O Monero library (formats, hashing, keys, scan math)."""

from .derivation import (
    derivation_to_scalar,
    derive_public_key,
    derive_view_tag,
    generate_key_derivation,
)
from .errors import MoneroFormatError

__all__ = [
    "MoneroFormatError",
    "derivation_to_scalar",
    "derive_public_key",
    "derive_view_tag",
    "generate_key_derivation",
]
