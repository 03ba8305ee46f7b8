# Issue 3's proof that a missing or wrong daemon is survivable: with a private
# regtest monerod, an in-process Scanner (and a real `lws serve`) scan to the
# tip; monerod is stopped: the scanner goes "unavailable", logs that once,
# backs off (counted get_info calls with growing gaps), never crashes, and
# lws serve keeps answering from its store; monerod restarts on the same data
# dir and port, more blocks are mined, and both resume without duplicates.
# Also: a daemon of another network is refused ("wrong_network"), nothing scanned.
"""The scanner while monerod is down, back, or of the wrong network."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from lws.daemon import Daemon, DaemonInfo
from lws.scan.scanner import MAX_BACKOFF_S, Scanner
from lws.store import Store
from tests.conftest import LwsProcess
from tests.support.regtest import Monerod, WalletKeys
from tests.support.scanning import add_accounts, stored_outputs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LOOKAHEAD = (1, 5)
#: How long the daemon stays down while calls are counted.
DOWN_FOR_S = 9.0


class CountingDaemon(Daemon):
    """The real client, with the time of every get_info (the first call of each round)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.calls: list[float] = []

    async def get_info(self) -> DaemonInfo:
        self.calls.append(time.monotonic())
        return await super().get_info()


def _scanner_lines(caplog: pytest.LogCaptureFixture, word: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "lws.scan.scanner" and r.getMessage().startswith(f"scanner {word}")
    ]


async def _wait(predicate: Any, what: str, timeout: float = 60) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.1)


def _api(lws: LwsProcess, method: str, keys: WalletKeys | None = None) -> dict[str, Any]:
    body = {} if keys is None else {"address": keys.address(), "view_key": keys.view_secret.hex()}
    reply = lws.post(method, body)
    assert reply.status_code == 200, (method, reply.status_code, reply.text)
    return dict(reply.json())


async def test_scanner_and_server_survive_the_daemon_going_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lws.scan.scanner")
    keys = {"miner": WalletKeys("down-miner")}
    monerod = await trio.to_thread.run_sync(lambda: Monerod(tmp_path / "monerod"))
    port = monerod.port
    lws: LwsProcess | None = None
    daemon = CountingDaemon(monerod.url)
    store = Store.open(tmp_path / "store", network="regtest")
    try:
        await trio.to_thread.run_sync(monerod.mine, 5, keys["miner"].address())
        ids = add_accounts(store, keys, lookahead=LOOKAHEAD)
        lws = await trio.to_thread.run_sync(lambda: LwsProcess(tmp_path / "lws", monerod))
        await trio.to_thread.run_sync(lws.login, keys["miner"])
        scanner = Scanner(store, daemon, network="regtest", workers=1, poll_interval=0.2)

        def scanned(height: int) -> bool:
            heights = store.query(lambda r: [rec.scan_height for _, rec in r.accounts()])
            return heights == [height] and scanner.status.state == "ok"

        async with trio.open_nursery() as nursery:
            await nursery.start(scanner.run)
            await _wait(lambda: scanned(6), "first scan")
            before = stored_outputs(store, ids["miner"])
            assert len(before) == 5
            info_before = await trio.to_thread.run_sync(lws.wait_scanned, keys["miner"], 6)

            # --- monerod goes away -------------------------------------------------
            await trio.to_thread.run_sync(monerod.stop)
            await _wait(lambda: scanner.status.state == "unavailable", "unavailable", 30)
            assert "unreachable" in scanner.status.last_error
            first = len(daemon.calls)
            await trio.sleep(DOWN_FOR_S)
            down_calls = daemon.calls[first - 1 :]
            gaps = [b - a for a, b in zip(down_calls, down_calls[1:])]
            # 1 s, 2 s, 4 s, ... not one call per poll interval (0.2 s)
            assert 2 <= len(gaps) <= 5, gaps
            assert all(later > earlier * 1.5 for earlier, later in zip(gaps, gaps[1:])), gaps
            assert gaps[-1] <= MAX_BACKOFF_S + 1
            assert len(_scanner_lines(caplog, "unavailable")) == 1, caplog.text
            assert store.query(lambda r: r.chain_top())[0] == 5  # nothing lost or half-done

            # lws serve answers from its store meanwhile
            version = await trio.to_thread.run_sync(_api, lws, "get_version")
            assert version["blockchain_height"] >= 5
            info_down = await trio.to_thread.run_sync(_api, lws, "get_address_info", keys["miner"])
            assert info_down["total_received"] == info_before["total_received"]
            assert info_down["scanned_block_height"] == info_before["scanned_block_height"]
            status = await trio.to_thread.run_sync(_api, lws, "daemon_status")
            assert status["state"] == "unavailable"

            # --- monerod comes back on the same data dir and port ----------------------
            monerod = await trio.to_thread.run_sync(
                lambda: Monerod(tmp_path / "monerod", keep_chain=True, port=port)
            )
            assert await trio.to_thread.run_sync(monerod.height) == 6
            await trio.to_thread.run_sync(monerod.mine, 3, keys["miner"].address())
            scanner.wake()  # or wait out the backoff
            await _wait(lambda: scanned(9), "resumed scan", 90)
            nursery.cancel_scope.cancel()

        after = stored_outputs(store, ids["miner"])  # asserts nothing is stored twice
        assert len(after) == 8 and before < after
        assert {o.height for o in store.query(lambda r: r.outputs(ids["miner"]))} == set(
            range(1, 9)
        )
        assert len(_scanner_lines(caplog, "unavailable")) == 1, caplog.text
        assert len(_scanner_lines(caplog, "ok")) >= 1
        assert store.query(lambda r: r.check()) == []
        info_after = await trio.to_thread.run_sync(lws.wait_scanned, keys["miner"], 9, 90)
        assert int(info_after["total_received"]) > int(info_before["total_received"])
        status = await trio.to_thread.run_sync(_api, lws, "daemon_status")
        assert status["state"] != "unavailable"
    finally:
        await daemon.aclose()
        store.close()
        if lws is not None:
            await trio.to_thread.run_sync(lws.stop)
        await trio.to_thread.run_sync(monerod.stop)


async def test_scanner_refuses_a_daemon_of_another_network(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lws.scan.scanner")
    keys = {"miner": WalletKeys("down-miner")}
    monerod = await trio.to_thread.run_sync(lambda: Monerod(tmp_path / "monerod"))
    daemon = CountingDaemon(monerod.url)
    store = Store.open(tmp_path / "store", network="mainnet")
    try:
        await trio.to_thread.run_sync(monerod.mine, 3, keys["miner"].address())
        ids = add_accounts(store, keys, lookahead=LOOKAHEAD)
        scanner = Scanner(store, daemon, network="mainnet", workers=1, poll_interval=0.2)
        async with trio.open_nursery() as nursery:
            await nursery.start(scanner.run)
            await _wait(lambda: scanner.status.state == "wrong_network", "wrong_network", 30)
            await trio.sleep(2)  # no fast retries, no scan
            nursery.cancel_scope.cancel()
        assert "fakechain" in scanner.status.last_error
        assert "mainnet" in scanner.status.last_error
        assert len(daemon.calls) == 1
        errors = [
            r for r in caplog.records if r.name == "lws.scan.scanner" and r.levelno >= logging.ERROR
        ]
        assert len(errors) == 1 and "wrong_network" in errors[0].getMessage()
        assert store.query(lambda r: r.chain_top()) is None
        assert store.query(lambda r: r.account(ids["miner"]).scan_height) == 0
        assert store.query(lambda r: r.outputs(ids["miner"])) == []
    finally:
        await daemon.aclose()
        store.close()
        await trio.to_thread.run_sync(monerod.stop)
