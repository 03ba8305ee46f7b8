# Owns starting and stopping real monerod (regtest) and monero-wallet-rpc
# processes on free loopback ports in their own folders, with small blocking
# RPC helpers for them. Used by the test harness, tools/ and the playground.
# Must not touch lws's store, scanner or API; never imported by the server's
# normal (non-playground) path.
"""Real Monero processes for tests, benchmarks and the regtest playground."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from lws.monero.ed25519 import base_mul, hash_to_scalar, scalar_reduce
from lws.monero.hashing import keccak256

#: How long a process may take to answer its first RPC call.
STARTUP_TIMEOUT_S = 60.0
#: Per-request timeout for harness RPC calls (wallet refreshes can be slow).
RPC_TIMEOUT_S = 120.0
#: A regtest coinbase output unlocks after this many blocks (CRYPTONOTE_MINED_MONEY_UNLOCK_WINDOW).
COINBASE_UNLOCK_BLOCKS = 60
#: Ordinary outputs unlock after this many blocks (CRYPTONOTE_DEFAULT_TX_SPENDABLE_AGE).
SPENDABLE_AGE_BLOCKS = 10


class RpcError(RuntimeError):
    """A JSON-RPC call answered with an error object."""


#: wallet-rpc's error code for a failed request to its daemon.
NO_DAEMON_CONNECTION = -38
#: How often a call failing with it is tried again.
NO_DAEMON_RETRIES = 2


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def which(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise FileNotFoundError(
            f"{binary} not found on PATH: install Debian's 'monero' package (apt-get install -y monero)"
        )
    return path


class TestKeys:
    """Deterministic wallet keys from a label (spend secret -> view = Hs(spend))."""

    __test__ = False  # not a pytest class

    def __init__(self, label: str) -> None:
        self.label = label
        self.spend_secret = scalar_reduce(keccak256(b"lws-test-wallet:" + label.encode()))
        self.view_secret = hash_to_scalar(self.spend_secret)
        self.spend_public = base_mul(self.spend_secret)
        self.view_public = base_mul(self.view_secret)

    def address(self) -> str:
        from lws.monero.address import Network, make_address

        return make_address(Network.MAINNET, self.spend_public, self.view_public)


class _Process:
    """A child process with a JSON(-RPC) endpoint on 127.0.0.1:port."""

    name = "process"

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port if port is not None else free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(timeout=RPC_TIMEOUT_S)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def _spawn(self, argv: list[str]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        console = open(self.workdir / f"{self.name}.console", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        console.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start: {self.tail()}")
            if self._ready():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"{self.name} did not answer in {STARTUP_TIMEOUT_S}s: {self.tail()}"
                )
            time.sleep(0.2)

    def _ready(self) -> bool:
        raise NotImplementedError

    def tail(self, lines: int = 20) -> str:
        for path in (self.workdir / f"{self.name}.console", self.log_path):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()
                if text:
                    return "\n".join(text[-lines:])
        return "(no output)"

    def rpc(self, method: str, **params: Any) -> Any:
        reply = self.client.post(
            f"{self.url}/json_rpc",
            json={"jsonrpc": "2.0", "id": "0", "method": method, "params": params},
        )
        reply.raise_for_status()
        body = reply.json()
        if "error" in body:
            raise RpcError(f"{self.name} {method}: {body['error']}")
        return body["result"]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.client.close()

    def __enter__(self) -> _Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Monerod(_Process):
    """``monerod --regtest --offline --fixed-difficulty 1`` in its own folder."""

    name = "monerod"

    def __init__(
        self,
        workdir: Path,
        *,
        keep_chain: bool = False,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """``port``: the RPC port (a free one if None); pass the old one to restart in place.
        ``extra_args``: more monerod flags (e.g. RPC connection limits for a benchmark)."""
        super().__init__(workdir, port=port)
        argv = [
            which("monerod"),
            "--regtest",
            "--offline",
            "--fixed-difficulty",
            "1",
            "--disable-rpc-ban",
            "--non-interactive",
            "--no-igd",
            "--no-zmq",
            "--data-dir",
            str(workdir / "chain"),
            "--log-file",
            str(self.log_path),
            "--log-level",
            "0",
            "--rpc-bind-ip",
            "127.0.0.1",
            "--rpc-bind-port",
            str(self.port),
            "--p2p-bind-ip",
            "127.0.0.1",
            "--p2p-bind-port",
            str(free_port()),
            "--max-txpool-weight",
            str(2**31),
        ]
        if keep_chain:
            argv.append("--keep-fakechain")
        argv += extra_args
        self._spawn(argv)

    def _ready(self) -> bool:
        try:
            return bool(
                self.client.post(f"{self.url}/get_height", json={}, timeout=2).status_code == 200
            )
        except httpx.HTTPError:
            return False

    def call(self, path: str, **body: Any) -> Any:
        """A plain-JSON endpoint such as ``/get_transactions``."""
        reply = self.client.post(f"{self.url}/{path.lstrip('/')}", json=body)
        reply.raise_for_status()
        return reply.json()

    def call_bin(self, path: str, body: bytes) -> bytes:
        reply = self.client.post(f"{self.url}/{path.lstrip('/')}", content=body)
        reply.raise_for_status()
        return reply.content

    def height(self) -> int:
        return int(self.call("get_height")["height"])

    def mine(self, blocks: int, address: str) -> list[str]:
        """Mine ``blocks`` blocks paying ``address``; returns their hashes."""
        hashes: list[str] = []
        while blocks > 0:
            step = min(blocks, 200)
            result = self.rpc("generateblocks", amount_of_blocks=step, wallet_address=address)
            hashes.extend(result.get("blocks", []))
            blocks -= step
        return hashes

    def pool_hashes(self) -> list[str]:
        return list(self.call("get_transaction_pool_hashes").get("tx_hashes", []))


class WalletRpc(_Process):
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

    def create_from_keys(self, name: str, keys: TestKeys, *, view_only: bool = False) -> str:
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


@contextlib.contextmanager
def regtest_node(workdir: Path, *, keep_chain: bool = False) -> Iterator[Monerod]:
    daemon = Monerod(workdir, keep_chain=keep_chain)
    try:
        yield daemon
    finally:
        daemon.stop()
