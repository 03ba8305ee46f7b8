# Owns deterministic wallet keys derived from a text label (the playground's
# demo wallet; the test harness names its wallets the same way). Must not
# touch any process, store or network: pure key arithmetic from lws.monero.
"""Wallet keys from a label: spend secret = H(label), view secret = Hs(spend)."""

from __future__ import annotations

from lws.monero.address import Network, make_address
from lws.monero.ed25519 import base_mul, hash_to_scalar, scalar_reduce
from lws.monero.hashing import keccak256


class WalletKeys:
    """Deterministic wallet keys from a label (spend secret -> view = Hs(spend))."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.spend_secret = scalar_reduce(keccak256(b"lws-test-wallet:" + label.encode()))
        self.view_secret = hash_to_scalar(self.spend_secret)
        self.spend_public = base_mul(self.spend_secret)
        self.view_public = base_mul(self.view_secret)

    def address(self, network: Network = Network.MAINNET) -> str:
        """The primary address (mainnet's by default: regtest uses mainnet addresses)."""
        return make_address(network, self.spend_public, self.view_public)
