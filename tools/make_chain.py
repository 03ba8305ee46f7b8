# Owns the command line of the benchmark chain: build it (or report the
# cached one), print the manifest summary, optionally time wallet-rpc's
# view-only refresh on it. All the work lives in tests/support/bench_chain.py; this
# file must not grow logic of its own, and lws/ never imports it.
"""Build (once) and describe the cached regtest chain for benchmarks.

python tools/make_chain.py            # build if needed, print summary
python tools/make_chain.py --rebuild  # throw the cache away, build again
python tools/make_chain.py --time-refresh bench-0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.bench_chain import (
    TX_COUNT,
    default_chain_dir,
    ensure_chain,
    open_bench_chain,
    read_manifest,
    time_wallet_rpc_refresh,
)

_START = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def summary(chain_dir: Path, manifest: dict[str, Any]) -> str:
    wallets: dict[str, Any] = manifest["wallets"]
    bench = [wallets[label] for label in manifest["bench_labels"]]
    bench_outputs = sorted(int(w.get("outputs", 0)) for w in bench)
    lines = [
        f"chain:        {chain_dir}",
        f"built:        {manifest['built_at']} in {manifest['build_seconds']}s"
        f" ({manifest['jobs']} jobs) steps {manifest['build_steps_seconds']}",
        f"monerod:      {manifest['monerod_version']}",
        f"height:       {manifest['height']} (top {manifest['top_hash'][:16]}...)",
        f"txs:          {manifest['tx_count']} non-coinbase ({manifest['transfer_txs']} transfers,"
        f" {manifest['split_txs']} splits) in {manifest['blocks_with_txs']} blocks,"
        f" at most {manifest['max_txs_per_block']} per block",
        f"outputs:      {manifest['tx_outputs']} in txs (planned {manifest['planned_outputs']}),"
        f" {manifest['rct_outputs']} with coinbase",
        f"bench wallets: {len(bench)}; outputs each min {bench_outputs[0]},"
        f" median {bench_outputs[len(bench_outputs) // 2]}, max {bench_outputs[-1]}",
    ]
    for label in (manifest["bench_labels"][0], manifest["bench_labels"][1]):
        entry = wallets[label]
        lines.append(
            f"  {label}: {entry.get('outputs', 0)} outputs in {entry.get('txs', 0)} txs,"
            f" {entry.get('amount', 0) / 10**12:.6f} XMR, by kind {entry.get('outputs_by_kind', {})}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rebuild", action="store_true", help="discard the cache and build again")
    parser.add_argument("--dir", type=Path, default=None, help=f"default {default_chain_dir()}")
    parser.add_argument("--jobs", type=int, default=2, help="wallet-rpc senders working at once")
    parser.add_argument(
        "--txs", type=int, default=TX_COUNT, help="transfers (a smaller chain needs its own --dir)"
    )
    parser.add_argument(
        "--time-refresh",
        metavar="LABEL",
        action="append",
        default=[],
        help="time a fresh view-only wallet-rpc refresh for LABEL (repeatable)",
    )
    args = parser.parse_args(argv)
    chain_dir: Path = args.dir or default_chain_dir()
    if args.txs != TX_COUNT and args.dir is None:
        parser.error("--txs other than the default needs its own --dir")

    cached = read_manifest(chain_dir) is not None and not args.rebuild
    manifest = ensure_chain(
        chain_dir, rebuild=args.rebuild, tx_count=args.txs, jobs=args.jobs, log=log
    )
    print(("cached " if cached else "built ") + summary(chain_dir, manifest))

    if args.time_refresh:
        with open_bench_chain(chain_dir, log=log) as (daemon, manifest):
            for label in args.time_refresh:
                timing = time_wallet_rpc_refresh(daemon, label, log=log)
                expected = manifest["wallets"].get(label, {}).get("outputs", 0)
                verdict = (
                    "ok" if timing.outputs == expected else f"MISMATCH, manifest says {expected}"
                )
                print(
                    f"wallet-rpc view-only scan {label}: {timing.seconds:.2f}s from 0 to height"
                    f" {manifest['height']}, {timing.outputs} outputs ({verdict})"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
