# Owns the tests of lws.daemon's reply decoding with a mock transport: small
# and large replies (the large ones are decoded off the event loop) give the
# same data, and malformed ones are DaemonErrors whatever their size.
from __future__ import annotations

import json

import httpx
import pytest
import trio

from lws.daemon import Daemon
from lws.daemon import client as daemon_module
from lws.daemon.client import THREAD_DECODE_BYTES
from lws.errors import DaemonError
from lws.monero import epee


def _daemon_answering(body: bytes) -> Daemon:
    return Daemon(
        "http://monerod.test",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)),
    )


def _blocks_body(blocks: int, blob_size: int) -> bytes:
    return epee.dumps(
        {
            "status": "OK",
            "start_height": 5,
            "current_height": 5 + blocks,
            "blocks": [{"block": bytes([i % 256]) * blob_size} for i in range(blocks)],
            "output_indices": [{"indices": [{"indices": [i]}]} for i in range(blocks)],
        }
    )


@pytest.mark.parametrize("blocks,blob_size", [(3, 100), (300, 2_000)], ids=["small", "large"])
async def test_blocks_replies_decode_alike_small_or_large(
    blocks: int, blob_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _blocks_body(blocks, blob_size)
    assert (len(body) > THREAD_DECODE_BYTES) == (blocks == 300)
    threads: list[object] = []
    real = trio.to_thread.run_sync

    async def counting(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(fn)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(daemon_module.trio.to_thread, "run_sync", counting)
    client = _daemon_answering(body)
    try:
        reply = await client.get_blocks([bytes(32)])
    finally:
        await client.aclose()
    assert reply.start_height == 5 and reply.current_height == 5 + blocks
    assert reply.blocks == [(bytes([i % 256]) * blob_size, []) for i in range(blocks)]
    assert reply.output_indices == [[[i]] for i in range(blocks)]
    # Only the large one left the event loop, for one hop: decoded and converted there.
    assert len(threads) == (1 if blocks == 300 else 0)


@pytest.mark.parametrize("size", [10, THREAD_DECODE_BYTES * 2], ids=["small", "large"])
async def test_malformed_replies_are_daemon_errors(size: int) -> None:
    bad_epee = b"\x01\x11\x01\x01\x01\x01\x02\x01\x01" + b"\xff" * size
    client = _daemon_answering(bad_epee)
    try:
        with pytest.raises(DaemonError, match="malformed epee"):
            await client.get_blocks([bytes(32)])
    finally:
        await client.aclose()
    client = _daemon_answering(b"{" * size)
    try:
        with pytest.raises(DaemonError, match="malformed JSON"):
            await client.json_rpc("get_info")
    finally:
        await client.aclose()


async def test_a_large_json_reply_decodes() -> None:
    distribution = list(range(100_000))
    body = json.dumps(
        {"result": {"status": "OK", "distributions": [{"distribution": distribution}]}}
    ).encode()
    assert len(body) > THREAD_DECODE_BYTES
    client = _daemon_answering(body)
    try:
        result = await client.json_rpc("get_output_distribution")
    finally:
        await client.aclose()
    assert result["distributions"][0]["distribution"] == distribution


@pytest.mark.parametrize("blocks", [3, 300], ids=["small", "large"])
async def test_a_blocks_reply_of_the_wrong_shape_is_a_daemon_error(blocks: int) -> None:
    """Valid epee, but a block entry without its blob, or fewer index lists
    than blocks: a DaemonError (the scanner backs off), on or off the loop."""
    filler = bytes(2_000)
    without_blob = epee.dumps(
        {
            "status": "OK",
            "blocks": [{"txs": [filler]} for _ in range(blocks)],
            "output_indices": [{"indices": []} for _ in range(blocks)],
        }
    )
    short_indices = epee.dumps(
        {
            "status": "OK",
            "blocks": [{"block": filler} for _ in range(blocks)],
            "output_indices": [{"indices": []} for _ in range(blocks - 1)],
        }
    )
    for body in (without_blob, short_indices):
        client = _daemon_answering(body)
        try:
            with pytest.raises(DaemonError, match="get_blocks.bin reply is malformed"):
                await client.get_blocks([bytes(32)])
        finally:
            await client.aclose()
