# Owns the light-wallet methods that are about the network rather than an
# account: get_random_outs (decoys), submit_raw_tx (relay through monerod,
# then wake the scanner's pool pass and wait briefly until the spends of the
# relayed tx show in the pool view of the accounts whose outputs its rings
# use), get_version and daemon_status. Must not write to the store (the
# scanner alone writes the pool view) or know HTTP.
"""Decoys, relay, version and daemon status."""

from __future__ import annotations

import logging

import trio

import lws
from lws.daemon import SEND_REJECTION_FLAGS
from lws.errors import ClientError, DaemonError, DaemonUnavailable
from lws.monero.errors import MoneroFormatError
from lws.monero.tx import KeyInput, absolute_key_offsets, parse_transaction
from lws.store import AccountStatus, Reader
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

#: How long submit_raw_tx waits, after monerod accepted a tx, for the scanner's
#: pool pass to show its spends (a pass takes well under a second; past this
#: the reply goes out anyway and the spends show when the pass ends).
POOL_VISIBLE_WAIT_S = 3.0
#: How often that wait looks at the store (a generation check, no read, when
#: nothing was written).
POOL_VISIBLE_POLL_S = 0.02

log = logging.getLogger(__name__)

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


def _key_images(tx_hex: str) -> list[tuple[int, tuple[int, ...], bytes]]:
    """(index amount, ring member global indexes, key image) of each key
    input of ``tx_hex``; empty if it does not parse (monerod took it anyway)."""
    try:
        tx = parse_transaction(bytes.fromhex(tx_hex))
        return [
            (inp.amount, absolute_key_offsets(inp), inp.key_image)
            for inp in tx.inputs
            if isinstance(inp, KeyInput)
        ]
    except (MoneroFormatError, ValueError):
        return []


def _watched_spends(
    reader: Reader, inputs: list[tuple[int, tuple[int, ...], bytes]]
) -> dict[int, frozenset[bytes]]:
    """Account id -> key images of ``inputs`` whose rings use its outputs, for
    the accounts the scanner's pool pass covers (active, at the chain tip)."""
    top = reader.chain_top()
    chain_next = 0 if top is None else top[0] + 1
    found: dict[int, set[bytes]] = {}
    for amount, members, key_image in inputs:
        for global_index in members:
            for owner in reader.owners_of(amount, global_index):
                found.setdefault(owner.account_id, set()).add(key_image)
    watched: dict[int, frozenset[bytes]] = {}
    for account_id, images in found.items():
        record = reader.account(account_id)
        if (
            record is not None
            and record.status == AccountStatus.ACTIVE
            and record.scan_height >= chain_next
        ):
            watched[account_id] = frozenset(images)
    return watched


def _missing_spends(reader: Reader, watched: dict[int, frozenset[bytes]]) -> int:
    """How many watched accounts do not show a watched key image in their pool
    spends (or, if a block took the tx meanwhile, their newest mined spends)."""
    top = reader.chain_top()
    recent = 0 if top is None else top[0]
    missing = 0
    for account_id, images in watched.items():
        shown = {spend.key_image for spend in reader.pool_spends(account_id)}
        if shown.isdisjoint(images):
            shown = {spend.key_image for spend in reader.spends(account_id, recent)}
            if shown.isdisjoint(images):
                missing += 1
    return missing


async def _show_pool_spends(svc: Services, tx_hex: str) -> None:
    """Wake the scanner and wait (at most POOL_VISIBLE_WAIT_S) until the
    relayed tx's candidate spends are in the pool view, so the account reads
    that follow list its key images (spend_key_images, spent_outputs)."""
    if svc.wake_scanner is None:
        return
    inputs = _key_images(tx_hex)
    watched = await storeio.read(svc.store, lambda reader: _watched_spends(reader, inputs))
    svc.wake()
    if not watched:
        return
    checked: int | None = None
    with trio.move_on_after(POOL_VISIBLE_WAIT_S):
        while True:
            generation = svc.store.generation()
            if generation is None or generation != checked:
                missing = await storeio.read(
                    svc.store, lambda reader: _missing_spends(reader, watched)
                )
                if not missing:
                    return
                checked = generation
            await trio.sleep(POOL_VISIBLE_POLL_S)
    log.info("relayed tx: its spends are not in the pool view after %.0f s", POOL_VISIBLE_WAIT_S)


async def submit_raw_tx(svc: Services, req: SubmitRawTxRequest) -> SubmitRawTxResponse:
    tx_hex = req.tx.lower()
    result = await svc.daemon.send_raw_transaction(tx_hex)
    if result.ok:
        await _show_pool_spends(svc, tx_hex)
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
