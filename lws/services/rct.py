# Owns the `rct` field of get_unspent_outs as the MyMonero core reads it:
# "coinbase" for a RingCT coinbase output, the 64-hex commitment for types
# 4-6, commitment || encrypted mask || encrypted amount (192 hex) for types
# 1-3, nothing for pre-RingCT outputs. Must not read the store or do I/O.
"""The `rct` string of an unspent output."""

from __future__ import annotations

from lws.monero.derivation import derivation_to_scalar, generate_key_derivation
from lws.monero.ed25519 import L, hash_to_scalar, int_to_scalar, scalar_to_int
from lws.store.records import RCT_TYPE_V1, OutputRecord

#: Types whose ecdhInfo carries a 32-byte mask and amount (Full, Simple, Bulletproof).
FULL_ECDH_TYPES = frozenset({1, 2, 3})
#: Types with the compact 8-byte amount (Bulletproof2, CLSAG, Bulletproof+).
COMPACT_ECDH_TYPES = frozenset({4, 5, 6})


def unspent_rct(out: OutputRecord, view_secret: bytes) -> str | None:
    """The ``rct`` value for ``out``, or None where it must be omitted."""
    if out.rct_type == RCT_TYPE_V1:
        return None
    if out.rct_type == 0 or out.coinbase:
        return "coinbase"
    if out.rct_type in COMPACT_ECDH_TYPES:
        # The core derives the mask from the tx key itself; the commitment is all it reads.
        return out.commitment.hex()
    if out.rct_type in FULL_ECDH_TYPES:
        encrypted = _encrypted_ecdh(out, view_secret)
        if encrypted is not None:
            return (out.commitment + encrypted[0] + encrypted[1]).hex()
    return out.commitment.hex()


def _encrypted_ecdh(out: OutputRecord, view_secret: bytes) -> tuple[bytes, bytes] | None:
    """Re-encrypt (mask, amount) as the transaction carried them (types 1-3).

    The store keeps the opened mask and amount; the core wants the ecdhInfo
    it decrypts itself: mask + Hs(s), amount + Hs(Hs(s)) with s the output's
    shared scalar.
    """
    derivation = generate_key_derivation(out.tx_pubkey, view_secret)
    if derivation is None:
        return None
    shared = derivation_to_scalar(derivation, out.output_index)
    secret1 = hash_to_scalar(shared)
    secret2 = hash_to_scalar(secret1)
    mask = int_to_scalar((scalar_to_int(out.mask) + scalar_to_int(secret1)) % L)
    amount = int_to_scalar((out.amount + scalar_to_int(secret2)) % L)
    return mask, amount
