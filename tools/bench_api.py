#!/usr/bin/env python3
# Owns the wallet API load benchmark (issues 4 and 13): a real `lws serve`
# over a store seeded through lws.store's write API (one account with
# thousands of outputs, on a real regtest monerod's block hashes so the
# scanner has nothing to undo), with lws's default configuration (one API
# process per core) unless --api-workers says otherwise, loaded with wrk at
# 64 connections on login (an existing account, as the MyMonero clients
# send it), get_address_info and get_unspent_outs (with and without
# Accept-Encoding: gzip), and monerod's JSON-RPC get_info under the same
# load as the yardstick, in the same run. With --old PATH (a checkout of an
# earlier lws, e.g. a git worktree of 0b02e1b, the last commit on the
# hand-written HTTP/1.1 server), that lws is started from PATH over a copy
# of the same store and measured in the same run too. Prints a table, then
# headline figures, one `name: value` a line.
# A developer tool: never imported by lws/ or the tests.
"""Requests per second and p99 latency of the wallet API, against monerod's."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from lws.store import AccountBatch, AccountStatus, OutputRecord, SpendRecord, Store
from lws.store.schema import tx_index_of
from tests.support.regtest import Monerod, WalletKeys, free_port

#: This checkout (the lws measured as "new"; `python -m tools.bench_api` from it).
REPO = Path(__file__).resolve().parent.parent

#: Blocks mined before seeding: every seeded output must be unlocked (10 blocks).
CHAIN_BLOCKS = 130
#: Seeded outputs spread over these heights, oldest first.
OUTPUT_HEIGHTS = range(5, CHAIN_BLOCKS - 15)
ACCOUNT = WalletKeys("bench-api")
#: monerod refuses RPC connections past 25 per private (loopback) IP by
#: default (--rpc-max-connections-per-private-ip; 100 in all): at 64
#: connections wrk saw thousands of read errors, and monerod's rate came from
#: the 25 it kept. Raised so the yardstick serves all 64, like lws.
MONEROD_ARGS = (
    "--rpc-max-connections-per-private-ip",
    "1000",
    "--rpc-max-connections",
    "1000",
)

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%s
wrk.body = [[%s]]
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency.max))
end
"""


def _random(rng: random.Random, size: int = 32) -> bytes:
    return rng.randbytes(size)


def seed(store_path: Path, hashes: list[bytes], outputs: int, spends: int) -> None:
    """One account with ``outputs`` outputs (``spends`` of them spent) over the chain.

    Keys, hashes, commitments and key images are random bytes (seeded): like
    real ones they do not compress, so gzip figures are the real clients' ones.
    """
    rng = random.Random(4)
    heights = list(OUTPUT_HEIGHTS)
    records: list[OutputRecord] = []
    for i in range(outputs):
        height = heights[i * len(heights) // outputs]
        position, vout = 1 + i % 50, i % 2
        records.append(
            OutputRecord(
                height=height,
                tx_index=tx_index_of(height, position),
                tx_hash=_random(rng),
                tx_prefix_hash=_random(rng),
                output_index=vout,
                global_index=1000 + i,
                amount=1_000_000_000 + i,
                mask=_random(rng),
                rct_type=6,
                commitment=_random(rng),
                ecdh_amount=_random(rng, 8),
                output_key=_random(rng),
                tx_pubkey=_random(rng),
                subaddress=(0, 0),
                unlock_time=0,
                timestamp=1_700_000_000 + height * 120,
                coinbase=False,
                mixin=15,
                payment_id=b"",
                fee=30_000_000,
            )
        )
    spend_records = []
    for i in range(spends):
        source = records[i * 3]
        height = min(source.height + 11, CHAIN_BLOCKS - 1)  # type: ignore[operator]
        spend_records.append(
            SpendRecord(
                key_image=_random(rng),
                height=height,
                tx_index=tx_index_of(height, 60),
                tx_hash=_random(rng),
                timestamp=1_700_000_000 + height * 120,
                unlock_time=0,
                mixin=15,
                fee=40_000_000,
                payment_id=b"",
                source_tx_index=source.tx_index,
                source_output_index=source.output_index,
                source_global_index=source.global_index,
                source_amount=source.amount,
                source_tx_pubkey=source.tx_pubkey,
            )
        )
    with Store.open(store_path, network="regtest") as store:
        account = store.transact(
            lambda w: w.add_account(
                ACCOUNT.address(),
                view_secret=ACCOUNT.view_secret,
                spend_public=ACCOUNT.spend_public,
                view_public=ACCOUNT.view_public,
                start_height=0,
                created=int(time.time()),
                status=AccountStatus.ACTIVE,
            )
        )
        batch = AccountBatch(
            from_height=0,
            scan_height=len(hashes),
            outputs=tuple(records),
            spends=tuple(spend_records),
        )
        store.transact(lambda w: w.add_block_batch(0, hashes, {account: batch}))


def seed_with(checkout: Path, store_path: Path, hashes: list[bytes], args: Any) -> None:
    """The same store, seeded by ``checkout``'s own code (an earlier lws
    writes the store format it reads); its bench_api.seed fixes the path."""
    code = (
        "import sys; from pathlib import Path; from tools.bench_api import seed\n"
        "hashes = [bytes.fromhex(h) for h in sys.stdin.read().split()]\n"
        f"seed(Path({str(store_path)!r}), hashes, {args.outputs}, {args.spends})\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        input=" ".join(h.hex() for h in hashes),
        text=True,
        cwd=checkout,
        check=True,
    )


def block_hashes(daemon: Monerod, count: int) -> list[bytes]:
    headers = daemon.rpc("get_block_headers_range", start_height=0, end_height=count - 1)
    return [bytes.fromhex(h["hash"]) for h in headers["headers"]]


def start_lws(
    workdir: Path,
    daemon: Monerod,
    workers: int,
    api_workers: int,
    *,
    source: Path = REPO,
    extra: tuple[str, ...] = (),
) -> tuple[subprocess.Popen[bytes], str]:
    """`lws serve` from the checkout ``source`` (its own package, by cwd)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lws",
            "serve",
            "--daemon-url",
            daemon.url,
            "--network",
            "regtest",
            "--data-dir",
            str(workdir),
            "--listen",
            f"127.0.0.1:{port}",
            "--scan-workers",
            str(workers),
            "--api-workers",
            str(api_workers),
            *extra,
        ],
        cwd=source,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "lws.log", "ab"),  # noqa: SIM115
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/get_version", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"lws did not start: {(workdir / 'lws.log').read_text()[-2000:]}")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the API worker and scan worker processes)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += _tree(int(child))
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its descendants."""
    ticks = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(
    url: str,
    body: dict[str, object],
    *,
    connections: int,
    seconds: int,
    threads: int,
    headers: dict[str, str],
) -> dict[str, float]:
    extra = "\n".join(f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % (extra, json.dumps(body)))
    try:
        run = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(script.name)
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", run.stdout)
    if match is None:
        raise SystemExit(f"wrk said:\n{run.stdout}\n{run.stderr}")
    requests, duration_us, p50, p99, errors, bad_status, worst = map(int, match.groups())
    return {
        "rps": requests / (duration_us / 1e6),
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "max_ms": worst / 1000,
        "errors": errors,
        "non_2xx": bad_status,
        "requests": requests,
    }


#: Issue 13's targets, (ratio to monerod's get_info rate, p99 in ms), for
#: the requests the MyMonero clients send (no Accept-Encoding: "plain").
TARGETS = {
    "login": (0.4, 50.0),
    "get_address_info_plain": (0.4, 50.0),
    "get_unspent_outs_plain": (0.25, 100.0),
}
#: What browsers send with every request (Node's axios 0.21 sends no Accept-Encoding).
GZIP = {"Accept-Encoding": "gzip"}
#: wrk sends no Accept-Encoding unless told: the plain reply.
PLAIN: dict[str, str] = {}


def check_reply(url: str, body: dict[str, object], outputs: int) -> tuple[int, int]:
    """Check both encodings agree; (plain size, gzip size) of the reply."""
    plain = httpx.post(url, json=body, timeout=30, headers={"Accept-Encoding": "identity"})
    plain.raise_for_status()
    if plain.headers.get("content-encoding"):
        raise SystemExit(f"{url}: encoded reply to Accept-Encoding: identity")
    data = plain.json()
    if "outputs" in data and len(data["outputs"]) != outputs:
        raise SystemExit(f"expected {outputs} unspent outputs, got {len(data['outputs'])}")
    with httpx.stream("POST", url, json=body, timeout=30, headers=GZIP) as zipped:
        zipped.raise_for_status()
        raw = b"".join(zipped.iter_raw())
        if zipped.headers.get("content-encoding") != "gzip":
            raise SystemExit(f"{url}: no gzip reply to Accept-Encoding: gzip")
    if gzip.decompress(raw) != plain.content:
        raise SystemExit(f"{url}: the gzip reply is not the plain reply")
    return len(plain.content), len(raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outputs", type=int, default=1200, help="outputs of the account")
    parser.add_argument("--spends", type=int, default=150, help="of which spent")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=10, help="per measured endpoint")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=0,
        help="lws processes serving the API (0, lws's default: one per core, at most 4)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--old",
        type=Path,
        help="a checkout of an earlier lws to measure in the same run (git worktree add "
        "--detach /tmp/lws-old 0b02e1b; copy lws/monero/_derivations*.so into it)",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=60,
        help="lws's --rate-limit (default: lws's default; login of an existing account "
        "and the reads are never limited)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")

    workdir = Path(tempfile.mkdtemp(prefix="lws-bench-api-"))
    daemon = Monerod(workdir / "monerod", extra_args=MONEROD_ARGS)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        daemon.mine(CHAIN_BLOCKS, WalletKeys("bench-miner").address())
        hashes = block_hashes(daemon, CHAIN_BLOCKS)
        seed(workdir / "lws" / "store", hashes, args.outputs, args.spends)
        servers = {"new": (REPO, ("--rate-limit", str(args.rate_limit)))}
        if args.old is not None:
            seed_with(args.old.resolve(), workdir / "lws-old" / "store", hashes, args)
            servers["old"] = (args.old.resolve(), ())
        creds = {"address": ACCOUNT.address(), "view_key": ACCOUNT.view_secret.hex()}
        unspent = {
            **creds,
            "amount": "0",
            "mixin": 15,
            "use_dust": True,
            "dust_threshold": "2000000000",
        }
        login = {**creds, "create_account": True}  # as the MyMonero clients send it
        print(
            f"seeded store: 1 account, {args.outputs} outputs ({args.spends} spent), "
            f"{CHAIN_BLOCKS} blocks of a regtest monerod; lws --api-workers "
            f"{args.api_workers}; wrk -c{args.connections} -t{args.threads} "
            f"-d{args.seconds}s per endpoint (after a 2 s warm-up), one after the other"
        )

        def load(
            target: str, body: dict[str, object], headers: dict[str, str], pid: int
        ) -> dict[str, float]:
            """wrk on ``target`` (a warm-up run, then the measured one), with the
            server's CPU time per request (process ``pid`` and its children):
            a figure that other load on the machine disturbs less than req/s."""
            wrk(
                target,
                body,
                connections=args.connections,
                seconds=2,
                threads=args.threads,
                headers=headers,
            )
            before = cpu_seconds(pid)
            r = wrk(
                target,
                body,
                connections=args.connections,
                seconds=args.seconds,
                threads=args.threads,
                headers=headers,
            )
            r["cpu_us"] = (cpu_seconds(pid) - before) / max(1.0, r["requests"]) * 1e6
            return r

        def show(label: str, r: dict[str, float]) -> None:
            print(
                f"  {label:30s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.1f} ms  p99 "
                f"{r['p99_ms']:6.1f} ms  max {r['max_ms']:6.1f} ms  errors {r['errors']:.0f}  "
                f"non-2xx {r['non_2xx']:.0f}  server CPU {r['cpu_us']:5.0f} us/request",
                flush=True,
            )

        assert daemon.proc is not None
        monerod = load(
            f"{daemon.url}/json_rpc",
            {"jsonrpc": "2.0", "id": "0", "method": "get_info"},
            PLAIN,
            daemon.proc.pid,
        )
        show("monerod get_info", monerod)
        results: dict[str, dict[str, dict[str, float]]] = {}
        for server, (source, extra) in servers.items():
            folder = workdir / ("lws" if server == "new" else "lws-old")
            proc, url = start_lws(folder, daemon, 1, args.api_workers, source=source, extra=extra)
            procs.append(proc)
            sizes = {
                "get_address_info": check_reply(f"{url}/get_address_info", creds, args.outputs),
                "get_unspent_outs": check_reply(f"{url}/get_unspent_outs", unspent, args.outputs),
            }
            print(f"{server} lws ({source}):")
            for name, (plain_size, gzip_size) in sizes.items():
                print(f"  {name} reply: {plain_size} bytes, {gzip_size} gzipped")
            jobs: dict[str, tuple[str, dict[str, object], dict[str, str]]] = {
                "login": (f"{url}/login", login, PLAIN),
                "get_address_info_plain": (f"{url}/get_address_info", creds, PLAIN),
                "get_address_info_gzip": (f"{url}/get_address_info", creds, GZIP),
                "get_unspent_outs_plain": (f"{url}/get_unspent_outs", unspent, PLAIN),
                "get_unspent_outs_gzip": (f"{url}/get_unspent_outs", unspent, GZIP),
            }
            results[server] = {}
            for name, (target, body, headers) in jobs.items():
                results[server][name] = load(target, body, headers, proc.pid)
                show(name, results[server][name])
            stop(proc)
        base = monerod["rps"]
        print(
            "\n(_plain: no Accept-Encoding, as Node's axios 0.21 in mymonero-lws-client sends; "
            "_gzip: Accept-Encoding: gzip, as browsers send. Ratios are to monerod's get_info "
            "rate measured above.)"
        )
        header = f"{'request':24s} " + "  ".join(
            f"{server + ' req/s':>12s} {'p99 ms':>7s} {'x monerod':>9s} {'CPU us/req':>10s}"
            for server in results
        )
        print(header)
        for name in results["new"]:
            row = f"{name:24s} "
            for server in results:
                r = results[server][name]
                row += (
                    f"{r['rps']:12.0f} {r['p99_ms']:7.1f} {r['rps'] / base:9.2f} "
                    f"{r['cpu_us']:10.0f}  "
                )
            print(row.rstrip())
        print(
            f"{'monerod get_info':24s} {base:12.0f} {monerod['p99_ms']:7.1f} {1:9.2f} "
            f"{monerod['cpu_us']:10.0f}"
        )
        print()
        for name, r in results["new"].items():
            print(f"{name}_rps: {r['rps']:.0f}")
            print(f"{name}_p99_ms: {r['p99_ms']:.1f}")
            print(f"{name}_vs_monerod: {r['rps'] / base:.2f}")
            print(f"{name}_cpu_us_per_request: {r['cpu_us']:.0f}")
            if name in TARGETS:
                ratio, p99 = TARGETS[name]
                met = r["rps"] / base >= ratio and r["p99_ms"] < p99
                print(
                    f"{name}_target: >= {ratio}x, p99 < {p99:.0f} ms: {'met' if met else 'NOT met'}"
                )
            if "old" in results:
                old = results["old"][name]
                print(f"{name}_old_rps: {old['rps']:.0f}")
                print(f"{name}_old_vs_monerod: {old['rps'] / base:.2f}")
                print(f"{name}_new_vs_old: {r['rps'] / old['rps']:.2f}")
                print(f"{name}_old_cpu_us_per_request: {old['cpu_us']:.0f}")
        print(f"monerod_get_info_rps: {base:.0f}")
        print(f"monerod_get_info_p99_ms: {monerod['p99_ms']:.1f}")
        print(f"monerod_get_info_errors: {monerod['errors']:.0f}")
    finally:
        for proc in procs:
            stop(proc)
        daemon.stop()
        if args.keep:
            print(f"work folder: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
