# Owns the tests of the wallet API's rate limits (quart-rate-limiter with
# lws's shared store): the limited methods answer 429 + Retry-After +
# {"Error"} past the budget, reads and logins of existing accounts never
# are, one budget per method, X-Forwarded-For believed only from trusted
# proxies, and two apps over the same data folder (two API processes) share
# one budget. Real apps on real loopback servers over a real store.
"""Rate limits of the wallet API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lws.api.ratelimit import client_address, client_key, parse_proxies
from lws.daemon import Daemon
from lws.store import Store
from tests.support.regtest import WalletKeys

from .conftest import Api, add_account, creds, make_config, serving, wallet_app

ALICE = WalletKeys("alice")
LIMIT = 3
DECOYS = {"amounts": ["0"], "count": 16}


def limited_config(tmp_path: Path, **more: Any) -> Any:
    return make_config(data_dir=str(tmp_path), rate_limit=LIMIT, **more)


async def statuses(api: Api, path: str, body: Any, times: int, **headers: str) -> list[int]:
    return [(await api.post(path, body, **headers))[0] for _ in range(times)]


async def test_limited_method_gets_429_past_its_budget(
    tmp_path: Path, store: Store, dead_daemon: Daemon
) -> None:
    config = limited_config(tmp_path)
    async with serving(wallet_app(config, store, dead_daemon), config) as api:
        # The dead daemon makes each a 503; each still spends the budget.
        assert await statuses(api, "/get_random_outs", DECOYS, LIMIT) == [503] * LIMIT
        status, body, response = await api.post("/get_random_outs", DECOYS)
        assert status == 429 and set(body) == {"Error"}
        assert int(response.headers["Retry-After"]) > 0
        # Another method has a budget of its own.
        assert (await api.post("/submit_raw_tx", {"tx": "00"}))[0] == 503


async def test_reads_and_existing_logins_are_never_limited(
    tmp_path: Path, store: Store, dead_daemon: Daemon
) -> None:
    add_account(store, ALICE)
    config = limited_config(tmp_path)
    async with serving(wallet_app(config, store, dead_daemon), config) as api:
        assert await statuses(api, "/get_address_info", creds(ALICE), 3 * LIMIT) == [200] * 9
        login = {**creds(ALICE), "create_account": True}
        assert await statuses(api, "/login", login, 3 * LIMIT) == [200] * 9


async def test_account_creations_are_limited(
    tmp_path: Path, store: Store, dead_daemon: Daemon
) -> None:
    config = limited_config(tmp_path)
    async with serving(wallet_app(config, store, dead_daemon), config) as api:
        got = []
        for i in range(LIMIT + 1):
            keys = WalletKeys(f"new-{i}")
            status, body, _ = await api.post("/login", {**creds(keys), "create_account": True})
            got.append(status)
            if status == 200:
                assert body["new_address"] is True
        assert got == [200] * LIMIT + [429]
        # A login without create_account creates nothing: not limited (403: unknown).
        assert (await api.post("/login", creds(WalletKeys("other"))))[0] == 403


async def test_import_request_names_share_one_budget(
    tmp_path: Path, store: Store, dead_daemon: Daemon
) -> None:
    add_account(store, ALICE)
    config = limited_config(tmp_path)
    body = {**creds(ALICE), "from_height": 0}
    async with serving(wallet_app(config, store, dead_daemon), config) as api:
        got = [(await api.post(path, body))[0] for path in ("/import_request",) * 2]
        got += [(await api.post("/import_wallet_request", body))[0] for _ in range(2)]
        assert got == [200] * LIMIT + [429]


async def test_forwarded_for_only_through_trusted_proxies(
    tmp_path: Path, store: Store, dead_daemon: Daemon
) -> None:
    config = limited_config(tmp_path, trusted_proxies=("127.0.0.0/8",))
    async with serving(wallet_app(config, store, dead_daemon), config) as api:
        one = {"X-Forwarded-For": "203.0.113.7"}
        two = {"X-Forwarded-For": "198.51.100.1, 203.0.113.8"}
        assert await statuses(api, "/get_random_outs", DECOYS, LIMIT, **one) == [503] * LIMIT
        assert (await api.post("/get_random_outs", DECOYS, **one))[0] == 429
        assert (await api.post("/get_random_outs", DECOYS, **two))[0] == 503  # another client
    untrusting = limited_config(tmp_path / "other")
    async with serving(wallet_app(untrusting, store, dead_daemon), untrusting) as api:
        for i in range(LIMIT):
            fake = {"X-Forwarded-For": f"203.0.113.{i}"}
            assert (await api.post("/get_random_outs", DECOYS, **fake))[0] == 503
        fake = {"X-Forwarded-For": "203.0.113.99"}
        assert (await api.post("/get_random_outs", DECOYS, **fake))[0] == 429  # the peer's budget


async def test_two_api_processes_share_one_budget(
    tmp_path: Path, store: Store, dead_daemon: Daemon
) -> None:
    # Two apps over the same data folder, as the main process and an API worker.
    config = limited_config(tmp_path)
    async with (
        serving(wallet_app(config, store, dead_daemon), config) as first,
        serving(wallet_app(config, store, dead_daemon), config) as second,
    ):
        got = []
        for i in range(LIMIT + 1):
            api = first if i % 2 == 0 else second
            got.append((await api.post("/get_random_outs", DECOYS))[0])
        assert got == [503] * LIMIT + [429]


async def test_zero_turns_limits_off(tmp_path: Path, store: Store, dead_daemon: Daemon) -> None:
    config = make_config(data_dir=str(tmp_path), rate_limit=0)
    async with serving(wallet_app(config, store, dead_daemon), config) as api:
        assert await statuses(api, "/get_random_outs", DECOYS, 10) == [503] * 10
    assert not (tmp_path / "ratelimit").exists()


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.0.0.2", "203.0.113.7", "203.0.113.7"),  # trusted proxy
        ("10.0.0.2", "203.0.113.7, 10.0.0.3", "203.0.113.7"),  # two trusted hops
        ("10.0.0.2", "1.2.3.4, 203.0.113.7", "203.0.113.7"),  # a spoofed first entry
        ("192.0.2.1", "203.0.113.7", "192.0.2.1"),  # untrusted peer: header ignored
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, client: str) -> None:
    assert client_address(peer, forwarded, parse_proxies(("10.0.0.0/8",))) == client


def test_ipv6_clients_share_their_64() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"
