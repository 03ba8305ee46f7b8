#!/usr/bin/env python3
# Owns the service-level micro-benchmark of the account reads: the services
# behind get_address_info, get_address_txs and get_unspent_outs called
# in-process (no HTTP), on a store seeded like tools/bench_api.py's (one
# account, 1,200 outputs, 150 spent), cached (the reply cache warm) and
# uncached (the cache emptied before every call: the snapshot read, reply
# build and encoding). monerod's fee estimate comes from a stub that answers
# at once (the fee cache keeps it anyway; this measures lws, not monerod).
# Prints headline figures last, one `name: value` a line.
# A developer tool: never imported by lws/ or the tests.
"""Requests per second of the account services alone, cached and uncached."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import trio

from lws.config import Config
from lws.daemon import Daemon, FeeEstimate, HardForkInfo
from lws.services import account_data
from lws.services.context import Services
from lws.store import Store
from lws.wire.requests import AccountRequest, UnspentOutsRequest
from tools.bench_api import ACCOUNT, CHAIN_BLOCKS, seed


class StubDaemon(Daemon):
    """Answers the two fee calls at once; nothing else is called."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1")

    async def get_fee_estimate(self) -> FeeEstimate:
        return FeeEstimate(
            fee=20_000, fees=[20_000, 80_000, 320_000, 4_000_000], quantization_mask=10_000
        )

    async def hard_fork_info(self) -> HardForkInfo:
        return HardForkInfo(version=16)


async def rate(
    call: Callable[[], Awaitable[Any]], seconds: float, before: Callable[[], None] | None
) -> float:
    encode = msgspec.json.Encoder().encode  # what the transport does with the reply
    count = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        if before is not None:
            before()
        encode(await call())
        count += 1
    return count / (time.perf_counter() - started)


async def measure(svc: Services, seconds: float) -> dict[str, float]:
    creds = {"address": ACCOUNT.address(), "view_key": ACCOUNT.view_secret.hex()}
    info = AccountRequest(**creds)
    unspent = UnspentOutsRequest(
        **creds, amount="0", mixin=15, use_dust=True, dust_threshold="2000000000"
    )
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "get_address_info": lambda: account_data.get_address_info(svc, info),
        "get_address_txs": lambda: account_data.get_address_txs(svc, info),
        "get_unspent_outs": lambda: account_data.get_unspent_outs(svc, unspent),
    }
    # (getattr: the same script measures trees from before the reply cache)
    replies = getattr(svc, "replies", None)
    clear = replies.clear if replies is not None else None
    results: dict[str, float] = {}
    for name, call in calls.items():
        await call()  # warm
        results[f"{name}_uncached_rps"] = await rate(call, seconds, clear)
        results[f"{name}_cached_rps"] = await rate(call, seconds, None)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outputs", type=int, default=1200)
    parser.add_argument("--spends", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lws-bench-services-"))
    try:
        hashes = [height.to_bytes(32, "big") for height in range(CHAIN_BLOCKS)]
        seed(workdir / "store", hashes, args.outputs, args.spends)
        with Store.open(workdir / "store", network="regtest") as store:
            svc = Services(Config(network="regtest"), store, StubDaemon())
            results = trio.run(measure, svc, args.seconds)
        print(
            f"1 account, {args.outputs} outputs ({args.spends} spent); service call + "
            f"msgspec encode of its reply, one task, {args.seconds:g} s each"
        )
        for name, value in results.items():
            print(f"{name}: {value:.0f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
