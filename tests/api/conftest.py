# Owns the fixtures of the wallet-API tests: a real store in a temporary
# folder, accounts and outputs written through the store's own write API (as
# the scanner would), the Quart-Trio wallet app over them with a daemon
# client that points either nowhere (transport tests) or at the session's
# regtest monerod, and a real in-process AppServer (Hypercorn) on a loopback
# port that the tests talk to with httpx (or raw sockets).
"""Fixtures for tests/api."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from lws.api.serve import AppServer, ServerSettings
from lws.api.wallet import WalletApp, create_app
from lws.config import Config
from lws.daemon import Daemon
from lws.services.context import ScannerStatusProvider, Services
from lws.store import AccountStatus, Store
from tests.support.regtest import WalletKeys, free_port
from tests.support.wallets import add_wallet

#: A daemon URL where nothing listens: any call to it is a DaemonUnavailable.
DEAD_DAEMON = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "store", network="regtest") as opened:
        yield opened


def make_config(**overrides: Any) -> Config:
    values: dict[str, Any] = {
        "network": "regtest",
        "cors_origins": ("https://wallet.example",),
        "rate_limit": 0,  # the rate-limit tests turn it on
    }
    values.update(overrides)
    return Config(**values)


def add_account(
    store: Store, keys: WalletKeys, *, status: AccountStatus = AccountStatus.ACTIVE, start: int = 0
) -> int:
    return store.transact(
        lambda w: add_wallet(w, keys, start_height=start, created=1, status=status)
    )


def creds(keys: WalletKeys) -> dict[str, str]:
    return {"address": keys.address(), "view_key": keys.view_secret.hex()}


@pytest.fixture
async def dead_daemon() -> AsyncIterator[Daemon]:
    daemon = Daemon(DEAD_DAEMON, timeout=2)
    yield daemon
    await daemon.aclose()


@pytest.fixture
def config() -> Config:
    return make_config()


def wallet_app(
    config: Config,
    store: Store,
    daemon: Daemon,
    scanner_status: ScannerStatusProvider | None = None,
    **kwargs: Any,
) -> WalletApp:
    """The wallet app over services built from ``store`` and ``daemon``."""
    wake = kwargs.pop("wake_scanner", None)
    services = Services(config, store, daemon, scanner_status, wake_scanner=wake)
    return create_app(services, **kwargs)


@pytest.fixture
def app(config: Config, store: Store, dead_daemon: Daemon) -> WalletApp:
    return wallet_app(config, store, dead_daemon)


class Api:
    """An httpx client of a running AppServer."""

    def __init__(self, server: AppServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http
        self.url = server.bound[0]
        self.port = int(self.url.rsplit(":", 1)[1])

    async def post(
        self, path: str, body: object, **headers: str
    ) -> tuple[int, Any, httpx.Response]:
        """POST ``body`` (JSON-encoded unless bytes/str) as application/json by default."""
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
        response = await self.http.post(path, content=data, headers=headers)
        return response.status_code, response.json() if response.content else None, response


@asynccontextmanager
async def serving(
    app: Any,
    config: Config | None = None,
    *,
    settings: ServerSettings | None = None,
) -> AsyncIterator[Api]:
    """Serve ``app`` on a free loopback port for the block; an Api client of it."""
    config = config or make_config()
    server = AppServer(
        config,
        app,
        listen=(f"127.0.0.1:{free_port()}",),
        settings=settings or ServerSettings(graceful_timeout=1.0),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        try:
            async with httpx.AsyncClient(base_url=server.bound[0], timeout=30) as http:
                yield Api(server, http)
        finally:
            server.shutdown()


@pytest.fixture
async def client(app: WalletApp) -> AsyncIterator[Api]:
    async with serving(app) as api:
        yield api
