# Owns the concurrency proof of `lws admin` against a running server: a
# server scanning 100 accounts on a private regtest chain (blocks mined and
# funds sent while it runs), wallets reading it all the time, and a seeded
# random loop of admin commands (status changes, rescans, rollbacks, adds,
# deletes, the request queue, admin keys) checked after every step against
# a model of what the store must hold. Proves: no store error, no lost
# update (the scanner never undoes an operator's change, nor the reverse),
# no broken reply from the running server, and in the end outputs equal to
# monero-wallet-rpc's.
from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lws.admin import cli
from lws.store import Store
from tests.conftest import LwsProcess
from tests.support.regtest import COINBASE_UNLOCK_BLOCKS, Monerod, WalletKeys, WalletRpc
from tests.support.scanning import add_accounts, oracle_outputs, stored_outputs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ATOMIC = 10**12
ACCOUNTS = 100
#: Accounts 0..STEADY-1 are never hidden or deleted: every read of them must be 200.
STEADY = 50
#: Steady accounts that receive funds (their outputs are checked against wallet-rpc).
FUNDED = 4
#: Admin commands in the loop (each checked against the model).
STEPS = 240
SEED = 15


class Stdin(io.StringIO):
    def isatty(self) -> bool:
        return False


def keys_of(n: int) -> WalletKeys:
    return WalletKeys(f"concurrency-{n}")


def admin(data_dir: Path, *argv: str, stdin: str = "") -> tuple[int, Any, str]:
    """`lws admin --json ...` in this process (its own LMDB environment)."""
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(
        ["--data-dir", str(data_dir), "--json", *argv], stdin=Stdin(stdin), stdout=out, stderr=err
    )
    text = out.getvalue()
    return code, json.loads(text) if text else None, err.getvalue()


def admin_process(data_dir: Path, *argv: str) -> tuple[int, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "lws", "admin", "--data-dir", str(data_dir), "--json", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout) if done.stdout else None


class Readers:
    """Wallets reading the server the whole time; any reply other than a
    well-formed 200 (or a 403 for an account the loop may hide or delete)
    is a failure."""

    def __init__(self, url: str, everyone: list[WalletKeys]) -> None:
        self.url = url
        self.everyone = everyone
        self.failures: list[str] = []
        self.replies = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        rng = random.Random(SEED + 1)
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                n = rng.randrange(len(self.everyone))
                keys = self.everyone[n]
                body: dict[str, Any] = {
                    "address": keys.address(),
                    "view_key": keys.view_secret.hex(),
                }
                method = rng.choice(
                    ["get_address_info", "get_address_txs", "get_unspent_outs", "login"]
                )
                if method == "get_unspent_outs":
                    body.update(amount="0", mixin=15, use_dust=True, dust_threshold="0")
                try:
                    reply = client.post(f"/{method}", json=body)
                    data = reply.json()
                except (httpx.HTTPError, ValueError) as exc:
                    self.failures.append(f"{method} {n}: {exc!r}")
                    continue
                self.replies += 1
                if reply.status_code == 200:
                    wanted = {
                        "get_address_info": "scanned_block_height",
                        "get_address_txs": "transactions",
                        "get_unspent_outs": "outputs",
                        "login": "start_height",
                    }[method]
                    if wanted not in data:
                        self.failures.append(f"{method} {n}: {data}")
                elif reply.status_code == 403 and n >= STEADY and set(data) == {"Error"}:
                    pass
                else:
                    self.failures.append(f"{method} {n}: {reply.status_code} {data}")


def held(lws: LwsProcess) -> int:
    """Blocks the server's store holds (a rescan or rollback may not go above
    it; it only shrinks by this test's own rollbacks)."""
    return int(lws.client.get("/get_version").json()["blockchain_height"])


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Monerod, WalletRpc, Path]]:
    workdir: Path = tmp_path_factory.mktemp("admin-concurrency")
    with Monerod(workdir / "monerod") as daemon, WalletRpc(workdir / "wallet", daemon) as wallet:
        yield daemon, wallet, workdir


def test_admin_loop_against_a_server_scanning_100_accounts(
    chain: tuple[Monerod, WalletRpc, Path],
) -> None:
    daemon, wallet, workdir = chain
    funder = WalletKeys("concurrency-funder")
    wallet.create_from_keys("concurrency-funder", funder)
    daemon.mine(COINBASE_UNLOCK_BLOCKS + 60, funder.address())
    accounts = [keys_of(n) for n in range(ACCOUNTS)]
    originals = {k.address() for k in accounts}
    extras = [WalletKeys(f"concurrency-extra-{n}") for n in range(12)]

    def send(targets: list[WalletKeys]) -> None:
        wallet.open("concurrency-funder")
        wallet.refresh()
        wallet.rpc(
            "transfer",
            destinations=[{"address": k.address(), "amount": ATOMIC // 3} for k in targets],
        )

    send(accounts[:FUNDED])
    daemon.mine(2, funder.address())

    data_dir = workdir / "lws" / "data"
    with Store.open(data_dir / "store", network="regtest") as store:
        add_accounts(store, {k.address(): k for k in accounts}, lookahead=(0, 0))
    lws = LwsProcess(workdir / "lws", daemon, auto_accept=False)
    readers = Readers(lws.url, accounts + extras)
    readers.thread.start()
    rng = random.Random(SEED)
    # The model: what the store must hold, whatever the scanner does meanwhile.
    status = {k.address(): "active" for k in accounts}
    requests: set[str] = set()
    admin_keys: list[int] = []
    counts: dict[str, int] = {}
    try:
        for step in range(STEPS):
            if step % 20 == 10:
                daemon.mine(1, funder.address())
            if step % 60 == 30:
                send(accounts[: FUNDED // 2])
            churn = [k.address() for k in rng.sample(accounts[STEADY:], 3)]
            absent = [
                k for k in extras if k.address() not in status and k.address() not in requests
            ]
            present = [a for a in status if a not in originals]
            action = rng.choice(
                [
                    "status",
                    "status",
                    "rescan",
                    "rescan_steady",
                    "add",
                    "delete",
                    "request",
                    "accept",
                    "reject",
                    "keys",
                    "rollback",
                    "list",
                ]
            )
            counts[action] = counts.get(action, 0) + 1
            if action == "status":
                chosen = [a for a in churn if a in status]
                new = rng.choice(["active", "inactive", "hidden"])
                code, reply, err = admin(data_dir, "modify-account-status", new, *chosen)
                assert (code, reply) == (0, {"updated": chosen}), err
                status.update(dict.fromkeys(chosen, new))
            elif action in ("rescan", "rescan_steady"):
                pool = accounts[:FUNDED] if action == "rescan_steady" else accounts[STEADY:]
                chosen = [k.address() for k in rng.sample(pool, 2)]
                height = rng.randrange(0, held(lws))
                code, reply, err = admin(data_dir, "rescan", str(height), *chosen)
                assert (code, reply) == (0, {"updated": chosen}), err
            elif action == "add" and absent:
                keys = rng.choice(absent)
                code, reply, err = admin(
                    data_dir,
                    "add-account",
                    keys.address(),
                    "--from-height",
                    str(rng.randrange(0, daemon.height())),
                    stdin=keys.view_secret.hex(),
                )
                assert (code, reply) == (0, {"updated": [keys.address()]}), err
                status[keys.address()] = "active"
            elif action == "delete" and present:
                address = rng.choice(present)
                code, reply, err = admin(data_dir, "delete-accounts", address)
                assert (code, reply) == (0, {"updated": [address]}), err
                del status[address]
            elif action == "request" and absent:
                keys = rng.choice(absent)
                reply = lws.post(
                    "login",
                    {
                        "address": keys.address(),
                        "view_key": keys.view_secret.hex(),
                        "create_account": True,
                    },
                )
                assert reply.status_code == 200 and reply.json()["new_address"], reply.text
                requests.add(keys.address())
            elif action in ("accept", "reject") and requests:
                address = rng.choice(sorted(requests))
                code, reply, err = admin(data_dir, f"{action}-requests", "create", address)
                assert (code, reply) == (0, {"updated": [address]}), err
                requests.discard(address)
                if action == "accept":
                    status[address] = "active"
            elif action == "keys":
                if admin_keys and rng.random() < 0.5:
                    key_id = admin_keys.pop(rng.randrange(len(admin_keys)))
                    code, reply, err = admin(data_dir, "revoke-admin-key", str(key_id))
                    assert (code, reply) == (0, {"revoked": key_id}), err
                else:
                    code, reply, err = admin(data_dir, "create-admin-key", "--name", f"s{step}")
                    assert code == 0 and len(reply["key"]) == 64, err
                    admin_keys.append(reply["id"])
            elif action == "rollback":
                height = max(held(lws) - rng.randrange(0, 8), 1)
                run = admin_process if rng.random() < 0.5 else admin
                result = run(data_dir, "rollback", str(height))
                assert result[:2] == (0, {"new_height": height}), result
            else:
                # The listings equal the model: no operator change was lost.
                code, listed, err = admin(data_dir, "list-accounts")
                assert code == 0, err
                seen = {e["address"]: state for state, entries in listed.items() for e in entries}
                assert seen == status
                code, queued, err = admin(data_dir, "list-requests")
                assert {e["address"] for e in queued.get("create", [])} == requests
                code, keys_listed, err = admin(data_dir, "list-admin-keys")
                assert [k["id"] for k in keys_listed["keys"]] == sorted(admin_keys)
        # Settle: every account active, every one scanned to the tip.
        counts["process"] = 1
        code, _ = admin_process(data_dir, "modify-account-status", "active", *status)
        assert code == 0
        tip = daemon.height()
        deadline = time.monotonic() + 300
        while True:
            code, listed, _ = admin(data_dir, "list-accounts")
            heights = [e["scan_height"] for e in listed["active"]]
            if len(heights) == len(status) and min(heights) >= tip:
                break
            assert time.monotonic() < deadline, f"not all scanned to {tip}: {sorted(heights)[:5]}"
            time.sleep(0.5)
        readers.stop.set()
        readers.thread.join(timeout=60)
        assert readers.failures == [], readers.failures[:10]
        assert readers.replies > 500
        print(f"admin loop: {STEPS} commands {counts}, {readers.replies} wallet replies")
        with Store.open(data_dir / "store", network="regtest") as store:
            assert store.query(lambda r: r.check()) == []
            for n, keys in enumerate(accounts[:FUNDED]):
                name = f"concurrency-oracle-{n}"
                wallet.create_from_keys(name, keys, view_only=True)
                address = keys.address()
                account_id = store.query(lambda r, a=address: r.account_id(a))
                assert account_id is not None
                expected = oracle_outputs(wallet, name)
                assert expected and stored_outputs(store, account_id) == expected, n
    finally:
        readers.stop.set()
        lws.stop()
    log = lws.log_path.read_text()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    assert min(counts.get(a, 0) for a in ("status", "rescan", "rollback", "list")) > 0, counts
