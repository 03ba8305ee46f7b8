# Owns the fixtures of the wallet-API tests: a real store in a temporary
# folder, accounts and outputs written through the store's own write API (as
# the scanner would), and the app over them with a daemon client that points
# either nowhere (transport tests) or at the session's regtest monerod.
"""Fixtures for tests/api."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from quart_trio import QuartTrio

from lws.api.app import create_app
from lws.config import Config
from lws.daemon import Daemon
from lws.regtest import TestKeys, free_port
from lws.store import AccountStatus, Store

#: A daemon URL where nothing listens: any call to it is a DaemonUnavailable.
DEAD_DAEMON = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "store", network="regtest") as opened:
        yield opened


def make_config(**overrides: Any) -> Config:
    values: dict[str, Any] = {"network": "regtest", "cors_origins": ("https://wallet.example",)}
    values.update(overrides)
    return Config(**values)


def add_account(
    store: Store, keys: TestKeys, *, status: AccountStatus = AccountStatus.ACTIVE, start: int = 0
) -> int:
    return store.transact(
        lambda w: w.add_account(
            keys.address(),
            view_secret=keys.view_secret,
            spend_public=keys.spend_public,
            view_public=keys.view_public,
            start_height=start,
            created=1,
            status=status,
        )
    )


def creds(keys: TestKeys) -> dict[str, str]:
    return {"address": keys.address(), "view_key": keys.view_secret.hex()}


@pytest.fixture
async def dead_daemon() -> AsyncIterator[Daemon]:
    daemon = Daemon(DEAD_DAEMON, timeout=2)
    yield daemon
    await daemon.aclose()


@pytest.fixture
def config() -> Config:
    return make_config()


@pytest.fixture
def app(config: Config, store: Store, dead_daemon: Daemon) -> QuartTrio:
    return create_app(config, store, dead_daemon)
