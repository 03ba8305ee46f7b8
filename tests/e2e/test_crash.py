# Issue 3's crash proof: `lws serve` killed with SIGKILL at random moments
# while it scans (small batches, so kills land mid-scan), restarted each
# time, ends with the same store as one uninterrupted scan: nothing
# duplicated, nothing lost, every table consistent.
"""SIGKILL during scanning never corrupts or skews the store."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lws.regtest import Monerod, free_port
from lws.store import Store
from tests.e2e.test_scanner_oracle import add_accounts, scan_to_tip
from tests.scenario import WALLETS, Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KILLS = 20
#: Small batches: many commits, so random kills fall between and inside them.
BATCH_BLOCKS = 1
LOOKAHEAD = (3, 10)


def _snapshot(store: Store, ids: dict[str, int]) -> dict[str, Any]:
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


def _serve(data_dir: Path, daemon_url: str) -> subprocess.Popen[bytes]:
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
            "1",
            "--scan-batch-blocks",
            str(BATCH_BLOCKS),
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


def _scan_heights(data_dir: Path) -> list[int]:
    with Store.open(data_dir / "store", network="regtest", readonly=True) as store:
        return store.query(lambda r: [rec.scan_height for _, rec in r.accounts()])


async def test_sigkill_during_scan_loses_and_duplicates_nothing(
    tmp_path: Path, scenario: Scenario, monerod: Monerod
) -> None:
    height = monerod.height()
    keys = {name: scenario.keys[name] for name in WALLETS}

    reference = Store.open(tmp_path / "reference", network="regtest")
    ref_ids = add_accounts(reference, keys, lookahead=LOOKAHEAD)
    await scan_to_tip(reference, monerod.url, height)
    expected = _snapshot(reference, ref_ids)
    reference.close()

    data_dir = tmp_path / "crashy"
    data_dir.mkdir()
    with Store.open(data_dir / "store", network="regtest") as store:
        ids = add_accounts(store, keys, lookahead=LOOKAHEAD)
    assert ids == ref_ids

    rng = random.Random(20261122)
    progress = [0]
    for _ in range(KILLS):
        proc = _serve(data_dir, monerod.url)
        # Kill once the scan has moved a random number of blocks on (so the
        # kill lands while batches are being written), or at a random moment
        # of start-up for some rounds.
        advance = rng.randint(1, 3)
        deadline = time.monotonic() + (rng.uniform(0.2, 1.5) if rng.random() < 0.2 else 20)
        while time.monotonic() < deadline and min(_scan_heights(data_dir)) < progress[-1] + advance:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        progress.append(min(_scan_heights(data_dir)))
    # The kills landed mid-scan: each run made progress, none finished it all.
    assert progress[-1] < height, f"the scan finished before the last kill: {progress}"
    assert progress[-1] > 0, f"no run made progress: {progress}"

    proc = _serve(data_dir, monerod.url)
    try:
        deadline = time.monotonic() + 180
        while min(_scan_heights(data_dir)) < height:
            assert proc.poll() is None, (data_dir / "lws.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "lws did not reach the tip after the kills"
            time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

    with Store.open(data_dir / "store", network="regtest") as store:
        got = _snapshot(store, ids)
    assert got["problems"] == []
    assert got["top"] == expected["top"]
    assert got["chain"] == expected["chain"]
    for name in WALLETS:
        assert got["accounts"][name] == expected["accounts"][name], name
