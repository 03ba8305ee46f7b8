# Owns the tests of the webhook commands of `lws admin` on a real store, in
# process: webhook-add (text with the secret shown once; --json = the admin
# API's reply), webhook-list, webhook-delete, webhook-delete-uuid,
# webhook-deliveries [--failed], webhook-redeliver; refusals exit 1 with
# nothing stored, usage errors exit 2.
from __future__ import annotations

from pathlib import Path

import msgspec
import trio

from lws.config import Config
from lws.daemon import Daemon
from lws.services import webhooks
from lws.services.context import Services
from lws.store import AccountBatch, AccountStatus, DeliveryState, Store
from tests.support.store_data import make_output
from tests.support.wallets import add_wallet

from .test_cli import ALICE, BOB, admin, data_dir  # noqa: F401 (the fixture)


def add_alice(data_dir: Path) -> int:  # noqa: F811
    with Store.open(data_dir / "store", network="regtest") as store:
        return int(
            store.transact(
                lambda w: add_wallet(
                    w, ALICE, start_height=0, created=1, status=AccountStatus.ACTIVE
                )
            )
        )


def api_reply(data_dir: Path, fn, *args) -> object:  # type: ignore[no-untyped-def]  # noqa: F811
    """What the admin API's service answers on this store, as JSON."""
    with Store.open(data_dir / "store", network="regtest") as store:
        svc = Services(Config(network="regtest"), store, Daemon("http://127.0.0.1:1"))
        reply = trio.run(fn, svc, *args)
    return msgspec.json.decode(msgspec.json.encode(reply))


def test_add_list_delete(data_dir: Path) -> None:  # noqa: F811
    a = add_alice(data_dir)
    ran = admin(
        data_dir,
        "webhook-add",
        "--type", "tx-confirmation",
        "--url", "https://shop.example/xmr",
        "--address", ALICE.address(),
        "--token", "t1",
        "--confirmations", "10",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert "secret: " in ran.out and "not shown again" in ran.out
    ran = admin(
        data_dir,
        "--json",
        "webhook-add",
        "--type", "tx-confirmation",
        "--url", "http://h/",
        "--address", ALICE.address(),
        "--payment-id", "any",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    added = ran.json
    assert list(added) == ["payment_id", "event_id", "token", "confirmations", "url", "secret"]
    assert (added["payment_id"], added["confirmations"]) == ("any", 1)
    listed = admin(data_dir, "--json", "webhook-list")
    assert listed.json == api_reply(data_dir, webhooks.webhook_list)
    [group] = listed.json["webhooks"]
    assert group["key"] == {"user": a, "type": "tx-confirmation"}
    assert len(group["value"]) == 2
    text = admin(data_dir, "webhook-list").out
    assert "2 webhooks" in text and "https://shop.example/xmr" in text and "secret" not in text
    assert added["secret"] not in listed.out + text
    # Refused: exit 1, one line, nothing stored; usage: exit 2.
    for argv in (
        ["--type", "tx-confirmation", "--url", "ftp://x", "--address", ALICE.address()],
        ["--type", "tx-confirmation", "--url", "http://x", "--address", BOB.address()],
        ["--type", "tx-spend", "--url", "http://x", "--address", "nonsense"],
        ["--type", "new-account", "--url", "http://x", "--address", ALICE.address()],
        ["--type", "tx-confirmation", "--url", "http://x", "--address", ALICE.address(),
         "--payment-id", "12"],
    ):  # fmt: skip
        ran = admin(data_dir, "webhook-add", *argv)
        assert ran.code == 1 and ran.err.count("\n") == 1, (argv, ran.err)
    assert admin(data_dir, "webhook-add", "--type", "tx-spend").code == 2
    assert admin(data_dir, "webhook-add", "--type", "tx-send", "--url", "http://x").code == 2
    assert len(admin(data_dir, "--json", "webhook-list").json["webhooks"][0]["value"]) == 2
    # Deletion.
    assert admin(data_dir, "--json", "webhook-delete-uuid", added["event_id"]).json == {}
    assert len(admin(data_dir, "--json", "webhook-list").json["webhooks"][0]["value"]) == 1
    assert admin(data_dir, "webhook-delete", BOB.address()).code == 1  # no such account
    assert admin(data_dir, "--json", "webhook-delete", ALICE.address()).json == {}
    assert admin(data_dir, "--json", "webhook-list").json == {"webhooks": []}


def test_deliveries_and_redeliver(data_dir: Path) -> None:  # noqa: F811
    a = add_alice(data_dir)
    assert admin(
        data_dir, "webhook-add", "--type", "tx-confirmation", "--url", "http://r/",
        "--address", ALICE.address(), "--confirmations", "2",
    ).code == 0  # fmt: skip
    with Store.open(data_dir / "store", network="regtest") as store:
        out = make_output(5, global_index=5)
        store.transact(lambda w: w.add_block_batch(20, [], {a: AccountBatch(0, 10, (out,))}))
        (seq, record), _ = store.query(lambda r: list(r.deliveries()))
        failed = msgspec.structs.replace(
            record, state=DeliveryState.FAILED, attempts=9, last_status=503, updated=100
        )
        store.transact(lambda w: w.record_attempts([(seq, 0, failed)]))
    text = admin(data_dir, "webhook-deliveries").out
    assert "tx-confirmation 1" in text and "failed" in text and "HTTP 503" in text
    assert "2 of 100000 records (1 pending, 0 delivered, 1 failed)" in text
    ran = admin(data_dir, "--json", "webhook-deliveries", "--failed")
    [failed_info] = ran.json["deliveries"]
    assert ran.json["outbox"]["dropped_events"] == 0
    again = admin(data_dir, "--json", "webhook-redeliver", failed_info["delivery_id"])
    assert again.code == 0 and again.json["state"] == "pending"
    assert again.json["delivery_id"] == failed_info["delivery_id"]
    assert admin(data_dir, "--json", "webhook-deliveries", "--failed").json["deliveries"] == []
    assert admin(data_dir, "webhook-redeliver", failed_info["delivery_id"]).code == 1  # pending
    assert admin(data_dir, "webhook-redeliver", "not-an-id").code == 1
