# Owns the tests of the /feed websocket on a real Hypercorn server over a
# real store, with trio-websocket as the client: the subprotocol, every login
# refusal (its error: code, then a close with 4000 + that code), tx_sync and
# the pushed blocks and mempool messages, a client that talks after its
# login, and a client too slow to read (dropped with code 8; another client
# of the same account goes on).
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from lws.api.wallet import create_app
from lws.config import Config
from lws.daemon import Daemon
from lws.notify.feed import QUEUE_MAX, FeedHub
from lws.services.context import Services
from lws.store import AccountBatch, AccountPool, Store
from lws.wire.feed import SUBPROTOCOL
from tests.api.conftest import add_account, make_config, serving
from tests.support.regtest import WalletKeys
from tests.support.store_data import block_hash, make_output

ALICE = WalletKeys("feed-alice")
BOB = WalletKeys("feed-bob")


HUBS: list[FeedHub] = []


@asynccontextmanager
async def feed_server(store: Store, daemon: Daemon) -> AsyncIterator[str]:
    config: Config = make_config()
    hub = FeedHub(store, poll_seconds=0.02)
    HUBS.append(hub)
    app = create_app(Services(config, store, daemon), feed_hub=hub)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        async with serving(app, config) as api:
            yield api.url.replace("http://", "ws://") + "/feed"
        nursery.cancel_scope.cancel()


def login(keys: WalletKeys, **more: Any) -> str:
    account = {"address": keys.address(), "view_key": keys.view_secret.hex()}
    return "login:" + json.dumps({"account": account, **more})


def parse(message: str | bytes) -> tuple[str, Any]:
    assert isinstance(message, str)
    prefix, _, body = message.partition(":")
    return prefix, json.loads(body)


def scan(store: Store, account_id: int, end: int, outputs: tuple = ()) -> None:  # type: ignore[type-arg]
    def write(w):  # type: ignore[no-untyped-def]
        top = w.chain_top()
        first = 0 if top is None else top[0] + 1
        record = w.account(account_id)
        w.add_block_batch(
            first,
            [block_hash(h) for h in range(first, end)],
            {account_id: AccountBatch(record.scan_height, end, outputs)},
        )

    store.transact(write)


async def refused(url: str, message: str) -> tuple[tuple[str, Any], int]:
    """The error message the server answers ``message`` with, and the close code."""
    async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send_message(message)
        with trio.fail_after(10):
            answer = parse(await ws.get_message())
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
    return answer, closed.value.reason.code


async def test_subprotocol_is_required(store: Store, dead_daemon: Daemon) -> None:
    async with feed_server(store, dead_daemon) as url:
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(url, subprotocols=["lws.feed.v0.msgpack"]):
                pass
        assert rejected.value.status_code == 400


async def test_login_refusals(store: Store, dead_daemon: Daemon) -> None:
    add_account(store, ALICE)
    async with feed_server(store, dead_daemon) as url:
        wrong_key = login(ALICE).replace(ALICE.view_secret.hex(), BOB.view_secret.hex())
        cases = [
            (wrong_key, 3),
            (login(BOB), 1),  # no such account
            (login(ALICE).replace(ALICE.address(), "4" + "1" * 94), 2),
            ('hello:{"x":1}', 7),
            ("login:{not json", 6),
            ('login:{"account":{"address":"x"}}', 9),
        ]
        for message, code in cases:
            (prefix, body), close = await refused(url, message)
            assert (prefix, body["code"], close) == ("error", code, 4000 + code), message
            assert body["msg"]


async def test_tx_sync_then_blocks_and_mempool(store: Store, dead_daemon: Daemon) -> None:
    a = add_account(store, ALICE)
    early = make_output(2, 0, 0, global_index=20)
    scan(store, a, 5, (early,))
    async with feed_server(store, dead_daemon) as url:
        async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as ws:
            assert ws.subprotocol == SUBPROTOCOL
            await ws.send_message(login(ALICE))
            with trio.fail_after(10):
                prefix, body = parse(await ws.get_message())
                assert prefix == "tx_sync"
                assert body["scanned_block_height"] == 5
                assert [t["hash"] for t in body["transactions"]] == [early.tx_hash.hex()]
                out = make_output(6, 1, 0, global_index=61)
                scan(store, a, 7, (out,))
                prefix, body = parse(await ws.get_message())
                assert (prefix, body["scan_start"], body["scan_end"]) == ("blocks", 5, 7)
                assert body["transactions"][0]["receives"][0]["id"] == {
                    "legacy": {"amount": 0, "index": 61}
                }
                pooled = make_output(None, 0, 0, tag="pool")
                store.transact(lambda w: w.replace_pool({a: AccountPool(outputs=(pooled,))}))
                prefix, body = parse(await ws.get_message())
                assert (prefix, body["hash"]) == ("mempool", pooled.tx_hash.hex())


async def test_a_client_that_talks_after_login_is_closed(store: Store, dead_daemon: Daemon) -> None:
    add_account(store, ALICE)
    async with feed_server(store, dead_daemon) as url:
        async with open_websocket_url(url, subprotocols=[SUBPROTOCOL]) as ws:
            await ws.send_message(login(ALICE, tx_sync=False))
            with trio.fail_after(10):
                assert parse(await ws.get_message())[0] == "blocks"
                await ws.send_message("login:{}")
                prefix, body = parse(await ws.get_message())
                assert (prefix, body["code"]) == ("error", 7)
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
        assert closed.value.reason.code == 4007


async def test_a_slow_client_is_dropped_with_code_8(store: Store, dead_daemon: Daemon) -> None:
    """A client that stops reading: once the socket buffers and its queue of
    QUEUE_MAX messages are full, the hub drops it while another client of
    the account keeps getting every block; when it reads again, what was
    sent ends with error code 8 and close code 4008."""
    a = add_account(store, ALICE)
    scan(store, a, 1)
    # Big messages (many outputs a batch) fill the socket buffers quickly.
    per_batch = 150
    async with feed_server(store, dead_daemon) as url:
        hub = HUBS[-1]
        async with (
            open_websocket_url(url, subprotocols=[SUBPROTOCOL], message_queue_size=1) as slow,
            open_websocket_url(url, subprotocols=[SUBPROTOCOL], max_message_size=1 << 24) as fast,
        ):
            await slow.send_message(login(ALICE, tx_sync=False))
            await fast.send_message(login(ALICE, tx_sync=False))
            await slow.get_message()
            await fast.get_message()
            height = 1
            with trio.fail_after(120):
                while hub.connections == 2:
                    assert height < 10 * QUEUE_MAX, "the slow client was never dropped"
                    outputs = tuple(
                        make_output(height, 1, v, global_index=height * 1000 + v)
                        for v in range(per_batch)
                    )
                    height += 1
                    scan(store, a, height, outputs)
                    prefix, body = parse(await fast.get_message())
                    assert (prefix, body["scan_end"]) == ("blocks", height)
                    await trio.sleep(0.03)  # one hub look per batch: one message each
                # The fast client goes on.
                scan(store, a, height + 1)
                assert parse(await fast.get_message())[1]["scan_end"] == height + 1
                # The slow one reads again: what was sent, then the error and the close.
                last = None
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        last = await slow.get_message()
            assert last is not None and parse(last) == (
                "error",
                {"msg": "Max queue for outgoing push messages was reached", "code": 8},
            )
            assert closed.value.reason.code == 4008
