# Issue 3's crash proof in CI: `lws serve` killed with SIGKILL at random
# moments while it scans the scenario chain (one-block batches, so kills land
# mid-scan), restarted each time, ends with the same store as one
# uninterrupted scan. tools/crash_scan.py runs the same proof on the
# 2,040-transaction bench chain.
"""SIGKILL during scanning never corrupts or skews the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.crashproof import crash_and_compare
from tests.support.regtest import Monerod
from tests.support.scenario import WALLETS, Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def test_sigkill_during_scan_loses_and_duplicates_nothing(
    tmp_path: Path, scenario: Scenario, monerod: Monerod
) -> None:
    height = monerod.height()
    report = await crash_and_compare(
        tmp_path,
        monerod.url,
        {name: scenario.keys[name] for name in WALLETS},
        height,
        kills=20,
        seed=20261122,
        batch_blocks=1,
        workers=1,
        max_advance=3,
        lookahead=(3, 10),
    )
    # The kills landed mid-scan: runs made progress, and most kills came
    # before the tip (how far a run gets past its target before the kill
    # depends on the machine's speed; the proof needs kills mid-scan, not all).
    mid_scan = sum(1 for reached in report.progress if 0 < reached < height)
    assert mid_scan >= 10, f"only {mid_scan} kills landed mid-scan: {report}"
    assert report.problems == []
    assert report.same_chain
    assert report.differing == []
    assert report.outputs > 0 and report.spends > 0
