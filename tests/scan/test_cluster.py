# Owns the tests of lws.scan.cluster against a real Dask distributed cluster
# (a LocalCluster: a scheduler and 2 worker processes on loopback, in their
# own process group): the same answers as the local pool, view keys
# scattered once per account set, a worker killed in the middle of a batch,
# the scheduler gone and back, unreachable at start; and that lws without
# --scan-cluster never imports Dask.
"""Scan work on a Dask cluster (``lws serve --scan-cluster``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from lws.daemon import BlocksReply
from lws.errors import ScanClusterUnavailable
from lws.monero.ed25519 import scalar_reduce
from lws.monero.hashing import keccak256
from lws.monero.ownership import ViewKey, make_view_key
from lws.monero.scan import find_received
from lws.scan.batch import SpendBatch, parse_blocks
from lws.scan.pool import ScanPool
from tests.scan.test_batch import ALICE, _repeated, accounts, base_reply  # noqa: F401
from tests.support.regtest import free_port

distributed = pytest.importorskip("distributed")

from lws.scan.cluster import ClusterPool, ClusterTls, spend_batch  # noqa: E402
from tests.support.dask_cluster import ROOT, DaskCluster, make_tls_files  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[DaskCluster]:
    with DaskCluster(workers=2) as cluster:
        yield cluster


@pytest.fixture
def cluster_pool(dask_cluster: DaskCluster) -> Iterator[ClusterPool]:
    if dask_cluster.proc is None:  # a test stopped it
        dask_cluster.start()
    pool = ClusterPool(dask_cluster.address, connect_timeout=3)
    pool.start()
    try:
        yield pool
    finally:
        pool.close()


def many_accounts(count: int) -> list[ViewKey]:
    """Distinct view keys: every (tx, account) pair costs a full derivation."""
    return [
        make_view_key(scalar_reduce(keccak256(b"busy %d" % i)), ALICE.spend_public)
        for i in range(count)
    ]


async def local_answer(
    reply: BlocksReply, keys: list[ViewKey]
) -> tuple[SpendBatch, list[dict[int, tuple[object, ...]]]]:
    pool = ScanPool(2)
    await trio.to_thread.run_sync(pool.start)
    try:
        pool.set_accounts(keys)
        batch, rows = await pool.parse_and_find(reply, 0, 10**9)
    finally:
        pool.close()
    assert isinstance(batch, SpendBatch)
    return batch, rows


async def test_the_same_answers_as_the_local_pool(
    cluster_pool: ClusterPool,
    base_reply: BlocksReply,  # noqa: F811
    accounts: list[ViewKey],  # noqa: F811
) -> None:
    reply = _repeated(base_reply, 40)
    expected_batch, expected_rows = await local_answer(reply, accounts)
    cluster_pool.set_accounts(accounts)
    heights: list[int] = []

    async def on_slice(part: object, rows: object) -> None:
        assert isinstance(part, SpendBatch)
        heights.extend(meta.height for meta in part.metas)

    batch, rows = await cluster_pool.parse_and_find(reply, 0, 10**9, on_slice)
    assert batch == expected_batch
    assert rows == expected_rows
    assert sum(len(r) for r in rows) == 6 * 40  # every planted output, every time
    assert len(heights) == len(batch.metas)  # each slice delivered once
    txs = list(parse_blocks(base_reply).txs)
    assert await cluster_pool.find_received(txs) == find_received(txs, accounts)
    assert await cluster_pool.find_received([]) == []


def test_the_compact_form_is_what_the_scanner_decodes(
    base_reply: BlocksReply,  # noqa: F811
) -> None:
    import msgspec

    parsed = parse_blocks(base_reply)
    full = msgspec.msgpack.encode(parsed)
    compact = msgspec.msgpack.encode(spend_batch(parsed))
    assert msgspec.msgpack.decode(compact, type=SpendBatch) == msgspec.msgpack.decode(
        full, type=SpendBatch
    )
    assert len(compact) < len(full) / 2


async def test_view_keys_go_once_per_account_set(
    cluster_pool: ClusterPool,
    base_reply: BlocksReply,  # noqa: F811
    accounts: list[ViewKey],  # noqa: F811
) -> None:
    for _ in range(3):
        cluster_pool.set_accounts(list(accounts))  # the same view key objects
        await cluster_pool.parse_and_find(base_reply, 0, 10**9)
    assert cluster_pool.scatters == 1
    cluster_pool.set_accounts(accounts[:2])
    _, rows = await cluster_pool.parse_and_find(base_reply, 0, 10**9)
    assert cluster_pool.scatters == 2
    assert all(position < 2 for row in rows for position in row)


async def test_a_worker_killed_mid_batch_is_retried_elsewhere(
    dask_cluster: DaskCluster,
    cluster_pool: ClusterPool,
    base_reply: BlocksReply,  # noqa: F811
    accounts: list[ViewKey],  # noqa: F811
) -> None:
    """A worker dies (SIGKILL) while it scans a slice: the scheduler gives
    the slice to another worker, the batch completes, and its answer is the
    local pool's."""
    reply = _repeated(base_reply, 12)
    keys = [*accounts, *many_accounts(3000)]  # seconds of work per slice
    expected = await local_answer(reply, keys)
    cluster_pool.set_accounts(keys)
    pids = dask_cluster.worker_pids()

    def busy_worker() -> str | None:
        with distributed.Client(dask_cluster.address, timeout=10, set_as_default=False) as c:
            for worker, tasks in c.processing().items():
                if tasks:
                    return str(worker)
        return None

    async def kill_one_when_busy() -> None:
        with trio.fail_after(60):
            while (worker := await trio.to_thread.run_sync(busy_worker)) is None:
                await trio.sleep(0.05)
        await trio.sleep(0.3)  # well into its slice
        os.kill(pids[worker], signal.SIGKILL)
        killed.append(worker)

    killed: list[str] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(kill_one_when_busy)
        answer = await cluster_pool.parse_and_find(reply, 0, 10**9)
    assert killed, "no worker was killed"
    assert answer == expected
    assert dask_cluster.worker_pids().keys() != pids.keys() or set(
        dask_cluster.worker_pids().values()
    ) != set(pids.values())  # the nanny started a new one


async def test_the_scheduler_gone_and_back(
    dask_cluster: DaskCluster,
    cluster_pool: ClusterPool,
    base_reply: BlocksReply,  # noqa: F811
    accounts: list[ViewKey],  # noqa: F811
) -> None:
    cluster_pool.set_accounts(accounts)
    expected = await cluster_pool.parse_and_find(base_reply, 0, 10**9)
    await trio.to_thread.run_sync(dask_cluster.stop)
    for _ in range(2):  # and again while it is still away
        with pytest.raises(ScanClusterUnavailable, match=dask_cluster.address):
            await cluster_pool.parse_and_find(base_reply, 0, 10**9)
    await trio.to_thread.run_sync(dask_cluster.start)  # the same port
    assert await cluster_pool.parse_and_find(base_reply, 0, 10**9) == expected
    assert cluster_pool.scatters == 2  # the new cluster got the keys again


def test_unreachable_at_start_names_the_address() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    pool = ClusterPool(address, connect_timeout=2)
    with pytest.raises(ScanClusterUnavailable, match=address):
        pool.start()


def test_lws_serve_stops_when_the_scheduler_is_unreachable(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lws",
            "serve",
            "--daemon-url",
            "http://127.0.0.1:9",
            "--network",
            "regtest",
            "--data-dir",
            str(tmp_path / "data"),
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--scan-cluster",
            address,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"lws: scan cluster {address} is unreachable" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - started < 60


def test_without_the_option_dask_is_never_imported() -> None:
    code = (
        "import sys\n"
        "from lws.__main__ import main\n"
        "import lws.app, lws.scan, lws.scan.scanner, lws.scan.pool, lws.api_worker\n"
        "from lws.config import load_config\n"
        "config = load_config(None, {'daemon_url': 'http://127.0.0.1:9'}, environ={})\n"
        "assert config.scan_cluster is None\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


async def test_over_tls_as_the_readme_starts_it(
    tmp_path: Path,
    base_reply: BlocksReply,  # noqa: F811
    accounts: list[ViewKey],  # noqa: F811
) -> None:
    """`dask scheduler` and `dask worker` over TLS with certificates of the
    operator's CA, as README.md shows; lws connects with its own certificate
    and scans as the local pool does."""
    files = make_tls_files(tmp_path / "tls", ("scheduler", "worker", "lws"))
    ca = str(tmp_path / "tls" / "ca.pem")
    port = free_port()
    address = f"tls://127.0.0.1:{port}"

    def tls_args(name: str) -> list[str]:
        cert, key = files[name]
        return ["--tls-ca-file", ca, "--tls-cert", str(cert), "--tls-key", str(key)]

    dask = [str(Path(sys.executable).with_name("dask"))]
    if not Path(dask[0]).exists():
        pytest.skip("the dask command is not installed beside this Python")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    scheduler = subprocess.Popen(
        [
            *dask,
            "scheduler",
            "--protocol",
            "tls",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-address",
            ":0",
            *tls_args("scheduler"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [
            *dask,
            "worker",
            address,
            "--nworkers",
            "1",
            "--nthreads",
            "1",
            "--no-dashboard",
            *tls_args("worker"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        cert, key = files["lws"]
        pool = ClusterPool(
            address, tls=ClusterTls(ca_file=ca, cert_file=str(cert), key_file=str(key))
        )
        with trio.fail_after(60):
            while True:
                try:
                    await trio.to_thread.run_sync(pool.start)
                    break
                except ScanClusterUnavailable:
                    await trio.sleep(0.5)
        try:
            expected = await local_answer(base_reply, accounts)
            pool.set_accounts(accounts)
            assert await pool.parse_and_find(base_reply, 0, 10**9) == expected
        finally:
            pool.close()
        # Without lws's certificate the scheduler does not let it in.
        plain = ClusterPool(f"tcp://127.0.0.1:{port}", connect_timeout=2)
        with pytest.raises(ScanClusterUnavailable):
            plain.start()
    finally:
        for proc in (worker, scheduler):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
