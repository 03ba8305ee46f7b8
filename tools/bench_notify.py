# Owns the webhook benchmark (issue 16 §5): how many deliveries per second
# the delivery engine makes to a local receiver (a real HTTP server in its
# own process), and the scanner's throughput over the cached benchmark chain
# with 1,000 hooks registered against none, in the same run and in turns
# (target: at least 0.9x). Prints headline figures last, one per line, as
# `name: value`. Developer tool: never imported by lws/.
"""Benchmark: webhook deliveries/s, and scan throughput with 1,000 hooks vs none."""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

import trio

from lws.gc_tuning import tune_for_long_running
from lws.notify import DeliveryEngine, DeliverySettings
from lws.scan.pool import ScanPool
from lws.store import (
    NO_ACCOUNT,
    AccountBatch,
    DeliveryState,
    HookRecord,
    HookType,
    Store,
)
from tests.support.bench_chain import INTEGRATED, bench_label, open_bench_chain
from tests.support.receiver import Receiver
from tests.support.regtest import WalletKeys, free_port
from tests.support.store_data import add_account, block_hash, make_output
from tools.bench_scan import LOOKAHEAD, add_accounts, scan_all

#: Hooks registered for the "with hooks" scans.
HOOKS = 1_000
#: Accounts scanned (bench-0 .. bench-N-1): bench-0 receives ~500 outputs.
ACCOUNTS = 10
#: Scans of each kind, taken in turns (medians reported).
REPEATS = 7
#: Deliveries timed in the delivery benchmark, and the hooks they go to.
DELIVERIES = 5_000
DELIVERY_HOOKS = 50
#: The delivery engine's backlog during the "delivering" scans: it delivers
#: to the local receiver flat out while the scanner works.
BACKLOG = 20_000
BACKLOG_HOOKS = 50
#: Issue 16's target for the scan with hooks, as a ratio to the scan without.
TARGET_RATIO = 0.9


def _receive_forever(port: int) -> None:
    """Body of the receiver process: answer 200 to every POST until killed."""
    Receiver(port=port).start()
    while True:
        time.sleep(3600)


def hook(account_id: int, hook_type: HookType, n: int, *, payment_id: bytes | None,
         confirmations: int, url: str) -> HookRecord:  # fmt: skip
    return HookRecord(
        type=hook_type,
        account_id=account_id,
        event_id=n.to_bytes(16, "big"),
        url=url,
        token=f"bench-{n}",
        payment_id=payment_id,
        confirmations=confirmations,
        secret=f"secret-{n}",
        created=int(time.time()),
    )


def register_hooks(store: Store, count: int, url: str) -> None:
    """``count`` hooks over the store's accounts, as merchants use them: per
    account one for payments without a payment id (10 confirmations), one
    for any payment (1), one tx-spend, the rest for payment ids of orders
    (one of them each integrated address's)."""
    rng = random.Random(16)

    def write(w):  # type: ignore[no-untyped-def]
        accounts = [(i, rec) for i, rec in w.accounts()]
        per_account = count // len(accounts)
        n = 0
        for account_id, record in accounts:
            label = next(
                (lb for lb in INTEGRATED if WalletKeys(lb).address() == record.address), None
            )
            pids = [bytes.fromhex(INTEGRATED[label])] if label else []
            for k in range(per_account):
                n += 1
                if k == 0:
                    w.add_hook(
                        hook(
                            account_id,
                            HookType.TX_CONFIRMATION,
                            n,
                            payment_id=bytes(8),
                            confirmations=10,
                            url=url,
                        )
                    )
                elif k == 1:
                    w.add_hook(
                        hook(
                            account_id,
                            HookType.TX_CONFIRMATION,
                            n,
                            payment_id=None,
                            confirmations=1,
                            url=url,
                        )
                    )
                elif k == 2:
                    w.add_hook(
                        hook(
                            account_id,
                            HookType.TX_SPEND,
                            n,
                            payment_id=bytes(8),
                            confirmations=1,
                            url=url,
                        )
                    )
                else:
                    pid = pids.pop() if pids else rng.randbytes(8)
                    w.add_hook(
                        hook(
                            account_id,
                            HookType.TX_CONFIRMATION,
                            n,
                            payment_id=pid,
                            confirmations=1,
                            url=url,
                        )
                    )
        while n < count:
            n += 1
            w.add_hook(
                hook(
                    NO_ACCOUNT,
                    HookType.NEW_ACCOUNT,
                    n,
                    payment_id=bytes(8),
                    confirmations=1,
                    url=url,
                )
            )

    store.transact(write)


async def scan_delivering(
    store: Store, url: str, height: int, pool: ScanPool
) -> tuple[float, float, int]:
    """scan_all with the delivery engine running beside the scanner in this
    process, as in `lws serve`, busy with a backlog; also how many
    deliveries it made meanwhile."""
    engine = DeliveryEngine(store, DeliverySettings(timeout=10.0))
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        seconds, cpu = await scan_all(store, url, height, pool)
        nursery.cancel_scope.cancel()
    return seconds, cpu, engine.status.delivered


def bench_scans(workdir: Path, args: argparse.Namespace, receiver_url: str) -> dict[str, str]:
    """Scans of the bench chain without hooks, with hooks (events written,
    nobody delivering) and with hooks delivered to ``receiver_url`` by the
    engine during the scan, in turns."""
    results: dict[str, str] = {}
    kinds = ("none", "hooks", "delivering")
    with open_bench_chain(log=print) as (daemon, _manifest):
        height = daemon.height()
        info = daemon.rpc("get_info")
        txs = int(info["tx_count"]) + height
        print(f"chain: {height} blocks, {txs} transactions (with coinbase)")
        labels = [bench_label(i) for i in range(args.accounts)]
        runs: dict[str, list[float]] = {kind: [] for kind in kinds}
        cpus: dict[str, list[float]] = {kind: [] for kind in kinds}
        events = delivered = 0
        with contextlib.closing(ScanPool(os.cpu_count() or 1)) as pool:
            pool.start()

            def scan(kind: str, n: int) -> tuple[float, float]:
                nonlocal events, delivered
                with Store.open(workdir / f"scan-{kind}-{n}", network="regtest") as store:
                    add_accounts(store, labels, LOOKAHEAD)
                    if kind != "none":
                        register_hooks(store, args.hooks, receiver_url)
                    if kind == "delivering":
                        write_backlog(store, BACKLOG_HOOKS, args.backlog, receiver_url)
                        seconds, cpu, delivered = trio.run(
                            scan_delivering, store, daemon.url, height, pool
                        )
                    else:
                        seconds, cpu = trio.run(scan_all, store, daemon.url, height, pool)
                    if kind == "hooks":
                        events = store.query(lambda r: r.outbox_info().entries)
                return seconds, cpu

            scan("none", -1)  # warm-up: workers, caches
            for n in range(args.repeats):
                for kind in kinds[n % 3 :] + kinds[: n % 3]:  # each kind first in turn
                    seconds, cpu = scan(kind, n)
                    runs[kind].append(seconds)
                    cpus[kind].append(cpu)
                    print(
                        f"  scan, {kind:>10}: {seconds:.2f} s "
                        f"({txs * args.accounts / seconds:,.0f} pairs/s), {cpu:.2f} CPU-s"
                    )
        medians = {kind: statistics.median(runs[kind]) for kind in kinds}
        cpu = {kind: statistics.median(cpus[kind]) for kind in kinds}
        # Each round's scans ran back to back: their ratios cancel the drift
        # of this shared machine's speed between rounds.
        hooked = sorted(
            none / with_ for none, with_ in zip(runs["none"], runs["hooks"], strict=True)
        )
        delivering = sorted(
            none / with_ for none, with_ in zip(runs["none"], runs["delivering"], strict=True)
        )
        pairs = txs * args.accounts
        print(
            f"{args.accounts} accounts to the tip (medians of {args.repeats}): "
            f"{medians['none']:.2f} s without hooks, {medians['hooks']:.2f} s with "
            f"{args.hooks} hooks ({events} events written into the outbox), "
            f"{medians['delivering']:.2f} s with the engine delivering a backlog meanwhile "
            f"({delivered} delivered during the last such scan)"
        )
        print(
            "per-round ratios, without hooks over with: "
            + ", ".join(f"{r:.3f}" for r in hooked)
            + "; over with hooks and deliveries: "
            + ", ".join(f"{r:.3f}" for r in delivering)
        )
        results["scan_pairs_per_s_no_hooks"] = f"{pairs / medians['none']:.0f}"
        results[f"scan_pairs_per_s_{args.hooks}_hooks"] = f"{pairs / medians['hooks']:.0f}"
        results[f"scan_pairs_per_s_{args.hooks}_hooks_delivering"] = (
            f"{pairs / medians['delivering']:.0f}"
        )
        results["scan_events_written"] = str(events)
        results["ratio_scan_with_hooks_over_without"] = f"{statistics.median(hooked):.3f}"
        results["ratio_scan_with_hooks_delivering_over_without"] = (
            f"{statistics.median(delivering):.3f}"
        )
        # CPU seconds of the scan (this process and the scan workers): the
        # same comparison, less sensitive to other load on the machine.
        results["ratio_scan_cpu_without_over_with_hooks"] = f"{cpu['none'] / cpu['hooks']:.3f}"
        results["ratio_target"] = f"{TARGET_RATIO}"
    return results


def write_deliveries(store: Store, hooks: int, count: int, url: str) -> int:
    """``count`` tx-confirmation events over ``hooks`` hooks to ``url`` in
    the outbox of a store of their own (it writes a made-up chain); return
    how many events the outbox holds."""
    per_hook = count // hooks

    def write(w):  # type: ignore[no-untyped-def]
        account_id = add_account(w, 1)
        for n in range(hooks):
            w.add_hook(
                hook(account_id, HookType.TX_CONFIRMATION, n, payment_id=None,
                     confirmations=1, url=url)
            )  # fmt: skip
        outputs = tuple(make_output(h, 0, 0, global_index=h) for h in range(per_hook))
        w.add_block_batch(
            0,
            [block_hash(h) for h in range(per_hook)],
            {account_id: AccountBatch(0, per_hook, outputs)},
        )
        return w.outbox_info().entries

    return int(store.transact(write))


def write_backlog(store: Store, hooks: int, count: int, url: str) -> None:
    """``count`` new-account events over ``hooks`` hooks to ``url`` (they
    touch no account or chain, so a scan of the store is unchanged)."""

    def write(w):  # type: ignore[no-untyped-def]
        for n in range(hooks):
            w.add_hook(
                hook(NO_ACCOUNT, HookType.NEW_ACCOUNT, 10**6 + n, payment_id=bytes(8),
                     confirmations=1, url=url)
            )  # fmt: skip
        for n in range(count // hooks):
            w.emit_new_account(f"4Backlog{n:090d}")

    store.transact(write)


def bench_deliveries(workdir: Path, args: argparse.Namespace, url: str) -> dict[str, str]:
    results: dict[str, str] = {}
    for hooks in (1, args.delivery_hooks):
        count = args.deliveries if hooks > 1 else args.deliveries // 5
        with Store.open(workdir / f"deliveries-{hooks}", network="regtest") as store:
            total = write_deliveries(store, hooks, count, url)
            cpu_before = _own_cpu()
            seconds = trio.run(_deliver_all, store, total)
            cpu = _own_cpu() - cpu_before
        rate = total / seconds
        print(
            f"deliveries: {total} to one local receiver over {hooks} hook(s) in "
            f"{seconds:.2f} s: {rate:,.0f}/s, {cpu / total * 1e3:.2f} ms of lws CPU each"
        )
        results[f"deliveries_per_s_{hooks}_hooks"] = f"{rate:.0f}"
        results[f"delivery_cpu_ms_{hooks}_hooks"] = f"{cpu / total * 1e3:.2f}"
    return results


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _deliver_all(store: Store, total: int) -> float:
    """Seconds from engine start until ``total`` records are delivered and
    recorded so in the outbox."""
    engine = DeliveryEngine(store, DeliverySettings(timeout=10.0, retry_delays=(1.0,) * 3))
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        while engine.status.delivered < total:
            await trio.sleep(0.01)
        while True:
            done = await trio.to_thread.run_sync(
                store.query,
                lambda r: sum(
                    1 for _, rec in r.deliveries() if rec.state == DeliveryState.DELIVERED
                ),
            )
            if done >= total:
                elapsed = time.perf_counter() - started
                break
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=ACCOUNTS)
    parser.add_argument("--hooks", type=int, default=HOOKS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--deliveries", type=int, default=DELIVERIES)
    parser.add_argument("--delivery-hooks", type=int, default=DELIVERY_HOOKS)
    parser.add_argument("--backlog", type=int, default=BACKLOG)
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--skip-deliveries", action="store_true")
    args = parser.parse_args()
    tune_for_long_running()  # as `lws serve` does
    results: dict[str, str] = {}
    port = free_port()
    receiver = multiprocessing.get_context("spawn").Process(
        target=_receive_forever, args=(port,), daemon=True
    )
    receiver.start()
    url = f"http://127.0.0.1:{port}/hook"
    try:
        with tempfile.TemporaryDirectory(prefix="lws-bench-notify-") as tmp:
            if not args.skip_deliveries:
                results.update(bench_deliveries(Path(tmp), args, url))
            if not args.skip_scan:
                results.update(bench_scans(Path(tmp), args, url))
    finally:
        receiver.kill()
    for name, value in results.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
