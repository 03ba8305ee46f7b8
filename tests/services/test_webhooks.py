# Owns the tests of the webhook services called directly, on a real store:
# webhook_add's checks (each bad param a 400 with nothing stored) and its
# monero-lws reply plus the secret; webhook_list's monero-lws shape;
# webhook_delete by address (every type) and webhook_delete_uuid by id;
# new-account events from login; the delivery list and redelivery.
from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest

from lws.config import Config
from lws.daemon import Daemon
from lws.errors import ClientError, Forbidden
from lws.services import accounts, webhooks
from lws.services.admin import CLI
from lws.services.context import Services
from lws.store import (
    AccountBatch,
    AccountStatus,
    DeliveryState,
    NewAccountEvent,
    Store,
)
from lws.wire.requests import LoginRequest
from lws.wire.webhooks import (
    WebhookAddParams,
    WebhookDeleteParams,
    WebhookDeleteUuidParams,
    WebhookDeliveriesParams,
    WebhookRedeliverParams,
)
from tests.support.regtest import WalletKeys
from tests.support.store_data import block_hash, make_output
from tests.support.wallets import add_wallet

ALICE = WalletKeys("hooks-alice")
BOB = WalletKeys("hooks-bob")
CAROL = WalletKeys("hooks-carol")


@pytest.fixture
def svc(store: Store) -> Services:
    return Services(Config(network="regtest"), store, Daemon("http://127.0.0.1:1"))


def add(store: Store, keys: WalletKeys) -> int:
    return store.transact(
        lambda w: add_wallet(w, keys, start_height=0, created=1, status=AccountStatus.ACTIVE)
    )


async def add_hook(svc: Services, p: WebhookAddParams) -> Any:
    return await webhooks.webhook_add(svc, p, CLI)


async def delete_hooks(svc: Services, p: WebhookDeleteParams) -> Any:
    return await webhooks.webhook_delete(svc, p, CLI)


async def delete_uuid(svc: Services, p: WebhookDeleteUuidParams) -> Any:
    return await webhooks.webhook_delete_uuid(svc, p, CLI)


async def redeliver(svc: Services, p: WebhookRedeliverParams) -> Any:
    return await webhooks.webhook_redeliver(svc, p, CLI)


def params(**fields: object) -> WebhookAddParams:
    return msgspec.convert(fields, WebhookAddParams)


async def test_add_replies_as_monero_lws_plus_the_secret(
    svc: Services, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lws.admin")
    add(store, ALICE)
    reply = await add_hook(
        svc,
        params(
            type="tx-confirmation",
            url="http://the_url",
            token="the_token",
            address=ALICE.address(),
            payment_id="deadbeefdeadbeef",
            confirmations=3,
        ),
    )
    encoded = msgspec.json.decode(msgspec.json.encode(reply))
    assert list(encoded) == ["payment_id", "event_id", "token", "confirmations", "url", "secret"]
    assert encoded["payment_id"] == "deadbeefdeadbeef"
    assert (encoded["token"], encoded["confirmations"], encoded["url"]) == (
        "the_token",
        3,
        "http://the_url",
    )
    assert len(encoded["event_id"]) == 32 and len(encoded["secret"]) == 64
    [(_, hook)] = store.query(lambda r: r.hooks())
    assert hook.secret == encoded["secret"] and hook.event_id.hex() == encoded["event_id"]
    [line] = [r.getMessage() for r in caplog.records if "webhook_add" in r.getMessage()]
    assert line.startswith("admin: cli webhook_add tx-confirmation " + encoded["event_id"])
    assert ALICE.address() in line and encoded["secret"] not in line
    # Defaults: no payment id = 16 zeros (payments without one), 1 confirmation, "" token.
    plain = await add_hook(
        svc, params(type="tx-spend", url="https://x.example/h", address=ALICE.address())
    )
    assert (plain.payment_id, plain.confirmations, plain.token) == ("0000000000000000", 1, "")
    anyone = await add_hook(
        svc,
        params(type="tx-confirmation", url="http://h", address=ALICE.address(), payment_id="any"),
    )
    assert anyone.payment_id == "any"
    assert {hook.payment_id for _, hook in store.query(lambda r: r.hooks())} == {
        bytes.fromhex("deadbeefdeadbeef"),
        bytes(8),
        None,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(type="tx-confirmation", url="ftp://x/y"), "http"),
        (dict(type="tx-confirmation", url="zmq"), "http"),
        (dict(type="tx-confirmation", url="http://"), "http"),
        (dict(type="tx-confirmation", url="http://x:99999/"), "http"),
        (dict(type="tx-confirmation", url="http://a b/"), "http"),
        (dict(type="tx-confirmation", url="http://x"), "needs the address"),
        (dict(type="tx-confirmation", url="http://x", address="bogus"), "Invalid address"),
        (dict(type="tx-confirmation", url="http://x", address="BOB"), "unknown address"),
        (dict(type="tx-confirmation", url="http://x", address="A", payment_id="12"), "payment_id"),
        (dict(type="tx-spend", url="http://x", address="A", payment_id="zz" * 8), "payment_id"),
        (dict(type="tx-confirmation", url="http://x", address="A", confirmations=1001), "between"),
        (dict(type="new-account", url="http://x", address="A"), "no address"),
    ],
)
async def test_add_refuses_bad_params_and_stores_nothing(
    svc: Services, store: Store, fields: dict[str, object], message: str
) -> None:
    add(store, ALICE)
    names = {"A": ALICE.address(), "BOB": BOB.address()}
    if "address" in fields:
        fields = {**fields, "address": names.get(str(fields["address"]), fields["address"])}
    with pytest.raises(ClientError, match=message):
        await add_hook(svc, params(**fields))
    assert store.query(lambda r: r.count_hooks()) == 0


def test_params_refuse_unknown_types_and_fields() -> None:
    with pytest.raises(msgspec.ValidationError):
        params(type="tx-send", url="http://x")
    with pytest.raises(msgspec.ValidationError):
        params(type="new-account", url="http://x", extra=1)
    with pytest.raises(msgspec.ValidationError):
        params(type="new-account", url="http://x", confirmations=-1)


async def test_list_and_delete(svc: Services, store: Store) -> None:
    a = add(store, ALICE)
    b = add(store, BOB)
    first = await add_hook(
        svc, params(type="tx-confirmation", url="http://a", address=ALICE.address())
    )
    await add_hook(svc, params(type="tx-spend", url="http://a2", address=ALICE.address()))
    second = await add_hook(
        svc, params(type="tx-confirmation", url="http://b", address=BOB.address(), token="tb")
    )
    new = await add_hook(svc, params(type="new-account", url="http://n"))
    listed = msgspec.json.decode(msgspec.json.encode(await webhooks.webhook_list(svc)))
    assert [group["key"] for group in listed["webhooks"]] == [
        {"user": a, "type": "tx-confirmation"},
        {"user": a, "type": "tx-spend"},
        {"user": b, "type": "tx-confirmation"},
        {"user": 4294967295, "type": "new-account"},
    ]
    assert listed["webhooks"][0]["value"] == [
        {
            "payment_id": "0000000000000000",
            "event_id": first.event_id,
            "token": "",
            "confirmations": 1,
            "url": "http://a",
        }
    ]
    assert "secret" not in str(listed)
    # webhook_delete takes every type of the account's hooks.
    await delete_hooks(svc, WebhookDeleteParams(addresses=[ALICE.address()]))
    left = {hook.event_id.hex() for _, hook in store.query(lambda r: r.hooks())}
    assert left == {second.event_id, new.event_id}
    with pytest.raises(ClientError, match="unknown address"):
        await delete_hooks(svc, WebhookDeleteParams(addresses=[BOB.address(), CAROL.address()]))
    assert store.query(lambda r: r.count_hooks()) == 2  # nothing deleted
    await delete_uuid(svc, WebhookDeleteUuidParams(event_ids=[new.event_id, "00" * 16]))
    left = {hook.event_id.hex() for _, hook in store.query(lambda r: r.hooks())}
    assert left == {second.event_id}


async def test_login_creating_an_account_fires_new_account(svc: Services, store: Store) -> None:
    hook = await add_hook(svc, params(type="new-account", url="http://n", token="t"))
    request = LoginRequest(
        address=CAROL.address(), view_key=CAROL.view_secret.hex(), create_account=True
    )
    await accounts.login(svc, request)  # queued (no auto-accept)
    with pytest.raises(Forbidden):
        await accounts.login(svc, request)  # pending: refused, no second event
    [(_, record)] = store.query(lambda r: list(r.deliveries()))
    assert record.event == NewAccountEvent(address=CAROL.address())
    assert store.query(lambda r: r.hook(record.hook)).event_id.hex() == hook.event_id  # type: ignore[union-attr]


async def test_deliveries_listed_and_redelivered(svc: Services, store: Store) -> None:
    a = add(store, ALICE)
    hook = await add_hook(
        svc,
        params(type="tx-confirmation", url="http://a/h", address=ALICE.address(), confirmations=2),
    )
    out = make_output(5, global_index=5)
    store.transact(
        lambda w: w.add_block_batch(
            0, [block_hash(h) for h in range(10)], {a: AccountBatch(0, 10, (out,))}
        )
    )
    (s1, r1), (s2, r2) = store.query(lambda r: list(r.deliveries()))
    failed = msgspec.structs.replace(
        r2, state=DeliveryState.FAILED, attempts=9, last_status=500, updated=7
    )
    store.transact(lambda w: w.record_attempts([(s2, 0, failed)]))
    listed = await webhooks.webhook_deliveries(svc, WebhookDeliveriesParams())
    assert [d.state for d in listed.deliveries] == ["failed", "pending"]  # newest first
    assert [d.confirmations for d in listed.deliveries] == [2, 1]
    assert listed.deliveries[0].event_id == hook.event_id
    assert listed.deliveries[0].tx_hash == out.tx_hash.hex()
    assert (listed.deliveries[0].last_status, listed.deliveries[0].attempts) == (500, 9)
    assert (listed.outbox.pending, listed.outbox.failed, listed.outbox.entries) == (1, 1, 2)
    only_failed = await webhooks.webhook_deliveries(svc, WebhookDeliveriesParams(failed=True))
    [failed_info] = only_failed.deliveries
    again = await redeliver(svc, WebhookRedeliverParams(delivery_id=failed_info.delivery_id))
    assert (again.state, again.attempts, again.redeliveries) == ("pending", 0, 1)
    assert again.delivery_id == failed_info.delivery_id
    assert store.query(lambda r: r.requeued()) == [s2]
    with pytest.raises(ClientError, match="unknown delivery"):
        await redeliver(svc, WebhookRedeliverParams(delivery_id="ab" * 16))
    assert s1 == 1
