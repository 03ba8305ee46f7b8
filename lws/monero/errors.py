# Owns the single error type raised by the pure Monero library for malformed
# input. Must not import anything outside the standard library.
"""The one documented error of ``lws.monero``'s parsers."""


class MoneroFormatError(ValueError):
    """Bytes (or text) that do not form a valid Monero structure.

    Every parser in ``lws.monero`` raises this, and only this, for input it
    cannot accept; callers catch it per item (a transaction, a block, a
    reply) and go on.
    """
