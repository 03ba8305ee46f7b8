# Owns starting and stopping a real monerod (--regtest --offline) on free
# loopback ports in its own folder, with small blocking RPC helpers, and the
# base class of such RPC child processes (the test harness's wallet-rpc
# driver builds on it). The playground runs it; the tests and tools reuse it.
# Must not touch lws's store, scanner or API; never imported by the server's
# normal (non-playground) path.
"""A real regtest monerod for the playground (and the test harness)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

#: How long a process may take to answer its first RPC call.
STARTUP_TIMEOUT_S = 60.0
#: Per-request timeout for harness RPC calls (wallet refreshes can be slow).
RPC_TIMEOUT_S = 120.0
#: A regtest coinbase output unlocks after this many blocks (CRYPTONOTE_MINED_MONEY_UNLOCK_WINDOW).
COINBASE_UNLOCK_BLOCKS = 60
#: Ordinary outputs unlock after this many blocks (CRYPTONOTE_DEFAULT_TX_SPENDABLE_AGE).
SPENDABLE_AGE_BLOCKS = 10
#: How long mine() waits for monerod to finish relaying the pool's new
#: transactions (tens of milliseconds each) before it mines anyway.
RELAY_WAIT_S = 10.0


class RpcError(RuntimeError):
    """A JSON-RPC call answered with an error object."""


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


class RpcProcess:
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

    def __enter__(self) -> RpcProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Monerod(RpcProcess):
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
        """Mine ``blocks`` blocks paying ``address``; returns their hashes.
        Transactions just sent to monerod are in the first block."""
        self._wait_for_relays()
        hashes: list[str] = []
        while blocks > 0:
            step = min(blocks, 200)
            result = self.rpc("generateblocks", amount_of_blocks=step, wallet_address=address)
            hashes.extend(result.get("blocks", []))
            blocks -= step
        return hashes

    def _wait_for_relays(self) -> None:
        """Until monerod has relayed every pool transaction it was sent (or
        RELAY_WAIT_S). A transaction sent by RPC enters the pool as "local",
        which a block may not include, and becomes minable a few
        milliseconds later when the (offline, failing) Dandelion++ relay
        has run; that change does not refresh monerod's cached block
        template, so a block mined in between leaves the transaction out,
        and so does every block mined until the pool or the chain changes."""
        deadline = time.monotonic() + RELAY_WAIT_S
        while time.monotonic() < deadline:
            pool = self.call("get_transaction_pool").get("transactions", [])
            if all(
                tx.get("last_relayed_time") or tx.get("do_not_relay") or tx.get("kept_by_block")
                for tx in pool
            ):
                return
            time.sleep(0.02)

    def pool_hashes(self) -> list[str]:
        return list(self.call("get_transaction_pool_hashes").get("tx_hashes", []))
