#!/usr/bin/env python3
# Developer benchmark (not a test, never imported by lws/): throughput of
# lws.monero.ownership.find_owned_outputs in (transaction, account) pairs per
# second on one core, against monero's C++ generate_key_derivation measured
# in the same run by monero's own performance_tests.
"""Benchmark the scan math against monero's C++.

Both sides run single-threaded.  Prints ``name: value`` lines, and last ``ratio: N`` = our pairs/s divided by
C++ generate_key_derivation calls/s, on the median basis (median batch of
``--chunk`` txs vs monero's median call; robust to other processes' load),
the smallest over the account counts measured.  Mean-basis ratios are
printed too.

Transactions are the real 2-output, view-tagged transactions of the cached
regtest benchmark chain (tools/make_chain.py; built on first use), unless
``--synthetic`` (one valid random tx key, two random outputs with view tags)
or ``--chain`` (a file of JSON lines of ``msgspec.json.encode(TxKeys(...))``).

Outputs without view tags (v1 and pre-v15 RingCT: most of mainnet's
history) are a second case, on synthetic transactions of one and of two
such outputs (``--untagged-accounts``; ``--untagged-only`` skips the first
case).  wallet2 checks each of them with a full ``derive_public_key``; the
reference is monero's own ``test_out_can_be_to_acc<false, true>`` (one
derivation, one derive_public_key and the comparison: a one-output tx for
one account), measured in the same run, and for two outputs
``generate_key_derivation + 2 derive_public_key``.  Stricter still, and
printed beside: wallet2's scan loop as monero's tests time it,
``generate_key_derivation + n is_out_to_acc_precomp``.  Ratios are C++ time
over lws time per (transaction, account) pair, medians; ``ratio_untagged``
(last line but one) is the smallest one-account ratio against the named
test and its two-output model.
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

import msgspec
import nacl._sodium as _nacl_sodium

from lws.monero.ed25519 import L, base_mul
from lws.monero.ownership import TxKeys, ViewKey, find_owned_outputs, make_view_key

PERFORMANCE_TESTS = Path("/usr/lib/monero/tests/bin/performance_tests")
CPP_LINE = re.compile(r"test_generate_key_derivation \((\d+) calls\) - OK:\s*([\d.]+)\s*µs/call")
CPP_MEDIAN = re.compile(r"median ([\d.]+) µs")
#: Any performance_tests result line: name, mean and median microseconds per call.
CPP_ANY = re.compile(
    r"^(?P<name>\S.*?) \(\d+ calls\) - OK:\s*(?P<mean>[\d.]+)\s*µs/call.*?"
    r"median (?P<median>[\d.]+) µs",
    re.MULTILINE,
)
#: monero's tests for outputs without view tags (and their parts).
UNTAGGED_CPP_TESTS = (
    "test_out_can_be_to_acc<false, true>",
    "test_is_out_to_acc",
    "test_is_out_to_acc_precomp",
    "test_generate_key_derivation",
    "test_derive_public_key",
)


def scalar(rng: random.Random) -> bytes:
    return rng.randrange(1, L).to_bytes(32, "little")


def synthetic_txs(
    count: int, outputs: int, rng: random.Random, *, tagged: bool = True
) -> list[TxKeys]:
    return [
        TxKeys(
            tx_pubkeys=(base_mul(scalar(rng)),),
            additional_pubkeys=(),
            outputs=tuple(
                (base_mul(scalar(rng)), rng.randrange(256) if tagged else None)
                for _ in range(outputs)
            ),
        )
        for _ in range(count)
    ]


def chain_txs(path: Path) -> list[TxKeys]:
    decoder = msgspec.json.Decoder(TxKeys)
    return [decoder.decode(line) for line in path.read_bytes().splitlines() if line.strip()]


def regtest_txs(*, with_additional: bool = False) -> list[TxKeys]:
    """Real 2-output, view-tagged transactions of the cached regtest benchmark
    chain (tools/make_chain.py builds it), read over /get_blocks.bin and parsed
    by lws. Never repeated: find_owned_outputs derives each distinct tx key
    once per batch, so repeats would flatter the figure. Transactions with
    additional tx keys (a subaddress destination plus change: three keys to
    derive instead of one) are left out unless ``with_additional``."""
    from lws.monero.scan import tx_keys
    from lws.scan.batch import parse_blocks
    from tests.support.bench_chain import open_bench_chain
    from tests.support.chain import fetch_chain

    with open_bench_chain(log=print) as (daemon, _manifest):
        replies = fetch_chain(daemon)
    real = [
        tx_keys(item.tx)
        for reply in replies
        for item in parse_blocks(reply).txs
        if not item.tx.is_coinbase
        and len(item.tx.outputs) == 2
        and all(out.view_tag is not None for out in item.tx.outputs)
    ]
    if not with_additional:
        real = [tx for tx in real if not tx.additional_pubkeys]
    if not real:
        raise SystemExit("the benchmark chain has no 2-output transactions")
    return real


def accounts(count: int, rng: random.Random) -> list[ViewKey]:
    found: list[ViewKey] = []
    while len(found) < count:
        view_key = make_view_key(scalar(rng), base_mul(scalar(rng)))
        if view_key.x25519_scalar is not None:  # the exact path is for a negligible range
            found.append(view_key)
    return found


def time_python(txs: list[TxKeys], views: list[ViewKey], chunk: int) -> tuple[float, float]:
    """Seconds per pair over one pass in batches of ``chunk`` transactions:
    (mean over the pass, median over the batches)."""
    per_pair: list[float] = []
    start = time.perf_counter()
    for offset in range(0, len(txs), chunk):
        batch = txs[offset : offset + chunk]
        began = time.perf_counter()
        find_owned_outputs(batch, views)
        per_pair.append((time.perf_counter() - began) / (len(batch) * len(views)))
    total = time.perf_counter() - start
    return total / (len(txs) * len(views)), statistics.median(per_pair)


def time_x25519(calls: int) -> float:
    lib, ffi = _nacl_sodium.lib, _nacl_sodium.ffi
    out = ffi.new("unsigned char[32]")
    k = (1 << 254 | 8 * 12345).to_bytes(32, "little")
    u = (9).to_bytes(32, "little")
    start = time.perf_counter()
    for _ in range(calls):
        lib.crypto_scalarmult(out, k, u)
    return (time.perf_counter() - start) / calls


def time_cpp(loop_multiplier: int) -> tuple[float, float] | None:
    """Microseconds per monero generate_key_derivation call: (mean, median), or None."""
    if not PERFORMANCE_TESTS.exists():
        return None
    proc = subprocess.run(
        [
            str(PERFORMANCE_TESTS),
            "--filter",
            "test_generate_key_derivation",
            "--loop-multiplier",
            str(loop_multiplier),
            "--stats",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    mean = CPP_LINE.search(proc.stdout)
    median = CPP_MEDIAN.search(proc.stdout)
    if mean is None or median is None:
        return None
    return float(mean.group(2)), float(median.group(1))


def time_cpp_tests(names: tuple[str, ...], loop_multiplier: int) -> dict[str, float]:
    """Median microseconds per call of monero's performance tests, by name."""
    if not PERFORMANCE_TESTS.exists():
        return {}
    proc = subprocess.run(
        [
            str(PERFORMANCE_TESTS),
            "--filter",
            "|".join(re.escape(name) for name in names),
            "--loop-multiplier",
            str(loop_multiplier),
            "--stats",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        match["name"]: float(match["median"])
        for match in CPP_ANY.finditer(proc.stdout)
        if match["name"] in names
    }


def untagged_case(args: argparse.Namespace, rng: random.Random) -> float | None:
    """Outputs without view tags against monero's C++; the smallest
    one-account ratio, or None when monero's performance_tests is missing."""
    counts = [int(part) for part in args.untagged_accounts.split(",") if part]
    outputs_per_tx = (1, 2)
    txs = {n: synthetic_txs(args.untagged_txs, n, rng, tagged=False) for n in outputs_per_tx}
    views = {count: accounts(count, rng) for count in counts}
    ours: dict[tuple[int, int], float] = {}
    cpp_runs: dict[str, list[float]] = {name: [] for name in UNTAGGED_CPP_TESTS}
    for _ in range(args.runs):  # interleaved, as above
        for n in outputs_per_tx:
            for count in counts:
                # Batches of ~200 pairs (at least 40 txs: whole 8-lane blocks),
                # several per pass: the median batch is one no other process slowed.
                chunk = max(40, 200 // count)
                sample = txs[n][: max(chunk * 5, len(txs[n]) // count)]
                _, median = time_python(sample, views[count], chunk)
                ours[n, count] = min(ours.get((n, count), float("inf")), median)
        for name, value in time_cpp_tests(UNTAGGED_CPP_TESTS, args.loop_multiplier).items():
            cpp_runs[name].append(value)
    print("untagged_source: synthetic, one random tx key, outputs without view tags")
    print(f"untagged_transactions: {args.untagged_txs} per outputs count")
    for (n, count), seconds in sorted(ours.items()):
        print(f"untagged_us_per_pair_{n}out_{count}_accounts: {seconds * 1e6:.1f}")
        print(f"untagged_pairs_per_s_{n}out_{count}_accounts: {1 / seconds:.0f}")
    if not all(cpp_runs.values()):
        print(f"cpp: unavailable ({PERFORMANCE_TESTS} missing or unparsable)")
        return None
    cpp = {name: min(values) for name, values in cpp_runs.items()}
    for name, value in cpp.items():
        print(f"cpp_{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}_us_median: {value:g}")
    gkd, dpk = cpp["test_generate_key_derivation"], cpp["test_derive_public_key"]
    precomp = cpp["test_is_out_to_acc_precomp"]
    # wallet2 per (tx, account): the named test for one output; for two,
    # the same derivation and two derive_public_key.
    named = {1: cpp["test_out_can_be_to_acc<false, true>"], 2: gkd + 2 * dpk}
    scan_loop = {n: gkd + n * precomp for n in outputs_per_tx}
    one_account: list[float] = []
    for (n, count), seconds in sorted(ours.items()):
        ratio = named[n] * 1e-6 / seconds
        strict = scan_loop[n] * 1e-6 / seconds
        print(f"ratio_untagged_{n}out_{count}_accounts: {ratio:.2f}")
        print(f"ratio_untagged_{n}out_{count}_accounts_vs_scan_loop: {strict:.2f}")
        if count == 1:
            one_account.append(ratio)
    if not one_account:
        return None
    print(f"ratio_untagged: {min(one_account):.2f}")
    return min(one_account)


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
    parser.add_argument(
        "--with-additional",
        action="store_true",
        help="also take real 2-output txs that carry additional tx keys",
    )
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="random synthetic txs instead of the real regtest chain's 2-output txs",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--untagged-accounts",
        default="1,100",
        help="account counts for outputs without view tags (default 1,100; empty skips)",
    )
    parser.add_argument(
        "--untagged-txs",
        type=int,
        default=1000,
        help="synthetic transactions per outputs count in that case (default 1000)",
    )
    parser.add_argument(
        "--untagged-only", action="store_true", help="only the case without view tags"
    )
    parser.add_argument(
        "--portable",
        action="store_true",
        help="the C extension's ladders one by one, even where AVX-512 IFMA runs 8 at a time",
    )
    parser.add_argument(
        "--pin", action="store_true", help="pin this process and the C++ run to one CPU"
    )
    args = parser.parse_args()

    if args.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # C++ child inherits it
    rng = random.Random(args.seed)
    from lws.monero import ownership

    if args.portable and not ownership.uses_x25519_ladders():
        from lws.monero import _derivations

        _derivations.set_vector_lanes(False)

    print(f"scan_math: {scan_math_name(ownership)}")
    if args.untagged_only:
        return 0 if untagged_case(args, rng) is not None else 1
    if args.chain:
        txs, source = chain_txs(args.chain), f"chain {args.chain}"
    elif args.synthetic:
        txs, source = synthetic_txs(args.txs, args.outputs, rng), "synthetic"
    else:
        txs, source = (
            regtest_txs(with_additional=args.with_additional),
            "regtest benchmark chain (real 2-output txs)",
        )
    account_counts = [int(part) for part in args.accounts.split(",") if part]
    views = {count: accounts(count, rng) for count in account_counts}
    outputs = sum(len(tx.outputs) for tx in txs)

    # Two bases, both reported.  "mean": whole passes (best of the runs) vs
    # performance_tests' mean per call (best of the runs).  "median": median
    # batch of --chunk txs vs performance_tests' median call (best of the
    # runs), which shrugs off other processes' load on a shared machine.
    mean_python = {count: float("inf") for count in account_counts}
    median_python = {count: float("inf") for count in account_counts}
    cpp_mean: list[float] = []
    cpp_median: list[float] = []
    x25519_runs: list[float] = []
    for _ in range(args.runs):  # interleaved, so both sides see the same machine load
        for count in account_counts:
            mean, median = time_python(txs, views[count], args.chunk)
            mean_python[count] = min(mean_python[count], mean)
            median_python[count] = min(median_python[count], median)
        x25519_runs.append(time_x25519(2000))
        cpp = time_cpp(args.loop_multiplier)
        if cpp is not None:
            cpp_mean.append(cpp[0])
            cpp_median.append(cpp[1])

    print(f"source: {source}")
    print(f"transactions: {len(txs)}")
    print(f"outputs_per_tx: {outputs / max(len(txs), 1):.2f}")
    print(f"libsodium_x25519_us: {min(x25519_runs) * 1e6:.1f}")
    for count in account_counts:
        print(f"python_us_per_pair_{count}_accounts_mean: {mean_python[count] * 1e6:.1f}")
        print(f"python_us_per_pair_{count}_accounts_median: {median_python[count] * 1e6:.1f}")
        print(f"python_pairs_per_s_{count}_accounts: {1 / median_python[count]:.0f}")
    if not cpp_mean:
        print(f"cpp: unavailable ({PERFORMANCE_TESTS} missing or unparsable)")
        return 1
    print(f"cpp_generate_key_derivation_us_mean_runs: {' '.join(f'{v:g}' for v in cpp_mean)}")
    print(f"cpp_generate_key_derivation_us_median_runs: {' '.join(f'{v:g}' for v in cpp_median)}")
    print(f"cpp_generate_key_derivation_us_mean: {min(cpp_mean):g}")
    print(f"cpp_generate_key_derivation_us_median: {min(cpp_median):g}")
    print(f"cpp_calls_per_s: {1e6 / min(cpp_median):.0f}")
    mean_ratios = {count: min(cpp_mean) * 1e-6 / mean_python[count] for count in account_counts}
    median_ratios = {
        count: min(cpp_median) * 1e-6 / median_python[count] for count in account_counts
    }
    for count in account_counts:
        print(f"ratio_{count}_accounts_mean: {mean_ratios[count]:.2f}")
        print(f"ratio_{count}_accounts_median: {median_ratios[count]:.2f}")
    if args.untagged_accounts:
        untagged_case(args, rng)
    print(f"ratio: {min(median_ratios.values()):.2f}")
    return 0


def scan_math_name(ownership: object) -> str:
    """Which scan math runs: the C extension (ladders 8 at a time or not) or X25519."""
    if getattr(ownership, "_native_derivations", None) is None:
        return "x25519 ladders (no C extension)"
    from lws.monero import _derivations

    if _derivations.vector_lanes():
        return "C extension, ladders 8 at a time (AVX-512 IFMA)"
    return "C extension, ladders one by one"


if __name__ == "__main__":
    sys.exit(main())
