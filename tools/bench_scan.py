# Owns the whole-scanner benchmark (issue 3 §5): scans the cached benchmark
# chain (tools/make_chain.py) from genesis for 1, 10 and 100 accounts with
# the real Scanner and store, and in the same run times monero-wallet-rpc's
# refresh of a view-only wallet of one of those accounts, and measures the
# resident memory of a scanner holding 10,000 registered accounts. Prints
# headline figures last, one per line, as `name: value`. Developer tool:
# never imported by lws/.
"""Benchmark: lws scanner vs monero-wallet-rpc refresh, and memory per account."""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from lws.daemon import Daemon
from lws.gc_tuning import tune_for_long_running
from lws.monero.ownership import uses_x25519_ladders
from lws.scan.pool import ScanPool, ScanWorkers
from lws.scan.scanner import Scanner
from lws.store import AccountStatus, Store
from tests.support.bench_chain import bench_label, open_bench_chain, time_wallet_rpc_refresh
from tests.support.regtest import WalletKeys

#: Subaddresses the benchmark chain pays (all inside 4 majors x 10 minors).
#: The project root: the memory probe runs there, so `lws` imports from this tree.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOOKAHEAD = (4, 10)
ACCOUNT_COUNTS = (1, 10, 100)
#: Issue 3's throughput target for 100 accounts on a 2-core machine, pairs/s.
TARGET_PAIRS_PER_S_100_ACCOUNTS = 35_000
#: Scans timed for the one-account comparison (fresh store each), and as many
#: wallet-rpc rescans, taken in turns: medians, as this VM's speed wanders.
ONE_ACCOUNT_REPEATS = 7
#: Accounts registered for the memory figure.
MEMORY_ACCOUNTS = 10_000
#: Seconds the memory probe scans with MEMORY_ACCOUNTS before reading its RSS
#: (in batches of 10 blocks: a batch cannot be interrupted half-way).
MEMORY_SCAN_SECONDS = 30.0


def add_accounts(store: Store, labels: list[str], lookahead: tuple[int, int]) -> None:
    def write(writer):  # type: ignore[no-untyped-def]
        for label in labels:
            keys = WalletKeys(label)
            writer.add_account(
                keys.address(),
                view_secret=keys.view_secret,
                spend_public=keys.spend_public,
                view_public=keys.view_public,
                start_height=0,
                created=int(time.time()),
                status=AccountStatus.ACTIVE,
                lookahead_major=lookahead[0],
                lookahead_minor=lookahead[1],
            )

    store.transact(write)


async def scan_all(store: Store, url: str, height: int, pool: ScanWorkers) -> tuple[float, float]:
    """Seconds from scanner start until every account has scanned ``height``
    blocks, and the CPU seconds this process and its scan workers used meanwhile."""
    daemon = Daemon(url)
    scanner = Scanner(store, daemon, network="regtest", pool=pool, poll_interval=0.05)
    # Worker processes start once per server run and then scan batch after
    # batch: their start is not part of a scan's time (wallet-rpc's figure
    # likewise leaves out its start, lookahead table and first sync).
    await trio.to_thread.run_sync(scanner.pool.start)
    # A cluster's workers are not this machine's children: their CPU is not counted.
    pids = pool.worker_pids() if isinstance(pool, ScanPool) else []
    cpu_before = cpu_seconds(pids)
    started = time.perf_counter()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(scanner.run)
            while True:
                heights = store.query(lambda r: [rec.scan_height for _, rec in r.accounts()])
                if min(heights) >= height:
                    elapsed = time.perf_counter() - started
                    cpu = cpu_seconds(pids) - cpu_before
                    break
                await trio.sleep(0.005)  # the figure is at most this late
            nursery.cancel_scope.cancel()
    finally:
        await daemon.aclose()
    return elapsed, cpu


def cpu_seconds(worker_pids: list[int]) -> float:
    """CPU seconds of this process plus the live workers named (from /proc)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in worker_pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def memory_probe(url: str, workdir: Path) -> tuple[float, float]:
    """RSS (MB) of a scanner process holding MEMORY_ACCOUNTS accounts, and of its workers."""
    code = f"""
import resource, sys, time, trio, os
from lws.daemon import Daemon
from lws.scan.scanner import Scanner
from lws.store import Store
store = Store.open({str(workdir / "memory-store")!r}, network="regtest")
async def main():
    daemon = Daemon({url!r})
    scanner = Scanner(store, daemon, network="regtest", workers=0, poll_interval=0.2, batch_blocks=10)
    with trio.move_on_after({MEMORY_SCAN_SECONDS}):
        await scanner.run()
    await daemon.aclose()
trio.run(main)
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
heights = store.query(lambda r: min(rec.scan_height for _, rec in r.accounts()))
print(own, kids, heights)
"""
    with Store.open(workdir / "memory-store", network="regtest") as store:
        labels = [f"memory-{i}" for i in range(MEMORY_ACCOUNTS)]
        add_accounts(store, labels, (0, 0))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    own, kids, scanned = out.stdout.split()
    print(
        f"memory probe: {MEMORY_ACCOUNTS} accounts scanned {scanned} blocks in {MEMORY_SCAN_SECONDS:.0f}s"
    )
    return float(own), float(kids)


def unowned_costs(args: argparse.Namespace) -> None:
    """Scans of the chain for accounts that own nothing: CPU per transaction
    and per (transaction, account) pair of the whole pipeline (fetch, parse,
    scan math, spends, store), the figures docs/scaling.md builds on."""
    counts = [int(part) for part in args.accounts.split(",")]
    with (
        open_bench_chain(log=print) as (daemon, _manifest),
        tempfile.TemporaryDirectory(prefix="lws-bench-scan-") as tmp,
        contextlib.closing(ScanPool(args.workers)) as pool,
    ):
        height = daemon.height()
        info = daemon.rpc("get_info")
        txs = int(info["tx_count"]) + height
        print(f"chain: {height} blocks, {txs} transactions (with coinbase)")
        pool.start()
        cpu_by_count: dict[int, float] = {}
        for count in [1, *counts]:  # the first one-account scan warms up
            runs: list[tuple[float, float]] = []
            for repeat in range(3):
                path = Path(tmp) / f"store-{count}-{repeat}-{len(cpu_by_count)}"
                with Store.open(path, network="regtest") as store:
                    add_accounts(store, [f"unowned-{i}" for i in range(count)], (0, 0))
                    runs.append(trio.run(scan_all, store, daemon.url, height, pool))
            seconds, cpu = sorted(runs, key=lambda run: run[1])[1]  # the median CPU
            cpu_by_count[count] = cpu
            print(
                f"{count:>4} unowned accounts: {seconds:6.2f}s, {cpu:6.2f} CPU-s, "
                f"{cpu / txs * 1e6:7.1f} CPU-us per tx, {cpu / txs / count * 1e6:6.2f} per pair"
            )
        if len(cpu_by_count) > 1:
            low, high = min(cpu_by_count), max(cpu_by_count)
            if high > low:
                per_pair = (cpu_by_count[high] - cpu_by_count[low]) / txs / (high - low)
                per_tx = cpu_by_count[low] / txs - low * per_pair
                print(f"unowned_cpu_us_per_tx: {per_tx * 1e6:.1f}")
                print(f"unowned_cpu_us_per_pair: {per_pair * 1e6:.2f}")


#: Timed scans per pool in the cluster comparison (taken in turns; medians).
CLUSTER_REPEATS = 3


def cluster_comparison(args: argparse.Namespace) -> None:
    """100 accounts through a local Dask cluster of 2 single-threaded worker
    processes and through the local pool of 2, in turns, and the one-account
    time to the tip through both."""
    from lws.scan.cluster import ClusterPool
    from tests.support.dask_cluster import DaskCluster

    with (
        open_bench_chain(log=print) as (daemon, _manifest),
        tempfile.TemporaryDirectory(prefix="lws-bench-scan-") as tmp,
        DaskCluster(workers=2) as dask_cluster,
        contextlib.closing(ScanPool(2)) as local,
        contextlib.closing(ClusterPool(dask_cluster.address)) as cluster,
    ):
        height = daemon.height()
        info = daemon.rpc("get_info")
        txs = int(info["tx_count"]) + height
        print(f"chain: {height} blocks, {txs} transactions (with coinbase)")
        print(f"dask cluster: {dask_cluster.address}, 2 worker processes of 1 thread")
        local.start()
        cluster.start()
        pools: dict[str, ScanWorkers] = {"local": local, "cluster": cluster}
        runs: dict[tuple[str, int], list[float]] = {}
        counter = 0

        def scan(name: str, count: int) -> float:
            nonlocal counter
            counter += 1
            path = Path(tmp) / f"store-{name}-{count}-{counter}"
            with Store.open(path, network="regtest") as store:
                add_accounts(store, [bench_label(i) for i in range(count)], LOOKAHEAD)
                seconds, _ = trio.run(scan_all, store, daemon.url, height, pools[name])
            return seconds

        for name in pools:  # warm-up: imports on the workers, first scatter
            scan(name, 1)
        for count in (1, 100):
            for _ in range(CLUSTER_REPEATS):
                for name in pools:
                    runs.setdefault((name, count), []).append(scan(name, count))
        results: dict[str, str] = {}
        for (name, count), seconds in sorted(runs.items()):
            median = sorted(seconds)[len(seconds) // 2]
            print(
                f"{name:>7}, {count:>3} accounts: "
                + ", ".join(f"{s:.2f}s" for s in seconds)
                + f" (median {median:.2f}s, {txs * count / median:.0f} pairs/s)"
            )
            if count == 100:
                results[f"pairs_per_s_100_accounts_{name}"] = f"{txs * count / median:.0f}"
            else:
                results[f"one_account_to_tip_s_{name}"] = f"{median:.2f}"
        results["ratio_cluster_over_local_100_accounts"] = (
            f"{float(results['pairs_per_s_100_accounts_cluster']) / float(results['pairs_per_s_100_accounts_local']):.2f}"
        )
        results["scatters_of_view_keys"] = str(cluster.scatters)
    for name, value in results.items():
        print(f"{name}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--accounts",
        default=",".join(map(str, ACCOUNT_COUNTS)),
        help="comma-separated account counts to scan (default %(default)s)",
    )
    parser.add_argument(
        "--unowned",
        action="store_true",
        help="accounts that own nothing on the chain (as nearly every account on mainnet's"
        " history): the pipeline's cost per transaction, without wallet-rpc's comparison",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="100 accounts through a local Dask cluster of 2 workers and through the local"
        " pool of 2 (pairs/s, ratio), and one account's time to the tip through both",
    )
    args = parser.parse_args()
    if args.cluster:
        cluster_comparison(args)
        return
    if args.unowned:
        unowned_costs(args)
        return
    tune_for_long_running()  # as `lws serve` does for its processes
    cores = args.workers
    results: dict[str, str] = {}
    with open_bench_chain(log=print) as (daemon, manifest):
        height = daemon.height()
        info = daemon.rpc("get_info")
        txs = int(info["tx_count"]) + height  # non-coinbase + one coinbase per block
        print(f"chain: {height} blocks, {txs} transactions (with coinbase)")
        print(
            "scan math: "
            + (
                "X25519 ladders (the C extension lws.monero._derivations is not built)"
                if uses_x25519_ladders()
                else "the C extension lws.monero._derivations"
            )
        )
        with (
            tempfile.TemporaryDirectory(prefix="lws-bench-scan-") as tmp,
            contextlib.ExitStack() as stack,
        ):
            workdir = Path(tmp)
            runs_by_count: dict[int, list[tuple[float, float]]] = {}
            found_by_count: dict[int, int] = {}

            # One worker pool for every scan, as in a running lws; like
            # wallet-rpc's (whose restore already synced once), it has scanned
            # the chain once before the timed scans.
            pool = stack.enter_context(contextlib.closing(ScanPool(cores)))
            pool.start()

            def scan_fresh(count: int, *, timed: bool = True) -> None:
                """One scan from genesis into a fresh store for ``count`` accounts."""
                runs = runs_by_count.setdefault(count, []) if timed else []
                path = workdir / f"store-{count}-{len(runs)}-{'timed' if timed else 'warm-up'}"
                with Store.open(path, network="regtest") as store:
                    add_accounts(store, [bench_label(i) for i in range(count)], LOOKAHEAD)
                    runs.append(trio.run(scan_all, store, daemon.url, height, pool))
                    found_by_count[count] = store.query(
                        lambda r: len(r.outputs(r.account_id(WalletKeys(bench_label(0)).address())))
                    )

            scan_fresh(1, timed=False)

            counts = [int(part) for part in args.accounts.split(",")]
            # The one-account scans take turns with wallet-rpc's rescans.
            refresh = time_wallet_rpc_refresh(
                daemon,
                bench_label(0),
                log=print,
                repeats=ONE_ACCOUNT_REPEATS,
                between=(lambda: scan_fresh(1)) if 1 in counts else None,
            )
            for count in counts:
                if count != 1:
                    scan_fresh(count)
                runs = runs_by_count[count]
                found = found_by_count[count]
                seconds, cpu = sorted(runs)[len(runs) // 2]  # the median run
                if len(runs) > 1:
                    print(
                        f"   1 account, {len(runs)} fresh scans: "
                        + ", ".join(f"{run:.2f}s" for run, _ in runs)
                        + " (the median is reported)"
                    )
                pairs = txs * count
                rate = pairs / seconds
                per_core = pairs / cpu if cpu > 0 else float("nan")
                print(
                    f"{count:>4} accounts: {seconds:7.2f}s to the tip, {rate:9.0f} pairs/s overall,"
                    f" {per_core:9.0f} pairs/s per CPU-second ({cpu:.1f} CPU-s), bench-0 outputs {found}"
                )
                results[f"pairs_per_s_{count}_accounts"] = f"{rate:.0f}"
                results[f"pairs_per_cpu_s_{count}_accounts"] = f"{per_core:.0f}"
                if count == 1:
                    results["lws_1_account_to_tip_s"] = f"{seconds:.2f}"
                    if found != refresh.outputs:
                        print(
                            f"WARNING: lws found {found} outputs for bench-0, wallet-rpc {refresh.outputs}"
                        )
            results["wallet_rpc_refresh_s"] = f"{refresh.seconds:.2f}"
            if "lws_1_account_to_tip_s" in results:
                results["ratio_wallet_rpc_over_lws_1_account"] = (
                    f"{refresh.seconds / float(results['lws_1_account_to_tip_s']):.2f}"
                )
            if "pairs_per_s_100_accounts" in results:
                # The 100-account target is absolute; wallet-rpc's own rate
                # (one account's pairs over its rescan) is this run's reference.
                rate_100 = float(results["pairs_per_s_100_accounts"])
                results["ratio_100_accounts_over_target"] = (
                    f"{rate_100 / TARGET_PAIRS_PER_S_100_ACCOUNTS:.2f}"
                )
                results["ratio_100_accounts_over_wallet_rpc_pairs_per_s"] = (
                    f"{rate_100 / (txs / refresh.seconds):.2f}"
                )
            if not args.skip_memory:
                own, kids = memory_probe(daemon.url, workdir)
                results["rss_mb_10000_accounts"] = f"{own:.0f}"
                results["rss_mb_largest_worker"] = f"{kids:.0f}"
    for name, value in results.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
