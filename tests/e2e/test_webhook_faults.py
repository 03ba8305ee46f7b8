# Owns the fault proof of webhook delivery (issue 16 §5) against `lws serve`
# on a private regtest monerod: a receiver that is down for a while, then
# answers 500 and hangs past the timeout, and lws SIGKILLed at random
# moments while deliveries are pending (at least KILLS times): every event
# the chain calls for arrives at least once, repeats carry the same
# X-Lws-Delivery id and body, per hook in outbox order. And a receiver that
# hangs delays no other hook.
"""Webhook delivery through receiver faults and SIGKILLs of lws serve."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lws.store import DeliveryState
from tests.conftest import LwsProcess
from tests.support.receiver import Received, Receiver
from tests.support.regtest import Monerod, WalletKeys, WalletRpc
from tests.support.webhooks import HookAdmin, check_order_and_signatures, first_arrivals, login

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ATOMIC = 10**12
#: SIGKILLs of lws serve with deliveries pending (issue 16 asks for >= 10).
KILLS = 12
SEED = 20261216
#: lws's timeout for one delivery, and how long the receiver hangs when it does.
TIMEOUT_S = 1.0
HANG_S = 3.0
#: Retries: quick, and enough of them to outlast the receiver's down time.
RETRY_DELAYS = ",".join(["0.2", "0.5"] + ["1"] * 30)
#: Confirmations of the two hooks: one follows every block of the test, one stops early.
DEEP = 1000
SHALLOW = 5
SETTLE_S = 180.0


@dataclass
class Chain:
    root: Path
    monerod: Monerod
    wallet: WalletRpc
    addresses: dict[str, str]
    keys: dict[str, WalletKeys]

    def pay(self, name: str, amount: int) -> str:
        self.wallet.open("sender")
        self.wallet.refresh()
        result = self.wallet.rpc(
            "transfer", destinations=[{"address": self.addresses[name], "amount": amount}]
        )
        return str(result["tx_hash"])

    def mine(self, blocks: int = 1) -> None:
        self.monerod.mine(blocks, self.addresses["sender"])


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    root = tmp_path_factory.mktemp("webhook-faults")
    with Monerod(root / "monerod") as monerod, WalletRpc(root / "wallet", monerod) as wallet:
        names = ("sender", "merchant", "shop")
        keys = {name: WalletKeys(f"faults-{name}") for name in names}
        addresses = {name: wallet.create_from_keys(name, keys[name]) for name in names}
        monerod.mine(100, addresses["sender"])
        yield Chain(root, monerod, wallet, addresses, keys)


def serve(workdir: Path, monerod: Monerod) -> LwsProcess:
    return LwsProcess(
        workdir,
        monerod,
        "--webhook-timeout",
        str(TIMEOUT_S),
        "--webhook-retry-delays",
        RETRY_DELAYS,
    )


def kill(lws: LwsProcess) -> None:
    os.killpg(lws.proc.pid, signal.SIGKILL)
    lws.proc.wait()
    lws.client.close()


class Faulty:
    """The receiver's answers in the fault phase: the first attempt of every
    delivery gets a 500; one in four deliveries then hangs once past lws's
    timeout; the rest succeed."""

    def __init__(self) -> None:
        self.attempts: dict[str, int] = {}
        self.random = random.Random(SEED)
        self.lock = threading.Lock()

    def __call__(self, got: Received) -> tuple[int, float]:
        with self.lock:
            n = self.attempts[got.delivery] = self.attempts.get(got.delivery, 0) + 1
            hang = self.random.random() < 0.25
        if n == 1:
            return 500, 0.0
        if n == 2 and hang:
            return 200, HANG_S
        return 200, 0.0


def expected_levels(admin: HookAdmin, account_id: int) -> dict[tuple[str, int], int]:
    """Per mined output (tx hash, vout): the confirmations the DEEP hook must
    have been told, from the store's outputs and scan height."""

    def read(reader):  # type: ignore[no-untyped-def]
        scanned = reader.account(account_id).scan_height
        return {
            (out.tx_hash.hex(), out.output_index): min(DEEP, scanned - out.height)
            for out in reader.outputs(account_id)
        }

    return dict(admin.store.query(read))


def test_every_event_arrives_through_faults_and_kills(chain: Chain) -> None:
    rng = random.Random(SEED)
    workdir = chain.root / "lws-kills"
    receiver = Receiver().start()
    lws = serve(workdir, chain.monerod)
    admin = HookAdmin(workdir / "data")
    kills_with_pending = 0
    try:
        login(lws, chain.keys["merchant"])
        merchant = chain.addresses["merchant"]
        hooks = {
            "deep": admin.add(
                type="tx-confirmation", url=receiver.url("/deep"), address=merchant,
                confirmations=DEEP,
            ),
            "shallow": admin.add(
                type="tx-confirmation", url=receiver.url("/shallow"), address=merchant,
                confirmations=SHALLOW,
            ),
        }  # fmt: skip
        secrets = {reply["event_id"]: reply["secret"] for reply in hooks.values()}
        account_id = admin.store.query(lambda r: r.account_id(merchant))
        for amount in (ATOMIC, 2 * ATOMIC, 3 * ATOMIC):
            chain.pay("merchant", amount)
            chain.mine()
        receiver.wait_for(3, 60)

        # Down: events pile up while every attempt is refused.
        receiver.stop()
        chain.mine(3)
        time.sleep(2.0)
        assert admin.deliveries()["outbox"]["pending"] > 0
        receiver.answer = Faulty()
        receiver.start()

        # 500s, hangs, and SIGKILLs at random moments with deliveries pending.
        while kills_with_pending < KILLS:
            chain.mine(rng.choice((1, 1, 2)))
            time.sleep(rng.uniform(0.3, 2.5))
            if admin.pending() > 0:
                kills_with_pending += 1
            kill(lws)
            if rng.random() < 0.3:
                chain.mine()  # a block while lws is down
            lws = serve(workdir, chain.monerod)

        # Settle: every event recorded is delivered, and the chain's are all there.
        height = chain.monerod.height()
        lws.wait_scanned(chain.keys["merchant"], height)
        deadline = time.monotonic() + SETTLE_S
        while admin.pending() > 0:
            assert time.monotonic() < deadline, admin.deliveries(limit=5)
            time.sleep(0.5)
    finally:
        lws.stop()
        receiver.stop()
    outbox = admin.deliveries()
    records = admin.store.query(lambda r: list(r.deliveries()))
    epoch = admin.store.query(lambda r: r.outbox_epoch)
    expected = expected_levels(admin, account_id)
    admin.close()

    received = receiver.snapshot()
    check_order_and_signatures(received, secrets)
    assert outbox["outbox"]["failed"] == 0 and outbox["outbox"]["dropped_events"] == 0
    # Every outbox record was delivered and arrived, under its own id.
    arrived = {got.delivery for got in received}
    assert all(rec.state == DeliveryState.DELIVERED for _, rec in records)
    assert {(epoch + seq.to_bytes(8, "big")).hex() for seq, _ in records} <= arrived
    # Every confirmation the chain calls for arrived (none is lost), and none more.
    told: dict[str, dict[tuple[str, int], list[int]]] = {"deep": {}, "shallow": {}}
    names = {reply["event_id"]: name for name, reply in hooks.items()}
    for got in first_arrivals(received):
        body = got.json
        if body["confirmations"] == 0:
            continue  # the pool's event: only if a pool pass saw the tx
        key = (body["tx_info"]["tx_hash"], body["tx_info"]["index"])
        told[names[body["event_id"]]].setdefault(key, []).append(body["confirmations"])
    assert told["deep"] == {key: list(range(1, n + 1)) for key, n in expected.items()}
    assert told["shallow"] == {
        key: list(range(1, min(n, SHALLOW) + 1)) for key, n in expected.items()
    }
    repeats = len(received) - len(arrived)
    assert repeats > 0  # the faults did make lws try again
    print(
        f"{len(records)} deliveries, {len(received)} POSTs ({repeats} repeats), "
        f"{kills_with_pending} SIGKILLs with deliveries pending"
    )


def test_a_hanging_receiver_does_not_delay_another_hook(chain: Chain) -> None:
    workdir = chain.root / "lws-slow"
    with Receiver(lambda _: (200, 10.0)) as hanging, Receiver() as fast:
        lws = serve(workdir, chain.monerod)
        admin = HookAdmin(workdir / "data")
        try:
            login(lws, chain.keys["shop"])
            shop = chain.addresses["shop"]
            admin.add(type="tx-confirmation", url=hanging.url(), address=shop, confirmations=50)
            admin.add(type="tx-confirmation", url=fast.url(), address=shop, confirmations=50)
            chain.pay("shop", ATOMIC)
            chain.mine()
            fast.wait_for(1, 60, lambda got: got.json["confirmations"] == 1)
            hanging.wait_for(1, 60)
            # The hanging receiver holds its hook; each new block reaches the
            # other hook within moments.
            for blocks in range(2, 6):
                mined = time.monotonic()
                chain.mine()
                got = fast.wait_for(1, 60, lambda got, n=blocks: got.json["confirmations"] == n)
                assert got[0].at - mined < 3.0, f"block {blocks}: {got[0].at - mined:.1f} s"
            assert len(hanging.snapshot()) <= 3  # timed out, waiting to retry
        except (AssertionError, TimeoutError) as exc:
            raise AssertionError(f"{exc}; lws log: {lws.log_path.read_text()[-3000:]}") from exc
        finally:
            lws.stop()
            admin.close()
