# Owns the public face of the regtest playground package: what `lws serve`
# runs when no monerod is configured. Must not add logic.
"""The regtest playground: a local monerod, a funded demo wallet, and lws."""

from .run import run_playground

__all__ = ["run_playground"]
