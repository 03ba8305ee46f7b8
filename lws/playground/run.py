# Owns the regtest playground that `lws serve` runs when no monerod is
# configured: a local monerod --regtest, a funded demo wallet, lws serving
# it, and instructions printed for a person to try the API. Must not be used
# when a daemon is configured; knows nothing of the API beyond calling it.
"""A local regtest playground: monerod, a funded demo wallet, and lws."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import msgspec
import trio

from lws import app
from lws.config import Config

from .keys import WalletKeys
from .monerod import COINBASE_UNLOCK_BLOCKS, Monerod

log = logging.getLogger(__name__)

#: Blocks mined to the demo wallet at first start: unlocked coinbase funds.
FUNDING_BLOCKS = COINBASE_UNLOCK_BLOCKS + 20
#: A new block every this many seconds keeps the playground's chain moving.
BLOCK_INTERVAL_S = 30.0
#: The demo wallet's deterministic label (its keys are printed: test funds only).
DEMO_LABEL = "playground-demo"


async def run_playground(config: Config) -> None:
    workdir = config.data_path / "playground"
    chain_exists = (workdir / "monerod" / "chain").exists()
    log.info("starting monerod --regtest in %s", workdir / "monerod")
    daemon = await trio.to_thread.run_sync(
        lambda: Monerod(workdir / "monerod", keep_chain=chain_exists)
    )
    demo = WalletKeys(DEMO_LABEL)
    try:
        height = await trio.to_thread.run_sync(daemon.height)
        if height < FUNDING_BLOCKS:
            log.info("mining %d blocks to the demo wallet", FUNDING_BLOCKS)
            await trio.to_thread.run_sync(daemon.mine, FUNDING_BLOCKS, demo.address())
        lws_config = msgspec.structs.replace(
            config,
            daemon_url=daemon.url,
            network="regtest",
            auto_accept_creation=True,
            auto_accept_import=True,
            rate_limit=0,  # a playground's wallets are the developer's own
            data_dir=str(workdir / "lws"),
        )
        async with trio.open_nursery() as nursery:

            async def serve(*, task_status: trio.TaskStatus[list[str]]) -> None:
                await app.run(lws_config, task_status=task_status)
                nursery.cancel_scope.cancel()  # lws stopped (Ctrl-C): so does the playground

            bound = await nursery.start(serve)
            first = bound[0] if bound else config.listen[0]
            url = first if first.startswith("http") else f"http://{first}"
            await _create_demo_account(url, demo)
            _print_welcome(url, demo, workdir)
            nursery.start_soon(_keep_mining, daemon, demo)
    finally:
        await trio.to_thread.run_sync(daemon.stop)


async def _create_demo_account(url: str, demo: WalletKeys) -> None:
    """Log the demo wallet in, then import it from genesis: a login starts
    an account at the chain's tip, past the blocks that funded it."""
    credentials = {"address": demo.address(), "view_key": demo.view_secret.hex()}
    async with httpx.AsyncClient(timeout=30) as client:
        reply = await client.post(
            f"{url}/login",
            json={**credentials, "create_account": True, "generated_locally": False},
        )
        reply.raise_for_status()
        reply = await client.post(
            f"{url}/import_wallet_request", json={**credentials, "from_height": 0}
        )
        reply.raise_for_status()


async def _keep_mining(daemon: Monerod, demo: WalletKeys) -> None:
    while True:
        await trio.sleep(BLOCK_INTERVAL_S)
        await trio.to_thread.run_sync(daemon.mine, 1, demo.address())


def _print_welcome(url: str, demo: WalletKeys, workdir: Path) -> None:
    body = f'{{"address":"{demo.address()}","view_key":"{demo.view_secret.hex()}"}}'
    print(
        f"""
lws regtest playground is running (state in {workdir}).

  API URL:        {url}
  demo address:   {demo.address()}
  demo view key:  {demo.view_secret.hex()}
  demo spend key: {demo.spend_secret.hex()}   (regtest test funds only)

Its balance through the light-wallet API (scanning takes a few seconds):

  curl -s -H 'Content-Type: application/json' -d '{body}' {url}/get_address_info

A block is mined to the demo wallet every {int(BLOCK_INTERVAL_S)} s. Press Ctrl-C to stop.
""",
        flush=True,
    )
