# Owns the tests of the account reply cache and of monerod's fee cache: a
# repeated read is served from the cache, any store write (block batch, pool
# view, status change) invalidates it, a wrong view key is refused with a
# warm cache, the LRU stays within its bounds; one fee fetch in flight is
# shared, errors are not kept, the fee cache expires with time and daemon
# height; login of an existing account writes nothing; account changes wake
# the scanner. A real LMDB store; the daemon is a fake only where a fault or a
# timing must be produced on demand (fees).
"""Reply cache, fee cache and the services around them."""

from __future__ import annotations

import gzip
import math
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from lws.config import Config
from lws.daemon import Daemon, FeeEstimate, HardForkInfo
from lws.errors import ClientError, DaemonUnavailable, Forbidden
from lws.scan.status import ScannerStatus
from lws.services import account_data, accounts
from lws.services.context import Services
from lws.services.encoded import MIN_GZIP_BYTES, Encoded
from lws.services.fees import FeeCache
from lws.services.replycache import CachedReply, ReplyCache
from lws.store import (
    AccountBatch,
    AccountPool,
    AccountStatus,
    OutputRecord,
    SpendRecord,
    Store,
)
from lws.wire.requests import AccountRequest, ImportRequest, LoginRequest, UnspentOutsRequest
from tests.support.records import output_record, spend_record
from tests.support.regtest import WalletKeys
from tests.support.wallets import add_wallet

ALICE = WalletKeys("cache-alice")
MALLORY = WalletKeys("cache-mallory")
BLOCKS = 40
FEE = FeeEstimate(fee=20_000, fees=[20_000, 80_000], quantization_mask=10_000)


class FakeDaemon(Daemon):
    """Fee calls answered from attributes; ``gate`` holds them until set."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1")
        self.calls = 0
        self.fail: Exception | None = None
        self.gate: trio.Event | None = None
        self.fee = FEE

    async def get_fee_estimate(self) -> FeeEstimate:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return self.fee

    async def hard_fork_info(self) -> HardForkInfo:
        return HardForkInfo(version=16)


def output(i: int, height: int, **more: Any) -> OutputRecord:
    fields: dict[str, Any] = dict(
        height=height,
        position=1 + i,
        tx_hash=i.to_bytes(4, "big") + b"\x11" * 28,
        global_index=100 + i,
        amount=1_000 + i,
        output_key=i.to_bytes(4, "big") + b"\x55" * 28,
    )
    fields.update(more)
    return output_record(**fields)


def pool_spend(source: OutputRecord, key_image: bytes) -> SpendRecord:
    return spend_record(
        source, key_image=key_image, height=None, timestamp=1_700_100_000, tx_hash=b"\x99" * 32
    )


def hashes(count: int, start: int = 0) -> list[bytes]:
    return [(start + i).to_bytes(32, "big") for i in range(count)]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store.open(tmp_path / "store", network="regtest") as store:
        account = store.transact(
            lambda w: add_wallet(w, ALICE, start_height=0, created=1, status=AccountStatus.ACTIVE)
        )
        outputs = tuple(output(i, 5 + i) for i in range(3))
        batch = AccountBatch(from_height=0, scan_height=BLOCKS, outputs=outputs)
        store.transact(lambda w: w.add_block_batch(0, hashes(BLOCKS), {account: batch}))
        store.account_id = account
        store.outputs = outputs
        yield store


@pytest.fixture
def svc(store: Store) -> Services:
    return Services(Config(network="regtest"), store, FakeDaemon())


def creds(keys: WalletKeys = ALICE) -> dict[str, str]:
    return {"address": ALICE.address(), "view_key": keys.view_secret.hex()}


UNSPENT = {"amount": "0", "mixin": 15, "use_dust": True, "dust_threshold": "0"}


def decode(reply: Encoded) -> dict[str, Any]:
    value: dict[str, Any] = msgspec.json.decode(reply.body)
    return value


async def test_a_repeated_read_is_served_from_the_cache(svc: Services) -> None:
    req = AccountRequest(**creds())
    first = await account_data.get_address_info(svc, req)
    generation = svc.store.generation()
    second = await account_data.get_address_info(svc, req)
    # the same object: its gzip form (made on demand) is compressed once
    assert svc.replies.hits == 1 and second is first
    assert svc.store.generation() == generation  # reading wrote nothing
    assert decode(second)["total_received"] == str(sum(o.amount for o in svc.store.outputs))
    # each method and parameter set has its own entry
    await account_data.get_address_txs(svc, req)
    await account_data.get_unspent_outs(svc, UnspentOutsRequest(**creds(), **UNSPENT))
    await account_data.get_unspent_outs(
        svc, UnspentOutsRequest(**creds(), **{**UNSPENT, "use_dust": False})
    )
    assert len(svc.replies) == 4


async def test_gzip_form_is_the_reply_compressed_once(svc: Services) -> None:
    unspent = UnspentOutsRequest(**creds(), **UNSPENT)
    compressed = 0
    for read in (
        lambda: account_data.get_address_info(svc, AccountRequest(**creds())),
        lambda: account_data.get_address_txs(svc, AccountRequest(**creds())),
        lambda: account_data.get_unspent_outs(svc, unspent),
    ):
        reply = await read()
        zipped = await reply.gzipped()
        if len(reply.body) < MIN_GZIP_BYTES:
            assert zipped is None  # one packet anyway
            continue
        assert zipped is not None and gzip.decompress(zipped) == reply.body
        again = await read()
        assert again is reply and await again.gzipped() is zipped
        compressed += 1
    assert compressed


async def test_a_short_reply_is_not_compressed() -> None:
    assert await Encoded(b'{"a":1}').gzipped() is None


async def test_a_block_batch_invalidates(svc: Services, store: Any) -> None:
    req = AccountRequest(**creds())
    before = decode(await account_data.get_address_info(svc, req))
    new = output(9, BLOCKS + 1)
    batch = AccountBatch(from_height=BLOCKS, scan_height=BLOCKS + 5, outputs=(new,))
    store.transact(
        lambda w: w.add_block_batch(BLOCKS, hashes(5, BLOCKS), {store.account_id: batch})
    )
    after = decode(await account_data.get_address_info(svc, req))
    assert int(after["total_received"]) == int(before["total_received"]) + new.amount
    assert after["blockchain_height"] == BLOCKS + 5


async def test_a_pool_spend_shows_at_once(svc: Services, store: Any) -> None:
    unspent = UnspentOutsRequest(**creds(), **UNSPENT)
    outs = decode(await account_data.get_unspent_outs(svc, unspent))["outputs"]
    assert all(o["spend_key_images"] == [] for o in outs)
    source = store.outputs[0]
    spend = pool_spend(source, b"\xab" * 32)
    store.transact(lambda w: w.replace_pool({store.account_id: AccountPool(spends=(spend,))}))
    outs = decode(await account_data.get_unspent_outs(svc, unspent))["outputs"]
    [spent] = [o for o in outs if o["global_index"] == str(source.global_index)]
    assert spent["spend_key_images"] == ["ab" * 32]
    info = decode(await account_data.get_address_info(svc, AccountRequest(**creds())))
    assert info["total_sent"] == str(source.amount)


async def test_wrong_view_key_is_refused_with_a_warm_cache(svc: Services) -> None:
    req = AccountRequest(**creds())
    await account_data.get_address_info(svc, req)
    await account_data.get_unspent_outs(svc, UnspentOutsRequest(**creds(), **UNSPENT))
    wrong = creds(MALLORY)  # a well-formed key of another wallet
    flipped = {**creds(), "view_key": ("00" if creds()["view_key"][:2] != "00" else "01")}
    flipped["view_key"] += creds()["view_key"][2:]
    for bad in (wrong, flipped):
        with pytest.raises(Forbidden):
            await account_data.get_address_info(svc, AccountRequest(**bad))
        with pytest.raises(Forbidden):
            await account_data.get_unspent_outs(svc, UnspentOutsRequest(**bad, **UNSPENT))
    assert len(svc.replies) == 2 and svc.replies.hits == 4  # found warm, and refused


async def test_hidden_account_is_refused_after_a_cached_read(svc: Services, store: Any) -> None:
    req = AccountRequest(**creds())
    await account_data.get_address_info(svc, req)
    store.transact(lambda w: w.set_status(store.account_id, AccountStatus.HIDDEN))
    with pytest.raises(Forbidden):
        await account_data.get_address_info(svc, req)


async def test_amount_beyond_the_total_is_refused_from_the_cache(svc: Services) -> None:
    await account_data.get_unspent_outs(svc, UnspentOutsRequest(**creds(), **UNSPENT))
    too_much = {**UNSPENT, "amount": str(10**9)}
    with pytest.raises(ClientError, match="less than the amount"):
        await account_data.get_unspent_outs(svc, UnspentOutsRequest(**creds(), **too_much))
    assert svc.replies.hits == 1


async def test_unspent_reply_follows_the_fees(svc: Services) -> None:
    req = UnspentOutsRequest(**creds(), **UNSPENT)
    assert decode(await account_data.get_unspent_outs(svc, req))["per_byte_fee"] == FEE.fee
    daemon = svc.daemon
    assert isinstance(daemon, FakeDaemon)
    daemon.fee = FeeEstimate(fee=30_000, fees=[30_000], quantization_mask=10_000)
    svc.fees._fetched_at = -math.inf  # expire the fee cache
    reply = decode(await account_data.get_unspent_outs(svc, req))
    assert reply["per_byte_fee"] == 30_000 and reply["fees"] == [30_000]
    assert len(reply["outputs"]) == 3 and svc.replies.hits == 1


async def test_time_locked_output_expires_the_reply(svc: Services, store: Any) -> None:
    locked = output(7, BLOCKS - 20, unlock_time=2_000_000_000)
    batch = AccountBatch(from_height=BLOCKS, scan_height=BLOCKS + 1, outputs=())
    store.transact(
        lambda w: w.add_block_batch(BLOCKS, hashes(1, BLOCKS), {store.account_id: batch})
    )
    view = account_data.AccountView(
        account=store.query(lambda r: r.account(store.account_id)),
        blockchain_height=BLOCKS + 1,
        outputs=[*store.outputs, locked],
        spends=[],
        pool_outputs=[],
        pool_spends=[],
        generation=1,
    )
    entry = account_data._address_info(view, now=1_900_000_000.0)
    assert entry.valid_until == 2_000_000_000 - 120
    assert decode(Encoded(entry.body))["locked_funds"] == str(locked.amount)
    assert account_data._address_info(view, now=2_100_000_000.0).valid_until == math.inf


def test_lru_keeps_within_its_bounds() -> None:
    cache = ReplyCache(max_entries=3, max_bytes=1000)
    for i in range(10):
        cache.put(i, CachedReply(generation=1, view_secret=b"k", body=b"x" * 10))
    assert len(cache) == 3 and cache.get(0, 1, 0.0) is None and cache.get(9, 1, 0.0) is not None
    cache.get(7, 1, 0.0)  # 7 becomes the most recent: 8 is the oldest now
    cache.put(10, CachedReply(generation=1, view_secret=b"k", body=b"x"))
    assert cache.get(8, 1, 0.0) is None and cache.get(7, 1, 0.0) is not None
    # bytes: big entries push the old ones out; one past its share is not kept
    cache = ReplyCache(max_entries=100, max_bytes=1000)
    for i in range(20):
        cache.put(i, CachedReply(generation=1, view_secret=b"k", body=b"x" * 100))
    assert cache.bytes <= 1000 and len(cache) <= 10
    cache.put("huge", CachedReply(generation=1, view_secret=b"k", body=b"x" * 900))
    assert cache.get("huge", 1, 0.0) is None and cache.bytes <= 1000
    # a stale generation or an expired deadline is a miss, and dropped
    cache.put("t", CachedReply(generation=1, view_secret=b"k", body=b"x", valid_until=5.0))
    assert cache.get("t", 1, 4.0) is not None
    assert cache.get("t", 1, 5.0) is None and cache.get("t", 1, 0.0) is None
    cache.put("g", CachedReply(generation=1, view_secret=b"k", body=b"x"))
    assert cache.get("g", 2, 0.0) is None and cache.get("g", None, 0.0) is None


async def test_hostile_parameters_do_not_grow_the_cache(svc: Services) -> None:
    svc.replies.max_entries = 8
    for dust in range(50):
        req = UnspentOutsRequest(
            **creds(), amount="0", use_dust=False, dust_threshold=str(dust), mixin=0
        )
        await account_data.get_unspent_outs(svc, req)
    assert len(svc.replies) == 8


# --- fees ---------------------------------------------------------------------------


async def test_one_fee_fetch_is_shared() -> None:
    daemon = FakeDaemon()
    daemon.gate = trio.Event()
    fees = FeeCache(daemon)
    got: list[Any] = []

    async def ask() -> None:
        got.append(await fees.get())

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        daemon.gate.set()
    assert daemon.calls == 1 and len(got) == 20 and all(g is got[0] for g in got)
    await fees.get()
    assert daemon.calls == 1  # still fresh


async def test_fee_errors_are_not_kept() -> None:
    daemon = FakeDaemon()
    daemon.gate = trio.Event()
    daemon.fail = DaemonUnavailable("monerod is not answering")
    fees = FeeCache(daemon)
    errors: list[Exception] = []

    async def ask() -> None:
        try:
            await fees.get()
        except DaemonUnavailable as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        daemon.gate.set()
    assert daemon.calls == 1 and len(errors) == 5  # every waiter got the 503 cause
    daemon.fail = None
    assert (await fees.get()).estimate == FEE and daemon.calls == 2


async def test_fee_cache_expires_with_time_and_height() -> None:
    daemon = FakeDaemon()
    now = [100.0]
    height = [50]
    fees = FeeCache(daemon, lambda: height[0], ttl=5.0, clock=lambda: now[0])
    first = await fees.get()
    now[0] += 4.9
    assert await fees.get() is first and daemon.calls == 1
    now[0] += 0.2
    second = await fees.get()
    assert second is not first and daemon.calls == 2
    height[0] += 1
    assert await fees.get() is not second and daemon.calls == 3


async def test_a_cancelled_fetch_lets_the_waiters_fetch() -> None:
    daemon = FakeDaemon()
    daemon.gate = trio.Event()
    fees = FeeCache(daemon)
    got: list[Any] = []

    async def ask() -> None:
        got.append(await fees.get())

    async with trio.open_nursery() as nursery:
        leader = trio.CancelScope()

        async def lead() -> None:
            with leader:
                await fees.get()

        nursery.start_soon(lead)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        leader.cancel()
        await trio.testing.wait_all_tasks_blocked()
        daemon.gate.set()
    assert len(got) == 1 and daemon.calls == 2


async def test_daemon_down_is_a_503_cause_for_unspent(svc: Services) -> None:
    daemon = svc.daemon
    assert isinstance(daemon, FakeDaemon)
    daemon.fail = DaemonUnavailable("monerod is not answering")
    req = UnspentOutsRequest(**creds(), **UNSPENT)
    with pytest.raises(DaemonUnavailable):
        await account_data.get_unspent_outs(svc, req)
    daemon.fail = None
    assert decode(await account_data.get_unspent_outs(svc, req))["per_byte_fee"] == FEE.fee


async def test_fees_follow_the_scanners_daemon_height(store: Store) -> None:
    status = ScannerStatus(daemon_height=10)
    svc = Services(Config(network="regtest"), store, FakeDaemon(), lambda: status)
    await svc.fees.get()
    await svc.fees.get()
    status = ScannerStatus(daemon_height=11)
    await svc.fees.get()
    daemon = svc.daemon
    assert isinstance(daemon, FakeDaemon) and daemon.calls == 2


# --- login and wake-ups ---------------------------------------------------------------


async def test_login_of_an_existing_account_writes_nothing(svc: Services) -> None:
    generation = svc.store.generation()
    reply = await accounts.login(svc, LoginRequest(**creds(), create_account=True))
    assert reply.new_address is False and svc.store.generation() == generation
    with pytest.raises(Forbidden):
        await accounts.login(svc, LoginRequest(**creds(MALLORY), create_account=True))


async def test_an_accepted_import_wakes_the_scanner(store: Store) -> None:
    woken: list[int] = []
    svc = Services(
        Config(network="regtest", auto_accept_creation=True, auto_accept_import=True),
        store,
        FakeDaemon(),
        wake_scanner=lambda: woken.append(1),
    )
    bob = WalletKeys("cache-bob")
    bob_creds = {"address": bob.address(), "view_key": bob.view_secret.hex()}
    assert (await accounts.login(svc, LoginRequest(**bob_creds, create_account=True))).new_address
    assert woken == []  # a new account starts at the tip: nothing to scan yet
    reply = await accounts.import_wallet_request(svc, ImportRequest(**bob_creds, from_height=0))
    assert reply.new_request and reply.request_fulfilled and woken == [1]
    again = await accounts.import_wallet_request(svc, ImportRequest(**bob_creds, from_height=0))
    assert not again.new_request and woken == [1]  # nothing changed: no wake-up


async def test_concurrent_misses_build_once(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[int] = []
    real = account_data._address_info

    def counting(view: account_data.AccountView, now: float) -> CachedReply:
        builds.append(1)
        return real(view, now)

    monkeypatch.setattr(account_data, "_address_info", counting)
    req = AccountRequest(**creds())
    bodies: list[bytes] = []

    async def ask() -> None:
        bodies.append((await account_data.get_address_info(svc, req)).body)

    async with trio.open_nursery() as nursery:
        for _ in range(16):
            nursery.start_soon(ask)
    assert len(builds) == 1 and len(set(bodies)) == 1 and len(bodies) == 16
    assert svc.building == {}
    # a wrong key is refused while a build for the key runs
    async with trio.open_nursery() as nursery:
        svc.replies.clear()
        nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked(cushion=0.0)
        with pytest.raises(Forbidden):
            await account_data.get_address_info(svc, AccountRequest(**creds(MALLORY)))
