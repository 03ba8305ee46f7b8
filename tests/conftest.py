# Owns the shared pytest fixtures: real regtest monerod and monero-wallet-rpc
# processes for the session, and the scenario chain built on them. Processes
# are torn down when the session ends, failed tests included.
"""Session fixtures that run the real Monero daemon and wallet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lws.regtest import Monerod, WalletRpc
from tests.scenario import Scenario, build_scenario


@pytest.fixture(scope="session")
def regtest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("regtest")


@pytest.fixture(scope="session")
def monerod(regtest_dir: Path) -> Iterator[Monerod]:
    with Monerod(regtest_dir / "monerod") as daemon:
        yield daemon


@pytest.fixture(scope="session")
def wallet_rpc(regtest_dir: Path, monerod: Monerod) -> Iterator[WalletRpc]:
    with WalletRpc(regtest_dir / "wallet-rpc", monerod) as wallet:
        yield wallet


@pytest.fixture(scope="session")
def scenario(monerod: Monerod, wallet_rpc: WalletRpc) -> Scenario:
    """The story of tests/scenario.py, built once per session on the shared daemon."""
    return build_scenario(monerod, wallet_rpc)
