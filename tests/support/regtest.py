# Owns the test harness's view of real Monero processes: the monero-wallet-rpc
# driver (the oracle of what a wallet owns) on top of the playground's
# monerod, plus one import place for what tests and tools use of them
# (Monerod, WalletKeys, free_port, the regtest lock windows). Must not touch
# lws's store, scanner or API.
"""Real monerod and monero-wallet-rpc processes for tests and tools."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from lws.playground.keys import WalletKeys
from lws.playground.monerod import (
    COINBASE_UNLOCK_BLOCKS,
    SPENDABLE_AGE_BLOCKS,
    Monerod,
    RpcError,
    RpcProcess,
    free_port,
    which,
)

__all__ = [
    "COINBASE_UNLOCK_BLOCKS",
    "SPENDABLE_AGE_BLOCKS",
    "Monerod",
    "RpcError",
    "WalletKeys",
    "WalletRpc",
    "free_port",
]

#: wallet-rpc's error code for a failed request to its daemon.
NO_DAEMON_CONNECTION = -38
#: How often a call failing with it is tried again.
NO_DAEMON_RETRIES = 2


class WalletRpc(RpcProcess):
    """``monero-wallet-rpc`` against a :class:`Monerod`, one open wallet at a time."""

    name = "wallet-rpc"

    def __init__(self, workdir: Path, daemon: Monerod) -> None:
        super().__init__(workdir)
        (workdir / "wallets").mkdir(parents=True, exist_ok=True)
        self.current: str | None = None
        self._spawn(
            [
                which("monero-wallet-rpc"),
                "--wallet-dir",
                str(workdir / "wallets"),
                "--rpc-bind-ip",
                "127.0.0.1",
                "--rpc-bind-port",
                str(self.port),
                "--disable-rpc-login",
                "--daemon-address",
                f"127.0.0.1:{daemon.port}",
                "--trusted-daemon",
                "--shared-ringdb-dir",
                str(workdir / "ringdb"),
                "--non-interactive",
                "--log-file",
                str(self.log_path),
                "--log-level",
                "0",
            ]
        )

    def _ready(self) -> bool:
        try:
            self.rpc("get_version")
            return True
        except (httpx.HTTPError, RpcError):
            return False

    def rpc(self, method: str, **params: Any) -> Any:
        """As the daemon's, but a call that failed with wallet-rpc's "no
        connection to daemon" (-38) is tried again: on a loaded 2-core machine
        wallet2 sometimes loses a request to its daemon for a moment (seen once
        in CI, in a ``transfer`` while it fetched decoys). For ``transfer``
        that is nearly always before anything is relayed; a lost relay
        request would make the retry a second transaction."""
        for attempt in range(NO_DAEMON_RETRIES + 1):
            try:
                return super().rpc(method, **params)
            except RpcError as exc:
                if (
                    f"'code': {NO_DAEMON_CONNECTION}" not in str(exc)
                    or attempt == NO_DAEMON_RETRIES
                ):
                    raise
                time.sleep(1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def create_from_keys(self, name: str, keys: WalletKeys, *, view_only: bool = False) -> str:
        """Create (or reopen) wallet ``name`` from ``keys``; returns its address."""
        address = keys.address()
        wallet_file = self.workdir / "wallets" / name
        if wallet_file.exists():
            self.open(name)
            return address
        self.close()
        params: dict[str, Any] = {
            "filename": name,
            "address": address,
            "viewkey": keys.view_secret.hex(),
            "password": "",
            "restore_height": 0,
            "autosave_current": True,
        }
        if not view_only:
            params["spendkey"] = keys.spend_secret.hex()
        self.rpc("generate_from_keys", **params)
        self.current = name
        return address

    def open(self, name: str) -> None:
        if self.current == name:
            return
        self.close()
        self.rpc("open_wallet", filename=name, password="")
        self.current = name

    def close(self) -> None:
        if self.current is not None:
            self.rpc("close_wallet")
            self.current = None

    def refresh(self) -> None:
        self.rpc("refresh")

    def incoming_transfers(self) -> list[dict[str, Any]]:
        """Every output the wallet owns, over all its accounts."""
        accounts = self.rpc("get_accounts")["subaddress_accounts"]
        transfers: list[dict[str, Any]] = []
        for account in accounts:
            result = self.rpc(
                "incoming_transfers", transfer_type="all", account_index=account["account_index"]
            )
            transfers.extend(result.get("transfers", []))
        return transfers
