# Owns the end-to-end proof that a transaction relayed through lws's
# submit_raw_tx is visible as a pool spend at once: on a private regtest
# monerod with the scanner's poll interval far longer than the test, the
# reads right after submit_raw_tx (get_unspent_outs' spend_key_images,
# get_address_info's spent_outputs and total_sent) already list the spent
# output's key image, as monero-wallet-rpc computed it. Everything goes
# through HTTP to a real `lws serve`.
"""submit_raw_tx makes its key images visible before the next pool poll."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LwsProcess
from tests.support.regtest import COINBASE_UNLOCK_BLOCKS, Monerod, WalletKeys, WalletRpc

pytestmark = pytest.mark.e2e

#: The scanner's poll interval in this test: no pool poll can run during it.
LONG_POLL_S = 900
UNSPENT_REQUEST = {"amount": "0", "mixin": 15, "use_dust": True, "dust_threshold": "2000000000"}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Monerod, WalletRpc]]:
    workdir: Path = tmp_path_factory.mktemp("pool-spend")
    with Monerod(workdir / "monerod") as daemon, WalletRpc(workdir / "wallet", daemon) as wallet:
        yield daemon, wallet


def test_submitted_spend_is_visible_at_once(
    chain: tuple[Monerod, WalletRpc], tmp_path: Path
) -> None:
    daemon, wallet = chain
    sender, recipient = WalletKeys("pool-erin"), WalletKeys("pool-frank")
    wallet.create_from_keys("pool-erin", sender)
    daemon.mine(COINBASE_UNLOCK_BLOCKS + 60, sender.address())
    server = LwsProcess(tmp_path / "lws", daemon, "--poll-interval", str(LONG_POLL_S))
    try:
        creds = {"address": sender.address(), "view_key": sender.view_secret.hex()}
        server.login(sender)  # creation wakes the scanner; so does the import
        server.post("import_wallet_request", {**creds, "from_height": 0}).raise_for_status()
        server.wait_scanned(sender, daemon.height(), timeout=120)

        wallet.open("pool-erin")
        wallet.refresh()
        source = next(t for t in wallet.incoming_transfers() if t["unlocked"] and not t["spent"])
        unspent = server.post("get_unspent_outs", {**creds, **UNSPENT_REQUEST}).json()
        [before] = [
            o for o in unspent["outputs"] if o["global_index"] == str(source["global_index"])
        ]
        assert source["key_image"] not in before["spend_key_images"]
        sent_before = int(server.post("get_address_info", creds).json()["total_sent"])

        built = wallet.rpc(
            "sweep_single",
            address=recipient.address(),
            key_image=source["key_image"],
            do_not_relay=True,
            get_tx_hex=True,
        )
        submitted = time.monotonic()
        reply = server.post("submit_raw_tx", {"tx": built["tx_blob"]})
        assert reply.status_code == 200 and reply.json() == {"status": "OK"}, reply.text
        assert built["tx_hash"] in daemon.pool_hashes()

        # straight after the reply: no poll, no retry
        unspent = server.post("get_unspent_outs", {**creds, **UNSPENT_REQUEST}).json()
        info = server.post("get_address_info", creds).json()
        elapsed = time.monotonic() - submitted
        [after] = [
            o for o in unspent["outputs"] if o["global_index"] == str(source["global_index"])
        ]
        assert source["key_image"] in after["spend_key_images"]
        spent = [s for s in info["spent_outputs"] if s["key_image"] == source["key_image"]]
        assert spent and spent[0]["amount"] == str(source["amount"])
        assert int(info["total_sent"]) >= sent_before + source["amount"]
        assert elapsed < LONG_POLL_S / 10
    finally:
        server.stop()
