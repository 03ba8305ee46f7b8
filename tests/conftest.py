# Owns the shared pytest fixtures: real regtest monerod and monero-wallet-rpc
# processes for the session, and the scenario chain built on them. Processes
# are torn down when the session ends, failed tests included.
"""Session fixtures that run the real Monero daemon and wallet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from lws.store import Store
from tests.support.regtest import Monerod, WalletKeys, WalletRpc, free_port
from tests.support.scenario import Scenario, build_scenario
from tests.support.store_data import NETWORK


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty regtest store in the test's folder (a package's conftest or a
    module may give its own)."""
    with Store.open(tmp_path, network=NETWORK) as opened:
        yield opened


@pytest.fixture(scope="session")
def regtest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("regtest")


class SessionMonerod(Monerod):
    """The session's monerod. Once the scenario is built on it, it refuses to
    mine: a new block would take the scenario's pool transaction out of the
    pool, and the tests that read the scenario (in whatever order they run)
    expect it there. A test that mines takes ``own_monerod`` instead."""

    scenario_built = False

    def mine(self, blocks: int, address: str) -> list[str]:
        if self.scenario_built:
            raise RuntimeError(
                "the session monerod holds the scenario's pool transaction: "
                "mine on a private chain (the own_monerod fixture)"
            )
        return super().mine(blocks, address)


@pytest.fixture(scope="session")
def monerod(regtest_dir: Path) -> Iterator[SessionMonerod]:
    with SessionMonerod(regtest_dir / "monerod") as daemon:
        yield daemon


@pytest.fixture
def own_monerod(tmp_path: Path) -> Iterator[Monerod]:
    """A private regtest monerod for one test, free to mine."""
    with Monerod(tmp_path / "own-monerod") as daemon:
        yield daemon


@pytest.fixture(scope="session")
def wallet_rpc(regtest_dir: Path, monerod: Monerod) -> Iterator[WalletRpc]:
    with WalletRpc(regtest_dir / "wallet-rpc", monerod) as wallet:
        yield wallet


@pytest.fixture(scope="session")
def scenario(monerod: SessionMonerod, wallet_rpc: WalletRpc) -> Scenario:
    """The story of tests/scenario.py, built once per session on the shared daemon."""
    story = build_scenario(monerod, wallet_rpc)
    monerod.scenario_built = True
    return story


class LwsProcess:
    """A real ``lws serve`` subprocess against the session's monerod."""

    def __init__(
        self,
        workdir: Path,
        daemon: Monerod,
        *extra: str,
        auto_accept: bool = True,
        daemon_url: str | None = None,
        wrapper: Sequence[str] = (),
    ) -> None:
        """``auto_accept`` False: accounts wait for an operator; ``daemon_url``
        reaches ``daemon`` another way (tests/support/gate.py); ``wrapper``: a
        command line that runs the rest (``lws serve ...``) with exec."""
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "lws.log"
        self.proc = subprocess.Popen(
            [
                *wrapper,
                sys.executable,
                "-m",
                "lws",
                "serve",
                "--daemon-url",
                daemon_url or daemon.url,
                "--network",
                "regtest",
                "--data-dir",
                str(self.data_dir),
                "--listen",
                f"127.0.0.1:{self.port}",
                "--poll-interval",
                "0.2",
                *(["--auto-accept-creation", "--auto-accept-import"] if auto_accept else []),
                "--scan-workers",
                "1",
                "--api-workers",  # the default (one per core) is proven in test_api_workers
                "1",
                "--rate-limit",  # the tests create many accounts; limits: tests/api, test_api_workers
                "0",
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "ab"),  # noqa: SIM115
            start_new_session=True,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lws exited at start: {self.log_path.read_text()[-3000:]}")
            try:
                if self.client.get("/get_version").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("lws did not answer in 60 s")
            time.sleep(0.2)

    def post(self, method: str, body: dict[str, Any]) -> httpx.Response:
        return self.client.post(f"/{method}", json=body)

    def login(self, keys: WalletKeys) -> dict[str, Any]:
        reply = self.post(
            "login",
            {
                "address": keys.address(),
                "view_key": keys.view_secret.hex(),
                "create_account": True,
                "generated_locally": False,
            },
        )
        reply.raise_for_status()
        return dict(reply.json())

    def wait_scanned(self, keys: WalletKeys, height: int, timeout: float = 180) -> dict[str, Any]:
        """Wait until the account has scanned ``height`` blocks; returns get_address_info."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.post(
                "get_address_info", {"address": keys.address(), "view_key": keys.view_secret.hex()}
            )
            if reply.status_code == 200 and reply.json()["scanned_block_height"] >= height:
                return dict(reply.json())
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"account not scanned to {height}: {reply.status_code} {reply.text}"
                )
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.client.close()


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    """A real Dask LocalCluster (scheduler + 2 worker processes on loopback)
    for the session, in its own process group (tests.support.dask_cluster)."""
    pytest.importorskip("distributed")
    from tests.support.dask_cluster import DaskCluster

    with DaskCluster(workers=2) as cluster:
        yield cluster


@pytest.fixture(params=["local", "cluster"])
def scan_pool(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Who scans: None (the scanner's own local worker pool), or a
    ClusterPool on the session's Dask cluster (lws serve --scan-cluster)."""
    if request.param == "local":
        yield None
        return
    cluster = request.getfixturevalue("dask_cluster")
    if cluster.proc is None:  # a test stopped it
        cluster.start()
    from lws.scan.cluster import ClusterPool

    pool = ClusterPool(cluster.address, connect_timeout=5)
    pool.start()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def lws_server(regtest_dir: Path, monerod: Monerod, scenario: Scenario) -> Iterator[LwsProcess]:
    """``lws serve`` on the scenario chain; accounts are created by logging in."""
    server = LwsProcess(regtest_dir / "lws", monerod)
    try:
        yield server
    finally:
        server.stop()
