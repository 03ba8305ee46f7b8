# Owns the crash proof on the big chain (issue 3 §4): runs tests/crashproof.py
# against the cached 2,040-transaction benchmark chain (tools/make_chain.py)
# with senders (spends), receivers (subaddresses, many outputs) and the miner
# (coinbase), killing `lws serve` with SIGKILL at random moments of its scan.
# Prints headline figures last, one per line, as `name: value`; exits 1 when
# the stores differ. Developer tool: never imported by lws/.
"""Crash proof on the benchmark chain: SIGKILL mid-scan, restart, compare."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import trio

from tests.support.bench_chain import bench_label, open_bench_chain
from tests.support.crashproof import crash_and_compare
from tests.support.regtest import WalletKeys

#: Subaddresses the benchmark chain pays (all inside 4 majors x 10 minors).
LOOKAHEAD = (4, 10)

_START = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--batch-blocks", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="scan processes of lws serve")
    parser.add_argument("--receivers", type=int, default=10, help="bench wallets scanned")
    parser.add_argument(
        "--max-advance", type=int, default=30, help="most blocks a run may scan before its kill"
    )
    args = parser.parse_args()

    labels = [f"sender-{i}" for i in range(4)]
    labels += [bench_label(i) for i in range(args.receivers)]
    labels.append("miner")
    keys = {label: WalletKeys(label) for label in labels}
    with open_bench_chain(log=log) as (daemon, manifest):
        height = manifest["height"]
        log(f"chain: height {height}, {manifest['tx_count']} txs; {len(keys)} accounts")
        with tempfile.TemporaryDirectory(prefix="lws-crash-") as workdir:
            report = trio.run(
                lambda: crash_and_compare(
                    Path(workdir),
                    daemon.url,
                    keys,
                    height,
                    kills=args.kills,
                    seed=args.seed,
                    batch_blocks=args.batch_blocks,
                    workers=args.workers,
                    max_advance=args.max_advance,
                    lookahead=LOOKAHEAD,
                    log=log,
                )
            )
    log(f"progress after each kill: {report.progress}")
    if report.differing:
        log(f"accounts that differ from the clean scan: {report.differing}")
    if report.problems:
        log(f"store check problems: {report.problems}")
    print(f"chain_txs: {manifest['tx_count']}")
    print(f"accounts: {len(keys)}")
    print(f"outputs_compared: {report.outputs}")
    print(f"spends_compared: {report.spends}")
    print(f"kills: {report.kills}")
    print(f"kills_mid_chain: {sum(1 for h in report.progress if 0 < h < height)}")
    print(f"recovery_seconds: {report.recovery_seconds:.1f}")
    print(f"store_equals_clean_scan: {'yes' if report.identical else 'NO'}")
    return 0 if report.identical else 1


if __name__ == "__main__":
    sys.exit(main())
