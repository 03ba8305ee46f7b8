# Owns the end-to-end proof of the operator side on a private regtest chain
# (real monerod, monero-wallet-rpc as the oracle, `lws serve` and `lws
# admin` / `lws import-request` as subprocesses): the approval queue and the
# import-request tool with --wait, what rescan, rollback, status changes and
# deletion do to the running server's wallet API, and the 503 for creating
# calls before lws has heard from monerod. A gate in front of monerod
# (tests/support/gate.py) holds the scanner still where a test must see a
# state before the scanner moves on.
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lws.store import Store
from tests.conftest import LwsProcess
from tests.support.gate import DaemonGate
from tests.support.regtest import (
    COINBASE_UNLOCK_BLOCKS,
    SPENDABLE_AGE_BLOCKS,
    Monerod,
    WalletKeys,
    WalletRpc,
    free_port,
)

pytestmark = pytest.mark.e2e

ATOMIC = 10**12
#: Seconds a subprocess of lws may take (startup included) before the test fails.
COMMAND_TIMEOUT_S = 60


@dataclass
class Chain:
    daemon: Monerod
    wallet: WalletRpc
    funder: WalletKeys
    workdir: Path

    def send(self, destinations: list[tuple[str, int]]) -> None:
        self.wallet.open("operators-funder")
        self.wallet.refresh()
        self.wallet.rpc(
            "transfer", destinations=[{"address": a, "amount": n} for a, n in destinations]
        )

    def mine(self, blocks: int) -> int:
        self.daemon.mine(blocks, self.funder.address())
        return self.daemon.height()

    def balance(self, name: str, keys: WalletKeys) -> int:
        self.wallet.create_from_keys(name, keys)
        self.wallet.open(name)
        self.wallet.refresh()
        return int(self.wallet.rpc("get_balance")["balance"])


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    workdir: Path = tmp_path_factory.mktemp("operators")
    with Monerod(workdir / "monerod") as daemon, WalletRpc(workdir / "wallet", daemon) as wallet:
        funder = WalletKeys("operators-funder")
        wallet.create_from_keys("operators-funder", funder)
        daemon.mine(COINBASE_UNLOCK_BLOCKS + 60, funder.address())
        yield Chain(daemon, wallet, funder, workdir)


@dataclass
class Served:
    lws: LwsProcess
    gate: DaemonGate
    #: The admin API's URL.
    admin_url: str


@pytest.fixture(scope="module")
def served(chain: Chain) -> Iterator[Served]:
    """`lws serve` without auto-accept, reaching monerod through a gate."""
    admin_port = free_port()
    with DaemonGate(chain.daemon.port) as gate:
        server = LwsProcess(
            chain.workdir / "lws",
            chain.daemon,
            "--admin-listen",
            f"127.0.0.1:{admin_port}",
            auto_accept=False,
            daemon_url=gate.url,
        )
        try:
            yield Served(server, gate, f"http://127.0.0.1:{admin_port}")
        finally:
            server.stop()


def creds(keys: WalletKeys) -> dict[str, str]:
    return {"address": keys.address(), "view_key": keys.view_secret.hex()}


def admin_run(lws: LwsProcess, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`lws admin --json ...` on the server's data directory."""
    return subprocess.run(
        [sys.executable, "-m", "lws", "admin", "--data-dir", str(lws.data_dir), "--json", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )


def admin(lws: LwsProcess, *argv: str, stdin: str = "", code: int = 0) -> Any:
    """`lws admin --json ...` on the server's data directory; its JSON reply."""
    done = subprocess.run(
        [sys.executable, "-m", "lws", "admin", "--data-dir", str(lws.data_dir), "--json", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert done.returncode == code, (argv, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout) if done.stdout else None


def info(lws: LwsProcess, keys: WalletKeys) -> httpx.Response:
    return lws.post("get_address_info", creds(keys))


def wait_for(what: str, check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def add_account(lws: LwsProcess, keys: WalletKeys, from_height: int) -> None:
    reply = admin(
        lws,
        "add-account",
        keys.address(),
        "--from-height",
        str(from_height),
        stdin=keys.view_secret.hex(),
    )
    assert reply == {"updated": [keys.address()]}


def test_creating_calls_wait_until_lws_has_heard_from_monerod(chain: Chain, tmp_path: Path) -> None:
    keys = WalletKeys("operators-early")
    with DaemonGate(chain.daemon.port) as gate:
        gate.shut()
        server = LwsProcess(tmp_path / "lws", chain.daemon, daemon_url=gate.url)
        try:
            reply = server.post("login", {**creds(keys), "create_account": True})
            assert reply.status_code == 503
            assert "not heard from monerod" in reply.json()["Error"]
            assert admin(server, "list-accounts") == {} and admin(server, "list-requests") == {}
            gate.open()
            height = chain.daemon.height()
            reply = wait_for(
                "login after monerod answered",
                lambda: (
                    r
                    if (
                        r := server.post("login", {**creds(keys), "create_account": True})
                    ).status_code
                    == 200
                    else None
                ),
            )
            assert reply.json()["start_height"] == height  # the tip, not 0
        finally:
            server.stop()
    assert "Traceback" not in server.log_path.read_text()


def test_approval_queue_and_import_request(chain: Chain, served: Served, tmp_path: Path) -> None:
    lws = served.lws
    erin, fay = WalletKeys("operators-erin"), WalletKeys("operators-fay")
    from_height = chain.daemon.height()
    chain.send([(erin.address(), 3 * ATOMIC // 2), (chain.funder.address(), ATOMIC)])
    chain.mine(1)
    chain.send([(erin.address(), ATOMIC // 4)])
    tip = chain.mine(SPENDABLE_AGE_BLOCKS + 1)
    key_file = tmp_path / "erin.key"
    key_file.write_text(erin.view_secret.hex() + "\n")
    tool = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lws",
            "import-request",
            "--url",
            lws.url,
            "--address",
            erin.address(),
            "--view-key-file",
            str(key_file),
            "--from-height",
            str(from_height),
            "--wait",
            "--json",
            "--interval",
            "0.2",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pending = wait_for(
            "erin's create request",
            lambda: admin(lws, "list-requests").get("create"),
        )
        assert [(r["address"], r["start_height"]) for r in pending] == [(erin.address(), tip)]
        # Refused until an operator accepts, whoever asks.
        assert lws.post("login", creds(erin)).status_code == 403
        assert lws.post("login", {**creds(erin), "create_account": True}).status_code == 403
        assert info(lws, erin).status_code == 403
        assert admin(lws, "accept-requests", "create", erin.address()) == {
            "updated": [erin.address()]
        }
        login = lws.post("login", creds(erin))
        assert login.status_code == 200 and login.json()["start_height"] == tip
        imports = wait_for(
            "erin's import request", lambda: admin(lws, "list-requests").get("import")
        )
        assert [(r["address"], r["start_height"]) for r in imports] == [
            (erin.address(), from_height)
        ]
        assert tool.poll() is None  # still waiting for the operator
        admin(lws, "accept-requests", "import", erin.address())
        out, err = tool.communicate(timeout=180)
    finally:
        if tool.poll() is None:
            tool.kill()
    assert tool.returncode == 0, err
    summary = json.loads(out)
    oracle = chain.balance("operators-erin", erin)
    assert oracle == 7 * ATOMIC // 4
    assert int(summary["balance"]) == oracle and summary["unspent_outputs"] == 2
    assert summary["scanned_block_height"] == summary["blockchain_height"] >= tip
    assert "waits for an operator" in err and "Traceback" not in err
    assert erin.view_secret.hex() not in out + err

    # Without --wait: the queued request is reported, exit 3; the operator rejects it.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lws",
            "import-request",
            "--url",
            lws.url,
            "--address",
            fay.address(),
            "--json",
        ],
        input=fay.view_secret.hex(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert done.returncode == 3 and json.loads(done.stdout)["state"] == "create_pending"
    assert admin(lws, "reject-requests", "create", fay.address()) == {"updated": [fay.address()]}
    assert admin(lws, "list-requests") == {}
    assert lws.post("login", creds(fay)).status_code == 403


def test_status_rescan_rollback_delete_seen_through_the_wallet_api(
    chain: Chain, served: Served
) -> None:
    lws, gate = served.lws, served.gate
    gus, sentinel = WalletKeys("operators-gus"), WalletKeys("operators-sentinel")
    start = chain.daemon.height()
    chain.send([(gus.address(), 2 * ATOMIC)])
    funded = chain.mine(1)  # gus's output is in block funded - 1
    tip = chain.mine(SPENDABLE_AGE_BLOCKS)
    add_account(lws, gus, start)
    add_account(lws, sentinel, tip)
    scanned = lws.wait_scanned(gus, tip)
    received = scanned["total_received"]
    assert int(received) == 2 * ATOMIC == chain.balance("operators-gus", gus)

    # hidden: refused at once, cached replies included
    assert info(lws, gus).status_code == 200 and info(lws, gus).status_code == 200
    admin(lws, "modify-account-status", "hidden", gus.address())
    for method in ("get_address_info", "get_address_txs", "login"):
        assert lws.post(method, creds(gus)).status_code == 403, method
    assert admin(lws, "list-accounts")["hidden"][0]["address"] == gus.address()

    # inactive: served, not scanned
    admin(lws, "modify-account-status", "inactive", gus.address())
    newer = chain.mine(3)
    lws.wait_scanned(sentinel, newer)
    time.sleep(1.0)  # a few more scanner rounds
    reply = info(lws, gus)
    assert reply.status_code == 200 and reply.json()["scanned_block_height"] == tip
    admin(lws, "modify-account-status", "active", gus.address())
    assert lws.wait_scanned(gus, newer)["total_received"] == received

    # rescan: seen before the scanner moves on (monerod is out of reach meanwhile)
    gate.shut()
    try:
        admin(lws, "rescan", str(start), gus.address())
        reply = info(lws, gus).json()
        assert reply["scanned_block_height"] == start and reply["start_height"] == start
        assert reply["total_received"] == "0"
    finally:
        gate.open()
    assert lws.wait_scanned(gus, newer)["total_received"] == received

    # rollback: the whole chain from there, every account
    gate.shut()
    try:
        assert admin(lws, "rollback", str(funded - 1)) == {"new_height": funded - 1}
        for keys in (gus, sentinel):
            reply = info(lws, keys).json()
            assert reply["blockchain_height"] == funded - 1
            assert reply["scanned_block_height"] == funded - 1
        assert info(lws, gus).json()["total_received"] == "0"
    finally:
        gate.open()
    after = lws.wait_scanned(gus, newer)
    assert after["total_received"] == received and after["blockchain_height"] >= newer
    assert lws.wait_scanned(sentinel, newer)["total_received"] == "0"

    # delete: everything gone; a new login starts afresh
    with Store.open(lws.data_dir / "store", network="regtest") as store:
        old_id = store.query(lambda r: r.account_id(gus.address()))
    assert admin(lws, "delete-accounts", gus.address()) == {"updated": [gus.address()]}
    assert info(lws, gus).status_code == 403
    assert lws.post("login", creds(gus)).status_code == 403
    with Store.open(lws.data_dir / "store", network="regtest") as store:
        with store.read() as r:
            assert old_id is not None and r.account(old_id) is None
            assert r.outputs(old_id) == [] and r.spends(old_id) == []
            assert r.account_id(gus.address()) is None and r.check() == []
    assert lws.post("login", {**creds(gus), "create_account": True}).status_code == 200
    admin(lws, "accept-requests", "create", gus.address())
    fresh = lws.wait_scanned(gus, newer)
    assert fresh["start_height"] >= newer and fresh["total_received"] == "0"
    assert "Traceback" not in lws.log_path.read_text()


def test_admin_api_and_cli_json_agree(chain: Chain, served: Served) -> None:
    """Each command through `lws admin --json` and through the admin API of
    the running server, from the same state: the same JSON (refusals: the
    same text); and a revoked key is refused (403)."""
    lws = served.lws
    key = admin(lws, "create-admin-key", "--name", "e2e")["key"]
    http = httpx.Client(base_url=served.admin_url, timeout=30)

    def api(command: str, params: dict[str, Any] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"auth": key}
        if params is not None:
            body["params"] = params
        return http.post(f"/{command}", json=body)

    def same(argv: list[str], command: str, params: Any = None, stdin: str = "") -> Any:
        done = admin_run(lws, *argv, stdin=stdin)
        reply = api(command, params)
        if done.returncode == 0:
            assert reply.status_code == 200, reply.text
            assert json.loads(done.stdout) == reply.json(), (argv, done.stdout, reply.text)
            return reply.json()
        assert done.returncode == 1 and done.stdout == "", done.stderr
        assert reply.status_code in (400, 409), reply.text
        assert done.stderr == f"lws admin: {reply.json()['Error']}\n"
        return None

    hal, ivy = WalletKeys("operators-hal"), WalletKeys("operators-ivy")
    tip = chain.daemon.height()
    add_account(lws, hal, tip)
    lws.wait_scanned(hal, tip)

    same(["list-accounts"], "list_accounts")
    same(["list-requests"], "list_requests")
    # Idempotent commands: the same call twice.
    for status in ("inactive", "hidden", "active"):
        same(
            ["modify-account-status", status, hal.address()],
            "modify_account_status",
            {"status": status, "addresses": [hal.address()]},
        )
    same(
        ["rescan", str(tip), hal.address()], "rescan", {"height": tip, "addresses": [hal.address()]}
    )
    same(
        ["validate", hal.address()],
        "validate",
        {
            "spend_public_hex": hal.spend_public.hex(),
            "view_public_hex": hal.view_public.hex(),
            "view_key_hex": hal.view_secret.hex(),
        },
        stdin=hal.view_secret.hex(),
    )

    # Changing commands: through the CLI, undone, then through the API.
    def queue_create() -> None:
        reply = lws.post("login", {**creds(ivy), "create_account": True})
        assert reply.status_code == 200, reply.text

    queue_create()
    same(["list-requests"], "list_requests")
    done = admin(lws, "accept-requests", "create", ivy.address())
    admin(lws, "delete-accounts", ivy.address())
    queue_create()
    assert api("accept_requests", {"type": "create", "addresses": [ivy.address()]}).json() == done
    admin(lws, "delete-accounts", ivy.address())
    queue_create()
    done = admin(lws, "reject-requests", "create", ivy.address())
    queue_create()
    assert api("reject_requests", {"type": "create", "addresses": [ivy.address()]}).json() == done
    done = admin(
        lws, "add-account", ivy.address(), "--from-height", str(tip), stdin=ivy.view_secret.hex()
    )
    admin(lws, "delete-accounts", ivy.address())
    assert (
        api(
            "add_account",
            {"address": ivy.address(), "key": ivy.view_secret.hex(), "from_height": tip},
        ).json()
        == done
    )
    done = admin(lws, "delete-accounts", ivy.address())
    add_account(lws, ivy, tip)
    assert api("delete_accounts", {"addresses": [ivy.address()]}).json() == done
    # Refusals: the same reason both ways, nothing written.
    same(["delete-accounts", ivy.address()], "delete_accounts", {"addresses": [ivy.address()]})
    same(
        ["rescan", str(tip + 1000), hal.address()],
        "rescan",
        {"height": tip + 1000, "addresses": [hal.address()]},
    )
    same(
        ["accept-requests", "import", "4notanaddress"],
        "accept_requests",
        {"type": "import", "addresses": ["4notanaddress"]},
    )
    # The audit line of the API's calls names the key, never a key itself.
    log = lws.log_path.read_text()
    assert f"admin: key 1 delete_accounts {ivy.address()}" in log
    assert key not in log and ivy.view_secret.hex() not in log
    # A revoked key is refused at once by the running server.
    assert api("list_accounts").status_code == 200
    assert admin(lws, "revoke-admin-key", "1") == {"revoked": 1}
    refused = api("list_accounts")
    assert refused.status_code == 403 and set(refused.json()) == {"Error"}
    bearer = http.post("/list_accounts", json={}, headers={"Authorization": f"Bearer {key}"})
    assert bearer.status_code == 403
    http.close()


def test_lws_admin_wakes_a_server_that_polls_rarely(chain: Chain, tmp_path: Path) -> None:
    """With a 10-minute poll interval, an `lws admin` change in another
    process is still acted on at once (the account-change counter), and the
    admin API is on its own listener only."""
    jay = WalletKeys("operators-jay")
    start = chain.daemon.height()
    chain.send([(jay.address(), ATOMIC)])
    tip = chain.mine(2)
    admin_port = free_port()
    server = LwsProcess(
        tmp_path / "lws",
        chain.daemon,
        "--poll-interval",
        "600",
        "--admin-listen",
        f"127.0.0.1:{admin_port}",
    )
    try:
        wait_for("the first round", lambda: admin(server, "list-accounts") is not None)
        time.sleep(2)  # the scanner is asleep for 600 s now
        began = time.monotonic()
        add_account(server, jay, start)
        reply = server.wait_scanned(jay, tip, timeout=30)
        assert time.monotonic() - began < 15
        assert int(reply["total_received"]) == ATOMIC
        gone = server.post("list_accounts", {})
        assert gone.status_code == 404 and set(gone.json()) == {"Error"}
    finally:
        server.stop()


def test_a_public_admin_listener_needs_tls(chain: Chain, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lws",
            "serve",
            "--daemon-url",
            chain.daemon.url,
            "--network",
            "regtest",
            "--data-dir",
            str(tmp_path / "data"),
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--admin-listen",
            f"0.0.0.0:{free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert done.returncode == 1 and "is not loopback and no TLS" in done.stderr
    assert "Traceback" not in done.stderr
