# Owns the test that `lws import-request --wait` follows the scan on the
# server's /feed websocket when it offers one: a real wallet app with its
# feed hub on loopback over a real store, an account whose scan the test
# moves block by block, and the tool asking get_address_info only every
# 10 minutes, so only the pushed blocks can end its wait in time.
from __future__ import annotations

import io
import json

import trio

from lws.admin import import_request
from lws.daemon import Daemon
from lws.store import AccountBatch, Store
from tests.api.conftest import add_account, dead_daemon, store  # noqa: F401 (fixtures)
from tests.api.test_feed import ALICE, feed_server
from tests.support.store_data import block_hash

from .test_cli import Stdin


async def test_wait_follows_the_feed(store: Store, dead_daemon: Daemon) -> None:  # noqa: F811
    a = add_account(store, ALICE)
    store.transact(lambda w: w.add_block_hashes(0, [block_hash(h) for h in range(20)]))
    store.transact(lambda w: w.add_block_batch(20, [], {a: AccountBatch(0, 5, ())}))
    async with feed_server(store, dead_daemon) as feed_url:
        url = feed_url.replace("ws://", "http://").removesuffix("/feed")
        out, err = io.StringIO(), io.StringIO()
        argv = ["--url", url, "--address", ALICE.address(), "--wait", "--interval", "600", "--json"]

        def run() -> int:
            return import_request.main(
                argv, stdin=Stdin(ALICE.view_secret.hex() + "\n"), stdout=out, stderr=err
            )

        async with trio.open_nursery() as nursery:
            done: list[int] = []

            async def tool() -> None:
                done.append(await trio.to_thread.run_sync(run))

            nursery.start_soon(tool)
            with trio.fail_after(60):
                for end in range(6, 21):  # the scanner moves one block at a time
                    await trio.sleep(0.1)
                    store.transact(
                        lambda w, end=end: w.add_block_batch(
                            20, [], {a: AccountBatch(end - 1, end, ())}
                        )
                    )
                while not done:
                    await trio.sleep(0.05)
    assert done == [0], err.getvalue()
    result = json.loads(out.getvalue())
    assert (result["state"], result["scanned_block_height"], result["blockchain_height"]) == (
        "scanned",
        20,
        20,
    )
