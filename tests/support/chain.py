# Owns reading a whole regtest chain from monerod the way the scanner does
# (epee /get_blocks.bin, pruned), synchronously, for tests and tools that need
# the raw blocks. Must not scan or store anything.
"""Fetch every block of a (regtest) chain over /get_blocks.bin."""

from __future__ import annotations

from lws.daemon import BlocksReply
from lws.daemon.blocks_reply import blocks_reply_from_epee
from lws.monero import epee
from tests.support.regtest import Monerod


def genesis_hash(daemon: Monerod) -> bytes:
    header = daemon.rpc("get_block_header_by_height", height=0)["block_header"]
    return bytes.fromhex(header["hash"])


def fetch_chain(daemon: Monerod) -> list[BlocksReply]:
    """Every block from genesis to the tip, in /get_blocks.bin replies."""
    genesis = genesis_hash(daemon)
    replies: list[BlocksReply] = []
    start = 0
    height = daemon.height()
    while start < height:
        body = epee.dumps(
            {"block_ids": genesis, "start_height": start, "prune": True, "no_miner_tx": False}
        )
        reply = blocks_reply_from_epee(epee.loads(daemon.call_bin("/get_blocks.bin", body)))
        assert reply.blocks, "monerod returned no blocks below its height"
        replies.append(reply)
        start = reply.start_height + len(reply.blocks)
    return replies
