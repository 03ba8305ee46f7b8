# Owns the tests of the webhook commands of the admin API, served by
# Hypercorn in process over a real store: webhook_add/list/delete/delete_uuid
# with monero-lws's params and replies (plus the secret, shown once),
# refusals as 400 {"Error"} with nothing stored, webhook_deliveries and
# webhook_redeliver, every reply checked against docs/admin-openapi.json.
from __future__ import annotations

import msgspec

from lws.store import AccountBatch, DeliveryState, Store
from tests.support.store_data import make_output

from .conftest import add_account
from .test_admin_api import ALICE, BOB, Admin, client  # noqa: F401 (the fixture)


async def test_webhook_commands(client: Admin, store: Store) -> None:  # noqa: F811
    a = add_account(store, ALICE)
    status, added = await client.call(
        "webhook_add",
        {
            "type": "tx-confirmation",
            "url": "http://the_url",
            "token": "the_token",
            "address": ALICE.address(),
            "payment_id": "deadbeefdeadbeef",
            "confirmations": 3,
        },
    )
    assert status == 200
    assert list(added) == ["payment_id", "event_id", "token", "confirmations", "url", "secret"]
    assert (added["payment_id"], added["token"], added["confirmations"], added["url"]) == (
        "deadbeefdeadbeef",
        "the_token",
        3,
        "http://the_url",
    )
    status, new = await client.call("webhook_add", {"type": "new-account", "url": "https://n/"})
    assert status == 200
    assert await client.call("webhook_list") == (
        200,
        {
            "webhooks": [
                {
                    "key": {"user": a, "type": "tx-confirmation"},
                    "value": [{k: added[k] for k in list(added)[:5]}],
                },
                {
                    "key": {"user": 4294967295, "type": "new-account"},
                    "value": [
                        {
                            "payment_id": "0000000000000000",
                            "event_id": new["event_id"],
                            "token": "",
                            "confirmations": 1,
                            "url": "https://n/",
                        }
                    ],
                },
            ]
        },
    )
    # Refusals: 400 with an Error, nothing stored.
    before = store.query(lambda r: r.count_hooks())
    for params in (
        {"type": "tx-confirmation", "url": "zmq", "address": ALICE.address()},
        {"type": "tx-confirmation", "url": "http://x", "address": BOB.address()},
        {"type": "tx-confirmation", "url": "http://x", "address": ALICE.address(), "payment_id": "x"},
        {"type": "tx-confirmation", "url": "http://x", "address": ALICE.address(), "confirmations": 5000},
        {"type": "tx-send", "url": "http://x"},
    ):  # fmt: skip
        status, reply = await client.call("webhook_add", params)
        assert status == 400 and set(reply) == {"Error"}, params
    assert store.query(lambda r: r.count_hooks()) == before

    # Deliveries: the outbox of a batch (the fixture's chain has 30 blocks),
    # one failed and redelivered.
    out = msgspec.structs.replace(
        make_output(12, global_index=12), payment_id=bytes.fromhex("deadbeefdeadbeef")
    )
    store.transact(lambda w: w.add_block_batch(30, [], {a: AccountBatch(0, 14, (out,))}))
    (seq, record), _ = store.query(lambda r: list(r.deliveries()))
    failed = msgspec.structs.replace(record, state=DeliveryState.FAILED, attempts=9, updated=5)
    store.transact(lambda w: w.record_attempts([(seq, 0, failed)]))
    status, listed = await client.call("webhook_deliveries", {"failed": True})
    assert status == 200
    [info] = listed["deliveries"]
    assert (info["state"], info["event"], info["confirmations"]) == ("failed", "tx-confirmation", 1)
    assert listed["outbox"]["failed"] == 1 and listed["outbox"]["pending"] == 1
    status, again = await client.call("webhook_redeliver", {"delivery_id": info["delivery_id"]})
    assert status == 200 and (again["state"], again["delivery_id"]) == (
        "pending",
        info["delivery_id"],
    )
    status, reply = await client.call("webhook_redeliver", {"delivery_id": "00" * 16})
    assert status == 400 and set(reply) == {"Error"}

    # Deletion by address (every type of the account), then by id.
    assert await client.call("webhook_delete", {"addresses": [ALICE.address()]}) == (200, {})
    assert await client.call("webhook_delete_uuid", {"event_ids": [new["event_id"]]}) == (200, {})
    assert await client.call("webhook_list") == (200, {"webhooks": []})
    assert store.query(lambda r: r.outbox_info().entries) == 0
