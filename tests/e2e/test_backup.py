# Owns the proof of the README's backup command (section "Run it for real",
# step 7): run exactly as written there, against the store of a running
# `lws serve` that is scanning, it yields a store that opens, passes the
# store's own invariant check and holds the same accounts at a consistent
# height.
"""Backing up the data directory while lws runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lws.store import Store
from tests.conftest import LwsProcess
from tests.support.regtest import Monerod, WalletKeys

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def backup_script() -> str:
    """The Python program of the README's backup command (its ``-c '...'``)."""
    match = re.search(r"python3 -c '(import lmdb[^']*)'", README.read_text())
    assert match, "README.md: the backup command is gone"
    return match.group(1)


def test_readme_backup_copies_a_running_store(tmp_path: Path, own_monerod: Monerod) -> None:
    monerod = own_monerod
    wallets = [WalletKeys(f"backup-{i}") for i in range(3)]
    server = LwsProcess(tmp_path / "lws", monerod)
    try:
        for keys in wallets:
            server.login(keys)
        monerod.mine(5, wallets[0].address())
        server.wait_scanned(wallets[0], monerod.height())
        monerod.mine(20, wallets[1].address())  # the scanner writes while we copy
        copy = tmp_path / "backup"
        copy.mkdir(mode=0o700)
        subprocess.run(
            [sys.executable, "-c", backup_script(), str(tmp_path / "lws/data/store"), str(copy)],
            check=True,
            timeout=60,
        )
    finally:
        server.stop()
    with Store.open(copy, network="regtest", readonly=True) as store, store.read() as reader:
        assert reader.check() == []
        addresses = {record.address for _, record in reader.accounts()}
        top = reader.chain_top()
    assert addresses == {keys.address() for keys in wallets}
    assert top is not None and top[0] >= 5
