# Owns the light-wallet methods that are about the network rather than an
# account: get_random_outs (decoys), submit_raw_tx (relay through monerod),
# get_version and daemon_status. Must not read accounts or know HTTP.
"""Decoys, relay, version and daemon status."""

from __future__ import annotations

import lws
from lws.daemon import SEND_REJECTION_FLAGS
from lws.errors import ClientError, DaemonError, DaemonUnavailable
from lws.wire.fields import u64_of
from lws.wire.requests import EmptyRequest, RandomOutsRequest, SubmitRawTxRequest
from lws.wire.responses import (
    DaemonStatusResponse,
    RandomOutput,
    RandomOuts,
    RandomOutsResponse,
    SubmitRawTxResponse,
    VersionResponse,
)

from . import storeio
from .chainview import chain_height
from .context import Services

#: The MyMonero core needs 15 decoys after dropping its own output, so every
#: ring gets at least this many whatever `count` asks (lws-client asks 11).
MIN_DECOYS = 16
#: `count` beyond this is capped: rings are 16 since hard fork 15; a larger
#: ask only costs monerod work.
MAX_DECOYS = 64
#: Version of the light-wallet API lws speaks (as monero-lws reports it).
API_VERSION = "1.0"

_FLAG_WORDS = {name: name.replace("_", " ") for name in SEND_REJECTION_FLAGS}


async def get_random_outs(svc: Services, req: RandomOutsRequest) -> RandomOutsResponse:
    wanted = min(max(req.count_value, MIN_DECOYS), MAX_DECOYS)
    amounts = [u64_of("amounts", a) for a in req.amounts]
    rings = await svc.decoys.pick_rings(amounts, wanted)
    return RandomOutsResponse(
        amount_outs=[
            RandomOuts(
                amount=str(amount),
                outputs=[
                    RandomOutput(
                        global_index=str(d.global_index),
                        public_key=d.public_key.hex(),
                        rct=d.commitment.hex(),
                    )
                    for d in ring
                ],
            )
            for amount, ring in zip(amounts, rings, strict=True)
        ]
    )


async def submit_raw_tx(svc: Services, req: SubmitRawTxRequest) -> SubmitRawTxResponse:
    result = await svc.daemon.send_raw_transaction(req.tx.lower())
    if result.ok:
        return SubmitRawTxResponse(status="OK")
    words = [_FLAG_WORDS[flag] for flag in result.flags if flag != "not_relayed"]
    if not words and result.reason:
        words = [result.reason]
    if not words and "not_relayed" in result.flags:
        words = ["not relayed"]
    raise ClientError("Transaction rejected: " + (", ".join(words) if words else "invalid"))


async def get_version(svc: Services, req: EmptyRequest) -> VersionResponse:
    height = await storeio.read(svc.store, chain_height)
    return VersionResponse(
        server_type="lws",
        server_version=lws.__version__,
        api=API_VERSION,
        network=svc.config.network,
        testnet=svc.config.network == "testnet",
        blockchain_height=height,
        max_subaddresses=svc.config.max_subaddresses,
    )


async def daemon_status(svc: Services, req: EmptyRequest) -> DaemonStatusResponse:
    try:
        info = await svc.daemon.get_info()
    except (DaemonUnavailable, DaemonError):
        return DaemonStatusResponse(
            state="unavailable",
            network=svc.config.network,
            height=0,
            target_height=0,
            outgoing_connections_count=0,
            incoming_connections_count=0,
        )
    if info.busy_syncing or not info.synchronized or info.target_height > info.height:
        state = "synchronizing"
    elif info.outgoing_connections_count + info.incoming_connections_count == 0:
        state = "no_connections"
    else:
        state = "ok"
    return DaemonStatusResponse(
        state=state,
        network=svc.config.network,
        height=info.height,
        target_height=max(info.target_height, info.height),
        outgoing_connections_count=info.outgoing_connections_count,
        incoming_connections_count=info.incoming_connections_count,
    )
