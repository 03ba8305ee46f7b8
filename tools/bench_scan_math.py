#!/usr/bin/env python3
# Developer benchmark (not a test, never imported by lws/): throughput of
# lws.monero.ownership.find_owned_outputs in (transaction, account) pairs per
# second on one core, against monero's C++ generate_key_derivation measured
# in the same run by monero's own performance_tests.
"""Benchmark the scan math against monero's C++.

Both sides run single-threaded.  Prints ``name: value`` lines, and last ``ratio: N`` = our pairs/s divided by
C++ generate_key_derivation calls/s (the smallest ratio over the account
counts measured, i.e. the conservative one).

Transactions are synthetic unless ``--chain`` names a file of JSON lines,
each ``msgspec.json.encode(TxKeys(...))`` (bytes as base64), e.g. dumped
from a regtest chain.  Synthetic ones look like today's typical tx: one
valid random tx key, two outputs (random points) with view tags, no
additional keys, owned by nobody.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402
import nacl._sodium as _nacl_sodium  # noqa: E402

from lws.monero.ed25519 import L, base_mul  # noqa: E402
from lws.monero.ownership import TxKeys, ViewKey, find_owned_outputs, make_view_key  # noqa: E402

PERFORMANCE_TESTS = Path("/usr/lib/monero/tests/bin/performance_tests")
CPP_LINE = re.compile(r"test_generate_key_derivation \((\d+) calls\) - OK:\s*([\d.]+)\s*µs/call")


def scalar(rng: random.Random) -> bytes:
    return rng.randrange(1, L).to_bytes(32, "little")


def synthetic_txs(count: int, outputs: int, rng: random.Random) -> list[TxKeys]:
    return [
        TxKeys(
            tx_pubkeys=(base_mul(scalar(rng)),),
            additional_pubkeys=(),
            outputs=tuple((base_mul(scalar(rng)), rng.randrange(256)) for _ in range(outputs)),
        )
        for _ in range(count)
    ]


def chain_txs(path: Path) -> list[TxKeys]:
    decoder = msgspec.json.Decoder(TxKeys)
    return [decoder.decode(line) for line in path.read_bytes().splitlines() if line.strip()]


def accounts(count: int, rng: random.Random) -> list[ViewKey]:
    found: list[ViewKey] = []
    while len(found) < count:
        view_key = make_view_key(scalar(rng), base_mul(scalar(rng)))
        if view_key.x25519_scalar is not None:  # the exact path is for a negligible range
            found.append(view_key)
    return found


def time_python(txs: list[TxKeys], views: list[ViewKey], chunk: int) -> float:
    """Seconds for one pass over ``txs`` in batches of ``chunk`` transactions."""
    start = time.perf_counter()
    for offset in range(0, len(txs), chunk):
        find_owned_outputs(txs[offset : offset + chunk], views)
    return time.perf_counter() - start


def time_x25519(calls: int) -> float:
    lib, ffi = _nacl_sodium.lib, _nacl_sodium.ffi
    out = ffi.new("unsigned char[32]")
    k = (1 << 254 | 8 * 12345).to_bytes(32, "little")
    u = (9).to_bytes(32, "little")
    start = time.perf_counter()
    for _ in range(calls):
        lib.crypto_scalarmult(out, k, u)
    return (time.perf_counter() - start) / calls


def time_cpp(loop_multiplier: int) -> float | None:
    """Microseconds per monero generate_key_derivation call, or None."""
    if not PERFORMANCE_TESTS.exists():
        return None
    proc = subprocess.run(
        [
            str(PERFORMANCE_TESTS),
            "--filter",
            "test_generate_key_derivation",
            "--loop-multiplier",
            str(loop_multiplier),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    match = CPP_LINE.search(proc.stdout)
    return float(match.group(2)) if match else None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--txs", type=int, default=2000, help="synthetic transactions (default 2000)"
    )
    parser.add_argument(
        "--outputs", type=int, default=2, help="outputs per synthetic tx (default 2)"
    )
    parser.add_argument(
        "--accounts", default="1,8", help="comma-separated account counts (default 1,8)"
    )
    parser.add_argument(
        "--chunk", type=int, default=1000, help="transactions per find_owned_outputs call"
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="rounds; best of them is reported (default 5)"
    )
    parser.add_argument(
        "--loop-multiplier", type=int, default=10, help="performance_tests --loop-multiplier"
    )
    parser.add_argument("--chain", type=Path, help="JSON lines of TxKeys instead of synthetic txs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pin", action="store_true", help="pin this process and the C++ run to one CPU"
    )
    args = parser.parse_args()

    if args.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # C++ child inherits it
    rng = random.Random(args.seed)
    txs = chain_txs(args.chain) if args.chain else synthetic_txs(args.txs, args.outputs, rng)
    account_counts = [int(part) for part in args.accounts.split(",") if part]
    views = {count: accounts(count, rng) for count in account_counts}
    outputs = sum(len(tx.outputs) for tx in txs)

    best_python = {count: float("inf") for count in account_counts}
    cpp_runs: list[float] = []
    x25519_runs: list[float] = []
    for _ in range(args.runs):  # interleaved, so both sides see the same machine load
        for count in account_counts:
            seconds = time_python(txs, views[count], args.chunk)
            best_python[count] = min(best_python[count], seconds / (len(txs) * count))
        x25519_runs.append(time_x25519(2000))
        cpp = time_cpp(args.loop_multiplier)
        if cpp is not None:
            cpp_runs.append(cpp)

    print(f"source: {'chain ' + str(args.chain) if args.chain else 'synthetic'}")
    print(f"transactions: {len(txs)}")
    print(f"outputs_per_tx: {outputs / max(len(txs), 1):.2f}")
    print(f"libsodium_x25519_us: {min(x25519_runs) * 1e6:.1f}")
    for count in account_counts:
        print(f"python_us_per_pair_{count}_accounts: {best_python[count] * 1e6:.1f}")
        print(f"python_pairs_per_s_{count}_accounts: {1 / best_python[count]:.0f}")
    if not cpp_runs:
        print(f"cpp: unavailable ({PERFORMANCE_TESTS} missing or unparsable)")
        return 1
    cpp_best = min(cpp_runs)
    print(f"cpp_generate_key_derivation_us_runs: {' '.join(f'{v:g}' for v in cpp_runs)}")
    print(f"cpp_generate_key_derivation_us_best: {cpp_best:g}")
    print(f"cpp_generate_key_derivation_us_median: {statistics.median(cpp_runs):g}")
    print(f"cpp_calls_per_s: {1e6 / cpp_best:.0f}")
    ratios = {count: (1 / best_python[count]) / (1e6 / cpp_best) for count in account_counts}
    for count in account_counts:
        print(f"ratio_{count}_accounts: {ratios[count]:.2f}")
    print(f"ratio: {min(ratios.values()):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
