# Owns the data-bearing tests of the wallet API: a store seeded through its
# own write API the way the scanner writes (mined batch + pool), replies
# checked field by field against interop.md and validated against the
# OpenAPI document; fees, decoys, relay and status against a real regtest
# monerod. Every request goes over a real loopback AppServer (Hypercorn).
"""What the wallet API answers, on real data."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio

from lws.api.serve import AppServer
from lws.api.wallet import create_app
from lws.daemon import Daemon
from lws.monero.amounts import commit, decode_amount
from lws.monero.derivation import derivation_to_scalar, generate_key_derivation
from lws.monero.ed25519 import base_mul, hash_to_scalar
from lws.services.context import Services
from lws.services.encoded import MIN_GZIP_BYTES
from lws.services.rct import unspent_rct
from lws.store import (
    IDENTITY_MASK,
    AccountBatch,
    AccountPool,
    OutputRecord,
    SpendRecord,
    Store,
    tx_index_of,
)
from tests.support.records import output_record, spend_record
from tests.support.regtest import COINBASE_UNLOCK_BLOCKS, Monerod, WalletKeys, free_port

from .conftest import Api, add_account, creds, make_config, serving
from .schema_check import check_reply

ALICE = WalletKeys("alice")
CHAIN = 100  # blocks in the seeded chain


def _out(
    height: int | None, position: int, vout: int, amount: int, gi: int, **kw: Any
) -> OutputRecord:
    values: dict[str, Any] = dict(
        height=height,
        tx_index=tx_index_of(height if height is not None else 0, position),
        tx_hash=bytes([height or 255, position, vout]) + b"\x11" * 29,
        output_index=vout,
        global_index=gi,
        amount=amount,
        output_key=bytes([gi % 256]) + b"\x55" * 31,
        fee=30_000_000,
    )
    values.update(kw)
    return output_record(**values)


def _spend(height: int | None, position: int, source: OutputRecord, image: bytes) -> SpendRecord:
    return spend_record(
        source,
        key_image=image,
        height=height,
        tx_index=tx_index_of(height if height is not None else 0, position),
        tx_hash=bytes([height or 254, position]) + b"\x77" * 30,
        timestamp=1_700_000_000 + (height or CHAIN) * 120,
        fee=40_000_000,
    )


COINBASE = _out(
    5,
    0,
    0,
    17_000_000_000_000,
    5,
    rct_type=0,
    coinbase=True,
    mixin=0,
    mask=IDENTITY_MASK,
    commitment=commit(17_000_000_000_000, IDENTITY_MASK),
    ecdh_amount=b"",
)
PAID = _out(20, 1, 1, 3_000_000_000_000, 40, payment_id=b"\x01" * 8)
SUBADDR = _out(30, 1, 0, 2_000_000_000_000, 60, subaddress=(0, 2))
SPENT_SOURCE = _out(21, 1, 0, 5_000_000_000_000, 42)
YOUNG = _out(95, 1, 0, 1_000_000_000_000, 190)  # locked: 95 + 10 > 100
TIMELOCKED = _out(22, 1, 0, 7, 44, unlock_time=CHAIN + 50)
SPEND = _spend(50, 1, SPENT_SOURCE, b"\x88" * 32)
POOL_OUT = _out(None, 0, 0, 123, 0, tx_index=0)
POOL_SPEND = _spend(None, 0, PAID, b"\x99" * 32)


def seed(store: Store) -> int:
    account = add_account(store, ALICE)
    hashes = [height.to_bytes(32, "big") for height in range(CHAIN)]
    batch = AccountBatch(
        from_height=0,
        scan_height=CHAIN,
        outputs=(COINBASE, PAID, SPENT_SOURCE, TIMELOCKED, SUBADDR, YOUNG),
        spends=(SPEND,),
    )
    store.transact(lambda w: w.add_block_batch(0, hashes, {account: batch}))
    pool = AccountPool(outputs=(POOL_OUT,), spends=(POOL_SPEND,))
    store.transact(lambda w: w.replace_pool({account: pool}))
    return account


async def call(client: Api, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    response = await client.http.post(path, json=body)
    data = response.json()
    check_reply(path, "POST", response.status_code, data)
    return response.status_code, data


@pytest.fixture
async def regtest_daemon(monerod: Monerod) -> AsyncIterator[Daemon]:
    if monerod.height() < COINBASE_UNLOCK_BLOCKS + 30:
        monerod.mine(COINBASE_UNLOCK_BLOCKS + 30, WalletKeys("miner").address())
    daemon = Daemon(monerod.url)
    yield daemon
    await daemon.aclose()


async def test_address_info(client: Api, store: Store) -> None:
    seed(store)
    status, info = await call(client, "/get_address_info", creds(ALICE))
    assert status == 200
    received = sum(
        o.amount for o in (COINBASE, PAID, SPENT_SOURCE, TIMELOCKED, SUBADDR, YOUNG, POOL_OUT)
    )
    assert info["total_received"] == str(received)
    assert info["total_sent"] == str(SPENT_SOURCE.amount + PAID.amount)
    assert info["locked_funds"] == str(YOUNG.amount + TIMELOCKED.amount + POOL_OUT.amount)
    assert info["blockchain_height"] == CHAIN and info["scanned_block_height"] == CHAIN
    assert info["scanned_height"] == CHAIN and info["transaction_height"] == CHAIN
    assert info["start_height"] == 0
    spent = {s["key_image"]: s for s in info["spent_outputs"]}
    assert spent[(b"\x88" * 32).hex()] == {
        "amount": str(SPENT_SOURCE.amount),
        "key_image": (b"\x88" * 32).hex(),
        "tx_pub_key": SPENT_SOURCE.tx_pubkey.hex(),
        "out_index": SPENT_SOURCE.output_index,
        "mixin": 15,
    }
    assert (b"\x99" * 32).hex() in spent  # pool spends count
    assert "rates" not in info


async def test_address_txs(client: Api, store: Store) -> None:
    seed(store)
    status, reply = await call(client, "/get_address_txs", creds(ALICE))
    assert status == 200
    txs = reply["transactions"]
    ids = [tx["id"] for tx in txs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert txs[-2]["mempool"] or txs[-1]["mempool"]
    for tx in txs:
        assert tx["timestamp"].endswith("Z") and len(tx["timestamp"]) == 20
        assert isinstance(tx["spent_outputs"], list)
        assert ("height" in tx) == (not tx["mempool"])
    by_hash = {tx["hash"]: tx for tx in txs}
    coinbase = by_hash[COINBASE.tx_hash.hex()]
    assert coinbase["coinbase"] is True and coinbase["mixin"] == 0 and "payment_id" not in coinbase
    paid = by_hash[PAID.tx_hash.hex()]
    assert paid["payment_id"] == "01" * 8 and paid["total_received"] == str(PAID.amount)
    spend = by_hash[SPEND.tx_hash.hex()]
    assert spend["total_sent"] == str(SPENT_SOURCE.amount) and spend["fee"] == "40000000"
    assert spend["spent_outputs"][0]["key_image"] == (b"\x88" * 32).hex()
    pool = by_hash[POOL_OUT.tx_hash.hex()]
    assert pool["mempool"] is True and "height" not in pool and pool["timestamp"]


async def _raw(client: Api, path: str, accept: str | None) -> tuple[httpx.Headers, bytes]:
    """The reply's headers and its bytes as sent (not decompressed)."""
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    request = client.http.build_request("POST", path, json=creds(ALICE), headers=headers)
    if accept is None:
        del request.headers["Accept-Encoding"]  # httpx adds one by default
    response = await client.http.send(request, stream=True)
    raw = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()
    assert response.status_code == 200
    return response.headers, raw


@pytest.mark.parametrize("path", ["/get_address_info", "/get_address_txs"])
async def test_gzip_when_accepted_plain_otherwise(client: Api, store: Store, path: str) -> None:
    seed(store)
    headers, plain = await _raw(client, path, None)
    assert "content-encoding" not in headers and "Accept-Encoding" in headers["vary"]
    big = len(plain) >= MIN_GZIP_BYTES
    for accept in ("gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8, *;q=0.1", "*"):
        headers, raw = await _raw(client, path, accept)
        assert "Accept-Encoding" in headers["vary"]
        if big:
            assert headers["content-encoding"] == "gzip"
            assert int(headers["content-length"]) == len(raw) < len(plain)
            assert gzip.decompress(raw) == plain  # exactly the plain reply
        else:  # too short to gain from gzip: plain
            assert "content-encoding" not in headers and raw == plain
    for accept in ("identity", "gzip;q=0", "deflate", "*;q=0", "", "br, *;q=0"):
        headers, raw = await _raw(client, path, accept)
        assert "content-encoding" not in headers and raw == plain, accept
    assert path != "/get_address_txs" or big  # the seeded history is long enough to gzip


async def test_unspent_outs_and_fees(store: Store, regtest_daemon: Daemon) -> None:
    seed(store)
    async with serving(create_app(Services(make_config(), store, regtest_daemon))) as app:
        status, reply = await call(
            app,
            "/get_unspent_outs",
            {
                **creds(ALICE),
                "amount": "0",
                "dust_threshold": "2000000000",
                "use_dust": True,
                "mixin": 15,
            },
        )
        assert status == 200
        assert reply["per_byte_fee"] > 0 and reply["fee_mask"] > 0 and len(reply["fees"]) == 4
        assert reply["fork_version"] >= 16
        outs = {o["tx_hash"]: o for o in reply["outputs"]}
        # unlocked only; subaddress outputs hidden from clients that registered none
        assert set(outs) == {COINBASE.tx_hash.hex(), PAID.tx_hash.hex(), SPENT_SOURCE.tx_hash.hex()}
        assert reply["amount"] == str(COINBASE.amount + PAID.amount + SPENT_SOURCE.amount)
        assert outs[COINBASE.tx_hash.hex()]["rct"] == "coinbase"
        assert outs[PAID.tx_hash.hex()]["rct"] == PAID.commitment.hex()
        assert outs[SPENT_SOURCE.tx_hash.hex()]["spend_key_images"] == [(b"\x88" * 32).hex()]
        assert outs[PAID.tx_hash.hex()]["spend_key_images"] == [(b"\x99" * 32).hex()]  # pool spend
        assert outs[COINBASE.tx_hash.hex()]["spend_key_images"] == []
        assert outs[PAID.tx_hash.hex()]["recipient"] == {"maj_i": 0, "min_i": 0}
        # Too little for the amount asked: 400 as the published API says.
        status, reply = await call(
            app, "/get_unspent_outs", {**creds(ALICE), "amount": str(10**18)}
        )
        assert status == 400
        # After registering subaddresses, the subaddress output is served.
        status, _ = await call(
            app, "/upsert_subaddrs", {**creds(ALICE), "subaddrs": [{"key": 0, "value": [[1, 5]]}]}
        )
        assert status == 200
        status, reply = await call(app, "/get_unspent_outs", {**creds(ALICE), "amount": "0"})
        assert {"maj_i": 0, "min_i": 2} in [o["recipient"] for o in reply["outputs"]]


async def test_random_outs(regtest_daemon: Daemon, store: Store) -> None:
    async with serving(create_app(Services(make_config(), store, regtest_daemon))) as app:
        for count in (0, 11, 16, 1000):
            status, reply = await call(
                app, "/get_random_outs", {"amounts": ["0", "0"], "count": count}
            )
            assert status == 200 and len(reply["amount_outs"]) == 2
            for entry in reply["amount_outs"]:
                assert entry["amount"] == "0"
                indexes = [int(o["global_index"]) for o in entry["outputs"]]
                assert len(set(indexes)) == len(indexes) >= 16
                assert all(
                    len(o["rct"]) == 64 and len(o["public_key"]) == 64 for o in entry["outputs"]
                )
                unlocked = await regtest_daemon.get_outs([(0, i) for i in indexes])
                assert all(out.unlocked for out in unlocked)


async def test_submit_raw_tx_rejection_and_daemon_status(
    regtest_daemon: Daemon, store: Store
) -> None:
    async with serving(create_app(Services(make_config(), store, regtest_daemon))) as app:
        status, reply = await call(app, "/submit_raw_tx", {"tx": "0011"})
        assert status == 400 and reply["Error"].startswith("Transaction rejected")
        response = await app.http.get("/daemon_status")
        data = response.json()
        check_reply("/daemon_status", "GET", 200, data)
        assert data["state"] in ("ok", "no_connections", "synchronizing") and data["height"] > 0


async def test_login_import_and_subaddrs(store: Store, dead_daemon: Daemon) -> None:
    async with serving(
        create_app(Services(make_config(max_pending_requests=1), store, dead_daemon))
    ) as app:
        bob, carol = WalletKeys("bob"), WalletKeys("carol")
        status, reply = await call(app, "/login", {**creds(bob), "create_account": False})
        assert status == 403
        status, reply = await call(
            app, "/login", {**creds(bob), "create_account": True, "generated_locally": True}
        )
        assert (status, reply["new_address"], reply["generated_locally"]) == (200, True, True)
        status, _ = await call(app, "/login", creds(bob))
        assert status == 403  # pending until approved
        status, reply = await call(app, "/login", {**creds(carol), "create_account": True})
        assert status == 503 and "pending" in reply["Error"]  # the queue cap
        seed(store)
        status, reply = await call(app, "/login", creds(ALICE))
        assert (status, reply["new_address"], reply["start_height"]) == (200, False, 0)
        status, reply = await call(
            app, "/import_wallet_request", {**creds(ALICE), "from_height": 0}
        )
        assert reply == {
            "import_fee": "0",
            "payment_id": "",
            "payment_address": "",
            "status": "Approved",
            "new_request": False,
            "request_fulfilled": True,
        }
        status, reply = await call(
            app,
            "/provision_subaddrs",
            {**creds(ALICE), "maj_i": 0, "min_i": 0, "n_maj": 2, "n_min": 5},
        )
        assert reply["new_subaddrs"] == [
            {"key": 0, "value": [[0, 4]]},
            {"key": 1, "value": [[0, 4]]},
        ]
        status, reply = await call(
            app,
            "/upsert_subaddrs",
            {**creds(ALICE), "subaddrs": [{"key": 0, "value": [[3, 9]]}], "get_all": False},
        )
        assert reply == {"new_subaddrs": [{"key": 0, "value": [[5, 9]]}]}
        status, reply = await call(app, "/get_subaddrs", creds(ALICE))
        assert reply["all_subaddrs"] == [
            {"key": 0, "value": [[0, 9]]},
            {"key": 1, "value": [[0, 4]]},
        ]
        status, reply = await call(
            app, "/provision_subaddrs", {**creds(ALICE), "maj_i": 5, "n_maj": 1000, "n_min": 1000}
        )
        assert status == 400 and "limit" in reply["Error"]


async def test_auto_accept(store: Store, dead_daemon: Daemon) -> None:
    async with serving(
        create_app(
            Services(
                make_config(auto_accept_creation=True, auto_accept_import=True), store, dead_daemon
            )
        )
    ) as app:
        store.transact(lambda w: w.add_block_hashes(0, [h.to_bytes(32, "big") for h in range(10)]))
        status, reply = await call(app, "/login", {**creds(ALICE), "create_account": True})
        assert (status, reply["new_address"], reply["start_height"]) == (200, True, 10)
        status, reply = await call(app, "/get_address_info", creds(ALICE))
        assert (status, reply["start_height"]) == (200, 10)
        status, reply = await call(app, "/import_request", {**creds(ALICE), "from_height": 3})
        assert (reply["new_request"], reply["request_fulfilled"]) == (True, True)
        status, reply = await call(app, "/get_address_info", creds(ALICE))
        assert (reply["start_height"], reply["scanned_height"]) == (3, 3)


def test_rct_types_1_to_3_reencrypt_the_ecdh_info() -> None:
    tx_secret = hash_to_scalar(b"tx secret")
    tx_pubkey = base_mul(tx_secret)
    derivation = generate_key_derivation(tx_pubkey, ALICE.view_secret)
    assert derivation is not None
    shared = derivation_to_scalar(derivation, 3)
    mask, amount = hash_to_scalar(b"mask"), 123_456_789
    out = _out(
        20,
        1,
        3,
        amount,
        7,
        rct_type=2,
        mask=mask,
        commitment=commit(amount, mask),
        ecdh_amount=b"",
        tx_pubkey=tx_pubkey,
    )
    rct = bytes.fromhex(unspent_rct(out, ALICE.view_secret) or "")
    assert len(rct) == 96 and rct[:32] == out.commitment
    assert decode_amount(2, rct[32:64], rct[64:], shared, rct[:32]) == (amount, mask)


async def test_real_listener(store: Store, dead_daemon: Daemon) -> None:
    seed(store)
    config = make_config(listen=(f"127.0.0.1:{free_port()}",))
    server = AppServer(config, create_app(Services(config, store, dead_daemon)))
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(server.run)
        url = bound[0]
        async with httpx.AsyncClient(base_url=url) as client:
            reply = await client.post("/get_address_info", json=creds(ALICE))
            assert reply.status_code == 200 and reply.json()["blockchain_height"] == CHAIN
            reply = await client.post(
                "/get_address_info", content=b"{", headers={"Content-Type": "application/json"}
            )
            assert reply.status_code == 400 and set(reply.json()) == {"Error"}
            reply = await client.get("/get_version")
            assert reply.status_code == 200
        server.shutdown()


def test_plain_http_on_public_address_is_refused(store: Store) -> None:
    from lws.errors import ConfigError

    with pytest.raises(ConfigError):
        AppServer(make_config(listen=("0.0.0.0:8443",)), object())
    AppServer(make_config(listen=("0.0.0.0:8443",), allow_insecure_public=True), object())
    AppServer(make_config(listen=("[::1]:8443", "localhost:1")), object())
