# Owns the crash proof of issue 3, shared by the e2e test (small scenario
# chain, in CI) and tools/crash_scan.py (the 2,040-transaction bench chain):
# scan a chain once uninterrupted, then run `lws serve` and SIGKILL it at
# random moments while it scans, restart it, and compare the two stores.
# Uses a real monerod the caller started; must not change the chain.
"""SIGKILL `lws serve` mid-scan again and again; the store ends as one clean scan."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lws.store import Store
from tests.support.regtest import WalletKeys, free_port
from tests.support.scanning import add_accounts, scan_to_tip


def snapshot(store: Store, ids: Mapping[str, int]) -> dict[str, Any]:
    """Everything a scan decides: the block chain, and per account its scan
    height, outputs and candidate spends in a canonical order; plus the
    store's own consistency check."""

    def read(reader):  # type: ignore[no-untyped-def]
        top = reader.chain_top()
        return {
            "top": top,
            "chain": [reader.hash_at(h) for h in range(top[0] + 1)] if top else [],
            "accounts": {
                name: (
                    reader.account(i).scan_height,
                    sorted(reader.outputs(i), key=lambda o: (o.tx_index, o.output_index)),
                    sorted(
                        reader.spends(i),
                        key=lambda s: (s.tx_index, s.key_image, s.source_global_index),
                    ),
                )
                for name, i in ids.items()
            },
            "problems": reader.check(),
        }

    return store.query(read)


def serve(
    data_dir: Path, daemon_url: str, *, batch_blocks: int, workers: int
) -> subprocess.Popen[bytes]:
    """`lws serve` on ``data_dir`` in its own session (killpg reaches its scan workers)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lws",
            "serve",
            "--daemon-url",
            daemon_url,
            "--data-dir",
            str(data_dir),
            "--network",
            "regtest",
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--scan-workers",
            str(workers),
            "--api-workers",
            "1",
            "--scan-batch-blocks",
            str(batch_blocks),
            "--poll-interval",
            "0.2",
            "--log-level",
            "warning",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(data_dir / "lws.log", "ab"),  # noqa: SIM115
        start_new_session=True,
    )


def scan_heights(data_dir: Path) -> list[int]:
    with Store.open(data_dir / "store", network="regtest", readonly=True) as store:
        return store.query(lambda r: [rec.scan_height for _, rec in r.accounts()])


@dataclass
class CrashReport:
    kills: int = 0
    #: the lowest account scan height after each kill
    progress: list[int] = field(default_factory=list)
    reference_seconds: float = 0.0
    recovery_seconds: float = 0.0
    outputs: int = 0
    spends: int = 0
    #: names of accounts whose data differ from the reference (empty: proof holds)
    differing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    same_chain: bool = False

    @property
    def identical(self) -> bool:
        return self.same_chain and not self.differing and not self.problems


async def crash_and_compare(
    workdir: Path,
    daemon_url: str,
    keys: Mapping[str, WalletKeys],
    height: int,
    *,
    kills: int,
    seed: int,
    batch_blocks: int,
    workers: int,
    max_advance: int,
    lookahead: tuple[int, int],
    log: Callable[[str], None] = lambda _: None,
) -> CrashReport:
    """Scan ``keys``' accounts to ``height`` once cleanly and once through
    ``kills`` SIGKILLs; report how the two stores compare."""
    report = CrashReport()
    started = time.monotonic()
    reference = Store.open(workdir / "reference", network="regtest")
    ref_ids = add_accounts(reference, dict(keys), lookahead=lookahead)
    await scan_to_tip(reference, daemon_url, height, workers=workers)
    expected = snapshot(reference, ref_ids)
    reference.close()
    report.reference_seconds = time.monotonic() - started
    log(f"reference scan: {report.reference_seconds:.1f} s")

    data_dir = workdir / "crashy"
    data_dir.mkdir()
    with Store.open(data_dir / "store", network="regtest") as store:
        ids = add_accounts(store, dict(keys), lookahead=lookahead)
    assert ids == ref_ids

    rng = random.Random(seed)
    last = 0
    for round_ in range(kills):
        proc = serve(data_dir, daemon_url, batch_blocks=batch_blocks, workers=workers)
        # Kill once the scan has moved a random number of blocks on (so the
        # kill lands while batches are being written), or at a random moment
        # of start-up for some rounds.
        target = min(last + rng.randint(1, max_advance), height - 1)
        deadline = time.monotonic() + (rng.uniform(0.2, 1.5) if rng.random() < 0.2 else 60)
        while time.monotonic() < deadline and min(scan_heights(data_dir)) < target:
            time.sleep(0.002)
        # A moment more, so the kill lands anywhere in the batch being
        # written; short, as the scan runs on meanwhile (a one-block batch
        # takes a few ms: a longer wait would let it run to the tip).
        time.sleep(rng.uniform(0, 0.005))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        last = min(scan_heights(data_dir))
        report.progress.append(last)
        report.kills += 1
        log(f"kill {round_ + 1}/{kills}: lowest scan height {last}")

    proc = serve(data_dir, daemon_url, batch_blocks=batch_blocks, workers=workers)
    recovery = time.monotonic()
    try:
        deadline = time.monotonic() + 600
        while min(scan_heights(data_dir)) < height:
            if proc.poll() is not None:
                raise RuntimeError((data_dir / "lws.log").read_text()[-2000:])
            if time.monotonic() > deadline:
                raise TimeoutError("lws did not reach the tip after the kills")
            time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    report.recovery_seconds = time.monotonic() - recovery

    with Store.open(data_dir / "store", network="regtest") as store:
        got = snapshot(store, ids)
    report.problems = list(got["problems"])
    report.same_chain = got["top"] == expected["top"] and got["chain"] == expected["chain"]
    report.differing = [
        name for name in keys if got["accounts"][name] != expected["accounts"][name]
    ]
    report.outputs = sum(len(entry[1]) for entry in got["accounts"].values())
    report.spends = sum(len(entry[2]) for entry in got["accounts"].values())
    return report
